/* Slots: one per plugin name. Owns the instances, the waiting calls, restart
 * throttling (exponential back-off as a timer in the loop, never a sleep) and
 * quarantine of plugins that keep crashing. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon.h"

static void restart_fired(struct bh_timer *t);
static void drain_fired(struct bh_timer *t);
static void give_up(struct bh_slot *s, enum bh_slot_state st, const char *reason);

const char *bh_slot_state_name(enum bh_slot_state st)
{
	static const char *const names[] = {"starting", "ready", "quarantined", "failed",
					    "unloading"};
	return names[st];
}

struct bh_slot *bh_slot_find(struct bh_daemon *d, const char *name, size_t len)
{
	struct bh_list *pos, *tmp;
	bh_list_for_each_safe(pos, tmp, &d->slots)
	{
		struct bh_slot *s = bh_container_of(pos, struct bh_slot, link);
		if (strlen(s->conf->name) == len && memcmp(s->conf->name, name, len) == 0)
			return s;
	}
	return NULL;
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

/* A spawn ran short of a resource (the daemon's fds, memory, processes, host ids, a
 * cgroup removed meanwhile): nothing is wrong with the plugin. Count it and try
 * again later, backing off while the shortage lasts; it is no crash, so it never
 * quarantines the plugin. */
static void spawn_short(struct bh_slot *s)
{
	const struct bh_config *cfg = s->d->cfg;
	s->spawn_failures++;
	s->spawn_backoff_ms = s->spawn_backoff_ms ? s->spawn_backoff_ms * 2
						  : cfg->restart_backoff_min_ms;
	if (s->spawn_backoff_ms > cfg->restart_backoff_max_ms)
		s->spawn_backoff_ms = cfg->restart_backoff_max_ms;
	bh_warn("%s: %s; resources were short, retrying in %u ms (%llu such failures)",
		s->conf->name, s->last_exit, s->spawn_backoff_ms,
		(unsigned long long)s->spawn_failures);
	if (s->state == BH_SLOT_READY && live_in_generation(s) == 0)
		s->state = BH_SLOT_STARTING;
	bh_timer_disarm(s->d->loop, &s->restart_timer);
	bh_timer_arm(s->d->loop, &s->restart_timer,
		     bh_now_ns() + bh_ms_to_ns(s->spawn_backoff_ms));
}

/* Start instances until the current generation has conf.instances of them. */
static void fill_instances(struct bh_slot *s)
{
	while (live_in_generation(s) < s->conf->instances) {
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
			return spawn_short(s);
		}
	}
}

int bh_slot_create(struct bh_daemon *d, const struct bh_plugin_conf *conf, struct bh_slot **ret)
{
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
	s->state = BH_SLOT_STARTING;
	s->generation = 1;
	s->last_generation = 1;
	s->loaded_ns = bh_now_ns();
	bh_list_init(&s->instances);
	bh_list_init(&s->queue);
	bh_timer_init(&s->restart_timer, restart_fired);
	bh_timer_init(&s->drain_timer, drain_fired);
	bh_timer_init(&s->reload_timer, bh_slot_reload_fired);
	bh_list_add_tail(&d->slots, &s->link);
	bh_info("%s: loading %s (%u instance%s)", s->conf->name, s->conf->path, s->conf->instances,
		s->conf->instances == 1 ? "" : "s");
	fill_instances(s);
	*ret = s;
	return 0;
}

void bh_slot_free(struct bh_slot *s)
{
	if (!s)
		return;
	bh_timer_disarm(s->d->loop, &s->restart_timer);
	bh_timer_disarm(s->d->loop, &s->drain_timer);
	bh_timer_disarm(s->d->loop, &s->reload_timer);
	free(s->crash_times);
	bh_gen_unref(s->next);
	bh_gen_unref(s->gen);
	free(s);
}

static void fail_queue(struct bh_slot *s, int32_t code, const char *why)
{
	while (s->n_queued > 0) {
		struct bh_call *c = bh_container_of(bh_list_first(&s->queue), struct bh_call, link);
		s->errors++;
		bh_call_fail(c, code, why);
	}
}

void bh_slot_stop_all(struct bh_slot *s)
{
	bh_timer_disarm(s->d->loop, &s->restart_timer);
	struct bh_list *pos, *tmp;
	bh_list_for_each_safe(pos, tmp, &s->instances)
		bh_instance_stop(bh_container_of(pos, struct bh_instance, link));
}

static uint32_t slot_inflight(const struct bh_slot *s)
{
	uint32_t n = 0;
	struct bh_list *pos, *tmp;
	bh_list_for_each_safe(pos, tmp, &s->instances)
		n += bh_container_of(pos, struct bh_instance, link)->inflight;
	return n;
}

/* Unload: once nothing is queued or in flight, stop the instances; once they are
 * gone, remove the slot and answer whoever asked. */
static void unload_progress(struct bh_slot *s)
{
	if (s->n_queued == 0 && slot_inflight(s) == 0)
		bh_slot_stop_all(s);
	if (s->n_live > 0)
		return;
	/* Calls still waiting (no instance came back to run them) end here, not with a
	 * slot that no longer exists. */
	char why[160];
	snprintf(why, sizeof(why), "plugin %s was unloaded", s->conf->name);
	fail_queue(s, BH_E_UNAVAILABLE, why);
	bh_list_del(&s->link);
	bh_info("%s: unloaded", s->conf->name);
	bh_control_unload_done(s);
	bh_watch_slot_removed(s->d, s);
	bh_loop_defer_free(s->d->loop, (void (*)(void *))bh_slot_free, s);
	bh_daemon_check_shutdown_done(s->d);
}

static void drain_fired(struct bh_timer *t)
{
	struct bh_slot *s = bh_container_of(t, struct bh_slot, drain_timer);
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
			bh_instance_kill(i, BH_EXIT_KILLED, "unload: calls still running after drain_timeout_ms (%u ms)",
					 s->conf->drain_timeout_ms);
		else
			bh_instance_stop(i);
	}
}

void bh_slot_unload(struct bh_slot *s, struct bh_call *waiter)
{
	s->state = BH_SLOT_UNLOADING;
	s->waiter = waiter;
	bh_timer_disarm(s->d->loop, &s->restart_timer);
	bh_timer_arm(s->d->loop, &s->drain_timer, bh_now_ns() + bh_ms_to_ns(s->conf->drain_timeout_ms));
	bh_info("%s: unloading (%u queued, %u in flight)", s->conf->name, s->n_queued,
		slot_inflight(s));
	unload_progress(s);
}

void bh_slot_after_reply(struct bh_slot *s)
{
	if (s->swap)
		bh_swap_after_reply(s->swap);
	bh_slot_pump(s);
	if (s->state == BH_SLOT_UNLOADING)
		unload_progress(s);
	else if (s->d->shutting_down)
		bh_daemon_check_shutdown_done(s->d);
}

void bh_slot_instance_ready(struct bh_slot *s, struct bh_instance *inst)
{
	if (inst->gen != s->gen) { /* a swap's new generation */
		if (s->swap)
			bh_swap_instance_ready(s->swap, inst);
		return;
	}
	s->ever_ready = true;
	s->spawn_backoff_ms = 0;
	if (s->state == BH_SLOT_STARTING)
		s->state = BH_SLOT_READY;
	if (s->waiter && s->state == BH_SLOT_READY)
		bh_control_load_done(s, NULL);
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

static void give_up(struct bh_slot *s, enum bh_slot_state st, const char *reason)
{
	s->state = st;
	snprintf(s->fail_reason, sizeof(s->fail_reason), "%s", reason);
	bh_err("%s: %s: %s", s->conf->name, bh_slot_state_name(st), reason);
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
	if (s->waiter)
		bh_control_load_done(s, why);
}

static void current_gen_gone(struct bh_slot *s, struct bh_instance *inst, bool crashed,
			     bool load_failed);

void bh_slot_instance_gone(struct bh_slot *s, struct bh_instance *inst, bool crashed,
			   bool load_failed)
{
	if (inst->gen == s->gen) {
		current_gen_gone(s, inst, crashed, load_failed);
		/* A swap waiting for this generation to go idle must hear of it too. */
		if (s->swap)
			bh_swap_instance_gone(s->swap, inst);
		return;
	}
	/* Old generations are not restarted; a new one failing rolls the swap back. */
	if (s->swap)
		bh_swap_instance_gone(s->swap, inst);
	if (s->state == BH_SLOT_UNLOADING)
		unload_progress(s);
	else if (s->d->shutting_down)
		bh_daemon_check_shutdown_done(s->d);
}

static void current_gen_gone(struct bh_slot *s, struct bh_instance *inst, bool crashed,
			     bool load_failed)
{
	char why[400];
	if (s->state == BH_SLOT_UNLOADING) {
		if (s->n_live == 0) {
			snprintf(why, sizeof(why), "plugin %s was unloaded: %s", s->conf->name,
				 s->last_exit);
			fail_queue(s, BH_E_UNAVAILABLE, why);
		}
		unload_progress(s);
		return;
	}
	if (s->d->shutting_down) {
		if (s->d->stopping_children)
			fail_queue(s, BH_E_SHUTTING_DOWN, "the daemon is shutting down");
		else
			bh_slot_pump(s);
		bh_daemon_check_shutdown_done(s->d);
		return;
	}
	if (s->state == BH_SLOT_FAILED || s->state == BH_SLOT_QUARANTINED) {
		snprintf(why, sizeof(why), "plugin %s is %s: %s", s->conf->name,
			 bh_slot_state_name(s->state), s->fail_reason);
		fail_queue(s, BH_E_UNAVAILABLE, why);
		return;
	}
	if (load_failed) {
		give_up(s, BH_SLOT_FAILED, s->last_exit);
		return;
	}
	if (inst->cause == BH_EXIT_SETUP_SHORT) { /* whatever the restart policy: it never ran */
		spawn_short(s);
		bh_slot_pump(s);
		return;
	}
	bool restart = s->conf->restart == BH_RESTART_ALWAYS ||
		       (s->conf->restart == BH_RESTART_ON_FAILURE && crashed);
	if (crashed && record_crash(s)) {
		snprintf(why, sizeof(why), "%u crashes within %u ms; last: %s", s->n_crashes,
			 s->d->cfg->quarantine_window_ms, s->last_exit);
		give_up(s, BH_SLOT_QUARANTINED, why);
		return;
	}
	if (live_in_generation(s) == 0 && s->state == BH_SLOT_READY)
		s->state = BH_SLOT_STARTING;
	if (!restart) {
		if (s->n_live == 0) {
			snprintf(why, sizeof(why), "plugin %s has no running instance (restart = never): %s",
				 s->conf->name, s->last_exit);
			fail_queue(s, BH_E_UNAVAILABLE, why);
			if (s->waiter)
				bh_control_load_done(s, why);
		}
		return;
	}
	s->restarts++;
	if (!bh_timer_armed(&s->restart_timer)) {
		uint32_t delay = crashed ? s->backoff_ms : 0;
		bh_info("%s: restarting in %u ms", s->conf->name, delay);
		bh_timer_arm(s->d->loop, &s->restart_timer, bh_now_ns() + bh_ms_to_ns(delay));
	}
	bh_slot_pump(s);
}

static void restart_fired(struct bh_timer *t)
{
	struct bh_slot *s = bh_container_of(t, struct bh_slot, restart_timer);
	if (s->state == BH_SLOT_UNLOADING || s->state == BH_SLOT_FAILED ||
	    s->state == BH_SLOT_QUARANTINED || s->d->shutting_down)
		return;
	fill_instances(s);
}
