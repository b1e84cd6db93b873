/* The instances' answer rings, the daemon's side. See rings.h. */
#include "rings.h"

#include <sched.h>

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

void bh_rings_yield(struct bh_instance *inst)
{
	bh_rings_awake(inst, false);
	inst->d->ring_yield.wanted = true;
}

void bh_rings_poll(struct bh_daemon *d)
{
	/* Reading one ring may take any instance off the list: take them one by one
	 * from a list of our own, each back onto the daemon's before it is read. */
	struct bh_list todo, *first;
	/* A yield follows a write of calls in the same turn of the loop, never later. */
	d->ring_yield.wanted = false;
	bh_list_init(&todo);
	bh_list_splice_tail(&todo, &d->awake_rings);
	while ((first = bh_list_first(&todo))) {
		struct bh_instance *inst = bh_container_of(first, struct bh_instance, ring_link);
		bh_list_del(first);
		bh_list_add_tail(&d->awake_rings, first);
		bh_instance_read_ring(inst);
	}
}

bool bh_rings_sleep(void *daemon, bool watching)
{
	struct bh_daemon *d = daemon;
	struct bh_list *pos, *tmp;
	bool work = false, yielded = false;
	if (!watching && d->ring_yield.wanted) {
		d->ring_yield.wanted = false;
		d->ring_yield.yields++;
		yielded = true;
		sched_yield();
	}
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
	d->ring_yield.answered += yielded && work;
	return work;
}

void bh_rings_forget(struct bh_instance *inst)
{
	if (bh_list_linked(&inst->ring_link))
		bh_list_del(&inst->ring_link);
	inst->ring_watched = false;
}
