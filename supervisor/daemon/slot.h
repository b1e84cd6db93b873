/* Slots (one per plugin name). */
#ifndef BH_SLOT_H
#define BH_SLOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "breaker.h"
#include "instance.h"
#include "list.h"
#include "loop.h"

struct bh_daemon;
struct bh_gen;
struct bh_plugin_conf;
struct bh_swap;
struct bh_call;
struct bh_slot_metrics;

enum bh_slot_origin {
	BH_ORIGIN_CONFIG,  /* named by the configuration file */
	BH_ORIGIN_RUNTIME, /* bulkhead.load */
	BH_ORIGIN_DIR,     /* found in the plugin directory */
};

/* A slot's lifecycle (the table in slot.c): */
enum bh_slot_state {
	BH_SLOT_STARTING,    /* no instance of the current generation ready */
	BH_SLOT_READY,
	BH_SLOT_QUARANTINED, /* crashed too often; calls fail "unavailable" */
	BH_SLOT_FAILED,      /* cannot load (ABI mismatch, missing symbol...): no retry */
	BH_SLOT_UNLOADING,   /* draining, then stopping; removed when all instances are gone */
};

/* An operation on a slot: at most one runs at a time, and the slot is busy exactly
 * while one runs. A change of the plugin's source (its file, its configuration
 * entry) that arrives meanwhile is recorded and applied when the operation ends. */
enum bh_op_kind {
	BH_OP_NONE,
	BH_OP_LOAD,   /* bulkhead.load: until the first instance is ready, or it cannot be */
	BH_OP_UNLOAD, /* until the slot is gone */
	BH_OP_SWAP,   /* s->swap: until it completed or rolled back (a canary included) */
};

struct bh_op {
	enum bh_op_kind kind;
	struct bh_call *waiter; /* load, unload: the control call answered when it ends */
	bool change_pending;    /* reload the plugin's source once it ends */
};

struct bh_slot {
	struct bh_daemon *d;
	struct bh_list link;     /* d->slots */
	struct bh_list spawn_link; /* d->spawn_wait while it waits to start instances */
	struct bh_gen *gen;      /* the generation calls are routed to */
	struct bh_gen *next;     /* the generation a swap is starting, or NULL */
	const struct bh_plugin_conf *conf; /* &gen->conf */
	enum bh_slot_state state;
	uint32_t generation;     /* gen->number */
	struct bh_list instances;
	uint32_t n_live;         /* instances not DEAD */
	struct bh_list queue;    /* calls waiting for a ready instance */
	uint32_t n_queued;
	/* Restart throttling. */
	struct bh_timer restart_timer;
	uint32_t backoff_ms;
	uint64_t *crash_times;   /* ring of quarantine_crashes timestamps */
	uint32_t n_crashes, crash_head, crash_cap;
	uint64_t restarts, calls, errors;
	uint64_t outcalls;        /* requests its plugin made (outcall.h) */
	uint64_t exits[BH_EXIT_N]; /* instances ended, by cause */
	uint64_t moved;           /* calls moved off a busy instance to an idle one */
	/* Spawns that failed for lack of a resource (fds, memory, ids, a cgroup removed
	 * meanwhile): retried after spawn_backoff_ms, which doubles up to
	 * restart.backoff_max_ms and resets once an instance is ready. */
	uint64_t spawn_failures;
	uint32_t spawn_backoff_ms;
	char spawn_warned[256];  /* the last reason logged: a retry with the same is quiet */
	char last_exit[256];
	char fail_reason[256];   /* BH_SLOT_FAILED / QUARANTINED */
	uint64_t loaded_ns;
	bool ever_ready;         /* an instance of the current generation was ready once */
	struct bh_op op;         /* the operation running on it (slot.c) */
	struct bh_timer drain_timer;
	struct bh_swap *swap;    /* the swap in progress (op.kind BH_OP_SWAP), or NULL */
	enum bh_slot_origin origin;
	struct bh_timer reload_timer; /* a change of its source: debounce, then apply */
	uint32_t last_generation; /* the highest generation number handed out */
	char last_swap[320];     /* outcome of the last swap, for status */
	struct bh_slot_metrics *metrics; /* its counters (metrics.c), made on first use */
	struct bh_breaker breaker; /* breaker.h; quarantine is its open state */
	uint32_t n_recycling;    /* instances being replaced (heal.h) */
	uint64_t recycled;       /* instances replaced gracefully */
};

struct bh_slot *bh_slot_find(struct bh_daemon *d, const char *name, size_t len);
/* 0 and *ret; -EEXIST (logged) when a connection provides a host service of that
 * name, -ENOMEM. */
int bh_slot_create(struct bh_daemon *d, const struct bh_plugin_conf *conf,
		   struct bh_slot **ret);
/* Events from the instances. */
void bh_slot_instance_ready(struct bh_slot *s, struct bh_instance *inst);
/* crashed: it was not stopped on purpose; load_failed: it could not load the plugin
 * (which counts as "cannot load" only while this generation was never ready). */
void bh_slot_instance_gone(struct bh_slot *s, struct bh_instance *inst, bool crashed,
			   bool load_failed);
/* After a reply freed room: pump the queue, advance an operation or a shutdown. */
void bh_slot_after_reply(struct bh_slot *s);
bool bh_slot_has_method(const struct bh_slot *s, const char *m, size_t len);
const char *bh_slot_state_name(enum bh_slot_state st);
/* Stop every instance (shutdown). */
void bh_slot_stop_all(struct bh_slot *s);
void bh_slot_free(struct bh_slot *s);
/* Spawning (the daemon's side): set up, and an instance left the starting states
 * (ready, or gone before it was), which lets a waiting slot start one. */
void bh_slot_spawning_init(struct bh_daemon *d);
void bh_slot_spawn_done(struct bh_daemon *d);
/* Operations. Busy: an operation runs; the callers below check it first. */
bool bh_slot_busy(const struct bh_slot *s);
/* A just created slot: the load operation, answered (bh_control_load_done) once an
 * instance is ready or the plugin cannot run. */
void bh_slot_load_wait(struct bh_slot *s, struct bh_call *waiter);
/* Unload (waiter may be NULL): answered (bh_control_unload_done) once it is gone. */
void bh_slot_unload(struct bh_slot *s, struct bh_call *waiter);
/* The plugin's source (its file, its configuration entry) changed: applied now
 * (bh_slot_reload), or recorded and applied when the operation running on it ends.
 * Nothing while it unloads or the daemon shuts down. */
void bh_slot_source_changed(struct bh_slot *s);
/* swap.c's side of a swap operation: it begins with next as the incoming generation;
 * routing forgets next (a rolled-back canary); next becomes the current generation;
 * it ends. The slot's fields are written here only. */
uint32_t bh_slot_next_number(struct bh_slot *s);
void bh_slot_swap_begin(struct bh_slot *s, struct bh_swap *sw, struct bh_gen *next);
void bh_slot_forget_next(struct bh_slot *s);
void bh_slot_cut_over(struct bh_slot *s);
void bh_slot_swap_end(struct bh_slot *s, const char *outcome);
/* The breaker's cool-down after a quarantine is over: an instance starts again. */
void bh_slot_lift_quarantine(struct bh_slot *s);

#endif
