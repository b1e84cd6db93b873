/* Hot swap by process replacement.
 *
 *   starting ──all new instances ready──▶ [quiescing ─▶ state transfer] ─▶ cut-over ─▶ draining ─▶ done
 *       │                                         │                                      ▲
 *       └── canary: a share of calls goes to the new generation ── promote ──────────────┘
 *
 * Until the cut-over the old generation serves untouched and any failure (a new
 * instance dying, init failing, the handshake or init deadline, restore rejected)
 * rolls back: the new instances are stopped and the caller gets the reason.
 *
 * With state (both generations implement snapshot/restore) routing to the old
 * generation pauses (calls queue) until its calls in flight are done, so that the
 * snapshot holds every update; the new generation restores it, then takes over. The
 * pause is the old calls' remaining run time plus the transfer. Without state the
 * switch is immediate and the old generation drains while the new one serves; a
 * client with calls still running on the old generation has its new calls held
 * until those finish, so no client ever sees an old answer after a new one.
 *
 * The cut-over is one assignment (s->gen, made by bh_slot_cut_over): every call
 * dispatched after it goes to the new generation. After the cut-over there is no
 * rollback: a new instance that crashes is restarted like any other.
 *
 * A canary that is rolled back (on request, on its error rate, or because one of its
 * instances died) while it still runs client calls drains like an old generation
 * (rolling back): new calls go to the old generation at once, the calls the canary
 * holds finish there, then it stops (killed at the drain deadline). A rollback never
 * turns a call that was already sent into a crash.
 *
 * The phases are one table (swap_table below): the slot reports instances and
 * finished calls (bh_swap_news), the router asks where a call goes (bh_swap_route),
 * the timer, the state-transfer replies and the commands are events too. A swap is
 * the slot's operation while it runs (bh_slot_swap_begin .. bh_slot_swap_end); it
 * changes the slot only through those functions. */
#include "swap.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "bulkhead/channel.h"
#include "bulkhead/error.h"
#include "bulkhead/proto.h"
#include "bulkhead/value.h"
#include "call.h"
#include "config.h"
#include "conn.h"
#include "daemon.h"
#include "events.h"
#include "gen.h"
#include "instance.h"
#include "list.h"
#include "log.h"
#include "loop.h"
#include "metrics.h"
#include "router.h"
#include "slot.h"

enum swap_phase {
	SWAP_STARTING,  /* new generation spawning, initialising */
	SWAP_QUIESCING, /* routing paused until the old generation is idle */
	SWAP_STATE,     /* $snapshot / $restore in flight */
	SWAP_CANARY,    /* both generations serve; waiting for promote / rollback */
	SWAP_DRAINING,  /* cut over; the old generation finishes and stops */
	SWAP_ABORTING,  /* canary rolled back; it finishes its calls and stops */
	SWAP__N
};

enum swap_event {
	W_NEW_READY, /* an instance of the new generation is ready */
	W_NEW_GONE,  /* an instance of the new generation is gone */
	W_PROGRESS,  /* a call finished, or an instance of another generation is gone */
	W_TIMER,     /* the phase's deadline */
	W_SNAPSHOT,  /* $snapshot answered (ev.data: [state_version, blob]) */
	W_RESTORED,  /* one $restore answered */
	W_PROMOTE,   /* bulkhead.promote */
	W_ROLLBACK,  /* on request, the canary's error rate, a failed state transfer (ev.why) */
	W__N
};

struct swap_ev {
	const char *why;
	const uint8_t *data;
	size_t len;
};

struct bh_swap {
	struct bh_slot *s;
	enum swap_phase phase;
	struct bh_gen *old; /* reference */
	struct bh_gen *new; /* reference (the slot's next until the cut-over) */
	struct bh_call *waiter; /* the swap (or promote) control call, or NULL */
	uint32_t canary_pct;
	uint32_t canary_acc;   /* see bh_swap_routed */
	double max_error_rate; /* canary rollback threshold */
	uint32_t min_calls;
	uint32_t canary_done;  /* client calls the canary answered... */
	uint32_t canary_failed; /* ...with an error */
	uint32_t n_ready;      /* new instances ready (and restored) */
	uint32_t n_restore_pending;
	bool state_transferred;
	uint8_t *blob;         /* [state_version, blob] as $snapshot returned it */
	size_t blob_len;
	uint64_t t_start, t_ready, t_state, t_cutover;
	struct bh_timer timer; /* start deadline, then drain deadline */
	struct bh_list fenced; /* calls held for their client's old calls (draining) */
	uint64_t id;           /* tags this swap's internal calls */
	char outcome[320];     /* for the slot's status once it ends */
};

static void swap_step(struct bh_swap *sw, enum swap_event ev, const struct swap_ev *arg);
static void release_held(struct bh_swap *sw);

static const char *const phase_names[SWAP__N] = {
	"starting", "quiescing", "state-transfer", "canary", "draining", "rolling-back"};

static double ms_since(uint64_t from, uint64_t to)
{
	return to > from ? (double)(to - from) / 1e6 : 0;
}

/* The only writer of sw->phase. */
static void enter(struct bh_swap *sw, enum swap_phase p)
{
	bh_debug("%s: swap %s -> %s", sw->s->conf->name, phase_names[sw->phase],
		 phase_names[p]);
	sw->phase = p;
	bh_event_slot(sw->s, BH_EV_SWAP_PHASE, phase_names[p], NULL);
}

/* The swap ends: the slot's operation with it. */
static void swap_free(struct bh_swap *sw)
{
	struct bh_slot *s = sw->s;
	bh_timer_disarm(s->d->loop, &sw->timer);
	release_held(sw);
	bh_gen_unref(sw->new);
	bh_gen_unref(sw->old);
	free(sw->blob);
	char outcome[sizeof(sw->outcome)];
	memcpy(outcome, sw->outcome, sizeof(outcome));
	free(sw);
	bh_slot_swap_end(s, outcome);
}

static void reply_waiter(struct bh_swap *sw, const char *verb)
{
	struct bh_call *c = sw->waiter;
	if (!c)
		return;
	sw->waiter = NULL;
	bh_call_unpark(c);
	struct bh_daemon *d = sw->s->d;
	uint64_t now = bh_now_ns();
	struct bh_writer w;
	d->scratch.len = 0;
	bh_writer_init(&w, &d->scratch);
	bh_write_map(&w, 10);
	bh_write_cstr(&w, "name");
	bh_write_cstr(&w, sw->s->conf->name);
	bh_write_cstr(&w, "result");
	bh_write_cstr(&w, verb);
	bh_write_cstr(&w, "from_generation");
	bh_write_uint(&w, sw->old->number);
	bh_write_cstr(&w, "to_generation");
	bh_write_uint(&w, sw->new->number);
	bh_write_cstr(&w, "version");
	bh_write_cstr(&w, sw->new->version);
	bh_write_cstr(&w, "state_transferred");
	bh_write_bool(&w, sw->state_transferred);
	/* Timings, all from the command: new generation ready (spawn + handshake + init),
	 * state transfer, the routing switch, the old generation gone. */
	bh_write_cstr(&w, "ready_ms");
	bh_write_float(&w, ms_since(sw->t_start, sw->t_ready));
	bh_write_cstr(&w, "state_ms");
	bh_write_float(&w, sw->state_transferred ? ms_since(sw->t_ready, sw->t_state) : 0);
	bh_write_cstr(&w, "cutover_ms");
	bh_write_float(&w, ms_since(sw->t_start, sw->t_cutover));
	bh_write_cstr(&w, "drain_ms");
	bh_write_float(&w, sw->t_cutover ? ms_since(sw->t_cutover, now) : 0);
	if (bh_writer_error(&w) < 0) {
		bh_call_fail(c, BH_E_INTERNAL, "cannot encode the reply");
		return;
	}
	bh_conn_reply_result(c, d->scratch.data, d->scratch.len);
	bh_call_free(c);
}

static void fail_waiter(struct bh_swap *sw, const char *msg)
{
	struct bh_call *c = sw->waiter;
	if (!c)
		return;
	sw->waiter = NULL;
	bh_call_unpark(c);
	bh_call_fail(c, BH_E_SWAP_FAILED, msg);
}

static void stop_generation(struct bh_slot *s, const struct bh_gen *g)
{
	struct bh_list *pos, *tmp;
	bh_list_for_each_safe(pos, tmp, &s->instances)
	{
		struct bh_instance *i = bh_container_of(pos, struct bh_instance, link);
		if (i->gen == g)
			bh_instance_stop(i);
	}
}

static uint32_t gen_inflight(const struct bh_slot *s, const struct bh_gen *g, uint32_t *ret_live)
{
	uint32_t n = 0, live = 0;
	struct bh_list *pos, *tmp;
	bh_list_for_each_safe(pos, tmp, &s->instances)
	{
		struct bh_instance *i = bh_container_of(pos, struct bh_instance, link);
		if (i->gen != g)
			continue;
		n += i->inflight;
		live++;
	}
	if (ret_live)
		*ret_live = live;
	return n;
}

static struct bh_instance *ready_instance_of(struct bh_slot *s, const struct bh_gen *g)
{
	struct bh_list *pos, *tmp;
	bh_list_for_each_safe(pos, tmp, &s->instances)
	{
		struct bh_instance *i = bh_container_of(pos, struct bh_instance, link);
		if (i->gen == g && i->state == BH_INST_READY)
			return i;
	}
	return NULL;
}

/* The generation a draining swap waits for: the old one after a cut-over, the
 * canary after a rollback. */
static struct bh_gen *draining_gen(const struct bh_swap *sw)
{
	return sw->phase == SWAP_ABORTING ? sw->new : sw->old;
}

/* ---- actions ---- */

static void drain(struct bh_swap *sw, const struct swap_ev *ev);

/* Abort before the cut-over: the old generation keeps serving, untouched. */
static void roll_back(struct bh_swap *sw, const struct swap_ev *ev)
{
	struct bh_slot *s = sw->s;
	bh_warn("%s: swap to generation %u rolled back: %s", s->conf->name, sw->new->number,
		ev->why);
	bh_event_slot(s, BH_EV_SWAP_DONE, "rolled_back", ev->why);
	char msg[400];
	snprintf(msg, sizeof(msg), "swap of %s rolled back, generation %u keeps serving: %s",
		 s->conf->name, sw->old->number, ev->why);
	snprintf(sw->outcome, sizeof(sw->outcome), "rolled back: %s", ev->why);
	bh_metrics_swap(s, false);
	fail_waiter(sw, msg);
	if (sw->phase == SWAP_CANARY && gen_inflight(s, sw->new, NULL) > 0) {
		/* Client calls are running on the canary: they finish there. Routing
		 * forgets it now, the drain stops it. */
		bh_slot_forget_next(s);
		enter(sw, SWAP_ABORTING);
		bh_timer_arm(s->d->loop, &sw->timer,
			     bh_now_ns() + bh_ms_to_ns(s->conf->drain_timeout_ms));
		bh_slot_pump(s);
		drain(sw, ev);
		return;
	}
	stop_generation(s, sw->new);
	swap_free(sw);
}

static void new_died(struct bh_swap *sw, const struct swap_ev *ev)
{
	char why[400];
	(void)ev;
	snprintf(why, sizeof(why), "new instance: %s", sw->s->last_exit);
	roll_back(sw, &(struct swap_ev){.why = why});
}

/* Idle instances of the draining generation stop now, busy ones when their last
 * call returns; once none is left the swap is done. */
static void drain(struct bh_swap *sw, const struct swap_ev *ev)
{
	struct bh_slot *s = sw->s;
	struct bh_gen *gone = draining_gen(sw);
	uint32_t live;
	(void)ev;
	if (sw->phase == SWAP_DRAINING) {
		/* A client's old calls may be done: its held calls try again. */
		release_held(sw);
		bh_slot_pump(s);
	}
	gen_inflight(s, gone, &live);
	struct bh_list *pos, *tmp;
	bh_list_for_each_safe(pos, tmp, &s->instances)
	{
		struct bh_instance *i = bh_container_of(pos, struct bh_instance, link);
		if (i->gen == gone && i->inflight == 0)
			bh_instance_stop(i);
	}
	if (live > 0)
		return;
	if (sw->phase == SWAP_ABORTING) {
		bh_info("%s: rolled-back generation %u stopped", s->conf->name, sw->new->number);
		return swap_free(sw);
	}
	bh_info("%s: swap to generation %u (%s) complete: ready %.1f ms, state %.1f ms, "
		"cut-over at %.1f ms, drained %.1f ms later",
		s->conf->name, sw->new->number, sw->new->version, ms_since(sw->t_start, sw->t_ready),
		sw->state_transferred ? ms_since(sw->t_ready, sw->t_state) : 0.0,
		ms_since(sw->t_start, sw->t_cutover), ms_since(sw->t_cutover, bh_now_ns()));
	bh_metrics_swap(s, true);
	snprintf(sw->outcome, sizeof(sw->outcome), "generation %u -> %u in %.1f ms",
		 sw->old->number, sw->new->number, ms_since(sw->t_start, bh_now_ns()));
	bh_event_slot(s, BH_EV_SWAP_DONE, "committed", sw->outcome);
	reply_waiter(sw, "swapped");
	swap_free(sw);
}

/* The drain deadline: what the draining generation still runs is killed. */
static void kill_drained(struct bh_swap *sw, const struct swap_ev *ev)
{
	struct bh_gen *gone = draining_gen(sw);
	struct bh_list *pos, *tmp;
	(void)ev;
	bh_list_for_each_safe(pos, tmp, &sw->s->instances)
	{
		struct bh_instance *i = bh_container_of(pos, struct bh_instance, link);
		if (i->gen == gone) {
			i->exit_expected = true;
			bh_instance_kill(i, BH_EXIT_KILLED,
					 "swap: still busy after drain_timeout_ms (%u ms)",
					 sw->s->conf->drain_timeout_ms);
		}
	}
}

/* The switch: every call dispatched after it goes to the new generation. */
static void cut_over(struct bh_swap *sw, const struct swap_ev *ev)
{
	struct bh_slot *s = sw->s;
	(void)ev;
	sw->canary_pct = 0;
	sw->t_cutover = bh_now_ns();
	enter(sw, SWAP_DRAINING); /* before the slot pumps: routing follows the phase */
	bh_slot_cut_over(s);
	bh_info("%s: cut over to generation %u (%s) at %.1f ms", s->conf->name, s->generation,
		s->gen->version, ms_since(sw->t_start, sw->t_cutover));
	bh_timer_arm(s->d->loop, &sw->timer,
		     sw->t_cutover + bh_ms_to_ns(s->conf->drain_timeout_ms));
	drain(sw, ev);
}

static struct bh_call *internal_call(struct bh_swap *sw, const char *method,
				     const uint8_t *params, size_t len,
				     void (*fn)(struct bh_call *, const bh_error *,
						const uint8_t *, size_t))
{
	struct bh_call *c = bh_call_new(sw->s->d, method, strlen(method), params, len);
	if (!c)
		return NULL;
	c->kind = BH_CALL_INTERNAL;
	c->on_reply = fn;
	c->ctx = sw->s;
	c->tag = sw->id;
	c->slot = sw->s;
	c->timeout_ms = sw->s->conf->init_timeout_ms;
	bh_call_arm_deadline(c);
	return c;
}

/* The swap an internal call belongs to, if it is still transferring state. */
static struct bh_swap *swap_of(const struct bh_call *c)
{
	struct bh_swap *sw = ((struct bh_slot *)c->ctx)->swap;
	return sw && sw->id == c->tag && sw->phase == SWAP_STATE ? sw : NULL;
}

/* An answer to $snapshot or $restore: the event it is, or a rollback. */
static void state_reply(struct bh_call *c, const bh_error *err, const uint8_t *result,
			size_t len, enum swap_event ev, const char *what)
{
	struct bh_swap *sw = swap_of(c);
	if (!sw)
		return;
	char why[320];
	if (err) {
		snprintf(why, sizeof(why), "%s: %s", what, err->message);
		return swap_step(sw, W_ROLLBACK, &(struct swap_ev){.why = why});
	}
	swap_step(sw, ev, &(struct swap_ev){.data = result, .len = len});
}

static void restore_done(struct bh_call *c, const bh_error *err, const uint8_t *result,
			 size_t len)
{
	state_reply(c, err, result, len, W_RESTORED, "restore rejected");
}

static void snapshot_done(struct bh_call *c, const bh_error *err, const uint8_t *result,
			  size_t len)
{
	state_reply(c, err, result, len, W_SNAPSHOT, "snapshot failed");
}

/* The old generation is idle: take its state. */
static void take_snapshot(struct bh_swap *sw)
{
	struct bh_instance *from = ready_instance_of(sw->s, sw->old);
	if (!from) /* nothing alive holds state: there is nothing to carry over */
		return cut_over(sw, NULL);
	enter(sw, SWAP_STATE);
	static const uint8_t no_params = 0x90;
	struct bh_call *c = internal_call(sw, BH_CH_SNAPSHOT, &no_params, 1, snapshot_done);
	if (!c)
		return roll_back(sw, &(struct swap_ev){.why = "out of memory"});
	bh_call_submit(c, from);
}

static void snapshot_taken(struct bh_swap *sw, const struct swap_ev *ev)
{
	/* The result, [state_version, blob], is exactly $restore's params. */
	sw->blob = malloc(ev->len);
	if (!sw->blob)
		return roll_back(sw, &(struct swap_ev){.why = "out of memory"});
	memcpy(sw->blob, ev->data, ev->len);
	sw->blob_len = ev->len;
	struct bh_list *pos, *tmp;
	bh_list_for_each_safe(pos, tmp, &sw->s->instances)
	{
		struct bh_instance *i = bh_container_of(pos, struct bh_instance, link);
		if (i->gen != sw->new || i->state != BH_INST_READY)
			continue;
		struct bh_call *rc = internal_call(sw, BH_CH_RESTORE, sw->blob, sw->blob_len,
						   restore_done);
		if (!rc)
			return roll_back(sw, &(struct swap_ev){.why = "out of memory"});
		sw->n_restore_pending++;
		bh_call_submit(rc, i);
	}
	if (sw->n_restore_pending == 0)
		roll_back(sw, &(struct swap_ev){.why = "no new instance left to restore into"});
}

static void restored(struct bh_swap *sw, const struct swap_ev *ev)
{
	if (--sw->n_restore_pending > 0)
		return;
	sw->state_transferred = true;
	sw->t_state = bh_now_ns();
	cut_over(sw, ev);
}

static void try_snapshot(struct bh_swap *sw, const struct swap_ev *ev)
{
	(void)ev;
	if (gen_inflight(sw->s, sw->old, NULL) == 0)
		take_snapshot(sw);
}

/* One more new instance is ready; once all are: start the canary, or quiesce for
 * the state transfer, or switch. */
static void count_ready(struct bh_swap *sw, const struct swap_ev *ev)
{
	if (++sw->n_ready < sw->new->conf.instances)
		return;
	sw->t_ready = bh_now_ns();
	if (sw->canary_pct > 0) {
		enter(sw, SWAP_CANARY);
		bh_timer_disarm(sw->s->d->loop, &sw->timer);
		bh_info("%s: canary generation %u (%s) takes %u%% of calls", sw->s->conf->name,
			sw->new->number, sw->new->version, sw->canary_pct);
		if (bh_events_wanted(sw->s->d)) {
			char detail[64];
			snprintf(detail, sizeof(detail), "the canary takes %u%% of calls",
				 sw->canary_pct);
			bh_event_slot(sw->s, BH_EV_CANARY, "started", detail);
		}
		reply_waiter(sw, "canary started");
		return;
	}
	if (sw->old->has_state && sw->new->has_state) {
		enter(sw, SWAP_QUIESCING); /* routing to the old generation pauses */
		return try_snapshot(sw, ev);
	}
	cut_over(sw, ev);
}

static void start_late(struct bh_swap *sw, const struct swap_ev *ev)
{
	char why[200];
	(void)ev;
	snprintf(why, sizeof(why), "new generation not ready within init_timeout_ms (%u ms)",
		 sw->new->conf.init_timeout_ms);
	roll_back(sw, &(struct swap_ev){.why = why});
}

static void quiesce_late(struct bh_swap *sw, const struct swap_ev *ev)
{
	char why[200];
	(void)ev;
	if (gen_inflight(sw->s, sw->old, NULL) == 0)
		return take_snapshot(sw);
	snprintf(why, sizeof(why), "calls still running on generation %u after %u ms "
		 "(init_timeout_ms + 1 s): no quiet moment to take its state",
		 sw->old->number, sw->new->conf.init_timeout_ms + 1000);
	roll_back(sw, &(struct swap_ev){.why = why});
}

static void transfer_late(struct bh_swap *sw, const struct swap_ev *ev)
{
	char why[200];
	(void)ev;
	snprintf(why, sizeof(why), "state transfer not done after %u ms (init_timeout_ms + 1 s)",
		 sw->new->conf.init_timeout_ms + 1000);
	roll_back(sw, &(struct swap_ev){.why = why});
}

/* ---- the table ----
 *
 * Rows are phases, columns events; a NULL cell ignores the event (a promote or a
 * rollback that finds a NULL cell is refused). Before the cut-over every failure
 * rolls back; after it the new generation is the slot's, restarted like any other,
 * and only the drain is left. */
typedef void (*swap_action)(struct bh_swap *, const struct swap_ev *);
static const swap_action swap_table[SWAP__N][W__N] = {
	[SWAP_STARTING] = {
		[W_NEW_READY] = count_ready, [W_NEW_GONE] = new_died,
		[W_TIMER] = start_late,      [W_ROLLBACK] = roll_back,
	},
	[SWAP_QUIESCING] = {
		[W_NEW_GONE] = new_died,     [W_PROGRESS] = try_snapshot,
		[W_TIMER] = quiesce_late,    [W_ROLLBACK] = roll_back,
	},
	[SWAP_STATE] = {
		[W_NEW_GONE] = new_died,     [W_TIMER] = transfer_late,
		[W_SNAPSHOT] = snapshot_taken, [W_RESTORED] = restored,
		[W_ROLLBACK] = roll_back,
	},
	[SWAP_CANARY] = {
		[W_NEW_GONE] = new_died,     [W_PROMOTE] = cut_over,
		[W_ROLLBACK] = roll_back,
	},
	[SWAP_DRAINING] = {
		[W_PROGRESS] = drain,        [W_TIMER] = kill_drained,
	},
	[SWAP_ABORTING] = {
		[W_NEW_GONE] = drain,        [W_PROGRESS] = drain,
		[W_TIMER] = kill_drained,
	},
};

static void swap_step(struct bh_swap *sw, enum swap_event ev, const struct swap_ev *arg)
{
	swap_action a = swap_table[sw->phase][ev];
	if (a)
		a(sw, arg);
}

static void swap_timer(struct bh_timer *t)
{
	swap_step(bh_container_of(t, struct bh_swap, timer), W_TIMER, NULL);
}

/* ---- what the slot and the router tell the swap ---- */

void bh_swap_news(struct bh_swap *sw, enum bh_swap_news what, const struct bh_instance *inst)
{
	bool is_new = inst && inst->gen == sw->new;
	switch (what) {
	case BH_SWAP_READY:
		if (is_new)
			swap_step(sw, W_NEW_READY, NULL);
		return;
	case BH_SWAP_GONE:
		return swap_step(sw, is_new ? W_NEW_GONE : W_PROGRESS, NULL);
	case BH_SWAP_CALL_DONE:
		return swap_step(sw, W_PROGRESS, NULL);
	}
}

/* Does conn have a call still running on an older generation of s? */
static bool conn_behind(const struct bh_slot *s, const struct bh_conn *cn)
{
	struct bh_list *pos, *tmp;
	bh_list_for_each_safe(pos, tmp, (struct bh_list *)&cn->calls)
	{
		const struct bh_call *c = bh_container_of(pos, struct bh_call, conn_link);
		if (c->slot == s && c->inst && c->inst->gen != s->gen && !c->answered)
			return true;
	}
	return false;
}

int bh_swap_route(struct bh_swap *sw, const struct bh_call *c, struct bh_gen **ret)
{
	switch (sw->phase) {
	case SWAP_QUIESCING:
	case SWAP_STATE:
		return BH_ROUTE_WAIT; /* paused: the call waits in the queue */
	case SWAP_CANARY:
		*ret = sw->old;
		if (sw->canary_acc + sw->canary_pct >= 100)
			*ret = sw->new;
		return BH_ROUTE_GEN;
	case SWAP_DRAINING:
		if (c->conn && conn_behind(sw->s, c->conn))
			return BH_ROUTE_HOLD;
		*ret = sw->s->gen;
		return BH_ROUTE_GEN;
	default:
		*ret = sw->s->gen;
		return BH_ROUTE_GEN;
	}
}

void bh_swap_routed(struct bh_swap *sw, const struct bh_gen *g)
{
	if (sw->phase != SWAP_CANARY)
		return;
	/* Deterministic split: every call adds pct; a call that reaches 100 is the
	 * canary's. Exactly pct of every 100 calls, evenly spread. */
	sw->canary_acc += sw->canary_pct;
	if (g == sw->new && sw->canary_acc >= 100)
		sw->canary_acc -= 100;
	else if (sw->canary_acc >= 100)
		sw->canary_acc -= 100; /* the canary was full: the old one took this one */
}

void bh_swap_hold(struct bh_swap *sw, struct bh_call *c)
{
	bh_call_hold(c, &sw->fenced);
}

/* Put the held calls back in front of the queue, in order. */
static void release_held(struct bh_swap *sw)
{
	while (!bh_list_empty(&sw->fenced))
		bh_call_queue(bh_container_of(sw->fenced.prev, struct bh_call, link), true);
}

void bh_swap_call_done(struct bh_swap *sw, const struct bh_gen *g, bool failed)
{
	if (sw->phase != SWAP_CANARY || g != sw->new)
		return;
	/* Over the calls it answered: g->calls also counts those still running, which
	 * would dilute the rate and meet min_calls before anything was served. */
	sw->canary_done++;
	if (!failed)
		return;
	sw->canary_failed++;
	double rate = (double)sw->canary_failed / (double)sw->canary_done;
	if (sw->canary_done >= sw->min_calls && rate > sw->max_error_rate) {
		char why[160];
		snprintf(why, sizeof(why), "canary error rate %.0f%% over %u calls exceeds %.0f%%",
			 rate * 100, sw->canary_done, sw->max_error_rate * 100);
		swap_step(sw, W_ROLLBACK, &(struct swap_ev){.why = why});
	}
}

/* ---- commands ---- */

int bh_swap_start(struct bh_slot *s, const struct bh_plugin_conf *conf,
		  const struct bh_swap_options *opt, struct bh_call *waiter, char *errbuf,
		  size_t errlen)
{
	if (bh_slot_busy(s)) { /* an unload, a load, another swap */
		snprintf(errbuf, errlen, "another operation on plugin %s is running",
			 s->conf->name);
		return -EBUSY;
	}
	struct stat st;
	if (stat(conf->path, &st) < 0) {
		snprintf(errbuf, errlen, "%s: %s", conf->path, strerror(errno));
		return -ENOENT;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(errbuf, errlen, "%s: not a regular file", conf->path);
		return -ENOENT;
	}
	struct bh_swap *sw = calloc(1, sizeof(*sw));
	struct bh_gen *g = sw ? bh_gen_new(conf, bh_slot_next_number(s)) : NULL;
	if (!g) {
		free(sw);
		snprintf(errbuf, errlen, "out of memory");
		return -ENOMEM;
	}
	sw->s = s;
	sw->id = ++s->d->next_serial;
	sw->phase = SWAP_STARTING;
	sw->old = bh_gen_ref(s->gen);
	sw->new = g; /* the swap's reference */
	sw->waiter = waiter;
	if (waiter)
		bh_call_park(waiter);
	sw->canary_pct = opt ? opt->canary_pct : 0;
	sw->max_error_rate = opt && opt->max_error_rate > 0 ? opt->max_error_rate : 0.5;
	sw->min_calls = opt && opt->min_calls ? opt->min_calls : 20;
	sw->t_start = bh_now_ns();
	bh_list_init(&sw->fenced);
	bh_timer_init(&sw->timer, swap_timer);
	bh_slot_swap_begin(s, sw, g);
	bh_info("%s: swapping generation %u for %u from %s%s", s->conf->name, sw->old->number,
		g->number, g->conf.path, sw->canary_pct ? " (canary)" : "");
	for (uint32_t k = 0; k < g->conf.instances; k++) {
		struct bh_instance *inst;
		char why[256] = "";
		int r = bh_instance_spawn(s, g, &inst, why, sizeof(why));
		if (r < 0) {
			snprintf(errbuf, errlen, "cannot start the new version: %s",
				 why[0] ? why : strerror(-r));
			sw->waiter = NULL;
			if (waiter)
				bh_call_unpark(waiter);
			roll_back(sw, &(struct swap_ev){.why = errbuf});
			return r;
		}
	}
	/* Spawn, handshake and init have the plugin's init deadline, plus the time the
	 * instances take to start one after the other. */
	bh_timer_arm(s->d->loop, &sw->timer,
		     sw->t_start + bh_ms_to_ns(g->conf.init_timeout_ms + 1000));
	return 0;
}

int bh_swap_promote(struct bh_slot *s, struct bh_call *waiter, char *errbuf, size_t errlen)
{
	struct bh_swap *sw = s->swap;
	if (!sw || !swap_table[sw->phase][W_PROMOTE]) {
		snprintf(errbuf, errlen, "plugin %s has no canary to promote", s->conf->name);
		return -EINVAL;
	}
	sw->waiter = waiter;
	bh_call_park(waiter);
	swap_step(sw, W_PROMOTE, NULL);
	return 0;
}

int bh_swap_rollback(struct bh_slot *s, char *errbuf, size_t errlen)
{
	struct bh_swap *sw = s->swap;
	if (!sw || !swap_table[sw->phase][W_ROLLBACK]) {
		snprintf(errbuf, errlen, "plugin %s has no swap to roll back", s->conf->name);
		return -EINVAL;
	}
	swap_step(sw, W_ROLLBACK, &(struct swap_ev){.why = "rolled back on request"});
	return 0;
}

const char *bh_swap_phase_name(const struct bh_swap *sw)
{
	return phase_names[sw->phase];
}

uint32_t bh_swap_canary_pct(const struct bh_swap *sw)
{
	return sw->phase == SWAP_CANARY ? sw->canary_pct : 0;
}
