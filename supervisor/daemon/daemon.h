/* bulkheadd internals: the daemon context and the objects it routes between.
 *
 *   client conn ──request──▶ call ──▶ slot (plugin) queue ──▶ instance ──▶ child
 *                ◀─response── call ◀────────────────────────── instance ◀─┘
 *
 * A call is in exactly one place at a time (enum bh_call_where), moved only by the
 * functions of call.c. At an instance, the claim table shared with the child
 * (bulkhead/claims.h) says whether it started: a call that has not can still be
 * taken back (its deadline passed, its client left, another instance is idle) and
 * then never runs there. The client gets exactly one response per request, tracked
 * by call->answered; a call answered early (deadline passed while it runs) stays at
 * its instance until the child replies or dies. */
#ifndef BH_DAEMON_H
#define BH_DAEMON_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "bulkhead/claims.h"
#include "bulkhead/proto.h"
#include "bulkhead/sandbox.h"
#include "config.h"
#include "list.h"
#include "log.h"
#include "loop.h"

struct bh_daemon;
struct bh_slot;
struct bh_instance;
struct bh_conn;

/* ---- calls ---- */

enum bh_call_kind {
	BH_CALL_CLIENT,   /* a client's request */
	BH_CALL_INTERNAL, /* $init / $snapshot / $restore: completion goes to on_reply */
};

enum bh_call_where {
	BH_CALL_NOWHERE,     /* being routed, or done */
	BH_CALL_QUEUED,      /* slot->queue: waiting for an instance with room */
	BH_CALL_HELD,        /* a swap's held list: waits for its client's older calls */
	BH_CALL_PARKED,      /* a control call waiting for an operation on a slot */
	BH_CALL_AT_INSTANCE, /* inst: offered in its claim table, written or being written */
};

struct bh_call {
	enum bh_call_kind kind;
	struct bh_daemon *d;
	struct bh_conn *conn;   /* NULL once the client is gone (or internal) */
	/* A client's notification: the connection it came on, where its failure is
	 * reported (never answered); NULL once reported or once the client is gone. */
	struct bh_conn *notifier;
	struct bh_list conn_link; /* in conn->calls, or notifier->notifications */
	uint32_t client_msgid;
	bool answered;          /* the client already has its one response */
	struct bh_slot *slot;
	enum bh_call_where where;
	struct bh_instance *inst; /* BH_CALL_AT_INSTANCE: which one */
	struct bh_list link;    /* in the list of where it is */
	bool deadline_passed;   /* the deadline fired once; next comes deadline + grace */
	uint32_t iid;           /* id on the instance's channel */
	struct bh_timer timer;  /* deadline, then deadline + grace */
	uint32_t timeout_ms;
	uint64_t start_ns;
	/* Internal calls: called once with the reply (error map raw or NULL, result raw)
	 * or with err set when the instance died / timed out. */
	void (*on_reply)(struct bh_call *c, const bh_error *err, const uint8_t *result,
			 size_t result_len);
	void *ctx;
	uint64_t tag;           /* internal calls: which operation they belong to */
	/* The request as the child will see it: [0, iid, method, params], iid encoded
	 * at iid_off in its fixed 5-byte form so a re-dispatch can patch it. */
	size_t iid_off;
	size_t sent;            /* bytes of req already written to the channel */
	size_t req_len;
	uint8_t req[];
};

/* ---- generations: one version of a plugin's code and settings ---- */

/* A slot runs one generation (`gen`); during a swap a second one (`next`) starts,
 * and old ones drain. Instances keep their generation alive (refs). */
struct bh_gen {
	uint32_t number;
	struct bh_plugin_conf conf;        /* path, sandbox, limits of this version */
	struct bh_sandbox_profile profile; /* built from conf.sandbox; points into conf */
	/* From the first $hello of this generation. */
	bool hello_seen;
	char version[64];
	struct bh_method_name *methods; /* sorted */
	uint32_t n_methods;
	bool has_state;
	uint32_t state_version;
	uint64_t calls, errors;
	uint32_t refs;
};

/* ---- instances (one child process each) ---- */

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

struct bh_child_log {
	struct bh_watch watch;
	struct bh_instance *inst;
	const char *stream; /* "stdout" / "stderr" */
	char line[1024];
	size_t len;
	bool truncated;
	uint64_t window_start_ns;
	uint64_t window_bytes;
	uint64_t suppressed;
	/* Reading is bounded as well as logging: cfg->output_rate bytes per one-second
	 * read window; past it the stream is not read until the window ends. */
	struct bh_timer resume;   /* the end of a window whose budget ran out */
	uint64_t read_start_ns;   /* the current read window */
	uint64_t read_bytes;      /* read in it */
	uint64_t over_since_ns;   /* start of the run of windows over the rate; 0: none */
	bool flooded;             /* over the rate for output_flood_ms: no more reading */
};

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
	struct bh_buf in;         /* bytes read from the channel */
	struct bh_scanner scan;   /* over the message at the front of in */
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
	struct bh_call **pending; /* by iid & (pending_cap - 1), like the claim table */
	uint32_t pending_cap;     /* power of two > max in flight */
	uint32_t inflight;        /* calls at the instance (client and internal) */
	uint32_t next_iid;
	struct bh_timer timer;    /* init deadline, then stop -> SIGKILL deadline */
	uint64_t started_ns, ready_ns;
	uint64_t calls, errors;
	char last_stderr[256];    /* last line the child wrote to stderr */
	enum bh_exit_cause cause; /* set by the first kill, else judged at its exit */
	char death_reason[256];   /* why we killed it, if we did */
	uid_t host_uid;           /* its host identity (when has_id) */
	bool has_id;              /* holds host_uid from d->ids until it is gone */
	bool exit_expected;       /* stopped on purpose: no restart, no crash count */
	bool closed_channel;      /* end of file seen on the channel */
	bool dying;               /* killed, or its channel refused a write: no new calls */
	bool untrusted;           /* broke the protocol: nothing more it wrote is read */
	bool retiring;            /* takes no new calls; stops once its calls are done */
};

/* ---- slots (one per plugin name) ---- */

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

struct bh_method_name {
	char name[BH_NAME_MAX + 1];
	uint8_t len;
};

struct bh_slot {
	struct bh_daemon *d;
	struct bh_list link;     /* d->slots */
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
	uint64_t exits[BH_EXIT_N]; /* instances ended, by cause */
	/* Spawns that failed for lack of a resource (fds, memory, ids, a cgroup removed
	 * meanwhile): retried after spawn_backoff_ms, which doubles up to
	 * restart.backoff_max_ms and resets once an instance is ready. */
	uint64_t spawn_failures;
	uint32_t spawn_backoff_ms;
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
};

/* ---- client connections ---- */

/* Unsolicited messages a connection asked for (bulkhead.hello); the daemon sends a
 * client nothing it did not ask for. */
#define BH_NOTE_ERROR (1u << 0) /* [2, "bulkhead.error", [{code, name, message}]] */
#define BH_NOTE_ERROR_METHOD "bulkhead.error"

/* A token bucket for log lines a client's bad input causes, shared by all clients, so
 * that no client can flood the log: BH_CLIENT_REPORT_BURST lines at once, then
 * BH_CLIENT_REPORT_PER_SEC a second; the lines it drops are counted in the next one. */
#define BH_CLIENT_REPORT_BURST 20
#define BH_CLIENT_REPORT_PER_SEC 2
struct bh_report_bucket {
	uint64_t stamp_ns;   /* tokens were last brought up to date */
	uint32_t spent;      /* tokens taken from a full bucket */
	uint64_t suppressed; /* lines dropped since the last one logged */
};

struct bh_conn {
	struct bh_daemon *d;
	struct bh_list link;      /* d->conns */
	struct bh_watch watch;
	uid_t uid;
	gid_t gid;
	pid_t pid;
	struct bh_buf in, out;
	size_t out_sent;          /* bytes at the front of out already sent */
	size_t held_bytes;        /* request bytes of its calls and notifications held */
	struct bh_scanner scan;   /* over the message at the front of in */
	struct bh_list calls;     /* calls not yet answered or still at an instance */
	uint32_t n_outstanding;   /* calls not yet answered */
	struct bh_list notifications; /* its notifications still running (bh_call.notifier) */
	uint32_t notes;           /* BH_NOTE_*: what it asked for with bulkhead.hello */
	bool want_flush;
	struct bh_list flush_link;
	bool closing;             /* close once out is flushed */
	bool dead;
	uint64_t serial;
};

/* ---- host identities of instances (ids.c) ---- */

enum bh_ids_mode {
	BH_IDS_RANGE,       /* root: sandbox_ids */
	BH_IDS_SUBORDINATE, /* unprivileged: /etc/subuid, /etc/subgid through the helpers */
	BH_IDS_OWN,         /* unprivileged fallback: the daemon's own ids, shared */
};

struct bh_ids {
	enum bh_ids_mode mode;
	uint32_t first, count;  /* uids first .. first + count - 1 */
	uint32_t gid_first;     /* the gid of uid first + i is gid_first + i */
	uint32_t next;          /* where the next search starts */
	uint32_t n_used;
	uint8_t *used;          /* bit i: first + i is held by an instance of ours */
	int lock_fd;            /* OFD lock on byte uid while it is held; -1: none */
	char why[320];          /* the mode and why, for status */
};

#define BH_NEWUIDMAP "/usr/bin/newuidmap"
#define BH_NEWGIDMAP "/usr/bin/newgidmap"

/* From the config and who we are. 0 (errbuf says what is degraded, may be empty:
 * no lock file shared with other daemons), or -ENOMEM. An unprivileged daemon
 * without subordinate ranges or the helpers falls back to BH_IDS_OWN. */
int bh_ids_init(struct bh_ids *ids, const struct bh_config *cfg, char *errbuf, size_t errlen);
void bh_ids_done(struct bh_ids *ids);
/* An id pair for a new instance: 0, or -EAGAIN when every id of the range is held
 * (by our instances or another daemon's). BH_IDS_OWN always gives the daemon's. */
int bh_ids_take(struct bh_ids *ids, uid_t *ret_uid, gid_t *ret_gid);
/* The holder's processes and cgroups are gone: the id may go to a new instance. */
void bh_ids_give_back(struct bh_ids *ids, uid_t uid);
const char *bh_ids_mode_name(enum bh_ids_mode m);

/* ---- the daemon ---- */

struct bh_daemon {
	struct bh_config *cfg;
	struct bh_loop *loop;
	struct bh_watch listener;
	struct bh_timer accept_timer; /* resumes accepting after EMFILE */
	struct bh_watch signals;
	char *socket_path;        /* the path we bound and must remove */
	char *shim_path;
	struct bh_list slots;
	struct bh_list conns;
	uint32_t n_conns;
	/* Work spent on input, for status and tests: bytes read from clients and
	 * channels and bytes their scanners examined (linear: a small multiple of what
	 * was read, however it was split), bytes read from children's stdout/stderr. */
	struct bh_input_stats {
		uint64_t client_read, client_scanned;
		uint64_t channel_read, channel_scanned;
		uint64_t output_read;
	} input;
	/* Responses sent to clients, and bytes moved to compact what was left to send
	 * (at most what was sent: draining a backlog stays linear). */
	struct bh_output_stats {
		uint64_t client_sent, client_moved;
	} output;
	struct bh_list flush_insts, flush_conns;
	uint64_t next_serial;
	uint64_t start_ns;
	int lock_fd;              /* flock on SOCKET.lock, held for life */
	bool verbose;             /* -v: the log level is not the config's */
	struct bh_watch inotify;  /* auto-reload and the plugin directory */
	struct bh_dirwatch *dirs; /* inotify watch descriptors and their directories */
	size_t n_dirs;
	bool shutting_down;
	bool stopping_children;   /* shutdown: drain over, children being stopped */
	struct bh_timer shutdown_timer;
	int exit_code;
	struct bh_ids ids;        /* host uids/gids of confined instances */
	struct bh_timer mem_timer; /* the memory watchdog (memwatch.c) */
	struct bh_arena arena;    /* scratch decode space for control params */
	struct bh_buf scratch;    /* scratch encode space */
	struct bh_report_bucket client_reports;
};

/* daemon.c */
int bh_daemon_init(struct bh_daemon *d, struct bh_config *cfg);
void bh_daemon_done(struct bh_daemon *d);
void bh_daemon_begin_shutdown(struct bh_daemon *d, const char *why);
void bh_daemon_check_shutdown_done(struct bh_daemon *d);

/* reload.c */
void bh_daemon_reload(struct bh_daemon *d);
/* cfg's entry for plugin name, or NULL. */
const struct bh_plugin_conf *bh_configured(const struct bh_config *cfg, const char *name);

/* watch.c */
int bh_watch_init(struct bh_daemon *d);
void bh_watch_done(struct bh_daemon *d);
/* (Re)establish watches for every slot with auto_reload and the plugin directory. */
void bh_watch_refresh(struct bh_daemon *d);
/* A slot was removed (unloaded): reload it if it came from plugin_dir and its file
 * is there again. */
void bh_watch_slot_removed(struct bh_daemon *d, const struct bh_slot *s);
/* Apply what s's source says now (s is not busy): unload it when its plugin_dir
 * file or its configuration entry is gone, else swap it to its configured settings
 * or its file as it is on disk. */
void bh_slot_reload(struct bh_slot *s);

/* listener.c */
int bh_listener_open(struct bh_daemon *d, char *errbuf, size_t errlen);
void bh_listener_close(struct bh_daemon *d);
void bh_listener_remove(struct bh_daemon *d);

/* conn.c */
void bh_conn_accept(struct bh_daemon *d, int fd);
/* Queue the response for call c (result raw or an error), mark it answered; nothing
 * when it was answered already or its client is gone. A notification is never
 * answered: bh_conn_reply_error reports its failure instead (once), in the log
 * (rate-limited) and to a client that asked for bulkhead.error notifications. */
void bh_conn_reply_result(struct bh_call *c, const uint8_t *result, size_t len);
void bh_conn_reply_error(struct bh_call *c, int32_t code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* A call of cn's (request or notification) stops counting against cn's budget of held
 * request bytes (freed, answered as a notification, or its connection detached). */
void bh_conn_unhold(struct bh_conn *cn, const struct bh_call *c);
void bh_conn_flush_all(struct bh_daemon *d);
void bh_conn_close_all(struct bh_daemon *d);

/* call.c */
struct bh_call *bh_call_new(struct bh_daemon *d, const char *method, size_t method_len,
			    const uint8_t *params, size_t params_len);
void bh_call_free(struct bh_call *c);
/* Set the channel id in the encoded request. */
void bh_call_set_iid(struct bh_call *c, uint32_t iid);
/* Moves: out of wherever c is, into the place named. */
void bh_call_queue(struct bh_call *c, bool front);   /* c->slot's queue */
void bh_call_hold(struct bh_call *c, struct bh_list *held);
void bh_call_park(struct bh_call *c);
void bh_call_unpark(struct bh_call *c);              /* parked -> nowhere */
void bh_call_submit(struct bh_call *c, struct bh_instance *inst); /* may fail c */
/* Its instance answered it (or died): out of the instance. */
void bh_call_returned(struct bh_call *c);
/* Out of where it is if it has not started and never will: true (c is now the
 * caller's, BH_CALL_NOWHERE), false (it runs at an instance, or it is parked). */
bool bh_call_take_back(struct bh_call *c);
/* At an instance and started there (running, or waiting on a call it made). */
bool bh_call_started(const struct bh_call *c);
/* Detach from the client: a call that has not started is dropped. */
void bh_call_detach_conn(struct bh_call *c);
/* Arm the client deadline. */
void bh_call_arm_deadline(struct bh_call *c);
/* CLOCK_MONOTONIC ns by which it must have started, 0 when it has no deadline. */
uint64_t bh_call_deadline_ns(const struct bh_call *c);
/* The call is finished everywhere (replied by the child, or failed): drop it. */
void bh_call_finish(struct bh_call *c);
/* Complete with an error everywhere (client reply or internal callback), then free. */
void bh_call_fail(struct bh_call *c, int32_t code, const char *msg);

/* router.c */
/* Route one client request. */
void bh_route(struct bh_daemon *d, struct bh_call *c);
/* Hand queued calls of slot to ready instances while any has room. */
void bh_slot_pump(struct bh_slot *s);

/* gen.c */
/* A new generation with a copy of conf (one reference, the caller's). */
struct bh_gen *bh_gen_new(const struct bh_plugin_conf *conf, uint32_t number);
struct bh_gen *bh_gen_ref(struct bh_gen *g);
void bh_gen_unref(struct bh_gen *g);
bool bh_gen_has_method(const struct bh_gen *g, const char *m, size_t len);

/* swap.c */
struct bh_swap_options {
	uint32_t canary_pct;   /* 0: a full swap; 1..100: a canary */
	double max_error_rate; /* canary: roll back above this share of failed calls (0.5) */
	uint32_t min_calls;    /* canary: ... once it has served this many (20) */
};
enum { BH_ROUTE_GEN, BH_ROUTE_WAIT, BH_ROUTE_HOLD };
/* Start a swap of s to conf (a new generation). The waiter (a control call, may be
 * NULL) is answered when the swap completes or rolls back. 0, or -errno with errbuf
 * (-EBUSY: another operation runs; -ENOENT: no such file). */
int bh_swap_start(struct bh_slot *s, const struct bh_plugin_conf *conf,
		  const struct bh_swap_options *opt, struct bh_call *waiter, char *errbuf,
		  size_t errlen);
int bh_swap_promote(struct bh_slot *s, struct bh_call *waiter, char *errbuf, size_t errlen);
int bh_swap_rollback(struct bh_slot *s, char *errbuf, size_t errlen);
/* Router: which generation takes c (BH_ROUTE_GEN, *ret), or wait in the queue
 * (paused), or hold it until its client's old calls finish. */
int bh_swap_route(struct bh_swap *sw, const struct bh_call *c, struct bh_gen **ret);
void bh_swap_routed(struct bh_swap *sw, const struct bh_gen *g);
void bh_swap_hold(struct bh_swap *sw, struct bh_call *c);
/* What the slot tells the swap (slot.c only): an instance became ready or is gone
 * (inst), or a call finished (inst NULL). The swap may end (and be freed) in it. */
enum bh_swap_news { BH_SWAP_READY, BH_SWAP_GONE, BH_SWAP_CALL_DONE };
void bh_swap_news(struct bh_swap *sw, enum bh_swap_news what, const struct bh_instance *inst);
/* A client call served by generation g finished (failed or not): canary checks. */
void bh_swap_call_done(struct bh_swap *sw, const struct bh_gen *g, bool failed);
const char *bh_swap_phase_name(const struct bh_swap *sw);
uint32_t bh_swap_canary_pct(const struct bh_swap *sw);

/* slot.c */
struct bh_slot *bh_slot_find(struct bh_daemon *d, const char *name, size_t len);
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

/* instance.c */
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
void bh_instance_flush_all(struct bh_daemon *d);
/* Kill with SIGKILL, recording why (the first cause given wins). */
void bh_instance_kill(struct bh_instance *inst, enum bh_exit_cause cause, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Stop taking calls; stop once the calls in flight are done. */
void bh_instance_retire(struct bh_instance *inst);
/* Graceful stop: $stop, then SIGKILL after a deadline. */
void bh_instance_stop(struct bh_instance *inst);
/* A call's deadline + grace passed while the child still runs it. */
void bh_instance_call_stuck(struct bh_instance *inst, struct bh_call *c);
const char *bh_inst_state_name(enum bh_inst_state st);

/* memwatch.c: memory limits the sandbox leaves to the daemon (no memory cgroup):
 * an instance holding more than its limit (resident memory and memfd pages) is
 * killed. Arms the watchdog for inst if it needs one. */
#define BH_MEMWATCH_MS 250
void bh_memwatch_add(struct bh_instance *inst);
void bh_memwatch_fired(struct bh_timer *t);
/* Bytes the process tree of pid holds, as the watchdog counts them; -errno. */
int64_t bh_memwatch_measure(pid_t pid);

/* childlog.c */
int bh_child_log_open(struct bh_instance *inst, struct bh_child_log *l, const char *stream,
		      int fd);
/* Read what is left (child exited), log a partial last line. */
void bh_child_log_drain(struct bh_child_log *l);
/* Stop watching the stream; safe on one never opened. */
void bh_child_log_close(struct bh_child_log *l);

/* access.c */
bool bh_access_is_admin(const struct bh_daemon *d, const struct bh_conn *cn);
bool bh_access_may_call(const struct bh_daemon *d, const struct bh_slot *s,
			const struct bh_conn *cn);

/* control.c */
/* `bulkhead.*` methods; name without the prefix. */
void bh_control(struct bh_daemon *d, struct bh_call *c, const char *method, size_t len,
		const uint8_t *params, size_t params_len);
/* Answer c, the load of s: error NULL = success. */
void bh_control_load_done(struct bh_slot *s, struct bh_call *c, const char *error);
/* Answer c, the unload of s (s is gone but not yet freed). */
void bh_control_unload_done(struct bh_slot *s, struct bh_call *c);

/* status.c */
int bh_status_write(struct bh_daemon *d, bh_writer *w);

#endif
