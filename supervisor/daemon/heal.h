/* Healing instances: health probes of idle instances, and their graceful replacement
 * (recycling) when a probe keeps failing, after max_calls calls, or past max_rss.
 *
 * A replacement never fails a call: the successor starts beside the instance and
 * takes no calls until it is ready (standby); then, when the plugin has state, the
 * instance takes no new calls (held) until its calls are done, its snapshot goes to
 * the successor, and only then does the successor take calls; the instance retires
 * (its calls finish, then it stops). A replacement for health does not wait for the
 * state of an instance that no longer answers. */
#ifndef BH_HEAL_H
#define BH_HEAL_H

#include <stdbool.h>
#include <stdint.h>

#include "bulkhead/proto.h"
#include "loop.h"

struct bh_instance;
struct bh_slot;
struct bh_call;

enum bh_recycle_cause {
	BH_RECYCLE_NONE,
	BH_RECYCLE_MAX_CALLS,
	BH_RECYCLE_MAX_RSS,
	BH_RECYCLE_HEALTH,
};

/* An instance's part (instance.h embeds it). */
struct bh_inst_heal {
	struct bh_timer probe_timer;   /* next probe, or the deadline of the one out */
	struct bh_timer act_timer;     /* a replacement to start, or the drain deadline */
	struct bh_call *probe;         /* the $health call out, or NULL */
	uint64_t probe_sent_ns;
	bool probe_late;               /* the probe out passed its timeout (counted) */
	uint32_t failures;             /* probes failed in a row */
	uint64_t probes_ok;
	char last_error[160];
	enum bh_recycle_cause want;    /* a replacement asked for, not started yet */
	uint64_t not_before_ns;        /* no new replacement before (one failed) */
	struct bh_instance *successor; /* its replacement, while that takes over */
	struct bh_instance *predecessor; /* (the successor's side) */
	enum bh_recycle_cause cause;   /* why it is being replaced */
	uint64_t transfer;             /* tags the state transfer's internal calls */
	bool standby;                  /* a successor not taking calls yet */
	bool held;                     /* takes no new calls: its state moves on */
	bool replaced;                 /* its successor took over: its end is no event */
};

const char *bh_recycle_cause_name(enum bh_recycle_cause c);
/* "ok", "failing", "unknown" (no answer yet), "off" (no probes). */
const char *bh_heal_health_name(const struct bh_instance *inst);

void bh_heal_instance_init(struct bh_instance *inst);
/* inst is ready: probes begin. true when it was a successor (it takes over here;
 * the slot must not count it as its own ready instance). */
bool bh_heal_ready(struct bh_instance *inst);
/* inst is gone: its probe, its timers and its replacement links end. */
void bh_heal_gone(struct bh_instance *inst);
/* Ask for inst to be replaced (from anywhere: it starts from the loop). */
void bh_heal_want(struct bh_instance *inst, enum bh_recycle_cause cause);
/* A call was added to inst (max_calls). */
static inline void bh_heal_counted(struct bh_instance *inst, uint64_t calls, uint32_t max)
{
	if (max && calls >= max)
		bh_heal_want(inst, BH_RECYCLE_MAX_CALLS);
}
/* A call finished on s (only while s->n_recycling): held instances that are idle
 * now hand their state over. */
void bh_heal_progress(struct bh_slot *s);
/* An operation begins on s (swap, unload): replacements in progress are abandoned,
 * the instances they would replace keep serving. */
void bh_heal_abort_slot(struct bh_slot *s);
/* Whether inst may be given calls (standby and held ones may not). */
static inline bool bh_heal_routable(const struct bh_inst_heal *h)
{
	return !h->standby && !h->held;
}
/* Bytes of memory inst holds: its cgroup's memory.current, else its resident set.
 * 0 when unknown. */
uint64_t bh_heal_memory(const struct bh_instance *inst);
/* Status: "health", "health_failures", "health_error" (3 pairs of a map). */
void bh_heal_write_status(bh_writer *w, const struct bh_instance *inst);

#endif
