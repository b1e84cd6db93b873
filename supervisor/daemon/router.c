/* Routing: hand a call to the ready instance with the fewest calls in flight, or
 * queue it on its slot (bounded) until one has room. Calls pipelined to an instance
 * are not stuck there: while an instance of the same generation is idle, the calls
 * a busy one has not started move to it (rebalance). */
#include "router.h"

#include <stdio.h>

#include "bulkhead/error.h"
#include "call.h"
#include "daemon.h"
#include "gen.h"
#include "instance.h"
#include "list.h"
#include "outcall.h"
#include "slot.h"
#include "swap.h"

static struct bh_instance *least_busy(struct bh_slot *s, const struct bh_gen *g)
{
	struct bh_instance *best = NULL;
	struct bh_list *pos, *tmp;
	bh_list_for_each_safe(pos, tmp, &s->instances)
	{
		struct bh_instance *i = bh_container_of(pos, struct bh_instance, link);
		/* One that waits for a call it made takes only its chain's (outcall.h). */
		if (i->state != BH_INST_READY || i->gen != g || !bh_instance_has_room(i) ||
		    i->n_outcalls > 0)
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

/* The ready instance of idle's generation with the most calls, if it has calls that
 * could move. */
static struct bh_instance *busiest_sibling(struct bh_slot *s, const struct bh_instance *idle)
{
	struct bh_instance *best = NULL;
	struct bh_list *pos, *tmp;
	bh_list_for_each_safe(pos, tmp, &s->instances)
	{
		struct bh_instance *i = bh_container_of(pos, struct bh_instance, link);
		if (i != idle && i->gen == idle->gen && i->state == BH_INST_READY &&
		    i->inflight >= 2 && (!best || i->inflight > best->inflight))
			best = i;
	}
	return best;
}

/* Move up to half of from's calls that have not started to idle, oldest first: the
 * claim table decides, for each, whether the child started it first. */
static void move_calls(struct bh_instance *from, struct bh_instance *idle)
{
	uint32_t want = from->inflight / 2;
	struct bh_list *lists[2] = {&from->sent, &from->sending};
	for (int l = 0; l < 2; l++) {
		struct bh_list *pos, *tmp;
		bh_list_for_each_safe(pos, tmp, lists[l])
		{
			if (want == 0 || !bh_instance_has_room(idle))
				return;
			struct bh_call *c = bh_container_of(pos, struct bh_call, link);
			/* A call that re-enters from stays with the ancestor waiting there. */
			if (c->kind != BH_CALL_CLIENT || bh_outcall_reenters(c, from) ||
			    !bh_call_take_back(c))
				continue;
			bh_call_submit(c, idle);
			idle->slot->moved++;
			want--;
		}
	}
}

/* No call waits behind a busy instance while one of its generation is idle. */
static void rebalance(struct bh_slot *s)
{
	struct bh_list *pos, *tmp;
	bh_list_for_each_safe(pos, tmp, &s->instances)
	{
		struct bh_instance *i = bh_container_of(pos, struct bh_instance, link);
		if (i->state != BH_INST_READY || i->inflight > 0 || !bh_instance_has_room(i))
			continue;
		struct bh_instance *from = busiest_sibling(s, i);
		if (from)
			move_calls(from, i);
	}
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
		if (r == BH_ROUTE_HOLD)
			bh_swap_hold(s->swap, c);
		else
			bh_call_submit(c, i);
	}
	rebalance(s);
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
	if (unavailable_reason(s, why, sizeof(why)) ||
	    !bh_breaker_admit(s, s->breaker.state, why, sizeof(why))) {
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
			bh_call_submit(c, i);
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
	bh_call_queue(c, false);
	bh_slot_pump(s);
}
