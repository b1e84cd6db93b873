/* Integration: faults — plugins that crash, exit, hang, keep crashing or cannot
 * load; clients that send garbage, too much, or go away; overload. Every request
 * still gets exactly one response, and nobody else notices. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "harness.h"

#define ECHO_ENTRY(extra) "{ name = \"echo\"; path = \"" HT_PLUGIN("echo") "\"; " extra " }"
/* Restarts without noticeable back-off, so crash loops are quick. */
#define FAST_RESTART "restart = { backoff_min_ms = 1; backoff_max_ms = 20; };"

/* ---- helpers ------------------------------------------------------------------------ */

/* A well-behaved client's round trip: a unique value comes back. */
static void assert_good(bh_client *c, int64_t tag)
{
	bh_writer *w = bh_client_params(c);
	bh_write_array(w, 1);
	bh_write_array(w, 2);
	bh_write_cstr(w, "still fine");
	bh_write_int(w, tag);
	bh_result *res = NULL;
	bh_error err = {0};
	ht_assert_ok(bh_call(c, "echo.echo", HT_LONG_MS, &res, &err), err);
	const bh_value *v = bh_result_value(res);
	int64_t got;
	ck_assert(v->type == BH_ARRAY && v->len == 2);
	ck_assert(bh_value_str_eq(&v->as.items[0], "still fine"));
	ck_assert(bh_value_get_int(&v->as.items[1], &got) == 0 && got == tag);
	bh_result_free(res);
}

/* The host pid of the one echo instance, once it is ready. */
static uint64_t echo_pid(bh_client *c)
{
	assert_good(c, 424242);
	return ht_instance_pid(c, "echo", 0);
}

/* ---- crashes and exits --------------------------------------------------------------- */

START_TEST(crash_mid_call)
{
	struct ht_daemon d;
	ht_start(&d, "plugins = (" ECHO_ENTRY("") ");");
	bh_client *c = ht_connect(&d);
	uint64_t pid0 = echo_pid(c);

	/* The crash, with calls pipelined behind it on the same instance. */
	struct ht_outcome crash, after[4];
	ht_start_ints(c, "echo.crash", HT_LONG_MS, &crash, NULL, 0);
	ht_start_ints(c, "echo.sleep_ms", HT_LONG_MS, &after[0], HT_INTS(1));
	ht_start_ints(c, "echo.echo", HT_LONG_MS, &after[1], HT_INTS(11));
	ht_start_ints(c, "echo.sleep_ms", HT_LONG_MS, &after[2], HT_INTS(2));
	ht_start_ints(c, "echo.echo", HT_LONG_MS, &after[3], HT_INTS(13));
	ht_run_clients(&c, 1, 50000);

	ck_assert_int_eq(crash.answered, 1);
	ck_assert_msg(crash.code == BH_E_PLUGIN_CRASHED, "crash: %s: %s", bh_code_name(crash.code),
		      crash.message);
	ck_assert_msg(strstr(crash.message, "SIGSEGV") && strstr(crash.message, "signal 11"),
		      "crash message: %s", crash.message);
	/* Only the call that was running failed; the others ran on the replacement. */
	ck_assert_int_eq(ht_outcome_int(&after[0], "sleep_ms(1)"), 1);
	ck_assert_int_eq(ht_outcome_int(&after[2], "sleep_ms(2)"), 2);
	ck_assert_int_eq(ht_outcome_int(&after[1], "echo(11)"), 11);
	ck_assert_int_eq(ht_outcome_int(&after[3], "echo(13)"), 13);

	/* And a plain next call works too, on a new process. */
	uint64_t pid1 = echo_pid(c);
	ck_assert_uint_ne(pid1, pid0);
	ck_assert(!ht_pid_alive(pid0));
	bh_result *st = ht_status(c);
	const bh_value *p = ht_status_plugin(bh_result_value(st), "echo");
	ck_assert(ht_get_str_is(p, "state", "ready"));
	ck_assert_uint_ge(ht_get_uint(p, "restarts"), 1);
	ck_assert(ht_str_has(ht_get(p, "last_exit"), "SIGSEGV"));
	const bh_value *insts = ht_get(p, "instances");
	ck_assert_uint_eq(insts->len, 1);
	ck_assert_uint_eq(ht_get_uint(&insts->as.items[0], "pid"), (uint64_t)pid1);
	bh_result_free(st);
	bh_client_free(c);
	ht_stop(&d);
}
END_TEST

START_TEST(exit_mid_call)
{
	struct ht_daemon d;
	ht_start(&d, "plugins = (" ECHO_ENTRY("") ");" FAST_RESTART);
	bh_client *c = ht_connect(&d);
	bh_error err = {0};
	uint64_t pid0 = echo_pid(c);

	ht_assert_err(ht_call_ints(c, "echo.exit", HT_LONG_MS, NULL, &err, HT_INTS(3)), err,
		      BH_E_PLUGIN_CRASHED, "exited with status 3");
	uint64_t pid1 = echo_pid(c);
	ck_assert_uint_ne(pid1, pid0);
	/* Even a clean exit is a crash for the call it never answered. */
	ht_assert_err(ht_call_ints(c, "echo.exit", HT_LONG_MS, NULL, &err, HT_INTS(0)), err,
		      BH_E_PLUGIN_CRASHED, "exited with status 0");
	ck_assert_uint_ne(echo_pid(c), pid1);

	bh_result *st = ht_status(c);
	const bh_value *p = ht_status_plugin(bh_result_value(st), "echo");
	ck_assert_uint_ge(ht_get_uint(p, "restarts"), 2);
	ck_assert(ht_get_str_is(p, "state", "ready"));
	bh_result_free(st);
	bh_client_free(c);
	ht_stop(&d);
}
END_TEST

/* ---- hangs ------------------------------------------------------------------------------ */

START_TEST(hang_killed_and_replaced)
{
	struct ht_daemon d;
	ht_start(&d, "plugins = (" ECHO_ENTRY("grace_ms = 50;") ");");
	bh_client *c = ht_connect(&d);
	bh_error err = {0};
	uint64_t pid0 = echo_pid(c);

	/* The plugin never answers: 300 ms is a deadline, not a guess. */
	ht_assert_err(bh_call(c, "echo.hang", 300, NULL, &err), err, BH_E_TIMEOUT, NULL);
	/* The next call waits for the replacement if it has to. */
	assert_good(c, 1);
	uint64_t pid1 = echo_pid(c);
	ck_assert_uint_ne(pid1, pid0);
	ck_assert(!ht_pid_alive(pid0)); /* the stuck one is gone (reaped) */

	bh_result *st = ht_status(c);
	const bh_value *p = ht_status_plugin(bh_result_value(st), "echo");
	ck_assert_uint_ge(ht_get_uint(p, "restarts"), 1);
	ck_assert_msg(ht_str_has(ht_get(p, "last_exit"), "deadline"), "last_exit does not say why");
	ck_assert_uint_eq(ht_get_uint(&ht_get(p, "instances")->as.items[0], "pid"), (uint64_t)pid1);
	bh_result_free(st);
	bh_client_free(c);
	ht_stop(&d);
}
END_TEST

/* Calls queued behind a hanging call on the same instance never ran: when the stuck
 * instance is killed they are re-dispatched to its replacement, not failed. */
START_TEST(calls_behind_hang_redispatched)
{
	struct ht_daemon d;
	ht_start(&d, "plugins = (" ECHO_ENTRY("instances = 1; grace_ms = 50;") ");");
	bh_client *c = ht_connect(&d);
	bh_client *other = ht_connect(&d);
	uint64_t pid0 = echo_pid(c);

	enum { N = 6 };
	struct ht_outcome hang, behind[N], other_calls[3];
	ht_start_ints(c, "echo.hang", 300, &hang, NULL, 0);
	for (int i = 0; i < N; i++)
		ht_start_ints(c, "echo.echo", HT_LONG_MS, &behind[i], HT_INTS(1000 + i));
	/* A status call on the same connection: once it is answered, every call above
	 * has been routed to the one instance, behind the hang. */
	bh_result *st = ht_status(c);
	const bh_value *p = ht_status_plugin(bh_result_value(st), "echo");
	ck_assert_uint_eq(ht_get_uint(&ht_get(p, "instances")->as.items[0], "inflight"), N + 1);
	bh_result_free(st);
	for (int i = 0; i < 3; i++)
		ht_start_ints(other, "echo.echo", HT_LONG_MS, &other_calls[i], HT_INTS(2000 + i));

	bh_client *both[2] = {c, other};
	ht_run_clients(both, 2, 50000);
	ck_assert_int_eq(hang.answered, 1);
	ck_assert_int_eq(hang.code, BH_E_TIMEOUT);
	/* The stuck instance answers nothing, ever: these ran on its replacement. */
	for (int i = 0; i < N; i++)
		ck_assert_int_eq(ht_outcome_int(&behind[i], "a call behind the hang"), 1000 + i);
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(ht_outcome_int(&other_calls[i], "other client's call"), 2000 + i);
	st = ht_status(c);
	p = ht_status_plugin(bh_result_value(st), "echo");
	ck_assert_uint_ge(ht_get_uint(p, "restarts"), 1);
	ck_assert_uint_ne(ht_get_uint(&ht_get(p, "instances")->as.items[0], "pid"), pid0);
	bh_result_free(st);
	bh_client_free(c);
	bh_client_free(other);
	ht_stop(&d);
}
END_TEST

/* ---- plugins that cannot run ------------------------------------------------------------ */

START_TEST(quarantine_after_crashes)
{
	struct ht_daemon d;
	ht_start(&d, "plugins = (" ECHO_ENTRY("") ", { name = \"kv\"; path = \"" HT_PLUGIN("kv")
		     "\"; });"
		     "restart = { backoff_min_ms = 1; backoff_max_ms = 20; quarantine_crashes = 3; "
		     "quarantine_window_ms = 600000; };");
	bh_client *c = ht_connect(&d);
	bh_error err = {0};
	for (int i = 0; i < 3; i++)
		ht_assert_err(bh_call(c, "echo.crash", HT_LONG_MS, NULL, &err), err,
			      BH_E_PLUGIN_CRASHED, "SIGSEGV");

	bh_result *st = ht_status(c);
	const bh_value *p = ht_status_plugin(bh_result_value(st), "echo");
	char buf[300];
	ck_assert_msg(ht_get_str_is(p, "state", "quarantined"), "state %s",
		      ht_str(ht_get(p, "state"), buf, sizeof(buf)));
	ck_assert_msg(ht_str_has(ht_get(p, "last_exit"), "3 crashes"), "last_exit: %s",
		      ht_str(ht_get(p, "last_exit"), buf, sizeof(buf)));
	ck_assert_uint_eq(ht_get(p, "instances")->len, 0);
	bh_result_free(st);

	ht_assert_err(bh_call(c, "echo.ping", HT_LONG_MS, NULL, &err), err, BH_E_UNAVAILABLE,
		      "quarantined");
	ht_assert_err(bh_call(c, "echo.ping", HT_LONG_MS, NULL, &err), err, BH_E_UNAVAILABLE,
		      "quarantined");
	/* The other plugin never noticed. */
	ck_assert_int_eq(ht_call_int_ok(c, "kv.count", NULL, 0), 0);
	bh_client_free(c);
	ht_stop(&d);
}
END_TEST

/* A plugin that cannot load never becomes ready; a call waiting for it learns why. */
static void assert_load_failure(bh_client *c, const char *name, const char *state,
				const char *const *why)
{
	bh_error err = {0};
	char method[80];
	snprintf(method, sizeof(method), "%s.never", name);
	int r = bh_call(c, method, HT_LONG_MS, NULL, &err);
	ck_assert_msg(r == -BH_E_UNAVAILABLE, "%s: rc %d %s: %s", method, r, bh_code_name(err.code),
		      err.message);
	for (const char *const *w = why; *w; w++)
		ck_assert_msg(strstr(err.message, *w), "%s: \"%s\" lacks \"%s\"", method, err.message,
			      *w);

	bh_result *st = ht_status(c);
	const bh_value *p = ht_status_plugin(bh_result_value(st), name);
	ck_assert_ptr_nonnull(p);
	char buf[300];
	const char *got = ht_str(ht_get(p, "state"), buf, sizeof(buf));
	ck_assert_msg(strstr(state, got) != NULL, "%s: state %s, want %s", name, got, state);
	ck_assert_uint_eq(ht_get(p, "instances")->len, 0);
	for (const char *const *w = why; *w; w++)
		ck_assert_msg(ht_str_has(ht_get(p, "last_exit"), *w), "%s: last_exit \"%s\" lacks \"%s\"",
			      name, ht_str(ht_get(p, "last_exit"), buf, sizeof(buf)), *w);
	/* A load that cannot succeed is not retried. */
	if (strcmp(state, "failed") == 0)
		ck_assert_uint_eq(ht_get_uint(p, "restarts"), 0);
	bh_result_free(st);
}

START_TEST(load_failures)
{
	struct ht_daemon d;
	ht_start(&d, "plugins = (" ECHO_ENTRY("") ","
		     "{ name = \"abi\"; path = \"" HT_PLUGIN("bad_abi") "\"; },"
		     "{ name = \"nosym\"; path = \"" HT_PLUGIN("no_symbol") "\"; },"
		     "{ name = \"twice\"; path = \"" HT_PLUGIN("bad_methods") "\"; },"
		     "{ name = \"init\"; path = \"" HT_PLUGIN("bad_init") "\"; "
		     "  config = { message = \"no database at db.example\"; }; });"
		     "restart = { backoff_min_ms = 1; backoff_max_ms = 20; quarantine_crashes = 3; };");
	bh_client *c = ht_connect(&d);

	/* Both ABI versions are named. */
	static const char *const abi_why[] = {"ABI version 999", "supports 1", NULL};
	assert_load_failure(c, "abi", "failed", abi_why);
	static const char *const nosym_why[] = {"bulkhead_plugin", "not found", NULL};
	assert_load_failure(c, "nosym", "failed", nosym_why);
	static const char *const twice_why[] = {"twice", NULL};
	assert_load_failure(c, "twice", "failed", twice_why);
	/* init failing: the plugin's own message reaches the caller. (Whether the daemon
	 * retries it until quarantine or fails it at once is policy; either way it must
	 * never become ready.) */
	static const char *const init_why[] = {"no database at db.example", NULL};
	assert_load_failure(c, "init", "failed quarantined", init_why);

	/* The healthy plugin in the same daemon never noticed. */
	assert_good(c, 7);
	bh_result *st = ht_status(c);
	const bh_value *p = ht_status_plugin(bh_result_value(st), "echo");
	ck_assert(ht_get_str_is(p, "state", "ready"));
	ck_assert_uint_eq(ht_get_uint(p, "restarts"), 0);
	ck_assert_uint_eq(ht_get_uint(p, "errors"), 0);
	bh_result_free(st);
	bh_client_free(c);
	ht_stop(&d);
}
END_TEST

/* ---- hostile clients ----------------------------------------------------------------- */

/* Send bytes on a fresh raw connection; the daemon closes it without a word (a
 * response would have no request to answer; see test_replies.c). */
static void expect_fatal_input(const struct ht_daemon *d, const void *p, size_t n,
			       int32_t code, const char *what)
{
	struct ht_raw r;
	ht_raw_open(&r, d);
	/* The daemon may close before reading everything: EPIPE is fine here. */
	(void)ht_raw_send(&r, p, n);
	const bh_value *m;
	ck_assert_msg(ht_raw_recv_any(&r, &m) == 0, "%s: a message instead of end of file",
		      what);
	ck_assert_msg(ht_log_has(d, bh_code_name(code)), "%s: no %s in the log", what,
		      bh_code_name(code));
	ht_raw_close(&r);
}

START_TEST(hostile_client_input)
{
	struct ht_daemon d;
	ht_start(&d, "limits = { max_message = \"64K\"; };"
		     "plugins = (" ECHO_ENTRY("") ");");
	bh_client *good = ht_connect(&d);
	assert_good(good, 0);

	/* 0xc1 starts no MessagePack type. */
	static const uint8_t garbage[] = {0xc1, 0x00, 0x01};
	expect_fatal_input(&d, garbage, sizeof(garbage), BH_E_BAD_REQUEST, "0xc1");
	assert_good(good, 1);

	/* Past limits.max_message: a 100 KiB binary inside an otherwise fine request. */
	struct bh_buf big;
	bh_buf_init(&big, 0);
	bh_writer w;
	bh_writer_init(&w, &big);
	bh_write_array(&w, 4);
	bh_write_int(&w, 0);
	bh_write_uint(&w, 1);
	bh_write_cstr(&w, "echo.echo");
	bh_write_array(&w, 1);
	uint8_t *blob = calloc(1, 100 * 1024);
	bh_write_bin(&w, blob, 100 * 1024);
	free(blob);
	ck_assert_int_eq(bh_writer_error(&w), 0);
	expect_fatal_input(&d, big.data, big.len, BH_E_TOO_LARGE, "100 KiB message");
	bh_buf_done(&big);
	assert_good(good, 2);

	/* Length headers that promise what never comes. */
	static const uint8_t array32[] = {0xdd, 0xff, 0xff, 0xff, 0xff, 0x00};
	expect_fatal_input(&d, array32, sizeof(array32), BH_E_TOO_LARGE, "array32 4G");
	static const uint8_t map32[] = {0xdf, 0xff, 0xff, 0xff, 0xff};
	expect_fatal_input(&d, map32, sizeof(map32), BH_E_TOO_LARGE, "map32 4G");
	static const uint8_t str32[] = {0x94, 0x00, 0x01, 0xdb, 0xff, 0xff, 0xff, 0xff, 'a'};
	expect_fatal_input(&d, str32, sizeof(str32), BH_E_TOO_LARGE, "str32 4G");
	static const uint8_t bin32[] = {0xc6, 0x7f, 0xff, 0xff, 0xff};
	expect_fatal_input(&d, bin32, sizeof(bin32), BH_E_TOO_LARGE, "bin32 2G");
	assert_good(good, 3);

	/* A nesting bomb: 100000 arrays of one element inside each other. */
	enum { BOMB = 100000 };
	uint8_t *bomb = malloc(BOMB);
	memset(bomb, 0x91, BOMB);
	expect_fatal_input(&d, bomb, BOMB, BH_E_TOO_LARGE, "nesting bomb");
	/* ... and one that claims many elements at every level. */
	for (int i = 0; i + 3 <= BOMB; i += 3) {
		bomb[i] = 0xdc;
		bomb[i + 1] = 0xff;
		bomb[i + 2] = 0xff;
	}
	expect_fatal_input(&d, bomb, BOMB - BOMB % 3, BH_E_TOO_LARGE, "wide nesting bomb");
	free(bomb);
	assert_good(good, 4);

	/* Half a message, then gone. */
	struct ht_raw r;
	ht_raw_open(&r, &d);
	static const uint8_t half[] = {0x94, 0x00, 0x05, 0xa9, 'e', 'c', 'h'};
	ck_assert_int_eq(ht_raw_send(&r, half, sizeof(half)), 0);
	ht_raw_close(&r);
	assert_good(good, 5);

	bh_result *st = ht_status(good);
	ck_assert_uint_eq(ht_get_uint(bh_result_value(st), "pid"), (uint64_t)d.pid);
	ck_assert(ht_get_str_is(ht_status_plugin(bh_result_value(st), "echo"), "state", "ready"));
	bh_result_free(st);
	bh_client_free(good);
	ht_stop(&d);
}
END_TEST

/* Well-formed MessagePack with the wrong shape: an error for each request whose
 * msgid can be read, nothing for the rest, and the connection stays usable. */
START_TEST(bad_shapes_keep_connection)
{
	struct ht_daemon d;
	ht_start(&d, "plugins = (" ECHO_ENTRY("") ");");
	bh_client *good = ht_connect(&d);
	struct ht_raw r;
	ht_raw_open(&r, &d);
	static const uint8_t batch[] = {
		0x94, 0x00, 0x01, 0x2a, 0x90,                          /* [0,1,42,[]] */
		0x94, 0x00, 0x02, 0xa9, 'e', 'c', 'h', 'o', '.', 'e', 'c', 'h', 'o', 0xa1, 'x',
		/* [0,2,"echo.echo","x"] */
		0x92, 0x00, 0x03,                                      /* [0,3] */
		0xa5, 'h', 'e', 'l', 'l', 'o',                         /* "hello" */
		0x94, 0x01, 0x04, 0xc0, 0xc0,                          /* [1,4,nil,nil] */
		0x94, 0x07, 0x05, 0xa1, 'x', 0x90,                     /* [7,5,"x",[]] */
		0x94, 0x00, 0xff, 0xa9, 'e', 'c', 'h', 'o', '.', 'p', 'i', 'n', 'g', 0x90,
		/* [0,-1,"echo.ping",[]] */
		0x96, 0x00, 0x06, 0xa9, 'e', 'c', 'h', 'o', '.', 'p', 'i', 'n', 'g', 0x90, 0x80, 0x01,
		/* [0,6,"echo.ping",[],{},1] */
		0x95, 0x00, 0x07, 0xa9, 'e', 'c', 'h', 'o', '.', 'p', 'i', 'n', 'g', 0x90, 0xa1, 'm',
		/* [0,7,"echo.ping",[],"m"] */
		0x94, 0x00, 0xcf, 0, 0, 0, 1, 0, 0, 0, 0, 0xa9, 'e', 'c', 'h', 'o', '.', 'p', 'i',
		'n', 'g', 0x90, /* [0,2^32,"echo.ping",[]] */
		0x93, 0x02, 0xa9, 'e', 'c', 'h', 'o', '.', 'p', 'i', 'n', 'g', 0x90,
		/* notification [2,"echo.ping",[]]: no response */
		0x94, 0x00, 0x08, 0xa9, 'e', 'c', 'h', 'o', '.', 'p', 'i', 'n', 'g', 0x90,
		/* [0,8,"echo.ping",[]] */
	};
	ck_assert_int_eq(ht_raw_send(&r, batch, sizeof(batch)), 0);
	/* The three requests (4 or 5 elements, type 0, a uint32 msgid), in order. */
	static const uint32_t want_id[] = {1, 2, 7};
	struct ht_reply rep;
	for (size_t i = 0; i < sizeof(want_id) / sizeof(want_id[0]); i++) {
		ck_assert_int_eq(ht_raw_recv(&r, &rep), 1);
		ck_assert_msg(rep.code == BH_E_BAD_REQUEST, "bad message %zu: %s (%d): %s", i,
			      rep.name, (int)rep.code, rep.message);
		ck_assert_msg(!rep.msgid_nil && rep.msgid == want_id[i],
			      "bad message %zu: msgid %u, want %u", i, rep.msgid, want_id[i]);
	}
	/* The good one, and nothing for the notification. */
	ck_assert_int_eq(ht_raw_recv(&r, &rep), 1);
	ck_assert_uint_eq(rep.msgid, 8);
	ck_assert_msg(rep.code == 0, "%s", rep.message);
	ck_assert(bh_value_str_eq(rep.result, "pong"));
	struct bh_buf out;
	bh_buf_init(&out, 0);
	ht_req_ints(&out, 9, "echo.echo", 0, HT_INTS(99));
	ck_assert_int_eq(ht_raw_send(&r, out.data, out.len), 0);
	ck_assert_int_eq(ht_raw_recv(&r, &rep), 1);
	ck_assert_uint_eq(rep.msgid, 9);
	int64_t v;
	ck_assert(bh_value_get_int(rep.result, &v) == 0 && v == 99);
	bh_buf_done(&out);
	ht_raw_close(&r);
	assert_good(good, 1);
	bh_client_free(good);
	ht_stop(&d);
}
END_TEST

/* The channel's own methods ($init, $snapshot, $restore, ...) are not reachable by a
 * client, not even before the daemon has seen the plugin's method table. */
START_TEST(internal_methods_unreachable)
{
	struct ht_daemon d;
	ht_start(&d, "plugins = ({ name = \"kv\"; path = \"" HT_PLUGIN("kv") "\"; });");
	/* Straight after READY: the instance is most likely still starting. */
	struct ht_raw r;
	ht_raw_open(&r, &d);
	struct bh_buf out;
	bh_buf_init(&out, 0);
	bh_writer w;
	bh_writer_init(&w, &out);
	/* [0, 1, "kv.$restore", [1, {"injected": "by a client"}]] */
	bh_write_array(&w, 4);
	bh_write_int(&w, 0);
	bh_write_uint(&w, 1);
	bh_write_cstr(&w, "kv.$restore");
	bh_write_array(&w, 2);
	bh_write_uint(&w, 1);
	bh_write_map(&w, 1);
	bh_write_cstr(&w, "injected");
	bh_write_cstr(&w, "by a client");
	ck_assert_int_eq(bh_writer_error(&w), 0);
	ht_req_ints(&out, 2, "kv.$snapshot", 0, NULL, 0);
	ht_req_ints(&out, 3, "kv.$init", 0, NULL, 0);
	ht_req_ints(&out, 4, "kv.$stop", 0, NULL, 0);
	ht_req_ints(&out, 5, "kv.$hello", 0, NULL, 0);
	ck_assert_int_eq(ht_raw_send(&r, out.data, out.len), 0);
	bool seen[6] = {false};
	for (int i = 0; i < 5; i++) {
		struct ht_reply rep;
		ck_assert_int_eq(ht_raw_recv(&r, &rep), 1);
		ck_assert(!rep.msgid_nil && rep.msgid >= 1 && rep.msgid <= 5 && !seen[rep.msgid]);
		seen[rep.msgid] = true;
		ck_assert_msg(rep.code == BH_E_UNKNOWN_METHOD || rep.code == BH_E_BAD_REQUEST,
			      "internal method (msgid %u) answered %s (%d): %s", rep.msgid,
			      rep.code ? rep.name : "with a RESULT", (int)rep.code, rep.message);
	}
	bh_buf_done(&out);
	ht_raw_close(&r);

	bh_client *c = ht_connect(&d);
	bh_result *res = NULL;
	bh_error err = {0};
	ht_assert_ok(ht_call_str(c, "kv.get", HT_LONG_MS, &res, &err, "injected"), err);
	ck_assert_msg(bh_result_value(res)->type == BH_NIL, "a client restored plugin state");
	bh_result_free(res);
	bh_client_free(c);
	ht_stop(&d);
}
END_TEST

/* ---- clients going away, overload -------------------------------------------------- */

START_TEST(client_disconnects_in_flight)
{
	struct ht_daemon d;
	ht_start(&d, "plugins = (" ECHO_ENTRY("instances = 1; max_inflight = 1;") ");");
	bh_client *good = ht_connect(&d);
	enum { N = 10 };
	assert_good(good, -1); /* the instance is ready: from here on one call runs */

	/* N slow calls and a status call in one write: the status answer proves that
	 * the daemon has routed all of them (one running, the rest queued). */
	struct ht_raw r;
	ht_raw_open(&r, &d);
	struct bh_buf out;
	bh_buf_init(&out, 0);
	for (int i = 0; i < N; i++)
		ht_req_ints(&out, (uint32_t)i + 1, "echo.sleep_ms", 0, HT_INTS(200));
	ht_req_ints(&out, 100, "bulkhead.status", 0, NULL, 0);
	ck_assert_int_eq(ht_raw_send(&r, out.data, out.len), 0);
	struct ht_reply rep;
	ck_assert_int_eq(ht_raw_recv(&r, &rep), 1);
	ck_assert_uint_eq(rep.msgid, 100);
	const bh_value *p = ht_status_plugin(rep.result, "echo");
	ck_assert_uint_eq(ht_get_uint(p, "queued"), N - 1);
	ht_raw_close(&r); /* gone, with N calls outstanding */

	/* An SDK client that goes away with calls in flight, too. */
	bh_client *quitter = ht_connect(&d);
	struct ht_outcome q[3];
	for (int i = 0; i < 3; i++)
		ht_start_ints(quitter, "echo.sleep_ms", HT_LONG_MS, &q[i], HT_INTS(50));
	bh_client_free(quitter); /* completes them locally */
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(q[i].answered, 1);

	for (int i = 0; i < 5; i++)
		assert_good(good, i);
	bh_result *st = ht_status(good);
	p = ht_status_plugin(bh_result_value(st), "echo");
	ck_assert_uint_eq(ht_get_uint(bh_result_value(st), "clients"), 1);
	ck_assert_uint_eq(ht_get_uint(p, "queued"), 0);
	ck_assert(ht_get_str_is(p, "state", "ready"));
	/* Work for a client that is gone was dropped, not all run. */
	const bh_value *inst = &ht_get(p, "instances")->as.items[0];
	ck_assert_uint_lt(ht_get_uint(inst, "calls"), N + 3 + 5);
	ck_assert_uint_eq(ht_get_uint(p, "restarts"), 0);
	bh_result_free(st);
	bh_buf_done(&out);
	bh_client_free(good);
	ht_stop(&d);
}
END_TEST

/* A client that hangs up with a call outstanding costs the daemon nothing while the
 * call finishes (it must not spin on the hang-up). CPU time, not wall time: a correct
 * daemon uses next to none here however slow the machine. */
START_TEST(hung_up_client_no_spin)
{
	struct ht_daemon d;
	ht_start(&d, "plugins = (" ECHO_ENTRY("instances = 1;") ");");
	bh_client *good = ht_connect(&d);
	assert_good(good, 0);
	struct ht_raw r;
	ht_raw_open(&r, &d);
	struct bh_buf out;
	bh_buf_init(&out, 0);
	ht_req_ints(&out, 1, "echo.sleep_ms", 0, HT_INTS(600));
	ht_req_ints(&out, 2, "bulkhead.status", 0, NULL, 0);
	ck_assert_int_eq(ht_raw_send(&r, out.data, out.len), 0);
	struct ht_reply rep;
	ck_assert_int_eq(ht_raw_recv(&r, &rep), 1);
	ck_assert_uint_eq(rep.msgid, 2); /* the sleep is running */
	uint64_t cpu0 = ht_cpu_ms(d.pid);
	ht_raw_close(&r);
	/* Queued behind the sleep on the one instance: returns once it is over. */
	assert_good(good, 1);
	uint64_t used = ht_cpu_ms(d.pid) - cpu0;
	ck_assert_msg(used < 200, "the daemon used %llu ms of CPU waiting for a 600 ms call",
		      (unsigned long long)used);
	bh_buf_done(&out);
	bh_client_free(good);
	ht_stop(&d);
}
END_TEST

/* Send n calls in one write and collect exactly n responses, one per msgid. */
static void batch_calls(struct ht_raw *r, int n, const char *method, int64_t arg, int *ok,
			int *overloaded, char *overload_msg, size_t msg_len)
{
	struct bh_buf out;
	bh_buf_init(&out, 0);
	for (int i = 0; i < n; i++)
		ht_req_ints(&out, (uint32_t)i + 1, method, 0, HT_INTS(arg));
	ck_assert_int_eq(ht_raw_send(r, out.data, out.len), 0);
	bh_buf_done(&out);
	bool seen[256] = {false};
	ck_assert_int_lt(n, 256);
	*ok = *overloaded = 0;
	for (int i = 0; i < n; i++) {
		struct ht_reply rep;
		ck_assert_int_eq(ht_raw_recv(r, &rep), 1);
		ck_assert(!rep.msgid_nil && rep.msgid >= 1 && rep.msgid <= (uint32_t)n);
		ck_assert_msg(!seen[rep.msgid], "msgid %u answered twice", rep.msgid);
		seen[rep.msgid] = true;
		if (rep.code == BH_E_OVERLOADED) {
			++*overloaded;
			snprintf(overload_msg, msg_len, "%s", rep.message);
			continue;
		}
		ck_assert_msg(rep.code == 0, "msgid %u: %s: %s", rep.msgid, rep.name, rep.message);
		int64_t v;
		ck_assert(bh_value_get_int(rep.result, &v) == 0 && v == arg);
		++*ok;
	}
}

START_TEST(overload_queue)
{
	struct ht_daemon d;
	ht_start(&d, "plugins = (" ECHO_ENTRY("instances = 1; max_inflight = 2; max_queue = 3;")
		     ");");
	bh_client *good = ht_connect(&d);
	assert_good(good, 0);
	struct ht_raw r;
	ht_raw_open(&r, &d);
	int ok, over;
	char msg[BH_ERROR_MESSAGE_MAX] = "";
	batch_calls(&r, 12, "echo.sleep_ms", 50, &ok, &over, msg, sizeof(msg));
	/* 2 running + 3 queued fit; the rest is refused at once, not dropped. */
	ck_assert_int_ge(ok, 5);
	ck_assert_int_ge(over, 1);
	ck_assert_int_eq(ok + over, 12);
	ck_assert_msg(strstr(msg, "max_queue"), "overload message: %s", msg);
	/* The bound is on what waits, not a state: the next batch fits again. */
	batch_calls(&r, 5, "echo.sleep_ms", 1, &ok, &over, msg, sizeof(msg));
	ck_assert_int_eq(ok, 5);
	ht_raw_close(&r);
	assert_good(good, 1);
	bh_client_free(good);
	ht_stop(&d);
}
END_TEST

START_TEST(overload_client_pending)
{
	struct ht_daemon d;
	ht_start(&d, "limits = { max_client_pending = 4; };"
		     "plugins = (" ECHO_ENTRY("instances = 1;") ");");
	bh_client *good = ht_connect(&d);
	struct ht_raw r;
	ht_raw_open(&r, &d);
	int ok, over;
	char msg[BH_ERROR_MESSAGE_MAX] = "";
	batch_calls(&r, 10, "echo.sleep_ms", 50, &ok, &over, msg, sizeof(msg));
	ck_assert_int_ge(ok, 4);
	ck_assert_int_ge(over, 1);
	ck_assert_int_eq(ok + over, 10);
	ck_assert_msg(strstr(msg, "outstanding on this connection"), "overload message: %s", msg);
	/* Per connection: the other client is not limited by this one. */
	assert_good(good, 1);
	batch_calls(&r, 4, "echo.sleep_ms", 1, &ok, &over, msg, sizeof(msg));
	ck_assert_int_eq(ok, 4);
	ht_raw_close(&r);
	bh_client_free(good);
	ht_stop(&d);
}
END_TEST

/* ---- regressions ----------------------------------------------------------------- */

/* Unloading a plugin whose calls wait for an instance that is not coming back (its
 * restart is a minute away) answers them "unavailable" at once, and the daemon is
 * fine afterwards (the calls used to outlive their slot). */
START_TEST(unload_with_queued_calls)
{
	struct ht_daemon d;
	ht_start(&d, "restart = { backoff_min_ms = 60000; backoff_max_ms = 60000; };"
		     "plugins = (" ECHO_ENTRY("") ");");
	bh_client *c = ht_connect(&d);
	echo_pid(c);
	struct ht_outcome crash, queued[3], unload;
	ht_start_ints(c, "echo.crash", HT_LONG_MS, &crash, NULL, 0);
	ht_run_clients(&c, 1, 50000);
	ck_assert_int_eq(crash.code, BH_E_PLUGIN_CRASHED);
	for (int i = 0; i < 3; i++)
		ht_start_ints(c, "echo.echo", HT_LONG_MS, &queued[i], HT_INTS(i));
	/* Same connection: the daemon reads the unload after the three calls. */
	bh_writer *w = bh_client_params(c);
	bh_write_array(w, 1);
	bh_write_cstr(w, "echo");
	memset(&unload, 0, sizeof(unload));
	ck_assert_int_eq(bh_call_start(c, "bulkhead.unload", HT_LONG_MS, ht_outcome_cb, &unload, NULL),
			 0);
	ht_run_clients(&c, 1, 50000);
	for (int i = 0; i < 3; i++) {
		ck_assert_int_eq(queued[i].answered, 1);
		ck_assert_msg(queued[i].code == BH_E_UNAVAILABLE, "queued call %d: %s: %s", i,
			      bh_code_name(queued[i].code), queued[i].message);
	}
	ck_assert_int_eq(unload.answered, 1);
	ck_assert_int_eq(unload.code, 0);
	bh_result *st = ht_status(c);
	ck_assert(ht_status_plugin(bh_result_value(st), "echo") == NULL);
	bh_result_free(st);
	bh_client_free(c);
	ht_stop(&d);
}
END_TEST

/* A notification past its deadline is dropped, and the instance running it gets the
 * same grace as for a request: it is not killed at the deadline. */
START_TEST(notification_deadline_keeps_instance)
{
	struct ht_daemon d;
	ht_start(&d, "plugins = (" ECHO_ENTRY("timeout_ms = 200; grace_ms = 60000;") ");");
	bh_client *c = ht_connect(&d);
	uint64_t pid0 = echo_pid(c);
	struct ht_raw raw;
	ht_raw_open(&raw, &d);
	struct bh_buf out;
	bh_buf_init(&out, 0);
	struct bh_writer w;
	bh_writer_init(&w, &out);
	bh_write_array(&w, 3); /* [2, "echo.sleep_ms", [600]] */
	bh_write_int(&w, 2);
	bh_write_cstr(&w, "echo.sleep_ms");
	bh_write_array(&w, 1);
	bh_write_int(&w, 600);
	ck_assert_int_eq(ht_raw_send(&raw, out.data, out.len), 0);
	/* Queued behind the notification on the one instance; answered after it. */
	out.len = 0;
	ht_req_ints(&out, 7, "echo.echo", HT_LONG_MS, HT_INTS(77));
	ck_assert_int_eq(ht_raw_send(&raw, out.data, out.len), 0);
	struct ht_reply rep;
	ck_assert_int_eq(ht_raw_recv(&raw, &rep), 1);
	ck_assert_int_eq(rep.msgid, 7);
	ck_assert_msg(rep.code == 0, "echo after the notification: %s", rep.message);
	ck_assert_int_eq(ht_instance_pid(c, "echo", 0), pid0);
	bh_result *st = ht_status(c);
	ck_assert_uint_eq(ht_get_uint(ht_status_plugin(bh_result_value(st), "echo"), "restarts"), 0);
	bh_result_free(st);
	bh_buf_done(&out);
	ht_raw_close(&raw);
	bh_client_free(c);
	ht_stop(&d);
}
END_TEST

/* A daemon holding more fds than a plugin may have (idle clients: anyone allowed to
 * connect can open them) still restarts a crashed plugin: the child's fd layout does
 * not depend on the numbers the daemon's fds have. */
START_TEST(restart_with_many_clients)
{
	enum { IDLE = 300 };
	struct rlimit rl;
	ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
	if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < 2 * IDLE) {
		printf("SKIP: restart_with_many_clients: hard RLIMIT_NOFILE %llu < %d\n",
		       (unsigned long long)rl.rlim_max, 2 * IDLE);
		return;
	}
	rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > 4096 ? 4096 : rl.rlim_max;
	ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &rl), 0); /* the daemon inherits it */
	struct ht_daemon d;
	ht_start(&d, "limits = { max_clients = 400; };\nplugins = (" ECHO_ENTRY("") ");\n" FAST_RESTART);
	bh_client *c = ht_connect(&d);
	uint64_t pid0 = echo_pid(c);
	int idle[IDLE];
	for (int i = 0; i < IDLE; i++) {
		idle[i] = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		struct sockaddr_un sa = {.sun_family = AF_UNIX};
		snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", d.sock);
		ck_assert_int_eq(connect(idle[i], (struct sockaddr *)&sa, sizeof(sa)), 0);
	}
	/* Until the daemon has accepted them all: its fds now reach past 300. */
	for (uint64_t n = 0; n < IDLE + 1;) {
		bh_result *st = ht_status(c);
		n = ht_get_uint(bh_result_value(st), "clients");
		bh_result_free(st);
	}
	bh_error err = {0};
	ht_assert_err(bh_call(c, "echo.crash", HT_LONG_MS, NULL, &err), err, BH_E_PLUGIN_CRASHED,
		      "SIGSEGV");
	uint64_t pid1 = echo_pid(c);
	ck_assert_uint_ne(pid1, pid0);
	bh_result *st = ht_status(c);
	const bh_value *p = ht_status_plugin(bh_result_value(st), "echo");
	ck_assert(ht_get_str_is(p, "state", "ready"));
	bh_result_free(st);
	for (int i = 0; i < IDLE; i++)
		close(idle[i]);
	bh_client_free(c);
	ht_stop(&d);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("integ_faults");
	TCase *tc = ht_tcase("faults");
	tcase_add_test(tc, crash_mid_call);
	tcase_add_test(tc, exit_mid_call);
	tcase_add_test(tc, hang_killed_and_replaced);
	tcase_add_test(tc, calls_behind_hang_redispatched);
	tcase_add_test(tc, quarantine_after_crashes);
	tcase_add_test(tc, load_failures);
	tcase_add_test(tc, hostile_client_input);
	tcase_add_test(tc, bad_shapes_keep_connection);
	tcase_add_test(tc, internal_methods_unreachable);
	tcase_add_test(tc, client_disconnects_in_flight);
	tcase_add_test(tc, hung_up_client_no_spin);
	tcase_add_test(tc, overload_queue);
	tcase_add_test(tc, overload_client_pending);
	tcase_add_test(tc, unload_with_queued_calls);
	tcase_add_test(tc, notification_deadline_keeps_instance);
	tcase_add_test(tc, restart_with_many_clients);
	suite_add_tcase(s, tc);
	return ht_main(s);
}
