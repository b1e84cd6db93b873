/* Routing: hand a call to the ready instance with the fewest calls in flight, or
 * queue it on its slot (bounded) until one has room. */
#include <stdio.h>

#include "daemon.h"

static struct bh_instance *pick_instance(struct bh_slot *s)
{
	struct bh_instance *best = NULL;
	struct bh_list *pos, *tmp;
	bh_list_for_each_safe(pos, tmp, &s->instances)
	{
		struct bh_instance *i = bh_container_of(pos, struct bh_instance, link);
		if (i->state != BH_INST_READY || i->generation != s->generation ||
		    !bh_instance_has_room(i))
			continue;
		if (!best || i->inflight < best->inflight)
			best = i;
	}
	return best;
}

void bh_slot_pump(struct bh_slot *s)
{
	while (s->n_queued > 0) {
		struct bh_instance *i = pick_instance(s);
		if (!i)
			return;
		struct bh_call *c = bh_container_of(bh_list_first(&s->queue), struct bh_call, link);
		bh_list_del(&c->link);
		s->n_queued--;
		bh_instance_submit(i, c);
	}
}

/* Why a slot cannot take calls right now, or NULL when it can (possibly queued). */
static const char *unavailable_reason(const struct bh_slot *s, char *buf, size_t len)
{
	switch (s->state) {
	case BH_SLOT_QUARANTINED:
	case BH_SLOT_FAILED:
		snprintf(buf, len, "plugin %s is %s: %s", s->conf->name,
			 bh_slot_state_name(s->state), s->fail_reason);
		return buf;
	case BH_SLOT_UNLOADING:
		snprintf(buf, len, "plugin %s is being unloaded", s->conf->name);
		return buf;
	default:
		return NULL;
	}
}

void bh_route(struct bh_daemon *d, struct bh_call *c)
{
	struct bh_slot *s = c->slot;
	char why[320];
	(void)d;
	s->calls++;
	if (unavailable_reason(s, why, sizeof(why))) {
		s->errors++;
		bh_call_fail(c, BH_E_UNAVAILABLE, why);
		return;
	}
	bh_call_arm_deadline(c);
	if (s->n_queued == 0) {
		struct bh_instance *i = pick_instance(s);
		if (i) {
			bh_instance_submit(i, c);
			return;
		}
	}
	if (s->n_queued >= s->conf->max_queue) {
		s->errors++;
		snprintf(why, sizeof(why), "plugin %s: %u calls queued (max_queue %u)",
			 s->conf->name, s->n_queued, s->conf->max_queue);
		bh_call_fail(c, BH_E_OVERLOADED, why);
		return;
	}
	bh_list_add_tail(&s->queue, &c->link);
	s->n_queued++;
	bh_slot_pump(s);
}
