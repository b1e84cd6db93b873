/* The instances' answer rings, the daemon's side. See rings.h. */
#include "rings.h"

#include "bulkhead/ring.h"
#include "daemon.h"
#include "instance.h"
#include "list.h"

void bh_rings_awake(struct bh_instance *inst, bool watched)
{
	bh_ring_stay_awake(&inst->ring);
	inst->ring_watched = inst->ring_watched || watched;
	if (!bh_list_linked(&inst->ring_link))
		bh_list_add_tail(&inst->d->awake_rings, &inst->ring_link);
}

void bh_rings_poll(struct bh_daemon *d)
{
	struct bh_list *pos, *tmp;
	bh_list_for_each_safe(pos, tmp, &d->awake_rings)
	{
		struct bh_instance *inst = bh_container_of(pos, struct bh_instance, ring_link);
		bh_instance_read_ring(inst);
	}
}

bool bh_rings_sleep(void *daemon, bool watching)
{
	struct bh_daemon *d = daemon;
	struct bh_list *pos, *tmp;
	bool work = false;
	bh_list_for_each_safe(pos, tmp, &d->awake_rings)
	{
		struct bh_instance *inst = bh_container_of(pos, struct bh_instance, ring_link);
		if (watching && inst->ring_watched)
			continue;
		inst->ring_watched = false;
		if (bh_ring_sleep(&inst->ring)) {
			bh_list_del(&inst->ring_link);
		} else {
			bh_ring_stay_awake(&inst->ring); /* we take it before the next wait */
			work = true;
		}
	}
	return work;
}

void bh_rings_forget(struct bh_instance *inst)
{
	if (bh_list_linked(&inst->ring_link))
		bh_list_del(&inst->ring_link);
	inst->ring_watched = false;
}
