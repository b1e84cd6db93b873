/* Health probes and graceful replacement of instances (heal.h).
 *
 * Probes: every health.interval_ms an idle ready instance gets a $health call
 * (channel.h 4b); a busy one is left alone (its calls have their own deadlines). A
 * probe that fails, or that is not answered within health.timeout_ms, is a failure,
 * and so is every interval it stays unanswered; health.failures of them in a row
 * replace the instance. The probe's call has no deadline of its own: a plugin stuck
 * in its health callback is not killed as a stuck call (a crash), it is replaced.
 *
 * A replacement, for one instance (old):
 *
 *   spawn successor (standby) ──ready──▶ [held: old's calls finish ─▶ $snapshot old
 *        │                                  ─▶ $restore successor] ─▶ take over ─▶ old retires
 *        └── successor gone, transfer failed, an operation begins: abandoned, old serves on
 *
 * The bracket runs only when the plugin has state and the replacement is no health
 * one. Taking over is one flag (standby off): the router finds the successor from
 * then on. */
#define _GNU_SOURCE
#include "heal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bulkhead/channel.h"
#include "bulkhead/error.h"
#include "call.h"
#include "config.h"
#include "daemon.h"
#include "events.h"
#include "gen.h"
#include "instance.h"
#include "list.h"
#include "log.h"
#include "outcall.h"
#include "router.h"
#include "slot.h"

/* Without probes, max_rss is checked this often. */
#define RSS_CHECK_MS 1000
/* A replacement that failed is not tried again for the same instance before this. */
#define RETRY_MS 5000

static void probe_fired(struct bh_timer *t);
static void act_fired(struct bh_timer *t);
static void take_over(struct bh_instance *succ);

const char *bh_recycle_cause_name(enum bh_recycle_cause c)
{
	static const char *const names[] = {"none", "max_calls", "max_rss", "health"};
	return names[c];
}

const char *bh_heal_health_name(const struct bh_instance *inst)
{
	const struct bh_inst_heal *h = &inst->heal;
	if (!inst->gen->conf.health.interval_ms)
		return "off";
	if (h->failures > 0)
		return "failing";
	return h->probes_ok ? "ok" : "unknown";
}

void bh_heal_instance_init(struct bh_instance *inst)
{
	bh_timer_init(&inst->heal.probe_timer, probe_fired);
	bh_timer_init(&inst->heal.act_timer, act_fired);
}

/* The next tick: a probe every interval, or the RSS check alone. */
static void arm_tick(struct bh_instance *inst)
{
	const struct bh_plugin_conf *conf = &inst->gen->conf;
	uint32_t ms = conf->health.interval_ms ? conf->health.interval_ms
					       : (conf->max_rss ? RSS_CHECK_MS : 0);
	if (ms)
		bh_timer_arm(inst->d->loop, &inst->heal.probe_timer,
			     bh_now_ns() + bh_ms_to_ns(ms));
}

/* ---- memory ---- */

static ssize_t read_text(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ssize_t n = read(fd, buf, len - 1);
	int e = errno;
	close(fd);
	if (n < 0)
		return -e;
	buf[n] = '\0';
	return n;
}

/* The cgroup v2 of pid ("0::/path" in /proc/PID/cgroup): its memory.current. */
static uint64_t cgroup_memory(pid_t pid)
{
	char path[512], buf[512];
	snprintf(path, sizeof(path), "/proc/%d/cgroup", (int)pid);
	if (read_text(path, buf, sizeof(buf)) <= 0)
		return 0;
	char *line = strstr(buf, "0::/");
	if (!line || (line != buf && line[-1] != '\n'))
		return 0;
	line += 3;
	line[strcspn(line, "\n")] = '\0';
	snprintf(path, sizeof(path), "/sys/fs/cgroup%s/memory.current",
		 strcmp(line, "/") == 0 ? "" : line);
	unsigned long long v;
	if (read_text(path, buf, sizeof(buf)) <= 0 || sscanf(buf, "%llu", &v) != 1)
		return 0;
	return v;
}

uint64_t bh_heal_memory(const struct bh_instance *inst)
{
	pid_t pid = inst->child.pid;
	/* Only an instance of its own cgroup: else the cgroup is the daemon's. */
	uint64_t bytes = inst->child.cg ? cgroup_memory(pid) : 0;
	if (bytes)
		return bytes;
	char path[64], buf[128];
	unsigned long long size, resident;
	snprintf(path, sizeof(path), "/proc/%d/statm", (int)pid);
	if (read_text(path, buf, sizeof(buf)) <= 0 ||
	    sscanf(buf, "%llu %llu", &size, &resident) != 2)
		return 0;
	return resident * (uint64_t)sysconf(_SC_PAGESIZE);
}

/* ---- probes ---- */

static bool serving(const struct bh_instance *inst)
{
	return inst->state == BH_INST_READY && !inst->dying && !inst->retiring &&
	       !inst->heal.replaced && !inst->heal.standby && !inst->heal.held;
}

static void probe_failed(struct bh_instance *inst, const char *why)
{
	struct bh_inst_heal *h = &inst->heal;
	const struct bh_plugin_conf *conf = &inst->gen->conf;
	h->failures++;
	snprintf(h->last_error, sizeof(h->last_error), "%s", why);
	bh_warn("%s: instance pid %d failed its health probe (%u of %u): %s",
		inst->slot->conf->name, (int)inst->child.pid, h->failures, conf->health.failures,
		why);
	bh_event_instance(inst, BH_EV_HEALTH_FAILED, NULL, why);
	if (h->failures >= conf->health.failures)
		bh_heal_want(inst, BH_RECYCLE_HEALTH);
}

static void probe_done(struct bh_call *c, const bh_error *err, const uint8_t *result,
		       size_t len)
{
	struct bh_instance *inst = c->ctx;
	struct bh_inst_heal *h = &inst->heal;
	(void)result;
	(void)len;
	if (h->probe != c)
		return;
	h->probe = NULL;
	bool late = h->probe_late;
	h->probe_late = false;
	if (inst->state != BH_INST_READY || inst->dying)
		return; /* its end says more than its probe */
	if (err) {
		if (!late) /* a late one was counted when it was late */
			probe_failed(inst, err->message);
		return;
	}
	h->probes_ok++;
	if (h->failures)
		bh_info("%s: instance pid %d answers its health probe again",
			inst->slot->conf->name, (int)inst->child.pid);
	h->failures = 0;
	h->last_error[0] = '\0';
}

static void send_probe(struct bh_instance *inst)
{
	static const uint8_t no_params = 0x90;
	struct bh_call *c = bh_call_new(inst->d, BH_CH_HEALTH, strlen(BH_CH_HEALTH), &no_params, 1);
	if (!c)
		return;
	c->kind = BH_CALL_INTERNAL;
	c->on_reply = probe_done;
	c->ctx = inst;
	c->slot = inst->slot;
	inst->heal.probe = c;
	inst->heal.probe_sent_ns = bh_now_ns();
	bh_call_submit(c, inst); /* may fail it at once: probe_done clears it */
	if (inst->heal.probe)
		bh_timer_arm(inst->d->loop, &inst->heal.probe_timer,
			     inst->heal.probe_sent_ns +
				     bh_ms_to_ns(inst->gen->conf.health.timeout_ms));
}

static void probe_fired(struct bh_timer *t)
{
	struct bh_instance *inst = bh_container_of(t, struct bh_instance, heal.probe_timer);
	struct bh_inst_heal *h = &inst->heal;
	const struct bh_plugin_conf *conf = &inst->gen->conf;
	if (inst->state == BH_INST_DEAD)
		return;
	arm_tick(inst);
	if (!serving(inst))
		return;
	if (conf->max_rss) {
		uint64_t bytes = bh_heal_memory(inst);
		if (bytes > conf->max_rss)
			bh_heal_want(inst, BH_RECYCLE_MAX_RSS);
	}
	if (!conf->health.interval_ms)
		return;
	if (h->probe) {
		/* Unanswered past its timeout, and at every interval after that. */
		char why[160];
		snprintf(why, sizeof(why), "no answer to the health probe within %u ms",
			 conf->health.timeout_ms);
		h->probe_late = true;
		probe_failed(inst, why);
		return;
	}
	if (inst->inflight == 0 && inst->n_outcalls == 0)
		send_probe(inst); /* idle: a busy one shows it lives by answering */
}

/* ---- replacement ---- */

static void unlink_pair(struct bh_instance *old, struct bh_instance *succ)
{
	if (old) {
		old->heal.successor = NULL;
		old->heal.held = false;
		old->heal.transfer = 0;
	}
	if (succ) {
		succ->heal.predecessor = NULL;
		succ->heal.standby = false;
	}
	struct bh_slot *s = old ? old->slot : succ->slot;
	if (s->n_recycling)
		s->n_recycling--;
}

/* Give up replacing old: it serves on; its successor stops. */
static void abandon(struct bh_instance *old, const char *why)
{
	struct bh_instance *succ = old->heal.successor;
	bh_warn("%s: replacing instance pid %d (%s) abandoned: %s", old->slot->conf->name,
		(int)old->child.pid, bh_recycle_cause_name(old->heal.cause), why);
	unlink_pair(old, succ);
	old->heal.cause = BH_RECYCLE_NONE;
	old->heal.not_before_ns = bh_now_ns() + bh_ms_to_ns(RETRY_MS);
	bh_timer_disarm(old->d->loop, &old->heal.act_timer);
	if (succ) {
		succ->heal.replaced = true; /* its end is no event of the slot */
		bh_instance_retire(succ);
	}
	bh_slot_pump(old->slot);
}

static void start(struct bh_instance *old)
{
	struct bh_slot *s = old->slot;
	struct bh_inst_heal *h = &old->heal;
	enum bh_recycle_cause cause = h->want;
	h->want = BH_RECYCLE_NONE;
	if (!serving(old) || h->successor || old->gen != s->gen || bh_slot_busy(s) ||
	    s->state != BH_SLOT_READY || s->d->shutting_down || bh_now_ns() < h->not_before_ns)
		return;
	struct bh_instance *succ;
	char why[256] = "";
	int r = bh_instance_spawn(s, s->gen, &succ, why, sizeof(why));
	if (r < 0) {
		h->not_before_ns = bh_now_ns() + bh_ms_to_ns(RETRY_MS);
		bh_warn("%s: cannot start a replacement for instance pid %d: %s", s->conf->name,
			(int)old->child.pid, why[0] ? why : strerror(-r));
		return;
	}
	bh_info("%s: replacing instance pid %d (%s) with instance %llu", s->conf->name,
		(int)old->child.pid, bh_recycle_cause_name(cause),
		(unsigned long long)succ->serial);
	h->cause = cause;
	h->successor = succ;
	succ->heal.predecessor = old;
	succ->heal.standby = true;
	s->n_recycling++;
}

void bh_heal_want(struct bh_instance *inst, enum bh_recycle_cause cause)
{
	struct bh_inst_heal *h = &inst->heal;
	if (h->successor || h->replaced || h->want >= cause)
		return;
	h->want = cause;
	bh_timer_arm(inst->d->loop, &h->act_timer, bh_now_ns());
}

/* The calls old holds and has not started go back to the front of the queue, in
 * order, for its successor: an instance that no longer reads its channel would keep
 * them until it is killed. */
static void requeue_unstarted(struct bh_instance *old)
{
	struct bh_list back;
	bh_list_init(&back);
	struct bh_list *lists[2] = {&old->sent, &old->sending};
	for (int l = 0; l < 2; l++) {
		struct bh_list *pos, *tmp;
		bh_list_for_each_safe(pos, tmp, lists[l])
		{
			struct bh_call *c = bh_container_of(pos, struct bh_call, link);
			if (c->kind != BH_CALL_CLIENT || bh_outcall_reenters(c, old) ||
			    !bh_call_take_back(c))
				continue;
			bh_list_add_tail(&back, &c->link);
		}
	}
	while (!bh_list_empty(&back)) {
		struct bh_call *c = bh_container_of(back.prev, struct bh_call, link);
		bh_list_del(&c->link);
		bh_call_queue(c, true);
	}
}

/* The old instance retires: its calls not started go to its successor, those running
 * finish on it, then it stops; one still busy at the drain deadline is killed. */
static void retire_replaced(struct bh_instance *old)
{
	struct bh_inst_heal *h = &old->heal;
	h->replaced = true;
	if (h->probe && bh_call_take_back(h->probe)) {
		struct bh_call *c = h->probe;
		h->probe = NULL;
		bh_call_free(c);
	}
	requeue_unstarted(old);
	bh_timer_disarm(old->d->loop, &h->probe_timer);
	bh_instance_retire(old);
	if (old->state != BH_INST_DEAD)
		bh_timer_arm(old->d->loop, &h->act_timer,
			     bh_now_ns() + bh_ms_to_ns(old->gen->conf.drain_timeout_ms));
}

static void take_over(struct bh_instance *succ)
{
	struct bh_instance *old = succ->heal.predecessor;
	struct bh_slot *s = succ->slot;
	enum bh_recycle_cause cause = old->heal.cause;
	unlink_pair(old, succ);
	s->recycled++;
	bh_info("%s: instance %llu took over from instance pid %d (%s)", s->conf->name,
		(unsigned long long)succ->serial, (int)old->child.pid,
		bh_recycle_cause_name(cause));
	char detail[96];
	snprintf(detail, sizeof(detail), "replaced by instance %llu",
		 (unsigned long long)succ->serial);
	bh_event_instance(old, BH_EV_RECYCLED, bh_recycle_cause_name(cause), detail);
	retire_replaced(old);
	bh_slot_pump(s);
}

static struct bh_call *transfer_call(struct bh_instance *at, const char *method,
				     const uint8_t *params, size_t len, uint64_t tag,
				     void (*fn)(struct bh_call *, const bh_error *,
						const uint8_t *, size_t))
{
	struct bh_call *c = bh_call_new(at->d, method, strlen(method), params, len);
	if (!c)
		return NULL;
	c->kind = BH_CALL_INTERNAL;
	c->on_reply = fn;
	c->ctx = at;
	c->tag = tag;
	c->slot = at->slot;
	c->timeout_ms = at->gen->conf.init_timeout_ms;
	bh_call_arm_deadline(c);
	bh_call_submit(c, at);
	return c;
}

static void restore_done(struct bh_call *c, const bh_error *err, const uint8_t *result,
			 size_t len)
{
	struct bh_instance *succ = c->ctx, *old = succ->heal.predecessor;
	(void)result;
	(void)len;
	if (!old || old->heal.transfer != c->tag)
		return;
	if (err) {
		char why[BH_ERROR_MESSAGE_MAX + 32];
		snprintf(why, sizeof(why), "restore: %s", err->message);
		return abandon(old, why);
	}
	take_over(succ);
}

static void snapshot_done(struct bh_call *c, const bh_error *err, const uint8_t *result,
			  size_t len)
{
	struct bh_instance *old = c->ctx, *succ = old->heal.successor;
	if (!succ || old->heal.transfer != c->tag)
		return;
	if (err) {
		char why[BH_ERROR_MESSAGE_MAX + 32];
		snprintf(why, sizeof(why), "snapshot: %s", err->message);
		return abandon(old, why);
	}
	/* The result, [state_version, blob], is exactly $restore's params. */
	if (!transfer_call(succ, BH_CH_RESTORE, result, len, c->tag, restore_done))
		abandon(old, "out of memory");
}

/* A held instance whose calls are done: its state goes to its successor. */
static void hand_over(struct bh_instance *old)
{
	struct bh_inst_heal *h = &old->heal;
	if (!h->held || h->transfer || old->inflight > 0)
		return;
	h->transfer = ++old->d->next_serial;
	static const uint8_t no_params = 0x90;
	if (!transfer_call(old, BH_CH_SNAPSHOT, &no_params, 1, h->transfer, snapshot_done))
		abandon(old, "out of memory");
}

bool bh_heal_ready(struct bh_instance *inst)
{
	arm_tick(inst);
	struct bh_instance *old = inst->heal.predecessor;
	if (!old)
		return false;
	if (!old->gen->has_state || old->heal.cause == BH_RECYCLE_HEALTH ||
	    old->state != BH_INST_READY) {
		take_over(inst);
		return true;
	}
	/* Calls for it wait (or go to its siblings) until the state moved. */
	old->heal.held = true;
	bh_timer_arm(old->d->loop, &old->heal.act_timer,
		     bh_now_ns() + bh_ms_to_ns(old->gen->conf.drain_timeout_ms));
	hand_over(old);
	return true;
}

void bh_heal_progress(struct bh_slot *s)
{
	struct bh_list *pos, *tmp;
	bh_list_for_each_safe(pos, tmp, &s->instances)
		hand_over(bh_container_of(pos, struct bh_instance, link));
}

/* The act timer: a replacement asked for; a held instance that found no quiet moment
 * within the drain deadline; or a replaced one still busy at that deadline. */
static void act_fired(struct bh_timer *t)
{
	struct bh_instance *inst = bh_container_of(t, struct bh_instance, heal.act_timer);
	struct bh_inst_heal *h = &inst->heal;
	if (inst->state == BH_INST_DEAD)
		return;
	if (h->replaced) {
		inst->exit_expected = true;
		bh_instance_kill(inst, BH_EXIT_KILLED,
				 "replaced, and still busy after drain_timeout_ms (%u ms)",
				 inst->gen->conf.drain_timeout_ms);
		return;
	}
	if (h->held) {
		char why[128];
		snprintf(why, sizeof(why), "calls still running, or its state not handed over, "
			 "after drain_timeout_ms (%u ms)", inst->gen->conf.drain_timeout_ms);
		return abandon(inst, why);
	}
	if (h->want)
		start(inst);
}

void bh_heal_gone(struct bh_instance *inst)
{
	struct bh_inst_heal *h = &inst->heal;
	bh_timer_disarm(inst->d->loop, &h->probe_timer);
	bh_timer_disarm(inst->d->loop, &h->act_timer);
	struct bh_instance *succ = h->successor, *old = h->predecessor;
	if (succ) {
		/* Replaced by its end: the successor serves as it is, when ready. */
		unlink_pair(inst, succ);
		bh_slot_pump(inst->slot);
	}
	if (old) {
		char why[320];
		snprintf(why, sizeof(why), "its replacement is gone: %s", inst->slot->last_exit);
		h->predecessor = NULL;
		old->heal.successor = NULL; /* abandon() must not retire the dead one */
		unlink_pair(old, NULL);
		old->heal.cause = BH_RECYCLE_NONE;
		old->heal.not_before_ns = bh_now_ns() + bh_ms_to_ns(RETRY_MS);
		bh_timer_disarm(old->d->loop, &old->heal.act_timer);
		bh_warn("%s: replacing instance pid %d abandoned: %s", inst->slot->conf->name,
			(int)old->child.pid, why);
		bh_slot_pump(inst->slot);
	}
}

void bh_heal_abort_slot(struct bh_slot *s)
{
	struct bh_list *pos, *tmp;
	bh_list_for_each_safe(pos, tmp, &s->instances)
	{
		struct bh_instance *i = bh_container_of(pos, struct bh_instance, link);
		i->heal.want = BH_RECYCLE_NONE;
		if (i->heal.successor)
			abandon(i, "an operation on the plugin begins");
	}
}

void bh_heal_write_status(bh_writer *w, const struct bh_instance *inst)
{
	bh_write_cstr(w, "health");
	bh_write_cstr(w, bh_heal_health_name(inst));
	bh_write_cstr(w, "health_failures");
	bh_write_uint(w, inst->heal.failures);
	bh_write_cstr(w, "health_error");
	bh_write_cstr(w, inst->heal.last_error);
}
