/* Lifecycle events: what happened to plugins and instances, streamed to the clients
 * that subscribed (bulkhead.subscribe) as [2, "bulkhead.event", [{event}]]. Emitting
 * costs nothing while nobody listens. A subscriber that does not read is never waited
 * for: past limits.event_backlog unread its events are dropped and counted, and once
 * it has read, the count reaches it as a "dropped" event before the next event it
 * gets. Every event has a seq, one more than the one emitted before it; a dropped
 * event carries the seq of the last event it stands for. */
#ifndef BH_DAEMON_EVENTS_H
#define BH_DAEMON_EVENTS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "bulkhead/proto.h"
#include "list.h"

struct bh_daemon;
struct bh_conn;
struct bh_slot;
struct bh_instance;

#define BH_EVENT_METHOD "bulkhead.event"

/* What happened; bh_event_name gives the wire name ("instance.exited"). */
enum bh_event_kind {
	BH_EV_INSTANCE_STARTED,   /* spawned: pid */
	BH_EV_INSTANCE_READY,     /* answered $init */
	BH_EV_INSTANCE_EXITED,    /* cause: the typed exit cause (status "last_exit") */
	BH_EV_INSTANCE_RESTARTED, /* a replacement for an exited one is being started */
	BH_EV_QUARANTINED,        /* detail: why; the breaker's open state */
	BH_EV_UNQUARANTINED,
	BH_EV_HEALTH_FAILED,      /* detail: the probe's error */
	BH_EV_RECYCLED,           /* cause: "max_calls", "max_rss", "health" */
	BH_EV_BREAKER_OPEN,       /* detail: the reason */
	BH_EV_BREAKER_HALF_OPEN,
	BH_EV_BREAKER_CLOSED,
	BH_EV_SWAP_PHASE,         /* detail: the phase entered */
	BH_EV_SWAP_DONE,          /* cause: "committed", "rolled back", "failed"; detail */
	BH_EV_CANARY,             /* detail: the decision */
	BH_EV_CONFIG_RELOADED,
	BH_EV_CONFIG_REJECTED,    /* detail: the error */
	BH_EV_PLUGIN_LOADED,
	BH_EV_PLUGIN_UNLOADED,
	BH_EV_LIMIT_HIT,          /* cause: the limit ("memory", "timeout", ...) */
	BH_EV_N
};

/* One event. Fields left 0 / NULL are not sent. */
struct bh_event {
	enum bh_event_kind kind;
	const char *plugin;      /* the plugin's configured name */
	uint32_t generation;     /* the plugin's generation (0: none) */
	uint64_t instance;       /* the instance's serial, as in logs and status (0: none) */
	pid_t pid;
	const char *cause;       /* a short word: machine-readable */
	const char *detail;      /* a human sentence */
};

/* The daemon's side: who listens, and the one encoding sent to all of them. */
struct bh_events {
	struct bh_list subscribers; /* struct bh_conn, by events_link */
	uint32_t n_subscribers;
	uint64_t seq;               /* events emitted while somebody listened */
	struct bh_buf buf;
};

void bh_events_init(struct bh_events *ev);
void bh_events_done(struct bh_events *ev);

const char *bh_event_name(enum bh_event_kind kind);

/* Whether anybody listens (a subscriber, or a JSON log, where every event is also a
 * record with an "event" field): callers that must build a detail string check first. */
bool bh_events_wanted(const struct bh_daemon *d);

/* Send e to every subscriber (a no-op without any). */
void bh_event_emit(struct bh_daemon *d, const struct bh_event *e);

/* The same, filled in from an instance (plugin, generation, serial, pid) or a slot. */
void bh_event_instance(struct bh_instance *inst, enum bh_event_kind kind, const char *cause,
		       const char *detail);
void bh_event_slot(struct bh_slot *s, enum bh_event_kind kind, const char *cause,
		   const char *detail);

/* A connection subscribes (bulkhead.subscribe) or goes away. */
void bh_events_subscribe(struct bh_conn *cn);
void bh_events_unsubscribe(struct bh_conn *cn);
/* Its output drained below the bound: tell it what it missed. */
void bh_events_resume(struct bh_conn *cn);

#endif
