/* Instances (one child process each). */
#ifndef BH_INSTANCE_H
#define BH_INSTANCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "bulkhead/claims.h"
#include "bulkhead/proto.h"
#include "bulkhead/sandbox.h"
#include "bulk.h"
#include "childlog.h"
#include "heal.h"
#include "lastwords.h"
#include "list.h"
#include "loop.h"

struct bh_daemon;
struct bh_slot;
struct bh_gen;
struct bh_call;

enum bh_inst_state {
	BH_INST_STARTING, /* spawned, waiting for $hello */
	BH_INST_INIT,     /* $init sent */
	BH_INST_READY,
	BH_INST_STOPPING, /* $stop sent; kill timer armed */
	BH_INST_DEAD,     /* exited; waiting to be freed */
	BH_INST_N
};

/* Why an instance ended: a typed value for decisions (restart, quarantine, the error
 * code of its calls) and counters; the text beside it (death_reason) is for people. */
enum bh_exit_cause {
	BH_EXIT_NONE,         /* still running */
	BH_EXIT_STOPPED,      /* stopped on purpose: retired, unloaded, swapped out */
	BH_EXIT_CRASHED,      /* died on its own: a signal or an exit status */
	BH_EXIT_CLOSED,       /* closed its channel */
	BH_EXIT_PROTOCOL,     /* broke the channel protocol */
	BH_EXIT_DEADLINE,     /* killed: the call it ran passed its deadline + grace */
	BH_EXIT_LIMIT,        /* killed by a resource limit (cgroup, watchdog, rlimit) */
	BH_EXIT_FLOOD,        /* killed: its output flooded past the rate */
	BH_EXIT_INIT_TIMEOUT, /* not ready within init_timeout_ms */
	BH_EXIT_INIT_FAILED,  /* the plugin's init failed */
	BH_EXIT_LOAD_FAILED,  /* the plugin cannot be loaded: $fatal, exit status 2 */
	BH_EXIT_SETUP_FAILED, /* the sandbox could not be set up (exit status 126, 127) */
	BH_EXIT_SETUP_SHORT,  /* the set-up ran short of a resource (exit status 125) */
	BH_EXIT_KILLED,       /* killed by an operation: drain or stop timeout, no memory */
	BH_EXIT_N
};
const char *bh_exit_cause_name(enum bh_exit_cause c);

struct bh_instance {
	struct bh_daemon *d;
	struct bh_slot *slot;
	struct bh_list link;      /* slot->instances */
	struct bh_gen *gen;       /* holds a reference */
	uint32_t generation;      /* gen->number */
	uint64_t serial;          /* unique per daemon, for logs */
	enum bh_inst_state state;
	struct bh_child child;
	struct bh_watch chan;     /* the channel socket */
	struct bh_watch pidfd;
	struct bh_child_log out, err;
	/* Bytes read from the channel, and the scanner over the message at their front:
	 * lent by the daemon for each read, kept only while part of a message is here
	 * (spare.h). */
	struct bh_buf in;
	struct bh_scanner *scan;
	/* Its calls in the order they were offered: those fully written (sent), then
	 * those with bytes still to write (sending). */
	struct bh_list sent, sending;
	/* The rest of a call taken back half-written: written before anything else,
	 * so that the stream stays whole (the shim skips the call). */
	struct bh_buf tail;
	size_t tail_sent;
	bool want_flush;          /* on d->flush_insts */
	struct bh_list flush_link;
	struct bh_claims claims;  /* shared with the child: which calls started */
	/* Its answer ring (bulkhead/ring.h), in the claims memfd. While the daemon looks
	 * at it itself (rings.h) the instance is on d->awake_rings. */
	struct bh_ring_reader ring;
	struct bh_list ring_link;
	bool ring_watched;        /* its reply is watched for in this wait: stay awake */
	struct bh_inst_bulk bulk; /* large params and results (bulk.c) */
	/* Requests its plugin made (outcall.h) and not yet answered: while there is one,
	 * only calls of their chains are written to it. */
	struct bh_list outcalls;
	uint32_t n_outcalls;
	struct bh_call **pending; /* by iid & (pending_cap - 1), like the claim table */
	uint32_t pending_cap;     /* power of two > max in flight */
	uint32_t inflight;        /* calls at the instance (client and internal) */
	uint32_t next_iid;
	struct bh_timer timer;    /* init deadline, then stop -> SIGKILL deadline */
	uint64_t started_ns, ready_ns;
	/* The watch for a close reply (loop.h bells): when calls were last written, and
	 * how long the first reply after a write took last time. */
	uint64_t flushed_ns, turn_ns;
	uint64_t calls, errors;
	/* What it said on stderr lately, why it died: taken at its first line (most
	 * instances say nothing, and a thousand of them would hold 4.6 MiB for it). */
	struct bh_lastwords *words;
	enum bh_exit_cause cause; /* set by the first kill, else judged at its exit */
	char death_reason[256];   /* why we killed it, if we did */
	uid_t host_uid;           /* its host identity (when has_id) */
	bool has_id;              /* holds host_uid from d->ids until it is gone */
	bool exit_expected;       /* stopped on purpose: no restart, no crash count */
	bool closed_channel;      /* end of file seen on the channel */
	bool dying;               /* killed, or its channel refused a write: no new calls */
	bool placed_apart;        /* started off the daemon's CPU (cpu_placement = apart) */
	bool untrusted;           /* broke the protocol: nothing more it wrote is read */
	bool retiring;            /* takes no new calls; stops once its calls are done */
	struct bh_inst_heal heal; /* health probes, replacement (heal.h) */
};

/* Start one instance; on failure errbuf may say why (else use the code). */
int bh_instance_spawn(struct bh_slot *s, struct bh_gen *gen, struct bh_instance **ret,
		      char *errbuf, size_t errlen);
/* For call.c only (use bh_call_submit / bh_call_take_back): put c at inst (assign
 * its iid, offer it in the claim table; 0 or -ENOSPC), take it out (lists, table),
 * take it back from the child (true when it never started and never will). */
int bh_instance_attach(struct bh_instance *inst, struct bh_call *c);
void bh_instance_detach(struct bh_instance *inst, struct bh_call *c);
bool bh_instance_revoke(struct bh_instance *inst, struct bh_call *c);
bool bh_instance_call_started(const struct bh_instance *inst, const struct bh_call *c);
bool bh_instance_has_room(const struct bh_instance *inst);
/* Queue a whole message for the child (an answer to a request it made), after the
 * call being written, if any, and before the calls not yet written. 0, or -ENOMEM.
 * A child that lets more than one message's worth of them pile up unread is killed. */
int bh_instance_queue_message(struct bh_instance *inst, const uint8_t *msg, size_t len);
void bh_instance_flush_all(struct bh_daemon *d);
/* Handle what its answer ring holds (rings.h). */
void bh_instance_read_ring(struct bh_instance *inst);
/* Before one of its calls is judged late: whether something waits in its ring, where
 * a wake-up its plugin suppressed left it. True when so: the loop reads it before its
 * next wait. */
bool bh_instance_ring_pending(struct bh_instance *inst);
/* Kill with SIGKILL, recording why (the first cause given wins). */
void bh_instance_kill(struct bh_instance *inst, enum bh_exit_cause cause, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* It broke the channel protocol: killed, nothing more it wrote is read. */
void bh_instance_protocol_violation(struct bh_instance *inst, const char *what);
/* Stop taking calls; stop once the calls in flight are done. */
void bh_instance_retire(struct bh_instance *inst);
/* Graceful stop: $stop, then SIGKILL after a deadline. */
void bh_instance_stop(struct bh_instance *inst);
/* A call's deadline + grace passed while the child still runs it. */
void bh_instance_call_stuck(struct bh_instance *inst, struct bh_call *c);
const char *bh_inst_state_name(enum bh_inst_state st);

#endif
