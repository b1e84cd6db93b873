/* The chaos soak: a real bulkheadd serving the chaos plugin (chaos.c, 2 instances)
 * and a sibling (echo.so, full default sandbox) under pipelined load, hot swaps and
 * unload/load cycles, with every execution recorded in a ledger outside the sandbox.
 * Every request is then judged against what its action allows (the table `acts`
 * below, documented in README "Chaos soak"), and the daemon against its resources.
 *
 *   test_soak [--seconds S | --calls N] [--clients C] [--inflight M] [--seed X]
 *             [--control-ms MS] [--examples K]
 *
 * S defaults to $BH_SOAK_SECONDS, else 60. Runs only inside the hostile suite's
 * containment (tests/hostile/contain.sh): its plugin crashes, floods and leaks on
 * purpose. Exit 0 only with zero violations; 77 (SKIP) where the host cannot run a
 * sandboxed plugin.
 *
 * One thread drives the clients and reads the ledger (one poll loop, no sleeps);
 * another makes the control calls (swap, unload, load, status), paced by the clock:
 * they block for as long as the daemon takes. */
#define _GNU_SOURCE
#include "harness.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <poll.h>
#include <sched.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "chaos.h"
#include "ledger.h"

#ifndef SOAK_CHAOS
#error "SOAK_CHAOS (path of chaos.so) must be defined by the build"
#endif

/* ---- settings --------------------------------------------------------------------- */

#define CHAOS_INSTANCES 2
#define CHAOS_TIMEOUT_MS 2000 /* the plugin's default deadline */
#define GRACE_MS 200
#define DRAIN_MS 5000      /* > every deadline + grace: a drain never needs its timeout */
#define SHORT_MS 150       /* the short per-call deadline */
#define MID_MS 3000        /* the deadline of the sleeps that end within it */
#define MEMORY_MB 64       /* chaos's memory limit; leak_big asks for 4 times that */
#define IDLE_GAP_MS 200    /* an instance idle this long while a call waits: finding 4 */
#define LATE_ANSWER_MS 50  /* a timeout answered later than this: the machine stalled */
#define LATE_START_MS 100  /* a disconnected client's call may start this late at most */
#define DRAIN_END_S 60     /* after the last call is sent, every answer within this */
#define SETTLE_S 30        /* for the daemon to be back to its configured instances */
#define RSS_BOUND_MB 64    /* daemon RSS growth allowed from warm-up to the end */
#define SIBLING_EVERY 10   /* one call in this many goes to the sibling */
#define HANGUP_EVERY 500   /* client 0 hangs up with its calls in flight this often */

static struct {
	int seconds;
	uint64_t calls; /* 0: run for `seconds` */
	int clients;
	int inflight;
	uint64_t seed;
	int control_ms;
	int examples;
} opt = {.clients = 4, .inflight = 16, .control_ms = 1500, .examples = 3};

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

#define MS(x) ((int64_t)(x) * 1000000)

/* ---- actions and what each may be answered ---------------------------------------- */

enum outcome {
	O_NONE,         /* no response (yet) */
	O_OK,           /* a result, the one the action implies */
	O_BAD_RESULT,   /* a result, but not that one */
	O_APP_ERROR,    /* an application error (code >= 1000) */
	O_TIMEOUT,      /* timeout */
	O_CRASHED,      /* plugin_crashed */
	O_LIMIT,        /* limit */
	O_UNAVAILABLE,  /* unavailable or unknown_plugin */
	O_OTHER,        /* any other error */
	O_DISCONNECTED, /* the client closed its connection first: no response expected */
	O__N
};

static const char *const outcome_names[O__N] = {
	"no_response", "ok", "bad_result", "app_error", "timeout", "plugin_crashed", "limit",
	"unavailable", "other_error", "disconnected"};

#define B(o) (1u << (o))

enum act {
	A_OK, A_SLEEP, A_SLEEP_MID, A_SLEEP_LONG, A_HANG, A_SPIN, A_CRASH, A_ABORT, A_EXIT,
	A_ERROR, A_BIG, A_LEAK, A_LEAK_BIG, A_FLOOD, A_SIBLING, A__N
};

/* A deadline of 0: the plugin's default (CHAOS_TIMEOUT_MS), or SHORT_MS for one call
 * in four. `allowed`: the outcomes the action may get anywhere; unavailable is
 * allowed besides only while the plugin is unloaded (see judge()). `ends` is true
 * when the call finishes within its deadline if it starts in time. */
static const struct act_def {
	const char *name, *wire;
	unsigned weight; /* per 10 000 chaos calls */
	int64_t arg_min, arg_max;
	unsigned timeout_ms;
	unsigned allowed;
	bool ends;
} acts[A__N] = {
	[A_OK] = {"ok", "ok", 7499, 0, 0, 0, B(O_OK) | B(O_TIMEOUT), true},
	[A_SLEEP] = {"sleep", "sleep", 600, 1, 5, 0, B(O_OK) | B(O_TIMEOUT), true},
	[A_SLEEP_MID] = {"sleep_mid", "sleep", 8, 300, 800, MID_MS, B(O_OK) | B(O_TIMEOUT), true},
	[A_SLEEP_LONG] = {"sleep_long", "sleep", 6, 10000, 10000, SHORT_MS, B(O_TIMEOUT), false},
	[A_HANG] = {"hang", "hang", 4, 0, 0, SHORT_MS, B(O_TIMEOUT), false},
	[A_SPIN] = {"spin", "spin", 2, 0, 0, SHORT_MS, B(O_TIMEOUT), false},
	[A_CRASH] = {"crash", "crash", 60, 0, 0, 0, B(O_CRASHED) | B(O_LIMIT) | B(O_TIMEOUT), false},
	[A_ABORT] = {"abort", "abort", 40, 0, 0, 0, B(O_CRASHED) | B(O_LIMIT) | B(O_TIMEOUT), false},
	[A_EXIT] = {"exit", "exit", 40, 3, 3, 0, B(O_CRASHED) | B(O_LIMIT) | B(O_TIMEOUT), false},
	[A_ERROR] = {"error", "error", 600, 0, 0, 0, B(O_APP_ERROR) | B(O_TIMEOUT), true},
	[A_BIG] = {"big", "big", 400, 65536, 1 << 20, 0, B(O_OK) | B(O_TIMEOUT), true},
	[A_LEAK] = {"leak", "leak", 600, 65536, 65536, 0, B(O_OK) | B(O_TIMEOUT), true},
	[A_LEAK_BIG] = {"leak_big", "leak", 5, 4LL * MEMORY_MB << 20, 4LL * MEMORY_MB << 20, 0,
			B(O_LIMIT) | B(O_CRASHED) | B(O_APP_ERROR) | B(O_TIMEOUT), false},
	[A_FLOOD] = {"flood", "flood", 100, 16384, 16384, 0, B(O_OK) | B(O_TIMEOUT), true},
	[A_SIBLING] = {"sibling", NULL, 0, 0, 0, 0, B(O_OK), true},
};

static bool crashes(enum act a)
{
	return a == A_CRASH || a == A_ABORT || a == A_EXIT || a == A_LEAK_BIG;
}

/* ---- violations -------------------------------------------------------------------- */

enum viol {
	V_NO_RESPONSE, V_DUP_RESPONSE, V_UNKNOWN_MSGID, V_UNSOLICITED, V_BAD_RESULT,
	V_WRONG_OUTCOME, V_RAN_TWICE, V_NOT_RUN, V_BLAMED_COMPLETED, V_CRASH_NOT_STARTED,
	V_KILLED_IN_DEADLINE, V_STARTED_AFTER_TIMEOUT, V_RAN_AFTER_DISCONNECT,
	V_WAITED_WHILE_IDLE, V_UNAVAILABLE, V_SIBLING, V_CONTROL, V_DRAIN_TIMEOUT,
	V_LOST_SETTINGS, V_PLUGIN_FAILED, V_LEDGER, V_NOT_SETTLED, V_FD_GROWTH, V_RSS_GROWTH,
	V_ZOMBIE, V_PROCESS_LEFT, V_CGROUP_LEFT, V_DAEMON, V__N
};

static const struct {
	const char *name, *what;
} viol_defs[V__N] = {
	[V_NO_RESPONSE] = {"no_response", "a request never answered"},
	[V_DUP_RESPONSE] = {"duplicate_response", "a second response to one msgid"},
	[V_UNKNOWN_MSGID] = {"unknown_msgid", "a response to a msgid never sent"},
	[V_UNSOLICITED] = {"unsolicited", "a message that is no response, or malformed"},
	[V_BAD_RESULT] = {"bad_result", "a result that is not the token (or the size) asked"},
	[V_WRONG_OUTCOME] = {"wrong_outcome", "an outcome its action does not allow"},
	[V_RAN_TWICE] = {"executed_twice", "a token STARTed more than once"},
	[V_NOT_RUN] = {"answered_without_run", "a result or application error without START+END"},
	[V_BLAMED_COMPLETED] = {"blamed_completed",
				"plugin_crashed/limit for a call whose END is in the ledger"},
	[V_CRASH_NOT_STARTED] = {"crash_not_started",
				 "plugin_crashed/limit for a call that never started "
				 "(it should have been re-dispatched)"},
	[V_KILLED_IN_DEADLINE] = {"killed_within_deadline",
				  "a started, non-crashing call killed before it could end "
				  "(within its own deadline)"},
	[V_STARTED_AFTER_TIMEOUT] = {"started_after_timeout",
				     "a call STARTed after its timeout answer was received"},
	[V_RAN_AFTER_DISCONNECT] = {"ran_after_disconnect",
				    "a call STARTed > " "100" " ms after its client disconnected"},
	[V_WAITED_WHILE_IDLE] = {"waited_while_idle",
				 "timed out unstarted while another instance sat idle >= "
				 "200 ms inside its wait (no control operation running, the timeout "
				 "answered in time)"},
	[V_UNAVAILABLE] = {"unexpected_unavailable",
			   "unavailable/unknown_plugin outside an unload window, or after it ran"},
	[V_SIBLING] = {"sibling_failed", "the sibling (echo) answered anything but its token"},
	[V_CONTROL] = {"control_failed", "a swap, unload, load or status call failed"},
	[V_DRAIN_TIMEOUT] = {"drain_timeout", "a swap or unload took its whole drain timeout"},
	[V_LOST_SETTINGS] = {"load_lost_settings",
			     "chaos lost its configured 2 instances in a load or swap (counted once "
			     "until they are back)"},
	[V_PLUGIN_FAILED] = {"plugin_failed", "a plugin failed or quarantined"},
	[V_LEDGER] = {"ledger", "a lost, malformed or unknown ledger record"},
	[V_NOT_SETTLED] = {"not_settled", "the configured instances not back after the load"},
	[V_FD_GROWTH] = {"fd_growth", "the daemon holds more fds than at the start"},
	[V_RSS_GROWTH] = {"rss_growth", "the daemon's RSS grew past the bound"},
	[V_ZOMBIE] = {"zombie", "an unreaped child of the daemon"},
	[V_PROCESS_LEFT] = {"process_left", "a process left once the daemon exited"},
	[V_CGROUP_LEFT] = {"cgroup_left", "a cgroup left once the daemon exited"},
	[V_DAEMON] = {"daemon", "the daemon died, or did not exit 0 on SIGTERM"},
};

static struct {
	uint64_t count;
	int n_ex;
	char ex[8][320];
} viols[V__N];
static pthread_mutex_t viol_lock = PTHREAD_MUTEX_INITIALIZER;

static __attribute__((format(printf, 2, 3))) void violation(enum viol v, const char *fmt, ...)
{
	pthread_mutex_lock(&viol_lock);
	viols[v].count++;
	if (viols[v].n_ex < opt.examples && viols[v].n_ex < 8) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(viols[v].ex[viols[v].n_ex++], sizeof(viols[v].ex[0]), fmt, ap);
		va_end(ap);
	}
	pthread_mutex_unlock(&viol_lock);
}

/* ---- requests ---------------------------------------------------------------------- */

struct req {
	int64_t t_send, t_answer; /* ns; t_answer: when read (or when disconnected) */
	int64_t t_start, t_end;   /* ledger, ns (first START, last END) */
	int64_t arg;
	uint64_t nonce; /* the instance that STARTed it */
	char *msg;      /* the error message, for non-ok outcomes */
	uint32_t msgid, timeout_ms;
	int32_t code;
	uint8_t act, client, outcome, starts, ends, responses;
};

static struct req *reqs; /* the token is the index */
static size_t n_reqs, cap_reqs;

static uint64_t rng_state;
static uint64_t rng(void)
{
	uint64_t x = rng_state; /* xorshift64* */
	x ^= x >> 12, x ^= x << 25, x ^= x >> 27;
	rng_state = x;
	return x * 0x2545f4914f6cdd1dULL;
}

static int64_t rng_range(int64_t lo, int64_t hi)
{
	return lo + (int64_t)(rng() % (uint64_t)(hi - lo + 1));
}

/* ---- clients ----------------------------------------------------------------------- */

struct client {
	int id, fd;
	struct bh_buf in, out;
	struct bh_arena arena;
	struct bh_limits limits;
	uint32_t next_msgid;
	size_t *by_msgid; /* msgid -> token + 1 (0: none), this connection's */
	size_t cap_ids;
	int inflight;
	uint64_t sent;
	uint64_t next_hangup; /* client 0: hang up once `sent` reaches this */
	enum act script[16]; /* actions forced next (the finding-1 pattern) */
	int n_script;
};

static const char *sock_path;

static void client_connect(struct client *c)
{
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(c->fd, 0);
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock_path);
	ck_assert_msg(connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) == 0, "connect %s: %s",
		      sock_path, strerror(errno));
	ck_assert_int_eq(fcntl(c->fd, F_SETFL, O_NONBLOCK), 0);
	c->next_msgid = 1;
	c->inflight = 0;
	c->in.len = c->out.len = 0;
	if (c->by_msgid)
		memset(c->by_msgid, 0, c->cap_ids * sizeof(*c->by_msgid));
}

static void client_init(struct client *c, int id)
{
	memset(c, 0, sizeof(*c));
	c->id = id;
	bh_buf_init(&c->in, 0);
	bh_buf_init(&c->out, 0);
	bh_arena_init(&c->arena);
	bh_limits_default(&c->limits);
	c->limits.max_message = 64u << 20;
	c->limits.max_bytes = 64u << 20;
	client_connect(c);
}

static void client_done(struct client *c)
{
	bh_buf_done(&c->in);
	bh_buf_done(&c->out);
	bh_arena_done(&c->arena);
	free(c->by_msgid);
}

static enum act pick_act(struct client *c, uint64_t n)
{
	if (c->n_script > 0)
		return c->script[--c->n_script];
	if (n % SIBLING_EVERY == SIBLING_EVERY - 1)
		return A_SIBLING;
	/* Now and then the pattern of finding 1, pipelined: a big result, a crash, and
	 * calls behind them (the script is a stack: pushed in reverse). */
	if (rng() % 4000 == 0) {
		for (int i = 0; i < 8; i++)
			c->script[c->n_script++] = A_OK;
		c->script[c->n_script++] = A_CRASH;
		return A_BIG;
	}
	unsigned w = (unsigned)(rng() % 10000);
	for (int a = 0; a < A_SIBLING; a++) {
		if (w < acts[a].weight)
			return (enum act)a;
		w -= acts[a].weight;
	}
	return A_OK;
}

static void client_send_one(struct client *c)
{
	enum act a = pick_act(c, c->sent++);
	const struct act_def *d = &acts[a];
	if (n_reqs == cap_reqs) {
		cap_reqs = cap_reqs ? cap_reqs * 2 : 65536;
		reqs = realloc(reqs, cap_reqs * sizeof(*reqs));
		ck_assert_ptr_nonnull(reqs);
	}
	size_t token = n_reqs++;
	struct req *r = &reqs[token];
	memset(r, 0, sizeof(*r));
	r->act = (uint8_t)a;
	r->client = (uint8_t)c->id;
	r->arg = d->arg_max ? rng_range(d->arg_min, d->arg_max) : 0;
	r->timeout_ms = d->timeout_ms;
	if (!r->timeout_ms && a != A_SIBLING && rng() % 4 == 0)
		r->timeout_ms = SHORT_MS;
	r->msgid = c->next_msgid++;
	if (r->msgid >= c->cap_ids) {
		size_t cap = c->cap_ids ? c->cap_ids * 2 : 4096;
		c->by_msgid = realloc(c->by_msgid, cap * sizeof(*c->by_msgid));
		ck_assert_ptr_nonnull(c->by_msgid);
		memset(c->by_msgid + c->cap_ids, 0, (cap - c->cap_ids) * sizeof(*c->by_msgid));
		c->cap_ids = cap;
	}
	c->by_msgid[r->msgid] = token + 1;

	bh_writer w;
	bh_writer_init(&w, &c->out);
	bh_write_array(&w, r->timeout_ms ? 5 : 4);
	bh_write_int(&w, 0);
	bh_write_uint(&w, r->msgid);
	if (a == A_SIBLING) {
		bh_write_cstr(&w, "echo.echo");
		bh_write_array(&w, 1);
		bh_write_uint(&w, token);
	} else {
		bh_write_cstr(&w, "chaos.run");
		bh_write_array(&w, 3);
		bh_write_uint(&w, token);
		bh_write_cstr(&w, d->wire);
		bh_write_int(&w, r->arg);
	}
	if (r->timeout_ms) {
		bh_write_map(&w, 1);
		bh_write_cstr(&w, "timeout_ms");
		bh_write_uint(&w, r->timeout_ms);
	}
	ck_assert_int_eq(bh_writer_error(&w), 0);
	r->t_send = now_ns();
	c->inflight++;
}

/* Write what is queued; false when the connection broke. */
static bool client_flush(struct client *c)
{
	while (c->out.len > 0) {
		ssize_t n = send(c->fd, c->out.data, c->out.len, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return true;
		if (n < 0)
			return false;
		bh_buf_consume(&c->out, (size_t)n);
	}
	return true;
}

static bool result_ok(const struct req *r, size_t token, const bh_value *v)
{
	uint64_t got;
	if (r->act == A_BIG) {
		const uint8_t *b;
		size_t n;
		return v->type == BH_ARRAY && v->len == 2 &&
		       bh_value_get_uint(bh_value_at(v, 0), &got) == 0 && got == token &&
		       bh_value_get_bin(bh_value_at(v, 1), &b, &n) == 0 && n == (size_t)r->arg;
	}
	return bh_value_get_uint(v, &got) == 0 && got == token;
}

static void on_response(struct client *c, const bh_value *m)
{
	int64_t type;
	uint64_t msgid;
	if (m->type != BH_ARRAY || m->len != 4 || bh_value_get_int(bh_value_at(m, 0), &type) < 0 ||
	    type != 1 || bh_value_get_uint(bh_value_at(m, 1), &msgid) < 0) {
		violation(V_UNSOLICITED, "client %d: a message that is no response (%u elements)",
			  c->id, m->type == BH_ARRAY ? m->len : 0);
		return;
	}
	size_t t1 = msgid < c->cap_ids ? c->by_msgid[msgid] : 0;
	if (!t1) {
		violation(V_UNKNOWN_MSGID, "client %d: response to msgid %" PRIu64, c->id, msgid);
		return;
	}
	size_t token = t1 - 1;
	struct req *r = &reqs[token];
	if (r->responses++ > 0) {
		violation(V_DUP_RESPONSE, "client %d msgid %" PRIu64 " token %zu (%s): answered %s, "
			  "then again", c->id, msgid, token, acts[r->act].name,
			  outcome_names[r->outcome]);
		return;
	}
	r->t_answer = now_ns();
	c->inflight--;
	const bh_value *err = bh_value_at(m, 2);
	if (err->type == BH_NIL) {
		r->outcome = result_ok(r, token, bh_value_at(m, 3)) ? O_OK : O_BAD_RESULT;
		return;
	}
	/* Either form the daemon writes (a map, or by default [type, text]). */
	struct bh_buf raw;
	struct bh_writer w;
	bh_error e = {.code = 0};
	bh_buf_init(&raw, 0);
	bh_writer_init(&w, &raw);
	if (bh_write_value(&w, err) < 0 || bh_error_decode(raw.data, raw.len, &e) != 1)
		e.code = 0;
	bh_buf_done(&raw);
	int64_t code = e.code;
	r->code = e.code;
	r->msg = strndup(e.message, 200);
	switch (code) {
	case BH_E_TIMEOUT: r->outcome = O_TIMEOUT; break;
	case BH_E_PLUGIN_CRASHED: r->outcome = O_CRASHED; break;
	case BH_E_LIMIT: r->outcome = O_LIMIT; break;
	case BH_E_UNAVAILABLE:
	case BH_E_UNKNOWN_PLUGIN: r->outcome = O_UNAVAILABLE; break;
	default: r->outcome = code >= 1000 ? O_APP_ERROR : O_OTHER;
	}
}

/* Read and handle what arrived; false when the connection broke. */
static bool client_read(struct client *c)
{
	for (;;) {
		if (bh_buf_reserve(&c->in, 256 * 1024) < 0)
			return false;
		ssize_t n = recv(c->fd, c->in.data + c->in.len, c->in.cap - c->in.len, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			break;
		if (n <= 0)
			return false;
		c->in.len += (size_t)n;
	}
	size_t off = 0;
	while (off < c->in.len) {
		const bh_value *m;
		size_t used;
		int e = bh_decode(c->in.data + off, c->in.len - off, &c->limits, &c->arena, &m, &used);
		if (e == -EAGAIN)
			break;
		if (e < 0) {
			violation(V_UNSOLICITED, "client %d: undecodable bytes from the daemon: %s",
				  c->id, bh_proto_strerror(e));
			return false;
		}
		on_response(c, m);
		off += used;
	}
	bh_buf_consume(&c->in, off);
	if (c->in.len == 0)
		bh_buf_shrink(&c->in, BH_BUF_KEEP);
	return true;
}

/* Close with calls outstanding (they must never start later), then reconnect. */
static void client_disconnect(struct client *c)
{
	int64_t now = now_ns();
	close(c->fd);
	for (size_t id = 1; id < c->next_msgid && id < c->cap_ids; id++) {
		size_t t1 = c->by_msgid[id];
		if (t1 && !reqs[t1 - 1].responses) {
			reqs[t1 - 1].outcome = O_DISCONNECTED;
			reqs[t1 - 1].t_answer = now;
			reqs[t1 - 1].responses = 1;
		}
	}
	client_connect(c);
}

/* ---- the ledger -------------------------------------------------------------------- */

struct inst {
	uint64_t nonce; /* 0: free slot */
	pid_t pid;
	uint64_t next_seq;
	int64_t last_end; /* 0 while running a call or before its first */
	bool busy;
};

struct gap {
	int64_t from, to;
	pid_t pid;
};

static struct {
	int fd;
	char name[64];
	struct inst *insts; /* open addressing on nonce */
	size_t cap;         /* power of two */
	size_t n_insts;
	struct gap *gaps;
	size_t n_gaps, cap_gaps;
	uint64_t records;
} led;

static struct inst *inst_get(uint64_t nonce)
{
	if (led.n_insts * 2 >= led.cap) {
		struct inst *old = led.insts;
		size_t oc = led.cap;
		led.cap = oc ? oc * 2 : 4096;
		led.insts = calloc(led.cap, sizeof(*led.insts));
		ck_assert_ptr_nonnull(led.insts);
		for (size_t i = 0; i < oc; i++) {
			if (!old[i].nonce)
				continue;
			size_t k = old[i].nonce & (led.cap - 1);
			while (led.insts[k].nonce)
				k = (k + 1) & (led.cap - 1);
			led.insts[k] = old[i];
		}
		free(old);
	}
	size_t k = nonce & (led.cap - 1);
	while (led.insts[k].nonce && led.insts[k].nonce != nonce)
		k = (k + 1) & (led.cap - 1);
	if (!led.insts[k].nonce) {
		led.insts[k].nonce = nonce;
		led.n_insts++;
	}
	return &led.insts[k];
}

static void ledger_open(void)
{
	led.fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	ck_assert_int_ge(led.fd, 0);
	uint32_t rnd = (uint32_t)rng();
	snprintf(led.name, sizeof(led.name), "bulkhead-soak-%d-%08x", (int)getpid(), rnd);
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	size_t len = strlen(led.name);
	memcpy(sa.sun_path + 1, led.name, len);
	ck_assert_msg(bind(led.fd, (struct sockaddr *)&sa,
			   (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + len)) == 0,
		      "bind the ledger @%s: %s", led.name, strerror(errno));
	int one = 1, big = 8 << 20;
	ck_assert_int_eq(setsockopt(led.fd, SOL_SOCKET, SO_PASSCRED, &one, sizeof(one)), 0);
	setsockopt(led.fd, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof(big));
	/* Our own network namespace (contain.sh): a longer datagram queue, so that the
	 * plugin blocks on its records less often. Its default (10) is correct too. */
	int q = open("/proc/sys/net/unix/max_dgram_qlen", O_WRONLY | O_CLOEXEC);
	if (q >= 0) {
		(void)!write(q, "4096", 4);
		close(q);
	}
}

static void on_record(const struct soak_ledger_rec *rec, pid_t pid)
{
	led.records++;
	struct inst *in = inst_get(rec->nonce);
	if (!in->pid)
		in->pid = pid;
	if (rec->seq != in->next_seq)
		violation(V_LEDGER, "instance pid %d: record %" PRIu64 " after %" PRIu64
			  " (records lost)", (int)pid, rec->seq, in->next_seq);
	in->next_seq = rec->seq + 1;
	if (rec->token >= n_reqs || reqs[rec->token].act == A_SIBLING) {
		violation(V_LEDGER, "instance pid %d: a record for token %" PRIu64 ", never sent",
			  (int)pid, rec->token);
		return;
	}
	struct req *r = &reqs[rec->token];
	if (rec->kind == SOAK_START) {
		if (!in->busy && in->last_end && rec->t_ns - in->last_end >= MS(IDLE_GAP_MS)) {
			if (led.n_gaps == led.cap_gaps) {
				led.cap_gaps = led.cap_gaps ? led.cap_gaps * 2 : 1024;
				led.gaps = realloc(led.gaps, led.cap_gaps * sizeof(*led.gaps));
				ck_assert_ptr_nonnull(led.gaps);
			}
			led.gaps[led.n_gaps++] =
				(struct gap){.from = in->last_end, .to = rec->t_ns, .pid = in->pid};
		}
		in->busy = true;
		if (r->starts++ == 0) {
			r->t_start = rec->t_ns;
			r->nonce = rec->nonce;
		}
	} else if (rec->kind == SOAK_END) {
		in->busy = false;
		in->last_end = rec->t_ns;
		r->ends++;
		r->t_end = rec->t_ns;
	} else {
		violation(V_LEDGER, "a record of kind %u", rec->kind);
	}
}

static void ledger_read(void)
{
	for (;;) {
		struct soak_ledger_rec rec;
		union {
			char buf[CMSG_SPACE(sizeof(struct ucred))];
			struct cmsghdr align;
		} cm;
		struct iovec iov = {.iov_base = &rec, .iov_len = sizeof(rec)};
		struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cm.buf,
				    .msg_controllen = sizeof(cm.buf)};
		ssize_t n = recvmsg(led.fd, &mh, MSG_CMSG_CLOEXEC);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return;
		pid_t pid = 0;
		struct cmsghdr *h = CMSG_FIRSTHDR(&mh);
		if (h && h->cmsg_level == SOL_SOCKET && h->cmsg_type == SCM_CREDENTIALS) {
			struct ucred uc;
			memcpy(&uc, CMSG_DATA(h), sizeof(uc));
			pid = uc.pid;
		}
		if (n != (ssize_t)sizeof(rec) || rec.magic != SOAK_LEDGER_MAGIC)
			violation(V_LEDGER, "a malformed record (%zd bytes) from pid %d", n, (int)pid);
		else
			on_record(&rec, pid);
	}
}

/* ---- the daemon's side: status, resources ------------------------------------------ */

struct window {
	int64_t from, to;
	bool unload; /* the plugin was (being) unloaded: unavailable allowed */
};

static struct {
	pthread_t thread;
	atomic_bool stop, done;
	atomic_bool unloading; /* clients send nothing new meanwhile */
	bool lost;             /* chaos is short of its instances since an operation */
	struct window *w;
	size_t n, cap;
	uint64_t swaps, unloads, status_calls, rivals, sighups;
	double max_drain_ms, max_unload_ms, max_load_ms;
	char path_a[HT_PATH_MAX], path_b[HT_PATH_MAX];
	const struct ht_daemon *d;
} ctl;

static void add_window(int64_t from, int64_t to, bool unload)
{
	if (ctl.n == ctl.cap) {
		ctl.cap = ctl.cap ? ctl.cap * 2 : 256;
		ctl.w = realloc(ctl.w, ctl.cap * sizeof(*ctl.w));
		if (!ctl.w)
			abort();
	}
	ctl.w[ctl.n++] = (struct window){from, to, unload};
}

/* The plugins[] entry of a status named `name`, or NULL. */
static const bh_value *status_plugin(const bh_value *st, const char *name)
{
	const bh_value *ps = bh_value_find(st, "plugins");
	for (uint32_t i = 0; ps && ps->type == BH_ARRAY && i < ps->len; i++)
		if (bh_value_str_eq(bh_value_find(&ps->as.items[i], "name"), name))
			return &ps->as.items[i];
	return NULL;
}

/* Instances of a status entry, and how many of them are ready. */
static uint32_t count_instances(const bh_value *p, uint32_t *ret_ready)
{
	const bh_value *is = p ? bh_value_find(p, "instances") : NULL;
	uint32_t n = 0, ready = 0;
	for (uint32_t i = 0; is && is->type == BH_ARRAY && i < is->len; i++, n++)
		ready += bh_value_str_eq(bh_value_find(&is->as.items[i], "state"), "ready");
	*ret_ready = ready;
	return n;
}

/* A control call; its outcome goes to the violations. The result is freed. */
static int control_call(bh_client *c, const char *method, const char *name, const char *path,
			bh_result **ret)
{
	bh_writer *w = bh_client_params(c);
	bh_write_array(w, path || !strcmp(method, "bulkhead.swap") ? 2 : 1);
	bh_write_cstr(w, name);
	if (path)
		bh_write_cstr(w, path);
	else if (!strcmp(method, "bulkhead.swap"))
		bh_write_nil(w);
	bh_error err = {0};
	bh_result *res = NULL;
	int r = bh_call(c, method, 60000, &res, &err);
	if (r < 0)
		violation(V_CONTROL, "%s %s %s: %s (%d): %s", method, name, path ? path : "",
			  bh_code_name(err.code), (int)err.code, err.message);
	if (ret)
		*ret = res;
	else
		bh_result_free(res);
	return r;
}

/* Status until chaos shows its CHAOS_INSTANCES instances (a load or a swap keeps
 * them), paced by the clock, for at most 3 s: crashes make them come and go. */
static bool check_instances(bh_client *c, const char *after)
{
	bool swap_idle = false;
	uint32_t most = 0;
	int64_t end = now_ns() + MS(3000);
	do {
		bh_result *st = NULL;
		bh_error err = {0};
		bh_client_params(c);
		ctl.status_calls++;
		if (bh_call(c, "bulkhead.status", 60000, &st, &err) < 0) {
			violation(V_CONTROL, "status: %s", err.message);
			return false;
		}
		const bh_value *p = status_plugin(bh_result_value(st), "chaos");
		uint32_t ready, n = count_instances(p, &ready);
		/* A swap that SIGHUP started must end before the next operation (which
		 * would get conflict, rightly). */
		swap_idle = p && bh_value_str_eq(bh_value_find(p, "swap"), "none");
		bh_result_free(st);
		if (n > most)
			most = n;
		if (most >= CHAOS_INSTANCES && swap_idle) {
			ctl.lost = false;
			return true;
		}
		struct timespec ts = {0, 20 * 1000000};
		nanosleep(&ts, NULL); /* pacing of a retry, not synchronisation */
	} while (now_ns() < end);
	if (most >= CHAOS_INSTANCES) {
		violation(V_CONTROL, "after %s: chaos's swap still running after 3 s", after);
		return true;
	}
	if (ctl.lost)
		return false; /* lost before, counted then */
	ctl.lost = true;
	violation(V_LOST_SETTINGS, "after %s: chaos had at most %u instance(s) in 3 s of status "
		  "(configured: %d)", after, most, CHAOS_INSTANCES);
	return false;
}

/* ---- a rival daemon ----------------------------------------------------------------- */

/* Finding 3's setting: another bulkheadd starting in a pid namespace of its own (it
 * cannot see this daemon's pids) beside this one, in the same cgroups, with a plugin
 * of its own; stopped with SIGTERM once ready. Its start-up must leave this daemon's
 * cgroups alone (a chaos instance failing its set-up, or chaos `failed`, says it did
 * not). Processes: M (here, forwards SIGTERM) -> A (pid 1 of the new namespace,
 * forwards SIGTERM: a namespace's init gets only signals it handles) -> the daemon. */
static volatile sig_atomic_t rival_child;

static void rival_forward(int sig)
{
	if (rival_child > 0)
		kill(rival_child, sig);
}

/* In a child of a threaded process: async-signal-safe calls only. */
static _Noreturn void rival_exec(const char *conf, int ready_w, int logfd)
{
	struct sigaction sa = {.sa_handler = rival_forward};
	sigemptyset(&sa.sa_mask);
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	sigaction(SIGTERM, &sa, NULL);
	sigset_t none;
	sigemptyset(&none);
	pthread_sigmask(SIG_SETMASK, &none, NULL);
	if (unshare(CLONE_NEWPID) < 0)
		_exit(126);
	for (int level = 0; level < 2; level++) {
		pid_t p = fork();
		if (p < 0)
			_exit(126);
		if (p > 0) { /* M, then A: forward SIGTERM, wait, pass the status on */
			rival_child = p;
			int st;
			while (waitpid(p, &st, 0) < 0 && errno == EINTR)
				;
			_exit(WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
		}
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		rival_child = 0;
	}
	int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (null < 0 || dup2(null, 0) < 0 || dup2(logfd, 1) < 0 || dup2(logfd, 2) < 0 ||
	    dup2(ready_w, 3) < 0)
		_exit(127);
	signal(SIGTERM, SIG_DFL);
	/* LeakSanitizer cannot stop the world from a pid namespace whose /proc is the
	 * parent's: the rival's leaks are not what this test is about. */
	char *const argv[] = {"bulkheadd", "-c", (char *)conf, "--ready-fd", "3", NULL};
	char *const envp[] = {"ASAN_OPTIONS=detect_leaks=0", NULL};
	execve(HT_BULKHEADD, argv, envp);
	_exit(127);
}

static void rival_run(void)
{
	char conf[HT_PATH_MAX + 16], log[HT_PATH_MAX + 16];
	snprintf(conf, sizeof(conf), "%s/rival.conf", ctl.d->dir);
	snprintf(log, sizeof(log), "%s/rival.log", ctl.d->dir);
	FILE *f = fopen(conf, "we");
	if (!f) {
		violation(V_CONTROL, "rival: %s: %s", conf, strerror(errno));
		return;
	}
	fprintf(f, "socket = { path = \"%s/rival.sock\"; };\nlog_level = \"warn\";\n"
		   "plugins = ({ name = \"echo\"; path = \"%s\"; });\n", ctl.d->dir,
		HT_PLUGIN("echo"));
	fclose(f);
	int p[2], logfd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (logfd < 0 || pipe2(p, O_CLOEXEC) < 0) {
		violation(V_CONTROL, "rival: %s", strerror(errno));
		if (logfd >= 0)
			close(logfd);
		return;
	}
	pid_t pid = fork();
	if (pid == 0)
		rival_exec(conf, p[1], logfd);
	close(p[1]);
	close(logfd);
	char buf[8] = "";
	ssize_t n;
	while ((n = read(p[0], buf, 6)) < 0 && errno == EINTR)
		; /* READY, or end of file if it exits first */
	close(p[0]);
	ctl.rivals++;
	if (pid > 0)
		kill(pid, SIGTERM);
	int st = 0;
	while (pid > 0 && waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	if (pid < 0 || n != 6 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		char tail[200] = "";
		int fd = open(log, O_RDONLY | O_CLOEXEC);
		off_t end = fd >= 0 ? lseek(fd, 0, SEEK_END) : 0;
		ssize_t k = fd >= 0 ? pread(fd, tail, sizeof(tail) - 1, end > 199 ? end - 199 : 0) : 0;
		tail[k > 0 ? k : 0] = 0;
		for (char *c = tail; *c; c++)
			*c = *c == '\n' ? '|' : *c;
		if (fd >= 0)
			close(fd);
		violation(V_CONTROL, "rival daemon: %s, exit status 0x%x, its log ends: %s",
			  n == 6 ? "ready" : "never ready", st, tail);
	}
}

/* A call to the unloaded chaos: unknown_plugin, and nothing runs (its token is
 * no request's: a ledger record of it is a violation). */
static void call_unloaded(bh_client *c)
{
	bh_writer *w = bh_client_params(c);
	bh_write_array(w, 3);
	bh_write_uint(w, UINT64_MAX >> 1);
	bh_write_cstr(w, "ok");
	bh_write_int(w, 0);
	bh_error err = {0};
	int r = bh_call(c, "chaos.run", 60000, NULL, &err);
	if (r != -BH_E_UNKNOWN_PLUGIN && r != -BH_E_UNAVAILABLE)
		violation(V_UNAVAILABLE, "a call to the unloaded chaos: rc %d, %s", r,
			  r < 0 ? err.message : "a result");
}

static void *control_thread(void *arg)
{
	(void)arg;
	bh_client *c = NULL;
	if (bh_client_connect(ctl.d->sock, &c) < 0) {
		violation(V_CONTROL, "control connection: %s", strerror(errno));
		atomic_store(&ctl.done, true);
		return NULL;
	}
	const char *cur = ctl.path_a;
	struct timespec next;
	clock_gettime(CLOCK_MONOTONIC, &next);
	for (uint64_t op = 0; !atomic_load(&ctl.stop); op++) {
		/* Pacing: one operation every control_ms (a timer, not a wait for a state). */
		next.tv_nsec += (long)(opt.control_ms % 1000) * 1000000;
		next.tv_sec += opt.control_ms / 1000 + next.tv_nsec / 1000000000;
		next.tv_nsec %= 1000000000;
		while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL) == EINTR)
			;
		if (atomic_load(&ctl.stop))
			break;
		int64_t t0 = now_ns();
		if (op % 8 == 5)
			rival_run();
		if (op % 4 == 3) {
			/* unload, then load it again by name and path. Calls sent meanwhile
			 * are answered at once: the clients hold back rather than spin, and
			 * one call here checks that answer. */
			atomic_store(&ctl.unloading, true);
			int r = control_call(c, "bulkhead.unload", "chaos", NULL, NULL);
			if (r == 0)
				call_unloaded(c);
			int64_t t1 = now_ns();
			double ms = (double)(t1 - t0) / 1e6;
			ctl.unloads++;
			if (ms > ctl.max_unload_ms)
				ctl.max_unload_ms = ms;
			if (r == 0 && ms >= DRAIN_MS)
				violation(V_DRAIN_TIMEOUT, "unload took %.0f ms (drain timeout %d ms)", ms,
					  DRAIN_MS);
			control_call(c, "bulkhead.load", "chaos", cur, NULL);
			double lms = (double)(now_ns() - t1) / 1e6;
			if (lms > ctl.max_load_ms)
				ctl.max_load_ms = lms;
			add_window(t0, now_ns(), true);
			atomic_store(&ctl.unloading, false);
			/* A load that lost the configured settings: SIGHUP applies the file
			 * again, so that the rest of the run has its 2 instances. */
			if (!check_instances(c, "unload + load chaos PATH") && kill(ctl.d->pid, SIGHUP) == 0) {
				int64_t t_hup = now_ns();
				ctl.sighups++;
				check_instances(c, "SIGHUP");
				add_window(t_hup, now_ns(), false);
			}
		} else {
			/* swap to the copy, back to the original, or to the same path (nil). */
			const char *to = op % 4 == 2 ? NULL : cur == ctl.path_a ? ctl.path_b : ctl.path_a;
			bh_result *res = NULL;
			if (control_call(c, "bulkhead.swap", "chaos", to, &res) == 0) {
				double drain = 0;
				bh_value_get_float(bh_value_find(bh_result_value(res), "drain_ms"), &drain);
				if (drain > ctl.max_drain_ms)
					ctl.max_drain_ms = drain;
				if (drain >= DRAIN_MS)
					violation(V_DRAIN_TIMEOUT, "swap drained for %.0f ms (drain timeout "
						  "%d ms)", drain, DRAIN_MS);
				if (to)
					cur = to;
			}
			bh_result_free(res);
			ctl.swaps++;
			add_window(t0, now_ns(), false);
			check_instances(c, "swap");
		}
	}
	bh_client_free(c);
	atomic_store(&ctl.done, true);
	return NULL;
}

static long count_fds(pid_t pid)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	DIR *d = opendir(path);
	long n = 0;
	struct dirent *e;
	while (d && (e = readdir(d)))
		n += e->d_name[0] != '.';
	if (d)
		closedir(d);
	return d ? n : -1;
}

static long rss_kb(pid_t pid)
{
	char path[64], line[256];
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	FILE *f = fopen(path, "re");
	long kb = -1;
	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
			break;
	if (f)
		fclose(f);
	return kb;
}

/* Children of ppid (0: any process but us), with their state; zombies_only filters. */
static int scan_children(pid_t ppid, bool zombies_only, char *out, size_t len)
{
	int found = 0;
	size_t used = 0;
	out[0] = 0;
	DIR *d = opendir("/proc");
	struct dirent *e;
	while (d && (e = readdir(d))) {
		if (e->d_name[0] < '1' || e->d_name[0] > '9')
			continue;
		char path[300], buf[512];
		snprintf(path, sizeof(path), "/proc/%s/stat", e->d_name);
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		ssize_t n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (n <= 0)
			continue;
		buf[n] = 0;
		char *rp = strrchr(buf, ')'), state;
		int pp;
		if (!rp || sscanf(rp + 2, "%c %d", &state, &pp) != 2 || pp != ppid ||
		    (zombies_only && state != 'Z'))
			continue;
		found++;
		if (used < len) {
			int k = snprintf(out + used, len - used, "%s%s %.40s %c", used ? ", " : "",
					 e->d_name, strchr(buf, '(') ? strchr(buf, '(') : "?", state);
			used += k > 0 ? (size_t)k : 0;
		}
	}
	if (d)
		closedir(d);
	return found;
}

/* Wait (status, paced) until every instance is back and ready, nothing queued. */
static bool settle(bh_client *c)
{
	int64_t end = now_ns() + MS(SETTLE_S * 1000);
	char last[256] = "";
	do {
		bh_result *st = NULL;
		bh_error err = {0};
		bh_client_params(c);
		if (bh_call(c, "bulkhead.status", 60000, &st, &err) < 0) {
			violation(V_CONTROL, "status: %s", err.message);
			return false;
		}
		const bh_value *ch = status_plugin(bh_result_value(st), "chaos");
		const bh_value *ec = status_plugin(bh_result_value(st), "echo");
		uint32_t cr, er, cn = count_instances(ch, &cr), en = count_instances(ec, &er);
		uint64_t q = 1;
		if (ch)
			bh_value_get_uint(bh_value_find(ch, "queued"), &q);
		char state[32] = "";
		if (ch)
			ht_str(bh_value_find(ch, "state"), state, sizeof(state));
		snprintf(last, sizeof(last), "chaos %s, %u instance(s), %u ready, %" PRIu64
			 " queued; echo %u ready", state, cn, cr, q, er);
		if (ch && strcmp(state, "failed") == 0)
			violation(V_PLUGIN_FAILED, "chaos failed: %s", last);
		bh_result_free(st);
		if (cn == CHAOS_INSTANCES && cr == CHAOS_INSTANCES && en == 1 && er == 1 && q == 0)
			return true;
		struct timespec ts = {0, 20 * 1000000};
		nanosleep(&ts, NULL); /* pacing of a retry, not synchronisation */
	} while (now_ns() < end);
	violation(V_NOT_SETTLED, "after %d s: %s", SETTLE_S, last);
	return false;
}

/* ---- judging ----------------------------------------------------------------------- */

static bool overlaps_window(const struct req *r, bool unload_only)
{
	for (size_t i = 0; i < ctl.n; i++)
		if ((!unload_only || ctl.w[i].unload) && r->t_send < ctl.w[i].to &&
		    r->t_answer > ctl.w[i].from)
			return true;
	return false;
}

static const struct gap *idle_gap_within(const struct req *r)
{
	for (size_t i = 0; i < led.n_gaps; i++)
		if (led.gaps[i].from >= r->t_send && led.gaps[i].to <= r->t_answer)
			return &led.gaps[i];
	return NULL;
}

static uint64_t counts[A__N][O__N];

#define EX_FMT "token %zu %s(%" PRId64 ") timeout %u ms: %s%s%s%s"
#define EX_ARGS(t, r)                                                                      \
	(t), acts[(r)->act].name, (r)->arg, (r)->timeout_ms ? (r)->timeout_ms : CHAOS_TIMEOUT_MS, \
		outcome_names[(r)->outcome], (r)->msg ? " \"" : "", (r)->msg ? (r)->msg : "",   \
		(r)->msg ? "\"" : ""

static void judge(size_t t)
{
	struct req *r = &reqs[t];
	enum act a = (enum act)r->act;
	counts[a][r->outcome]++;
	double ms_start = (double)(r->t_start - r->t_send) / 1e6;
	double ms_answer = (double)(r->t_answer - r->t_send) / 1e6;
	int64_t deadline_ms = r->timeout_ms ? r->timeout_ms : CHAOS_TIMEOUT_MS;
	if (r->starts > 1)
		violation(V_RAN_TWICE, EX_FMT ", STARTed %u times (ENDed %u)", EX_ARGS(t, r),
			  r->starts, r->ends);
	switch (r->outcome) {
	case O_NONE:
		violation(V_NO_RESPONSE, EX_FMT ", sent %.0f ms before the end", EX_ARGS(t, r),
			  (double)(now_ns() - r->t_send) / 1e6);
		return;
	case O_DISCONNECTED:
		if (r->starts && r->t_start > r->t_answer + MS(LATE_START_MS))
			violation(V_RAN_AFTER_DISCONNECT, EX_FMT ", STARTed %.0f ms after the "
				  "disconnect", EX_ARGS(t, r),
				  (double)(r->t_start - r->t_answer) / 1e6);
		return;
	default:
		break;
	}
	if (a == A_SIBLING) {
		if (r->outcome != O_OK)
			violation(V_SIBLING, EX_FMT, EX_ARGS(t, r));
		return;
	}
	switch (r->outcome) {
	case O_BAD_RESULT:
		violation(V_BAD_RESULT, EX_FMT, EX_ARGS(t, r));
		return;
	case O_OK:
	case O_APP_ERROR:
		if ((!r->starts || !r->ends) &&
		    !(r->outcome == O_APP_ERROR && r->code != CHAOS_E_ERROR && r->code != CHAOS_E_NOMEM))
			violation(V_NOT_RUN, EX_FMT ", STARTs %u ENDs %u", EX_ARGS(t, r), r->starts,
				  r->ends);
		break;
	case O_TIMEOUT:
		if (r->starts && r->t_start > r->t_answer) {
			violation(V_STARTED_AFTER_TIMEOUT, EX_FMT " after %.0f ms, STARTed at %.0f "
				  "ms", EX_ARGS(t, r), ms_answer, ms_start);
		} else if (!r->starts && acts[a].ends && !overlaps_window(r, false) &&
			   r->t_answer - r->t_send <= MS(deadline_ms + LATE_ANSWER_MS)) {
			/* A late timeout answer means a stalled daemon or machine, which
			 * also makes instances look idle: judged only when it was on time. */
			const struct gap *g = idle_gap_within(r);
			if (g)
				violation(V_WAITED_WHILE_IDLE, EX_FMT " after %.0f ms, never started; "
					  "instance pid %d idle for %.0f ms meanwhile", EX_ARGS(t, r),
					  ms_answer, (int)g->pid, (double)(g->to - g->from) / 1e6);
		}
		break;
	case O_CRASHED:
	case O_LIMIT:
		if (!r->starts)
			violation(V_CRASH_NOT_STARTED, EX_FMT ", never STARTed", EX_ARGS(t, r));
		else if (r->ends)
			violation(V_BLAMED_COMPLETED, EX_FMT ", ENDed %.1f ms after it was sent",
				  EX_ARGS(t, r), (double)(r->t_end - r->t_send) / 1e6);
		else if (!crashes(a))
			violation(V_KILLED_IN_DEADLINE, EX_FMT ", STARTed at %.0f ms, answered at "
				  "%.0f ms", EX_ARGS(t, r), ms_start, ms_answer);
		return;
	case O_UNAVAILABLE:
		if (r->starts || !overlaps_window(r, true))
			violation(V_UNAVAILABLE, EX_FMT "%s", EX_ARGS(t, r),
				  r->starts ? ", after it STARTed" : ", no unload running");
		return;
	default:
		break;
	}
	if (!(acts[a].allowed & B(r->outcome)) ||
	    (r->outcome == O_APP_ERROR && r->code != (a == A_ERROR ? CHAOS_E_ERROR : CHAOS_E_NOMEM)))
		violation(V_WRONG_OUTCOME, EX_FMT " (code %d)", EX_ARGS(t, r), (int)r->code);
}

/* ---- the run ----------------------------------------------------------------------- */

static void copy_file(const char *from, const char *to)
{
	int in = open(from, O_RDONLY | O_CLOEXEC);
	ck_assert_msg(in >= 0, "%s: %s", from, strerror(errno));
	int out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0755);
	ck_assert_msg(out >= 0, "%s: %s", to, strerror(errno));
	struct stat st;
	ck_assert_int_eq(fstat(in, &st), 0);
	off_t off = 0;
	while (off < st.st_size)
		ck_assert_int_gt(sendfile(out, in, &off, (size_t)(st.st_size - off)), 0);
	close(in);
	ck_assert_int_eq(close(out), 0);
}

static void print_summary(double secs, long fd0, long fd1, long rss0, long rss_warm, long rss1)
{
	uint64_t by_act[A__N] = {0}, by_out[O__N] = {0}, total = 0, bad = 0;
	for (int a = 0; a < A__N; a++)
		for (int o = 0; o < O__N; o++) {
			by_act[a] += counts[a][o];
			by_out[o] += counts[a][o];
			total += counts[a][o];
		}
	printf("\n==== chaos soak: %" PRIu64 " calls in %.1f s (%.0f calls/s), %d clients x %d "
	       "in flight, seed %" PRIu64 " ====\n",
	       total, secs, (double)total / secs, opt.clients, opt.inflight, opt.seed);
	printf("%-11s %9s", "action", "calls");
	for (int o = 1; o < O__N; o++)
		printf(" %*s", o == O_CRASHED ? 14 : 11, outcome_names[o]);
	printf(" %11s\n", outcome_names[O_NONE]);
	for (int a = 0; a < A__N; a++) {
		printf("%-11s %9" PRIu64, acts[a].name, by_act[a]);
		for (int o = 1; o < O__N; o++)
			printf(" %*" PRIu64, o == O_CRASHED ? 14 : 11, counts[a][o]);
		printf(" %11" PRIu64 "\n", counts[a][O_NONE]);
	}
	printf("%-11s %9" PRIu64, "total", total);
	for (int o = 1; o < O__N; o++)
		printf(" %*" PRIu64, o == O_CRASHED ? 14 : 11, by_out[o]);
	printf(" %11" PRIu64 "\n", by_out[O_NONE]);
	printf("control: %" PRIu64 " swaps (longest drain %.0f ms), %" PRIu64
	       " unload+load (longest unload %.0f ms, load %.0f ms), %" PRIu64 " rival daemons, %"
	       PRIu64 " SIGHUPs, %" PRIu64 " status calls\n",
	       ctl.swaps, ctl.max_drain_ms, ctl.unloads, ctl.max_unload_ms, ctl.max_load_ms,
	       ctl.rivals, ctl.sighups, ctl.status_calls);
	printf("ledger: %" PRIu64 " records from %zu chaos instances, %zu idle gaps >= %d ms\n",
	       led.records, led.n_insts, led.n_gaps, IDLE_GAP_MS);
	printf("daemon: fds %ld at the start, %ld at the end; RSS %ld KiB at the start, %ld KiB "
	       "after warm-up, %ld KiB at the end (bound: +%d MiB after warm-up)\n",
	       fd0, fd1, rss0, rss_warm, rss1, RSS_BOUND_MB);
	printf("violations:\n");
	for (int v = 0; v < V__N; v++) {
		if (!viols[v].count)
			continue;
		bad += viols[v].count;
		printf("  %-24s %8" PRIu64 "  (%s)\n", viol_defs[v].name, viols[v].count,
		       viol_defs[v].what);
		for (int i = 0; i < viols[v].n_ex; i++)
			printf("      e.g. %s\n", viols[v].ex[i]);
	}
	printf("  total %" PRIu64 "\n", bad);
	fflush(stdout);
}

static bool running(int64_t t_end)
{
	return opt.calls ? n_reqs < opt.calls : now_ns() < t_end;
}

START_TEST(soak)
{
	/* Orphans of the daemon come to us: a process it failed to take down is found
	 * after it exits. */
	prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
	if (!opt.seed && getrandom(&opt.seed, sizeof(opt.seed), 0) != sizeof(opt.seed))
		opt.seed = (uint64_t)now_ns();
	rng_state = opt.seed | 1;
	ledger_open();

	struct ht_daemon d;
	ht_setup(&d, NULL,
		 "log_level = \"warn\";\n"
		 "shutdown_timeout_ms = 5000;\n"
		 "restart = { backoff_min_ms = 1; backoff_max_ms = 50; quarantine_crashes = 1000;"
		 " quarantine_window_ms = 1; };\n"
		 /* What chaos needs is in the defaults, so that a load by name and path
		  * keeps it; the instance count is chaos's own setting (finding 6). */
		 "plugin_defaults = { timeout_ms = %d; grace_ms = %d; drain_timeout_ms = %d;"
		 " max_queue = 4096;\n"
		 "  config = { ledger = \"%s\"; };\n"
		 "  sandbox = { network = true; memory = \"%dM\"; };\n};\n"
		 "plugins = (\n"
		 "  { name = \"chaos\"; path = \"%s\"; instances = %d; },\n"
		 "  { name = \"echo\"; path = \"%s\"; instances = 1; config = { };"
		 " sandbox = { network = false; memory = \"256M\"; }; }\n);\n",
		 CHAOS_TIMEOUT_MS, GRACE_MS, DRAIN_MS, led.name, MEMORY_MB, SOAK_CHAOS,
		 CHAOS_INSTANCES, HT_PLUGIN("echo"));
	snprintf(ctl.path_a, sizeof(ctl.path_a), "%s", SOAK_CHAOS);
	snprintf(ctl.path_b, sizeof(ctl.path_b), "%s/chaos_copy.so", d.dir);
	copy_file(ctl.path_a, ctl.path_b);
	/* A sanitized daemon's RSS grows with AddressSanitizer's quarantine of freed
	 * blocks (256 MiB by default) whatever the daemon does: keep it small, so that
	 * growth means memory the daemon holds. */
	const char *asan = getenv("ASAN_OPTIONS");
	char asan_opts[512];
	snprintf(asan_opts, sizeof(asan_opts), "%s%squarantine_size_mb=4", asan ? asan : "",
		 asan && *asan ? ":" : "");
	setenv("ASAN_OPTIONS", asan_opts, 1);
	ht_assert_ready(&d);
	sock_path = d.sock;
	ctl.d = &d;
	int pidfd = (int)syscall(SYS_pidfd_open, d.pid, 0);
	ck_assert_int_ge(pidfd, 0);

	struct client *cs = calloc((size_t)opt.clients, sizeof(*cs));
	ck_assert_ptr_nonnull(cs);
	for (int i = 0; i < opt.clients; i++)
		client_init(&cs[i], i);
	bh_client *admin = ht_connect(&d);
	settle(admin);
	long fd0 = count_fds(d.pid), rss0 = rss_kb(d.pid), rss_warm = -1;

	int64_t t0 = now_ns(), t_end = t0 + MS((int64_t)opt.seconds * 1000);
	int64_t t_warm = t0 + (t_end - t0) / 5, t_drain_end = 0;
	uint64_t warm_calls = opt.calls / 5;
	ck_assert_int_eq(pthread_create(&ctl.thread, NULL, control_thread, NULL), 0);
	struct pollfd *pfd = calloc((size_t)opt.clients + 2, sizeof(*pfd));
	ck_assert_ptr_nonnull(pfd);
	bool daemon_alive = true;
	int64_t t_progress = t0 + MS(30000);
	for (;;) {
		if (now_ns() >= t_progress) { /* for the long mode's operator */
			t_progress += MS(30000);
			fprintf(stderr, "soak: %zu calls in %.0f s, %zu chaos instances so far\n", n_reqs,
				(double)(now_ns() - t0) / 1e9, led.n_insts);
		}
		bool run = running(t_end);
		if (!run && !atomic_load(&ctl.stop)) {
			atomic_store(&ctl.stop, true);
			t_drain_end = now_ns() + MS(DRAIN_END_S * 1000);
		}
		if (rss_warm < 0 && (opt.calls ? n_reqs >= warm_calls : now_ns() >= t_warm))
			rss_warm = rss_kb(d.pid);
		int pending = 0;
		for (int i = 0; i < opt.clients; i++) {
			struct client *c = &cs[i];
			/* Client 0 hangs up with calls in flight every HANGUP_EVERY calls. */
			if (run && i == 0 && c->sent >= c->next_hangup) {
				if (c->next_hangup)
					client_disconnect(c);
				c->next_hangup += HANGUP_EVERY;
			}
			int room = atomic_load(&ctl.unloading) ? 0 : opt.inflight;
			while (run && c->inflight < room && running(t_end))
				client_send_one(c);
			if (!client_flush(c)) {
				violation(V_DAEMON, "client %d: the daemon closed the connection", i);
				client_disconnect(c);
			}
			pending += c->inflight;
			pfd[i] = (struct pollfd){.fd = c->fd,
						 .events = POLLIN | (c->out.len ? POLLOUT : 0)};
		}
		if (!run && pending == 0 && atomic_load(&ctl.done))
			break;
		if (!run && now_ns() > t_drain_end)
			break; /* what is left has no response: judged below */
		pfd[opt.clients] = (struct pollfd){.fd = led.fd, .events = POLLIN};
		pfd[opt.clients + 1] = (struct pollfd){.fd = pidfd, .events = POLLIN};
		int n = poll(pfd, (nfds_t)opt.clients + 2, 50);
		ck_assert_msg(n >= 0 || errno == EINTR, "poll: %s", strerror(errno));
		if (n <= 0)
			continue;
		if (pfd[opt.clients].revents)
			ledger_read();
		for (int i = 0; i < opt.clients; i++)
			if (pfd[i].revents && !client_read(&cs[i])) {
				violation(V_DAEMON, "client %d: the daemon closed the connection", i);
				client_disconnect(&cs[i]);
			}
		if (pfd[opt.clients + 1].revents) {
			daemon_alive = false;
			break;
		}
	}
	double secs = (double)(now_ns() - t0) / 1e9;
	long fd1 = -1, rss1 = -1;
	char buf[1024];
	if (!daemon_alive) {
		violation(V_DAEMON, "bulkheadd died during the soak (see its log)");
		atomic_store(&ctl.stop, true);
		pthread_join(ctl.thread, NULL);
		ht_kill9(&d);
	} else {
		pthread_join(ctl.thread, NULL);
		settle(admin);
		ledger_read();
		fd1 = count_fds(d.pid);
		rss1 = rss_kb(d.pid);
		if (fd1 > fd0)
			violation(V_FD_GROWTH, "%ld fds at the start, %ld at the end", fd0, fd1);
		if (rss_warm >= 0 && rss1 > rss_warm + RSS_BOUND_MB * 1024)
			violation(V_RSS_GROWTH, "RSS %ld KiB after warm-up, %ld KiB at the end", rss_warm,
				  rss1);
		if (scan_children(d.pid, true, buf, sizeof(buf)))
			violation(V_ZOMBIE, "%s", buf);
		bh_client_free(admin);
		admin = NULL;
		for (int i = 0; i < opt.clients; i++)
			close(cs[i].fd);
		ht_sigterm(&d);
		int st = ht_wait(&d);
		if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
			violation(V_DAEMON, "bulkheadd did not exit 0 on SIGTERM (wait status 0x%x)", st);
	}
	bh_client_free(admin);
	ledger_read(); /* what was sent before the daemon's children died */
	for (pid_t p; (p = waitpid(-1, NULL, WNOHANG)) > 0;)
		violation(V_PROCESS_LEFT, "pid %d: an orphan of the daemon, reaped by us", (int)p);
	if (scan_children(getpid(), false, buf, sizeof(buf)))
		violation(V_PROCESS_LEFT, "%s", buf);
	const char *cgs = getenv("BH_HOSTILE_CGROUPS");
	char list[2048];
	snprintf(list, sizeof(list), "%s", cgs ? cgs : "");
	for (char *save = NULL, *dir = strtok_r(list, ":", &save); dir;
	     dir = strtok_r(NULL, ":", &save)) {
		DIR *dd = opendir(dir);
		struct dirent *e;
		while (dd && (e = readdir(dd)))
			if (e->d_type == DT_DIR && e->d_name[0] != '.')
				violation(V_CGROUP_LEFT, "%s/%s", dir, e->d_name);
		if (dd)
			closedir(dd);
	}

	for (size_t t = 0; t < n_reqs; t++)
		judge(t);
	print_summary(secs, fd0, fd1, rss0, rss_warm, rss1);
	uint64_t bad = 0;
	for (int v = 0; v < V__N; v++)
		bad += viols[v].count;
	if (bad) {
		char *log = ht_read_log(&d);
		size_t len = strlen(log);
		fprintf(stderr, "---- the last 4 KiB of the bulkheadd log (%s) ----\n%s\n----\n",
			d.log, log + (len > 4096 ? len - 4096 : 0));
		free(log);
	}
	/* Removed either way: the log of a long run is no reading for a terminal. */
	ht_cleanup(&d);
	for (int i = 0; i < opt.clients; i++)
		client_done(&cs[i]);
	free(cs);
	free(pfd);
	close(pidfd);
	ck_assert_msg(bad == 0, "%" PRIu64 " violations (summary above)", bad);
}
END_TEST

static _Noreturn void usage(void)
{
	fprintf(stderr, "usage: test_soak [--seconds S | --calls N] [--clients C] [--inflight M]"
			" [--seed X] [--control-ms MS] [--examples K]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	const char *env = getenv("BH_SOAK_SECONDS");
	opt.seconds = env && *env ? atoi(env) : 60;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!v)
			usage();
		i++;
		if (!strcmp(a, "--seconds"))
			opt.seconds = atoi(v);
		else if (!strcmp(a, "--calls"))
			opt.calls = strtoull(v, NULL, 10);
		else if (!strcmp(a, "--clients"))
			opt.clients = atoi(v);
		else if (!strcmp(a, "--inflight"))
			opt.inflight = atoi(v);
		else if (!strcmp(a, "--seed"))
			opt.seed = strtoull(v, NULL, 0);
		else if (!strcmp(a, "--control-ms"))
			opt.control_ms = atoi(v);
		else if (!strcmp(a, "--examples"))
			opt.examples = atoi(v);
		else
			usage();
	}
	if (opt.seconds < 1 || opt.clients < 1 || opt.clients > 200 || opt.inflight < 1 ||
	    opt.control_ms < 100 || opt.examples < 0)
		usage();
	if (!getenv("BH_HOSTILE_CONTAINED") || getpid() != 1) {
		fprintf(stderr, "test_soak: run me through tests/hostile/contain.sh (own pid and "
				"network namespace, pids cap): the chaos plugin crashes, floods and "
				"leaks on purpose\n");
		return 2;
	}
	Suite *s = suite_create("soak");
	TCase *tc = tcase_create("soak");
	/* The run, the drain, the settling, plus its own bound (--calls: a day). */
	tcase_set_timeout(tc, opt.calls ? 86400 : opt.seconds + DRAIN_END_S + 2 * SETTLE_S + 120);
	tcase_add_test(tc, soak);
	suite_add_tcase(s, tc);
	return ht_main(s);
}
