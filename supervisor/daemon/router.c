/* Routing: hand a call to the ready instance with the fewest calls in flight, or
 * queue it on its slot (bounded) until one has room. */
#include <stdio.h>

#include "daemon.h"

static struct bh_instance *least_busy(struct bh_slot *s, const struct bh_gen *g)
{
	struct bh_instance *best = NULL;
	struct bh_list *pos, *tmp;
	bh_list_for_each_safe(pos, tmp, &s->instances)
	{
		struct bh_instance *i = bh_container_of(pos, struct bh_instance, link);
		if (i->state != BH_INST_READY || i->gen != g || !bh_instance_has_room(i))
			continue;
		if (!best || i->inflight < best->inflight)
			best = i;
	}
	return best;
}

/* Where c goes now: BH_ROUTE_GEN with *ret an instance with room (or NULL: none has
 * room yet, keep it queued), BH_ROUTE_WAIT (routing paused by a swap), BH_ROUTE_HOLD
 * (the swap holds it until its client's calls on the old generation are done). */
static int place(struct bh_slot *s, const struct bh_call *c, struct bh_instance **ret)
{
	struct bh_gen *g = s->gen;
	if (s->swap) {
		int r = bh_swap_route(s->swap, c, &g);
		if (r != BH_ROUTE_GEN)
			return r;
	}
	struct bh_instance *i = least_busy(s, g);
	if (!i && g != s->gen) /* the canary is full: the current generation takes it */
		i = least_busy(s, g = s->gen);
	if (i && s->swap)
		bh_swap_routed(s->swap, g);
	*ret = i;
	return BH_ROUTE_GEN;
}

void bh_slot_pump(struct bh_slot *s)
{
	struct bh_list *pos, *tmp;
	bh_list_for_each_safe(pos, tmp, &s->queue)
	{
		struct bh_call *c = bh_container_of(pos, struct bh_call, link);
		struct bh_instance *i = NULL;
		int r = place(s, c, &i);
		if (r == BH_ROUTE_WAIT || (r == BH_ROUTE_GEN && !i))
			return; /* first come, first served: nobody overtakes the head */
		bh_list_del(&c->link);
		s->n_queued--;
		if (r == BH_ROUTE_HOLD)
			bh_swap_hold(s->swap, c);
		else
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
		struct bh_instance *i = NULL;
		int r = place(s, c, &i);
		if (r == BH_ROUTE_HOLD) {
			bh_swap_hold(s->swap, c);
			return;
		}
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
