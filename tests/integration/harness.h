/* Integration-test harness: the real bulkheadd, real shims, real plugins.
 *
 * Every test gets a private directory (mkdtemp under one base directory per test
 * binary) holding its config, the daemon's socket and the daemon's log (stderr and
 * stdout). The daemon is started with --ready-fd and the harness blocks reading
 * "READY\n" from that pipe: the only start-up synchronisation, no polling.
 *
 * Cleanup without teardown hooks: libcheck runs each test in a forked child and a
 * failed assertion _exit()s it on the spot. So the daemon is started with
 * PR_SET_PDEATHSIG = SIGKILL (it dies with the test process; its shims die with it
 * the same way), a passing test removes its own directory, and ht_main() removes the
 * base directory after the run, printing the daemon logs that failing tests left
 * behind. */
#ifndef BH_INTEG_HARNESS_H
#define BH_INTEG_HARNESS_H

#include <check.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "bulkhead/client.h"
#include "bulkhead/proto.h"

#ifndef HT_BULKHEADD
#error "HT_BULKHEADD (path of bulkheadd) must be defined by the build"
#endif
#ifndef HT_PLUGIN_DIR
#error "HT_PLUGIN_DIR (directory of the built plugins) must be defined by the build"
#endif

/* Absolute path of a built plugin, as a string literal: HT_PLUGIN("echo"). */
#define HT_PLUGIN(name) HT_PLUGIN_DIR "/" name ".so"

/* ht_main's exit status when the host cannot run the suite (ctest SKIP_RETURN_CODE). */
#define HT_SKIP 77

/* Per-test deadline (libcheck): generous, tests never depend on speed. */
#define HT_TEST_TIMEOUT 60
/* A call timeout that means "forever" but still bounds a broken test. */
#define HT_LONG_MS 30000

#define HT_PATH_MAX 256

struct ht_daemon {
	char dir[HT_PATH_MAX];  /* private temp directory, removed by ht_stop/ht_cleanup */
	char conf[HT_PATH_MAX]; /* DIR/bh.conf */
	char sock[HT_PATH_MAX]; /* DIR/bh.sock unless given to ht_setup */
	char log[HT_PATH_MAX];  /* DIR/daemon.log: its stderr and stdout */
	pid_t pid;              /* 0 when not running */
	int status;             /* wait status once reaped */
	uid_t run_uid;          /* set between ht_setup and ht_spawn: run the daemon as this
				 * uid/gid (a root test only; 0 = as the test) */
	gid_t run_gid;
};

/* ---- daemon lifecycle ---------------------------------------------------------- */

/* Create the directory and write the config: a socket group (socket_path, or
 * DIR/bh.sock when NULL) followed by the printf-formatted body (plugins, limits...).
 * `test` names the directory (use __func__). Fails the test on error. */
void ht__setup(struct ht_daemon *d, const char *test, const char *socket_path,
	       const char *fmt, ...) __attribute__((format(printf, 4, 5)));
#define ht_setup(d, sock, ...) ht__setup((d), __func__, (sock), __VA_ARGS__)

/* Start bulkheadd on d->conf and block until it writes READY. true when it did;
 * false when it exited first (then d->status holds its wait status). */
bool ht_spawn(struct ht_daemon *d);

/* ht_setup + ht_spawn, failing the test (with the log) unless READY. */
#define ht_start(d, ...)                                                                   \
	do {                                                                               \
		ht__setup((d), __func__, NULL, __VA_ARGS__);                               \
		ht_assert_ready(d);                                                        \
	} while (0)
void ht_assert_ready(struct ht_daemon *d);

/* SIGTERM, wait, assert it exited 0 and removed its socket, remove the directory. */
void ht_stop(struct ht_daemon *d);
/* Send SIGTERM (nothing else). */
void ht_sigterm(struct ht_daemon *d);
/* Wait for the daemon to exit (any reason); returns the wait status. */
int ht_wait(struct ht_daemon *d);
/* SIGKILL and reap. */
void ht_kill9(struct ht_daemon *d);
/* Remove the directory (the daemon must be gone). */
void ht_cleanup(struct ht_daemon *d);

/* The daemon's log so far, NUL-terminated; free() it. Never NULL. */
char *ht_read_log(const struct ht_daemon *d);
/* True when the log contains needle. */
bool ht_log_has(const struct ht_daemon *d, const char *needle);

/* CLOCK_MONOTONIC in milliseconds, for deadlines. */
int64_t ht_now_ms(void);

/* CPU time (user + system) process pid has used, in milliseconds. */
uint64_t ht_cpu_ms(pid_t pid);

/* In a suite run with CK_FORK=no: report SKIP with the reason and exit 77 (ctest's
 * SKIP_RETURN_CODE). The case's daemon must be gone. */
_Noreturn void ht_skip(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Run a test binary's suite: base directory, run, report leftovers. Returns the exit
 * status for main(). */
int ht_main(Suite *s);

/* A test case with the harness's timeout. */
TCase *ht_tcase(const char *name);

/* A suite of one case per process (a ctest entry per case, SUITE CASE [ARGS]): run the
 * case argv[1] names, or all of them without argv[1], without forking, so that a case
 * may report SKIP through ht_skip and change its own process (mount namespace,
 * identity). timeout_s 0 keeps the harness's timeout. Returns ht_main's status. */
struct ht_case {
	const char *name;
	const TTest *test;
};
int ht_main_cases(const char *suite, const struct ht_case *cases, size_t n, unsigned timeout_s,
		  int argc, char **argv);

/* ---- the client SDK --------------------------------------------------------------- */

/* Connect with the client library; fails the test on error. */
bh_client *ht_connect(const struct ht_daemon *d);

/* Integer params for the helpers below: HT_INTS(1, 2) expands to "array, count".
 * No params at all: pass NULL, 0. */
#define HT_INTS(...)                                                                       \
	(const int64_t[]){__VA_ARGS__}, sizeof((const int64_t[]){__VA_ARGS__}) / sizeof(int64_t)

/* bh_call with params [ints...]. */
int ht_call_ints(bh_client *c, const char *method, int timeout_ms, bh_result **ret,
		 bh_error *err, const int64_t *v, size_t n);
/* bh_call with params [str]. */
int ht_call_str(bh_client *c, const char *method, int timeout_ms, bh_result **ret,
		bh_error *err, const char *s);
/* A call with params [ints...] that must succeed with an integer: its value. */
int64_t ht_call_int_ok(bh_client *c, const char *method, const int64_t *v, size_t n);

/* The call failed with `code` and its message contains `substr` (may be NULL). */
#define ht_assert_err(rc, err, want, substr)                                               \
	do {                                                                               \
		int rc_ = (rc);                                                            \
		ck_assert_msg(rc_ == -(want) && (err).code == (want),                      \
			      "want error %s (%d), got rc %d code %s (%d): %s",            \
			      bh_code_name(want), (int)(want), rc_, bh_code_name((err).code), \
			      (int)(err).code, (err).message);                             \
		ck_assert_msg(ht_has((err).message, (substr)),                            \
			      "error message \"%s\" lacks \"%s\"", (err).message,      \
			      ht_or_empty(substr));                                        \
	} while (0)

/* True when needle is NULL or occurs in s. */
bool ht_has(const char *s, const char *needle);
const char *ht_or_empty(const char *s);

#define ht_assert_ok(rc, err)                                                              \
	do {                                                                               \
		int rc_ = (rc);                                                            \
		ck_assert_msg(rc_ == 0, "call failed: rc %d, %s (%d): %s", rc_,            \
			      bh_code_name((err).code), (int)(err).code, (err).message);  \
	} while (0)

/* Drive several clients until none has a call outstanding (fails the test after
 * deadline_ms). */
void ht_run_clients(bh_client **cs, size_t n, int deadline_ms);

/* One asynchronous call's outcome (bh_call_start with ht_outcome_cb). */
struct ht_outcome {
	int answered;      /* how many times: must end at exactly 1 */
	uint64_t order;    /* when: 1 for the first outcome of the process, 2 next... */
	int32_t code;      /* 0: no error */
	char message[BH_ERROR_MESSAGE_MAX];
	bool is_int;       /* the result was an integer: value */
	int64_t value;
};
void ht_outcome_cb(void *userdata, uint32_t msgid, const bh_value *result, const bh_error *err);
/* Start method(v[0..n)) with the outcome going to o. */
void ht_start_ints(bh_client *c, const char *method, int timeout_ms, struct ht_outcome *o,
		   const int64_t *v, size_t n);
/* The int result of a call that must have succeeded once. */
int64_t ht_outcome_int(const struct ht_outcome *o, const char *what);
/* The call must have failed once with code. */
void ht_outcome_failed(const struct ht_outcome *o, int32_t code, const char *what);

/* ---- decoded values --------------------------------------------------------------- */

/* An encoded value and its decoded tree, built with a writer. */
struct ht_value {
	struct bh_buf buf;
	struct bh_arena arena;
	bh_writer w;
	const bh_value *v; /* after ht_value_seal */
};
void ht_value_init(struct ht_value *hv);
/* Decode what was written (exactly one value); fails the test otherwise. */
const bh_value *ht_value_seal(struct ht_value *hv);
void ht_value_done(struct ht_value *hv);

/* map[key], failing the test when absent. */
const bh_value *ht_get(const bh_value *map, const char *key);
uint64_t ht_get_uint(const bh_value *map, const char *key);
/* True when map[key] is the string want. */
bool ht_get_str_is(const bh_value *map, const char *key, const char *want);
/* True when v is a string containing needle. */
bool ht_str_has(const bh_value *v, const char *needle);
/* Copy a string value into buf (truncated, NUL-terminated); "" when not a string. */
const char *ht_str(const bh_value *v, char *buf, size_t len);

/* bulkhead.status; free with bh_result_free. */
bh_result *ht_status(bh_client *c);
/* The plugins[] entry named name, or NULL. */
const bh_value *ht_status_plugin(const bh_value *status, const char *name);
/* Host pid of instance i of a plugin, from bulkhead.status (a plugin's own getpid()
 * is its pid namespace's). Fails the test when there is no such instance. */
uint64_t ht_instance_pid(bh_client *c, const char *plugin, uint32_t i);
/* True while pid exists (zombies included). */
bool ht_pid_alive(uint64_t pid);

/* ---- raw sockets: hand-made bytes, hand-read responses ---------------------------- */

struct ht_raw {
	int fd;
	struct bh_buf in;
	size_t used; /* bytes of `in` that the last reply occupied (dropped on next read) */
	struct bh_arena arena;
	struct bh_limits limits;
};

struct ht_reply {
	bool msgid_nil;
	uint32_t msgid;
	int32_t code; /* 0: success */
	char name[64];
	char message[BH_ERROR_MESSAGE_MAX];
	const bh_value *result; /* valid until the next ht_raw_recv */
};

void ht_raw_open(struct ht_raw *r, const struct ht_daemon *d);
void ht_raw_close(struct ht_raw *r);
/* Write all bytes. 0, or -errno (EPIPE/ECONNRESET when the daemon hung up). */
int ht_raw_send(struct ht_raw *r, const void *p, size_t n);
/* Block for one response. 1 and *ret, 0 at end of file. Fails the test on anything
 * that is not a well-formed response. */
int ht_raw_recv(struct ht_raw *r, struct ht_reply *ret);
/* Block for one message of any kind (a notification too). 1 and *ret (valid until
 * the next receive), 0 at end of file. */
int ht_raw_recv_any(struct ht_raw *r, const bh_value **ret);
/* Read until end of file, failing the test if more responses arrive. */
void ht_raw_expect_eof(struct ht_raw *r);

/* Append [0, msgid, method, [ints...]] to out, with {"timeout_ms": t} when t > 0. */
void ht_req_ints(struct bh_buf *out, uint32_t msgid, const char *method, int timeout_ms,
		 const int64_t *v, size_t n);
/* Append [0, msgid, method, [s]]. */
void ht_req_str(struct bh_buf *out, uint32_t msgid, const char *method, const char *s);

/* ---- the `ver` test plugins (plugins/ver.c): answers [letter, born, extra?] ---------- */

struct ht_ver {
	char letter;   /* the version: 'A', 'B', ... */
	int64_t born;  /* the instance's start time: tells instances apart */
	int64_t extra; /* incr: the count; slow: ms */
};

/* true and *ret when v is a ver answer. */
bool ht_ver_parse(const bh_value *v, struct ht_ver *ret);
/* A call without params that must succeed with a ver answer. */
struct ht_ver ht_call_ver(bh_client *c, const char *method);

#endif
