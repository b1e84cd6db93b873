/* Slots: one per plugin name. Owns the instances, the waiting calls, restart
 * throttling (exponential back-off as a timer in the loop, never a sleep),
 * quarantine of plugins that keep crashing, and the operation running on it.
 *
 * Two things change a slot, each in one place:
 *   - its state (enum bh_slot_state), by the table below: every event an instance,
 *     a timer or a command brings is one column, and slot_step() runs the one
 *     action of its cell; enter() is the only writer of s->state;
 *   - its operation (struct bh_op): op_begin() and op_end() are the only writers of
 *     s->op. A change of the plugin's source that finds an operation running is
 *     recorded (op.change_pending) and applied by op_end(), never polled for. */
#include "slot.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bulkhead/error.h"
#include "call.h"
#include "config.h"
#include "control.h"
#include "daemon.h"
#include "events.h"
#include "gen.h"
#include "events.h"
#include "heal.h"
#include "instance.h"
#include "list.h"
#include "log.h"
#include "names.h"
#include "loop.h"
#include "metrics.h"
#include "outcall.h"
#include "router.h"
#include "swap.h"
#include "watch.h"

enum slot_event {
	SE_READY,       /* an instance of the current generation is ready */
	SE_CRASH,       /* one died unexpectedly, or was killed for misbehaving */
	SE_EXIT,        /* one exited on purpose (stopped, retired) */
	SE_CANNOT_LOAD, /* one could not load a plugin never ready in this generation */
	SE_SHORT,       /* a spawn or a sandbox set-up ran short of a resource */
	SE_RESTART,     /* the restart (or spawn retry) timer */
	SE_UNLOAD,      /* an unload begins (op.waiter set) */
	SE_DRAIN,       /* the unload's drain deadline */
	SE_PROGRESS,    /* a call finished, another generation's instance is gone, or an
			 * instance is gone during the shutdown: dispatch and advance */
	SE_CUTOVER,     /* a swap made its generation the current one */
	SE_LIFT,        /* the breaker's cool-down after a quarantine */
	SE__N
};

typedef void (*slot_action)(struct bh_slot *s);

static void restart_fired(struct bh_timer *t);
static void drain_fired(struct bh_timer *t);
static void reload_fired(struct bh_timer *t);
static void slot_step(struct bh_slot *s, enum slot_event ev);
static void op_end(struct bh_slot *s, const char *error);

const char *bh_slot_state_name(enum bh_slot_state st)
{
	static const char *const names[] = {"starting", "ready", "quarantined", "failed",
					    "unloading"};
	return names[st];
}

/* The only writer of s->state. */
static void enter(struct bh_slot *s, enum bh_slot_state st)
{
	if (s->state != st)
		bh_debug("%s: %s -> %s", s->conf->name, bh_slot_state_name(s->state),
			 bh_slot_state_name(st));
	s->state = st;
}

struct bh_slot *bh_slot_find(struct bh_daemon *d, const char *name, size_t len)
{
	return bh_names_get(&d->slot_names, name, len);
}

bool bh_slot_has_method(const struct bh_slot *s, const char *m, size_t len)
{
	return bh_gen_has_method(s->gen, m, len);
}

static uint32_t live_in_generation(const struct bh_slot *s)
{
	uint32_t n = 0;
	struct bh_list *pos, *tmp;
	bh_list_for_each_safe(pos, tmp, &s->instances)
	{
		struct bh_instance *i = bh_container_of(pos, struct bh_instance, link);
		n += i->generation == s->generation && i->state != BH_INST_DEAD &&
		     i->state != BH_INST_STOPPING;
	}
	return n;
}

static uint32_t slot_inflight(const struct bh_slot *s)
{
	uint32_t n = 0;
	struct bh_list *pos, *tmp;
	bh_list_for_each_safe(pos, tmp, &s->instances)
		n += bh_container_of(pos, struct bh_instance, link)->inflight;
	return n;
}

static void fail_queue(struct bh_slot *s, int32_t code, const char *why)
{
	while (s->n_queued > 0) {
		struct bh_call *c = bh_container_of(bh_list_first(&s->queue), struct bh_call, link);
		s->errors++;
		bh_call_fail(c, code, why);
	}
}

/* ---- operations ---- */

bool bh_slot_busy(const struct bh_slot *s)
{
	return s->op.kind != BH_OP_NONE;
}

static void op_begin(struct bh_slot *s, enum bh_op_kind kind, struct bh_call *waiter)
{
	bh_heal_abort_slot(s); /* the operation decides what runs now */
	s->op.kind = kind;
	s->op.waiter = waiter;
	if (waiter)
		bh_call_park(waiter);
}

/* The operation ends (error: why a load failed, else NULL): its waiter is answered,
 * and a change that arrived meanwhile is applied, from the loop (the reload timer,
 * due now) rather than from inside whatever ended the operation. */
static void op_end(struct bh_slot *s, const char *error)
{
	struct bh_op op = s->op;
	s->op = (struct bh_op){.kind = BH_OP_NONE};
	if (op.waiter)
		bh_call_unpark(op.waiter);
	if (op.kind == BH_OP_LOAD && op.waiter)
		bh_control_load_done(s, op.waiter, error);
	else if (op.kind == BH_OP_UNLOAD && op.waiter)
		bh_control_unload_done(s, op.waiter);
	if (op.kind == BH_OP_UNLOAD)
		return; /* the slot is gone: nothing is left to change */
	/* A load that never became ready leaves nothing behind. */
	if (op.kind == BH_OP_LOAD && error &&
	    (s->state == BH_SLOT_FAILED || s->state == BH_SLOT_QUARANTINED))
		return bh_slot_unload(s, NULL);
	if (op.change_pending)
		bh_timer_arm(s->d->loop, &s->reload_timer, bh_now_ns());
}

void bh_slot_load_wait(struct bh_slot *s, struct bh_call *waiter)
{
	op_begin(s, BH_OP_LOAD, waiter);
	if (s->state == BH_SLOT_FAILED) /* it could not even start an instance */
		op_end(s, s->fail_reason);
}

void bh_slot_source_changed(struct bh_slot *s)
{
	if (s->state == BH_SLOT_UNLOADING || s->d->shutting_down)
		return;
	if (bh_slot_busy(s))
		s->op.change_pending = true;
	else
		bh_slot_reload(s);
}

void bh_slot_unload(struct bh_slot *s, struct bh_call *waiter)
{
	op_begin(s, BH_OP_UNLOAD, waiter);
	slot_step(s, SE_UNLOAD);
}

uint32_t bh_slot_next_number(struct bh_slot *s)
{
	return ++s->last_generation;
}

void bh_slot_swap_begin(struct bh_slot *s, struct bh_swap *sw, struct bh_gen *next)
{
	op_begin(s, BH_OP_SWAP, NULL);
	s->swap = sw;
	s->next = bh_gen_ref(next);
}

void bh_slot_forget_next(struct bh_slot *s)
{
	bh_gen_unref(s->next);
	s->next = NULL;
}

/* The swap's generation (s->next) becomes the current one; its reference moves. */
void bh_slot_cut_over(struct bh_slot *s)
{
	struct bh_gen *old = s->gen;
	s->gen = s->next;
	s->next = NULL;
	s->conf = &s->gen->conf;
	s->generation = s->gen->number;
	bh_gen_unref(old);
	slot_step(s, SE_CUTOVER);
}

void bh_slot_swap_end(struct bh_slot *s, const char *outcome)
{
	snprintf(s->last_swap, sizeof(s->last_swap), "%s", outcome);
	bh_slot_forget_next(s);
	s->swap = NULL;
	op_end(s, NULL);
	slot_step(s, SE_PROGRESS);
}

/* ---- actions ---- */

/* Start instances until the current generation has conf.instances of them. */
static void fill_instances(struct bh_slot *s);

/* A spawn ran short of a resource (the daemon's fds, memory, processes, host ids, a
 * cgroup removed meanwhile): nothing is wrong with the plugin. Count it and try
 * again later, backing off while the shortage lasts; it is no crash, so it never
 * quarantines the plugin. */
static void short_of_resources(struct bh_slot *s)
{
	const struct bh_config *cfg = s->d->cfg;
	s->spawn_failures++;
	s->spawn_backoff_ms = s->spawn_backoff_ms ? s->spawn_backoff_ms * 2
						  : cfg->restart_backoff_min_ms;
	if (s->spawn_backoff_ms > cfg->restart_backoff_max_ms)
		s->spawn_backoff_ms = cfg->restart_backoff_max_ms;
	/* Logged once per reason: the same one again is a debug line (status shows the
	 * count and the last reason). */
	bool again = strcmp(s->spawn_warned, s->last_exit) == 0;
	bh_log(again ? BH_LOG_DEBUG : BH_LOG_WARN,
	       "%s: %s; no crash of the plugin, retrying with back-off from %u ms (%llu failed "
	       "spawns)%s", s->conf->name, s->last_exit, s->spawn_backoff_ms,
	       (unsigned long long)s->spawn_failures,
	       again ? "" : "; further failures for this reason are logged at debug level");
	snprintf(s->spawn_warned, sizeof(s->spawn_warned), "%s", s->last_exit);
	if (live_in_generation(s) == 0)
		enter(s, BH_SLOT_STARTING);
	bh_timer_disarm(s->d->loop, &s->restart_timer);
	bh_timer_arm(s->d->loop, &s->restart_timer,
		     bh_now_ns() + bh_ms_to_ns(s->spawn_backoff_ms));
	bh_slot_pump(s);
}

/* Dispatch what can go, then advance what waits for calls to finish: an unload, a
 * shutdown. Queued calls are dispatched whatever operation runs. */
static void progress(struct bh_slot *s);

static void give_up(struct bh_slot *s, enum bh_slot_state st, const char *reason)
{
	enter(s, st);
	snprintf(s->fail_reason, sizeof(s->fail_reason), "%s", reason);
	bh_err("%s: %s: %s", s->conf->name, bh_slot_state_name(st), reason);
	if (st == BH_SLOT_QUARANTINED)
		bh_event_slot(s, BH_EV_QUARANTINED, NULL, reason);
	bh_timer_disarm(s->d->loop, &s->restart_timer);
	/* The current generation retires: idle instances stop now, busy ones when their
	 * calls are done. A swap's new generation is left alone: it may be the fix. */
	struct bh_list *pos, *tmp;
	bh_list_for_each_safe(pos, tmp, &s->instances)
	{
		struct bh_instance *i = bh_container_of(pos, struct bh_instance, link);
		if (i->gen == s->gen)
			bh_instance_retire(i);
	}
	char why[320];
	snprintf(why, sizeof(why), "plugin %s is %s: %s", s->conf->name, bh_slot_state_name(st),
		 reason);
	fail_queue(s, BH_E_UNAVAILABLE, why);
	if (s->op.kind == BH_OP_LOAD)
		op_end(s, why);
}

static void cannot_load(struct bh_slot *s)
{
	give_up(s, BH_SLOT_FAILED, s->last_exit);
}

static void became_ready(struct bh_slot *s)
{
	s->ever_ready = true;
	s->spawn_backoff_ms = 0;
	s->spawn_warned[0] = 0;
	enter(s, BH_SLOT_READY);
	if (s->op.kind == BH_OP_LOAD)
		op_end(s, NULL);
	bh_slot_pump(s);
}

/* Record a crash; true when the plugin crossed the quarantine threshold. */
static bool record_crash(struct bh_slot *s)
{
	const struct bh_config *cfg = s->d->cfg;
	uint64_t now = bh_now_ns(), window = bh_ms_to_ns(cfg->quarantine_window_ms);
	uint32_t cap = s->crash_cap;
	/* Back-off grows with consecutive crashes and resets after a quiet window. */
	uint64_t last = s->n_crashes ? s->crash_times[(s->crash_head + cap - 1) % cap] : 0;
	if (s->n_crashes && now - last > window)
		s->backoff_ms = 0;
	s->backoff_ms = s->backoff_ms ? s->backoff_ms * 2 : cfg->restart_backoff_min_ms;
	if (s->backoff_ms > cfg->restart_backoff_max_ms)
		s->backoff_ms = cfg->restart_backoff_max_ms;
	s->crash_times[s->crash_head] = now;
	s->crash_head = (s->crash_head + 1) % cap;
	if (s->n_crashes < cap)
		s->n_crashes++;
	if (s->n_crashes < cap)
		return false;
	/* The oldest of the last `cap` crashes is at crash_head now. */
	return now - s->crash_times[s->crash_head] <= window;
}

/* An instance of the current generation is gone: replace it per the restart policy,
 * after the crash back-off (delay_ms), or leave the plugin without it. */
static void replace(struct bh_slot *s, bool restart, uint32_t delay_ms)
{
	if (live_in_generation(s) == 0)
		enter(s, BH_SLOT_STARTING);
	if (!restart) {
		if (s->n_live == 0) {
			char why[400];
			snprintf(why, sizeof(why),
				 "plugin %s has no running instance (restart = never): %s",
				 s->conf->name, s->last_exit);
			fail_queue(s, BH_E_UNAVAILABLE, why);
			if (s->op.kind == BH_OP_LOAD)
				op_end(s, why);
		}
		bh_slot_pump(s);
		return;
	}
	s->restarts++;
	bh_metrics_restart(s);
	if (!bh_timer_armed(&s->restart_timer)) {
		bh_info("%s: restarting in %u ms", s->conf->name, delay_ms);
		bh_event_slot(s, BH_EV_INSTANCE_RESTARTED, NULL, s->last_exit);
		bh_timer_arm(s->d->loop, &s->restart_timer, bh_now_ns() + bh_ms_to_ns(delay_ms));
	}
	bh_slot_pump(s);
}

static void crashed(struct bh_slot *s)
{
	bool trip = record_crash(s);
	if (trip || s->breaker.state == BH_BREAKER_HALF_OPEN) {
		char why[400];
		if (trip)
			snprintf(why, sizeof(why), "%u crashes within %u ms; last: %s", s->n_crashes,
				 s->d->cfg->quarantine_window_ms, s->last_exit);
		else
			snprintf(why, sizeof(why), "crashed again after the cool-down: %s",
				 s->last_exit);
		give_up(s, BH_SLOT_QUARANTINED, why);
		bh_event_slot(s, BH_EV_QUARANTINED, NULL, why);
		return bh_breaker_open(s, true, why);
	}
	bh_breaker_record(s, BH_E_PLUGIN_CRASHED);
	replace(s, s->conf->restart != BH_RESTART_NEVER, s->backoff_ms);
}

static void exited(struct bh_slot *s)
{
	replace(s, s->conf->restart == BH_RESTART_ALWAYS, 0);
}

/* Given up: what the instances leave behind fails with the reason. */
static void refuse_queue(struct bh_slot *s)
{
	char why[400];
	snprintf(why, sizeof(why), "plugin %s is %s: %s", s->conf->name,
		 bh_slot_state_name(s->state), s->fail_reason);
	fail_queue(s, BH_E_UNAVAILABLE, why);
}

static void begin_unload(struct bh_slot *s)
{
	enter(s, BH_SLOT_UNLOADING);
	bh_timer_disarm(s->d->loop, &s->restart_timer);
	bh_timer_disarm(s->d->loop, &s->reload_timer);
	bh_timer_arm(s->d->loop, &s->drain_timer,
		     bh_now_ns() + bh_ms_to_ns(s->conf->drain_timeout_ms));
	bh_info("%s: unloading (%u queued, %u in flight)", s->conf->name, s->n_queued,
		slot_inflight(s));
	progress(s);
}

/* The drain deadline: what still waits fails, what still runs is killed. */
static void drain_expired(struct bh_slot *s)
{
	char why[160];
	snprintf(why, sizeof(why), "plugin %s was unloaded before the call could run",
		 s->conf->name);
	fail_queue(s, BH_E_UNAVAILABLE, why);
	struct bh_list *pos, *tmp;
	bh_list_for_each_safe(pos, tmp, &s->instances)
	{
		struct bh_instance *i = bh_container_of(pos, struct bh_instance, link);
		i->exit_expected = true;
		if (i->inflight)
			bh_instance_kill(i, BH_EXIT_KILLED,
					 "unload: calls still running after drain_timeout_ms (%u ms)",
					 s->conf->drain_timeout_ms);
		else
			bh_instance_stop(i);
	}
}

/* Unload: once nothing is queued or in flight, stop the instances; once they are
 * gone, remove the slot and answer whoever asked. */
static void unload_progress(struct bh_slot *s)
{
	if (s->n_queued == 0 && slot_inflight(s) == 0)
		bh_slot_stop_all(s);
	if (s->n_live > 0)
		return;
	/* Calls still waiting (no instance was left to run them) end here, not with a
	 * slot that no longer exists. */
	char why[400];
	snprintf(why, sizeof(why), "plugin %s was unloaded: %s", s->conf->name, s->last_exit);
	fail_queue(s, BH_E_UNAVAILABLE, why);
	bh_list_del(&s->link);
	bh_names_del(&s->d->slot_names, s->conf->name, strlen(s->conf->name));
	bh_info("%s: unloaded", s->conf->name);
	bh_event_slot(s, BH_EV_PLUGIN_UNLOADED, NULL, NULL);
	op_end(s, NULL);
	bh_watch_slot_removed(s->d, s);
	bh_loop_defer_free(s->d->loop, (void (*)(void *))bh_slot_free, s);
	bh_daemon_check_shutdown_done(s->d);
}

static void progress(struct bh_slot *s)
{
	if (s->d->stopping_children)
		fail_queue(s, BH_E_SHUTTING_DOWN, "the daemon is shutting down");
	else
		bh_slot_pump(s);
	if (s->state == BH_SLOT_UNLOADING)
		unload_progress(s);
	else
		bh_daemon_check_shutdown_done(s->d);
}

/* A swap made its generation current: a clean record for the new code. */
static void cut_over_done(struct bh_slot *s)
{
	enter(s, BH_SLOT_READY);
	s->ever_ready = true;
	s->n_crashes = 0;
	s->backoff_ms = 0;
	bh_breaker_close(s, "swapped to a new generation");
	bh_slot_pump(s);
}

/* The quarantine's cool-down is over: a clean record, and an instance to try. */
static void lift_quarantine(struct bh_slot *s)
{
	enter(s, BH_SLOT_STARTING);
	s->n_crashes = 0;
	s->backoff_ms = 0;
	s->fail_reason[0] = '\0';
	bh_info("%s: quarantine lifted after %u ms", s->conf->name, s->conf->breaker.cooldown_ms);
	bh_event_slot(s, BH_EV_UNQUARANTINED, NULL, NULL);
	fill_instances(s);
}

void bh_slot_lift_quarantine(struct bh_slot *s)
{
	slot_step(s, SE_LIFT);
}

/* ---- the table ----
 *
 * Rows are states, columns events; a NULL cell means the event changes nothing in
 * that state. An instance that is gone while the daemon shuts down is SE_PROGRESS
 * (nothing restarts), and so is one of another generation (the swap's business).
 * Every instance event in UNLOADING is progress: the calls that go back to the
 * queue when an instance dies run on the instances that are left. */
static const slot_action slot_table[][SE__N] = {
	[BH_SLOT_STARTING] = {
		[SE_READY] = became_ready,   [SE_CRASH] = crashed,
		[SE_EXIT] = exited,          [SE_CANNOT_LOAD] = cannot_load,
		[SE_SHORT] = short_of_resources, [SE_RESTART] = fill_instances,
		[SE_UNLOAD] = begin_unload,  [SE_PROGRESS] = progress,
		[SE_CUTOVER] = cut_over_done,
	},
	[BH_SLOT_READY] = {
		[SE_READY] = became_ready,   [SE_CRASH] = crashed,
		[SE_EXIT] = exited,          [SE_CANNOT_LOAD] = cannot_load,
		[SE_SHORT] = short_of_resources, [SE_RESTART] = fill_instances,
		[SE_UNLOAD] = begin_unload,  [SE_PROGRESS] = progress,
		[SE_CUTOVER] = cut_over_done,
	},
	[BH_SLOT_QUARANTINED] = {
		[SE_READY] = progress,       [SE_CRASH] = refuse_queue,
		[SE_EXIT] = refuse_queue,    [SE_CANNOT_LOAD] = refuse_queue,
		[SE_SHORT] = refuse_queue,   [SE_UNLOAD] = begin_unload,
		[SE_PROGRESS] = progress,    [SE_CUTOVER] = cut_over_done,
		[SE_LIFT] = lift_quarantine,
	},
	[BH_SLOT_FAILED] = {
		[SE_READY] = progress,       [SE_CRASH] = refuse_queue,
		[SE_EXIT] = refuse_queue,    [SE_CANNOT_LOAD] = refuse_queue,
		[SE_SHORT] = refuse_queue,   [SE_UNLOAD] = begin_unload,
		[SE_PROGRESS] = progress,    [SE_CUTOVER] = cut_over_done,
	},
	[BH_SLOT_UNLOADING] = {
		[SE_READY] = progress,       [SE_CRASH] = progress,
		[SE_EXIT] = progress,        [SE_CANNOT_LOAD] = progress,
		[SE_SHORT] = progress,       [SE_DRAIN] = drain_expired,
		[SE_PROGRESS] = progress,
	},
};

static void slot_step(struct bh_slot *s, enum slot_event ev)
{
	slot_action a = slot_table[s->state][ev];
	if (a)
		a(s);
}

/* ---- spawning ----
 *
 * A spawn costs the daemon a few milliseconds and the child more to set up its
 * sandbox, and the plugin's init_timeout_ms counts from the spawn. Started all at
 * once, a thousand plugins would have the early ones time out while the daemon still
 * spawns the late ones, and every child competes for the CPUs with all the others.
 * So at most max_starting instances start at a time (a few per CPU: the set-up
 * waits on the kernel part of the time), and the slots that want more wait their
 * turn in order. A swap's instances do not wait (one plugin, an operator's command),
 * but they count. */
#define SPAWN_PER_CPU 4

static void spawn_fired(struct bh_timer *t);

void bh_slot_spawning_init(struct bh_daemon *d)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	d->max_starting = SPAWN_PER_CPU * (uint32_t)(cpus > 1 ? cpus : 1);
	bh_list_init(&d->spawn_wait);
	bh_timer_init(&d->spawn_timer, spawn_fired);
}

static bool spawn_room(const struct bh_daemon *d)
{
	return d->n_starting < d->max_starting;
}

void bh_slot_spawn_done(struct bh_daemon *d)
{
	d->n_starting--;
	/* From the loop, not from inside the instance's event. */
	if (!bh_list_empty(&d->spawn_wait) && !bh_timer_armed(&d->spawn_timer))
		bh_timer_arm(d->loop, &d->spawn_timer, bh_now_ns());
}

static void spawn_fired(struct bh_timer *t)
{
	struct bh_daemon *d = bh_container_of(t, struct bh_daemon, spawn_timer);
	while (spawn_room(d) && !bh_list_empty(&d->spawn_wait) && !d->shutting_down) {
		struct bh_slot *s =
			bh_container_of(bh_list_first(&d->spawn_wait), struct bh_slot, spawn_link);
		bh_list_del(&s->spawn_link);
		slot_step(s, SE_RESTART); /* back on the list if it wants more than there is room */
	}
}

static void fill_instances(struct bh_slot *s)
{
	while (live_in_generation(s) < s->conf->instances) {
		if (!spawn_room(s->d)) {
			if (!bh_list_linked(&s->spawn_link))
				bh_list_add_tail(&s->d->spawn_wait, &s->spawn_link);
			return;
		}
		struct bh_instance *inst;
		char why[256] = "";
		int r = bh_instance_spawn(s, s->gen, &inst, why, sizeof(why));
		if (r < 0) {
			snprintf(s->last_exit, sizeof(s->last_exit), "cannot start an instance: %s",
				 why[0] ? why : strerror(-r));
			if (r == -EOPNOTSUPP) /* require_limits: retrying cannot help */
				return give_up(s, BH_SLOT_FAILED, s->last_exit);
			/* Everything else the parent's side of a spawn meets is a shortage
			 * (EMFILE, ENOMEM, EAGAIN, no free host id) or a host error that
			 * may pass: the plugin file is only opened by the child. */
			return slot_step(s, SE_SHORT);
		}
	}
}

/* ---- events ---- */

void bh_slot_instance_ready(struct bh_slot *s, struct bh_instance *inst)
{
	if (bh_heal_ready(inst)) /* a replacement took over (heal.c) */
		return;
	if (inst->gen != s->gen) { /* a swap's new generation */
		if (s->swap)
			bh_swap_news(s->swap, BH_SWAP_READY, inst);
		return;
	}
	slot_step(s, SE_READY);
}

/* Which event an instance's end is. A plugin that cannot load will not do better
 * next time, but only while this generation never ran: one that was ready before
 * and now fails to load or set up (its file replaced or removed, its cgroup swept)
 * is a crash, restarted with back-off and quarantined if it keeps failing. */
static enum slot_event gone_event(const struct bh_slot *s, const struct bh_instance *inst,
				  bool crashed, bool load_failed)
{
	if (inst->gen != s->gen || s->d->shutting_down || inst->heal.replaced)
		return SE_PROGRESS;
	if (load_failed)
		return s->ever_ready ? SE_CRASH : SE_CANNOT_LOAD;
	if (inst->cause == BH_EXIT_SETUP_SHORT) /* whatever the restart policy: it never ran */
		return SE_SHORT;
	return crashed ? SE_CRASH : SE_EXIT;
}

void bh_slot_instance_gone(struct bh_slot *s, struct bh_instance *inst, bool crashed,
			   bool load_failed)
{
	bh_heal_gone(inst);
	slot_step(s, gone_event(s, inst, crashed, load_failed));
	/* A swap hears of every instance: one of its new generation failing rolls it
	 * back, the last one of a draining generation completes it. */
	if (s->swap)
		bh_swap_news(s->swap, BH_SWAP_GONE, inst);
}

void bh_slot_after_reply(struct bh_slot *s)
{
	if (s->swap)
		bh_swap_news(s->swap, BH_SWAP_CALL_DONE, NULL);
	if (s->n_recycling)
		bh_heal_progress(s);
	slot_step(s, SE_PROGRESS);
}

static void restart_fired(struct bh_timer *t)
{
	struct bh_slot *s = bh_container_of(t, struct bh_slot, restart_timer);
	if (!s->d->shutting_down)
		slot_step(s, SE_RESTART);
}

static void drain_fired(struct bh_timer *t)
{
	slot_step(bh_container_of(t, struct bh_slot, drain_timer), SE_DRAIN);
}

/* A change of the source, debounced, or one recorded while an operation ran. */
static void reload_fired(struct bh_timer *t)
{
	bh_slot_source_changed(bh_container_of(t, struct bh_slot, reload_timer));
}

/* ---- life and death ---- */

int bh_slot_create(struct bh_daemon *d, const struct bh_plugin_conf *conf, struct bh_slot **ret)
{
	/* The name is a host service's (callback.c): the plugin would take its calls. */
	if (bh_provider_find(d, conf->name, strlen(conf->name))) {
		bh_warn("%s: not loaded: a connection provides the host service of that name",
			conf->name);
		return -EEXIST;
	}
	struct bh_slot *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	/* The ring keeps its size for the slot's life, whatever a reload says later. */
	s->crash_cap = d->cfg->quarantine_crashes ? d->cfg->quarantine_crashes : 1;
	s->crash_times = calloc(s->crash_cap, sizeof(*s->crash_times));
	s->gen = bh_gen_new(conf, 1);
	if (!s->crash_times || !s->gen) {
		free(s->crash_times);
		bh_gen_unref(s->gen);
		free(s);
		return -ENOMEM;
	}
	s->d = d;
	s->conf = &s->gen->conf;
	bh_breaker_init(s);
	s->state = BH_SLOT_STARTING;
	s->generation = 1;
	s->last_generation = 1;
	s->loaded_ns = bh_now_ns();
	bh_list_init(&s->instances);
	bh_list_init(&s->queue);
	bh_list_init(&s->spawn_link);
	bh_timer_init(&s->restart_timer, restart_fired);
	bh_timer_init(&s->drain_timer, drain_fired);
	bh_timer_init(&s->reload_timer, reload_fired);
	if (bh_names_put(&d->slot_names, s->conf->name, strlen(s->conf->name), s) < 0) {
		free(s->crash_times);
		bh_gen_unref(s->gen);
		free(s);
		return -ENOMEM; /* the callers looked the name up first */
	}
	bh_list_add_tail(&d->slots, &s->link);
	bh_info("%s: loading %s (%u instance%s)", s->conf->name, s->conf->path, s->conf->instances,
		s->conf->instances == 1 ? "" : "s");
	bh_event_slot(s, BH_EV_PLUGIN_LOADED, NULL, s->conf->path);
	fill_instances(s);
	*ret = s;
	return 0;
}

void bh_slot_stop_all(struct bh_slot *s)
{
	bh_timer_disarm(s->d->loop, &s->restart_timer);
	struct bh_list *pos, *tmp;
	bh_list_for_each_safe(pos, tmp, &s->instances)
		bh_instance_stop(bh_container_of(pos, struct bh_instance, link));
}

void bh_slot_free(struct bh_slot *s)
{
	if (!s)
		return;
	bh_timer_disarm(s->d->loop, &s->restart_timer);
	bh_timer_disarm(s->d->loop, &s->drain_timer);
	bh_timer_disarm(s->d->loop, &s->reload_timer);
	bh_breaker_done(s);
	bh_list_del(&s->spawn_link);
	free(s->crash_times);
	bh_metrics_slot_free(s);
	bh_gen_unref(s->next);
	bh_gen_unref(s->gen);
	free(s);
}
