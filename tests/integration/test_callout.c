/* Integration: plugins that call out (README "Calling out") — plugin -> plugin, chains
 * that re-enter the instance waiting in them, the depth cap, grants, deadlines that
 * flow down and abandon what a finished call started, a callee that crashes or hangs,
 * control methods from a plugin. Plugins: examples/plugins/callout.c and echo.c. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bulkhead/bulk.h"
#include "harness.h"

#define CALLOUT HT_PLUGIN("callout")
#define ECHO HT_PLUGIN("echo")

/* a may call b, itself, echo and the status; b may call a; nogrant nothing. One
 * instance each: a call that should re-enter a waiting instance but went to the queue
 * instead would wait for that very instance, and time out. */
#define CONF_ECHO(a_extra, echo_extra, limits)                                            \
	"plugins = (\n"                                                                    \
	"  { name = \"a\"; path = \"" CALLOUT "\"; timeout_ms = 20000;\n"                  \
	"    calls = [ \"b\", \"a.*\", \"echo.crash\", \"echo.hang\", \"echo.sleep_ms\",\n"   \
	"              \"app.*\", \"bulkhead.status\", \"bulkhead.unload\" ]; " a_extra " },\n" \
	"  { name = \"b\"; path = \"" CALLOUT "\"; timeout_ms = 20000; calls = [ \"a\", \"echo\" ]; },\n" \
	"  { name = \"echo\"; path = \"" ECHO "\"; " echo_extra " },\n"                     \
	"  { name = \"nogrant\"; path = \"" CALLOUT "\"; }\n"                              \
	");\n" limits
#define CONF(a_extra, limits) CONF_ECHO(a_extra, "timeout_ms = 20000;", limits)

static void params_strs_int(bh_writer *w, const char *const *s, size_t n, int64_t tail)
{
	bh_write_array(w, (uint32_t)n + (tail >= 0));
	for (size_t i = 0; i < n; i++)
		bh_write_cstr(w, s[i]);
	if (tail >= 0)
		bh_write_int(w, tail);
}

/* method(strs..., tail) where tail < 0 is left out. */
static int call_strs(bh_client *c, const char *method, int timeout_ms, bh_result **res,
		     bh_error *err, const char *const *s, size_t n, int64_t tail)
{
	params_strs_int(bh_client_params(c), s, n, tail);
	return bh_call(c, method, timeout_ms, res, err);
}
#define STRS(...) (const char *const[]){__VA_ARGS__}, \
	sizeof((const char *const[]){__VA_ARGS__}) / sizeof(const char *)

static int64_t int_of(const bh_result *r)
{
	int64_t v = -1;
	ck_assert_int_eq(bh_value_get_int(bh_result_value(r), &v), 0);
	return v;
}

static int64_t counter(bh_client *c, const char *plugin)
{
	char m[64];
	snprintf(m, sizeof(m), "%s.counter", plugin);
	return ht_call_int_ok(c, m, NULL, 0);
}

/* a.try(target, args...): the code of the call out's failure, 0 when it succeeded. */
static int64_t try_code(bh_client *c, const char *const *s, size_t n, int64_t tail,
			char *msg, size_t msg_len)
{
	bh_result *res;
	bh_error err;
	ht_assert_ok(call_strs(c, "a.try", HT_LONG_MS, &res, &err, s, n, tail), err);
	const bh_value *v = bh_result_value(res);
	int64_t code = 0;
	const bh_value *cv = bh_value_find(v, "code");
	if (cv) {
		ck_assert_int_eq(bh_value_get_int(cv, &code), 0);
		if (msg)
			ht_str(bh_value_find(v, "message"), msg, msg_len);
	}
	bh_result_free(res);
	return code;
}

/* Params of 64 KiB and more, which go to an instance as a bulk reference when a client
 * sends them, travel inline when a plugin calls out (its request carries options after
 * them): b relays 256 KiB to echo and gets them back byte-exact. */
START_TEST(large_params_call_out)
{
	struct ht_daemon d;
	ht_start(&d, CONF("", ""));
	bh_client *c = ht_connect(&d);
	enum { SIZE = 256 * 1024 };
	uint8_t *blob = malloc(SIZE);
	ck_assert_ptr_nonnull(blob);
	for (size_t i = 0; i < SIZE; i++)
		blob[i] = (uint8_t)(i * 29 + 3);
	bh_writer *w = bh_client_params(c);
	bh_write_array(w, 2);
	bh_write_cstr(w, "echo.echo");
	bh_write_bin(w, blob, SIZE);
	bh_result *res;
	bh_error err;
	ht_assert_ok(bh_call(c, "b.relay", HT_LONG_MS, &res, &err), err);
	const bh_value *v = bh_result_value(res);
	ck_assert_int_eq(v->type, BH_BIN);
	ck_assert_uint_eq(v->len, SIZE);
	ck_assert(memcmp(v->as.bin, blob, SIZE) == 0);
	bh_result_free(res);
	free(blob);
	bh_client_free(c);
	ht_stop(&d);
}
END_TEST

START_TEST(plugin_calls_plugin)
{
	struct ht_daemon d;
	ht_start(&d, CONF("", ""));
	bh_client *c = ht_connect(&d);
	bh_result *res;
	bh_error err;
	/* a -> b.bump(5): b's state changes, a returns b's result. */
	ht_assert_ok(call_strs(c, "a.relay", HT_LONG_MS, &res, &err, STRS("b.bump"), 5), err);
	ck_assert_int_eq(int_of(res), 5);
	bh_result_free(res);
	ck_assert_int_eq(counter(c, "b"), 5);
	ck_assert_int_eq(counter(c, "a"), 0);
	/* What the plugin wrote before calling out survives the wait. */
	ht_assert_ok(call_strs(c, "a.wrap", HT_LONG_MS, &res, &err, STRS("b.bump"), 2), err);
	const bh_value *v = bh_result_value(res);
	ck_assert_uint_eq(v->len, 3);
	int64_t x0, x1, x2;
	bh_value_get_int(bh_value_at(v, 0), &x0);
	bh_value_get_int(bh_value_at(v, 1), &x1);
	bh_value_get_int(bh_value_at(v, 2), &x2);
	ck_assert(x0 == 2 && x1 == 7 && x2 == 2);
	bh_result_free(res);
	/* The status shows the grants and counts the calls out. */
	bh_result *st = ht_status(c);
	const bh_value *a = ht_status_plugin(bh_result_value(st), "a");
	const bh_value *g = ht_get(a, "grants");
	ck_assert_uint_eq(ht_get(g, "calls")->len, 8);
	ck_assert_uint_eq(ht_get_uint(g, "calls_made"), 2);
	ck_assert_uint_eq(ht_get(ht_get(ht_status_plugin(bh_result_value(st), "nogrant"),
				       "grants"), "calls")->len, 0);
	bh_result_free(st);
	bh_client_free(c);
	ht_stop(&d);
}
END_TEST

START_TEST(chain_reenters_the_waiting_instance)
{
	struct ht_daemon d;
	ht_start(&d, CONF("", ""));
	bh_client *c = ht_connect(&d);
	bh_result *res;
	bh_error err;
	/* a -> b -> a.bump: with one instance of a, which waits for b, only re-entering
	 * that very instance can answer; it sees and changes a's state. */
	ht_assert_ok(call_strs(c, "a.relay", HT_LONG_MS, &res, &err,
			       STRS("b.relay", "a.bump"), 3), err);
	ck_assert_int_eq(int_of(res), 3);
	bh_result_free(res);
	ck_assert_int_eq(counter(c, "a"), 3);
	/* a -> a -> a -> a: chain(3) bumps at every level, the bottom returns the counter
	 * (3 + 3), every level adds one on the way up. */
	bh_writer *w = bh_client_params(c);
	bh_write_array(w, 2);
	bh_write_int(w, 3);
	bh_write_cstr(w, "a.chain");
	ht_assert_ok(bh_call(c, "a.chain", HT_LONG_MS, &res, &err), err);
	ck_assert_int_eq(int_of(res), 3 + 3 + 3);
	bh_result_free(res);
	ck_assert_int_eq(counter(c, "a"), 6);
	bh_client_free(c);
	ht_stop(&d);
}
END_TEST

START_TEST(depth_cap_stops_a_cycle)
{
	struct ht_daemon d;
	ht_start(&d, CONF("", "limits = { max_call_depth = 3; };\n"));
	bh_client *c = ht_connect(&d);
	/* Depth 1 and 2 are fine. */
	ck_assert_int_eq(try_code(c, STRS("a.try", "a.counter"), -1, NULL, 0), 0);
	/* a.try -> a.try -> a.try -> a.counter: the fourth level is refused, and the
	 * innermost try says so; the levels above pass it up as results. */
	bh_result *res;
	bh_error err;
	ht_assert_ok(call_strs(c, "a.try", HT_LONG_MS, &res, &err,
			       STRS("a.try", "a.try", "a.try", "a.counter"), -1), err);
	const bh_value *v = bh_result_value(res);
	for (int level = 0; level < 3; level++)
		v = ht_get(v, "result");
	ck_assert_uint_eq(ht_get_uint(v, "code"), BH_E_CHAIN_TOO_DEEP);
	ck_assert(ht_str_has(ht_get(v, "message"), "limits.max_call_depth 3"));
	bh_result_free(res);
	/* A cycle a -> a -> ... ends at the cap with an error, not a hang. */
	bh_writer *w = bh_client_params(c);
	bh_write_array(w, 2);
	bh_write_int(w, 1000);
	bh_write_cstr(w, "a.chain");
	int rc = bh_call(c, "a.chain", HT_LONG_MS, &res, &err);
	ck_assert_int_ne(rc, 0);
	ck_assert_msg(strstr(err.message, "max_call_depth"), "%s", err.message);
	/* And everything still serves. */
	ck_assert_int_eq(counter(c, "b"), 0);
	bh_client_free(c);
	ht_stop(&d);
}
END_TEST

START_TEST(grants_are_required)
{
	struct ht_daemon d;
	ht_start(&d, CONF("", ""));
	bh_client *c = ht_connect(&d);
	bh_result *res;
	bh_error err;
	/* nogrant has no calls at all. */
	ht_assert_ok(call_strs(c, "nogrant.try", HT_LONG_MS, &res, &err, STRS("b.counter"), -1),
		     err);
	ck_assert_uint_eq(ht_get_uint(bh_result_value(res), "code"), BH_E_PERMISSION_DENIED);
	ck_assert(ht_str_has(ht_get(bh_result_value(res), "message"),
			     "plugin nogrant may not call b.counter"));
	bh_result_free(res);
	char msg[BH_ERROR_MESSAGE_MAX];
	/* a has echo.crash but not echo.ping; no callback grant. */
	ck_assert_int_eq(try_code(c, STRS("echo.ping"), -1, msg, sizeof(msg)),
			 BH_E_PERMISSION_DENIED);
	ck_assert_int_eq(try_code(c, STRS("nosuch.x"), -1, msg, sizeof(msg)),
			 BH_E_PERMISSION_DENIED);
	ck_assert_int_eq(try_code(c, STRS("b.nosuch"), -1, msg, sizeof(msg)),
			 BH_E_UNKNOWN_METHOD);
	/* Calling the caller needs its own grant. */
	ck_assert_int_ne(call_strs(c, "a.caller", HT_LONG_MS, &res, &err, STRS("ask"), -1), 0);
	ck_assert_msg(strstr(err.message, "may not call its caller"), "%s", err.message);
	bh_client_free(c);
	ht_stop(&d);
}
END_TEST


/* ---- deadlines, failures of the callee ---- */

/* An echo instance's exits by cause (status "exits"), 0 when none. */
static uint64_t echo_exits(bh_client *c, const char *cause)
{
	bh_result *st = ht_status(c);
	const bh_value *exits = ht_get(ht_status_plugin(bh_result_value(st), "echo"), "exits");
	const bh_value *n = bh_value_find(exits, cause);
	uint64_t v = 0;
	if (n)
		bh_value_get_uint(n, &v);
	bh_result_free(st);
	return v;
}

START_TEST(callee_crash_and_hang_are_errors)
{
	struct ht_daemon d;
	ht_start(&d, CONF_ECHO("", "timeout_ms = 300; grace_ms = 100;", ""));
	bh_client *c = ht_connect(&d);
	char msg[BH_ERROR_MESSAGE_MAX];
	ck_assert_int_eq(try_code(c, STRS("echo.crash"), -1, msg, sizeof(msg)),
			 BH_E_PLUGIN_CRASHED);
	ck_assert_msg(strstr(msg, "SIGSEGV"), "%s", msg);
	ck_assert_int_eq(try_code(c, STRS("echo.hang"), -1, msg, sizeof(msg)), BH_E_TIMEOUT);
	/* The caller is unharmed: same instance, same state. */
	ck_assert_int_eq(counter(c, "a"), 0);
	bh_client_free(c);
	ht_stop(&d);
}
END_TEST

START_TEST(deadline_flows_down)
{
	struct ht_daemon d;
	/* echo's own deadline is long; the call a makes gets what is left of a's. */
	ht_start(&d, CONF_ECHO("", "timeout_ms = 600000; grace_ms = 100;", ""));
	bh_client *c = ht_connect(&d);
	bh_result *res;
	bh_error err;
	ht_assert_err(call_strs(c, "a.relay", 300, &res, &err, STRS("echo.sleep_ms"), 600000), err,
		      BH_E_TIMEOUT, NULL);
	/* The caller gave up at once: a answers again. */
	ck_assert_int_eq(counter(c, "a"), 0);
	/* echo's call had a's deadline, not its own 10 minutes: past it and its grace
	 * the instance running it is killed. */
	bh_client *w = ht_connect(&d);
	ht_assert_ok(call_strs(w, "echo.sleep_ms", HT_LONG_MS, &res, &err, NULL, 0, 1), err);
	bh_result_free(res);
	ck_assert_uint_eq(echo_exits(c, "deadline"), 1);
	bh_client_free(w);
	bh_client_free(c);
	ht_stop(&d);
}
END_TEST

/* Start b.relay("echo.sleep_ms", ms) on x and return once b waits for echo. */
static void start_b_waiting(bh_client *x, bh_client *probe, struct ht_outcome *o, int64_t ms)
{
	bh_writer *w = bh_client_params(x);
	bh_write_array(w, 2);
	bh_write_cstr(w, "echo.sleep_ms");
	bh_write_int(w, ms);
	ck_assert_int_eq(bh_call_start(x, "b.relay", HT_LONG_MS, ht_outcome_cb, o, NULL), 0);
	for (;;) {
		ck_assert_int_ge(bh_client_step(x), 0);
		bh_result *st = ht_status(probe);
		const bh_value *b = ht_status_plugin(bh_result_value(st), "b");
		uint64_t made = ht_get_uint(ht_get(b, "grants"), "calls_made");
		bh_result_free(st);
		if (made >= 1)
			return;
	}
}

START_TEST(abandoned_calls_never_start)
{
	struct ht_daemon d;
	ht_start(&d, CONF("", ""));
	bh_client *x = ht_connect(&d), *y = ht_connect(&d);
	/* x's chain holds b: b waits for echo.sleep_ms. Then y's chain calls b.bump: it
	 * waits for b behind x's chain, and y gives up first. */
	struct ht_outcome ox = {0};
	start_b_waiting(x, y, &ox, 1500);
	bh_result *res;
	bh_error err;
	ht_assert_err(call_strs(y, "a.relay", 300, &res, &err, STRS("b.bump"), 1), err,
		      BH_E_TIMEOUT, NULL);
	bh_client *cs[] = {x};
	ht_run_clients(cs, 1, HT_LONG_MS);
	ck_assert_int_eq(ht_outcome_int(&ox, "b.relay"), 1500);
	/* Abandoned before it started: it never ran. */
	ck_assert_int_eq(counter(y, "b"), 0);
	bh_client_free(x);
	bh_client_free(y);
	ht_stop(&d);
}
END_TEST

START_TEST(control_methods_from_a_plugin)
{
	struct ht_daemon d;
	ht_start(&d, CONF("", ""));
	bh_client *c = ht_connect(&d);
	bh_result *res;
	bh_error err;
	ht_assert_ok(call_strs(c, "a.relay", HT_LONG_MS, &res, &err, STRS("bulkhead.status"), -1),
		     err);
	ck_assert_ptr_nonnull(ht_status_plugin(bh_result_value(res), "b"));
	bh_result_free(res);
	char msg[BH_ERROR_MESSAGE_MAX];
	/* Granted by name, still not for a plugin: admin methods check a client's uid. */
	ck_assert_int_eq(try_code(c, STRS("bulkhead.unload", "b"), -1, msg, sizeof(msg)),
			 BH_E_PERMISSION_DENIED);
	ck_assert_int_eq(counter(c, "b"), 0);
	bh_client_free(c);
	ht_stop(&d);
}
END_TEST

/* ---- clients that serve: callbacks and host services, over raw sockets ---- */

static void raw_request(struct ht_raw *r, uint32_t msgid, const char *method,
			void (*params)(bh_writer *w, const void *arg), const void *arg)
{
	struct bh_buf out;
	bh_writer w;
	bh_buf_init(&out, 0);
	bh_writer_init(&w, &out);
	bh_write_array(&w, 4);
	bh_write_uint(&w, 0);
	bh_write_uint(&w, msgid);
	bh_write_cstr(&w, method);
	params(&w, arg);
	ck_assert_int_eq(ht_raw_send(r, out.data, out.len), 0);
	bh_buf_done(&out);
}

static void p_callbacks(bh_writer *w, const void *arg)
{
	(void)arg;
	bh_write_array(w, 1);
	bh_write_map(w, 1);
	bh_write_cstr(w, "callbacks");
	bh_write_bool(w, true);
}

static void p_strs(bh_writer *w, const void *arg)
{
	const char *const *s = arg;
	uint32_t n = 0;
	while (s[n])
		n++;
	bh_write_array(w, n);
	for (uint32_t i = 0; i < n; i++)
		bh_write_cstr(w, s[i]);
}

static void p_namespace(bh_writer *w, const void *arg)
{
	bh_write_array(w, 1);
	bh_write_map(w, 1);
	bh_write_cstr(w, "namespace");
	bh_write_cstr(w, arg);
}

/* A raw connection with callbacks on. */
static void raw_serving(struct ht_raw *r, const struct ht_daemon *d)
{
	struct ht_reply rep;
	ht_raw_open(r, d);
	raw_request(r, 1, "bulkhead.hello", p_callbacks, NULL);
	ck_assert_int_eq(ht_raw_recv(r, &rep), 1);
	ck_assert_int_eq(rep.code, 0);
	ck_assert(ht_get(ht_get(rep.result, "enabled"), "callbacks")->as.b);
}

/* Read the daemon's next message, which must be a request [0, cid, method, params]:
 * its cid, method checked, params returned. */
static const bh_value *raw_expect_request(struct ht_raw *r, const char *method, uint32_t *cid)
{
	const bh_value *m;
	ck_assert_int_eq(ht_raw_recv_any(r, &m), 1);
	ck_assert_uint_eq(m->len, 4);
	uint64_t type, id;
	bh_value_get_uint(bh_value_at(m, 0), &type);
	ck_assert_uint_eq(type, BH_RPC_REQUEST);
	bh_value_get_uint(bh_value_at(m, 1), &id);
	ck_assert(bh_value_str_eq(bh_value_at(m, 2), method));
	*cid = (uint32_t)id;
	return bh_value_at(m, 3);
}

static void raw_answer_str(struct ht_raw *r, uint32_t cid, const char *error, const char *result)
{
	struct bh_buf out;
	bh_writer w;
	bh_buf_init(&out, 0);
	bh_writer_init(&w, &out);
	bh_write_array(&w, 4);
	bh_write_uint(&w, BH_RPC_RESPONSE);
	bh_write_uint(&w, cid);
	if (error)
		bh_write_cstr(&w, error);
	else
		bh_write_nil(&w);
	if (result)
		bh_write_cstr(&w, result);
	else
		bh_write_nil(&w);
	ck_assert_int_eq(ht_raw_send(r, out.data, out.len), 0);
	bh_buf_done(&out);
}

START_TEST(callbacks_to_the_caller)
{
	struct ht_daemon d;
	ht_start(&d, CONF("callback = true;", ""));
	struct ht_raw r;
	raw_serving(&r, &d);
	struct ht_reply rep;
	uint32_t cid;
	/* a.caller("ask", "x"): the daemon asks this connection, a returns its answer. */
	raw_request(&r, 2, "a.caller", p_strs, (const char *const[]){"ask", "x", NULL});
	const bh_value *p = raw_expect_request(&r, "ask", &cid);
	ck_assert(p->len == 1 && bh_value_str_eq(bh_value_at(p, 0), "x"));
	raw_answer_str(&r, cid, NULL, "answer");
	ck_assert_int_eq(ht_raw_recv(&r, &rep), 1);
	ck_assert_uint_eq(rep.msgid, 2);
	ck_assert_int_eq(rep.code, 0);
	ck_assert(bh_value_str_eq(rep.result, "answer"));
	/* An error the client answers is the plugin's error, in its text. */
	raw_request(&r, 3, "a.caller", p_strs, (const char *const[]){"ask", NULL});
	raw_expect_request(&r, "ask", &cid);
	raw_answer_str(&r, cid, "no such thing", NULL);
	ck_assert_int_eq(ht_raw_recv(&r, &rep), 1);
	ck_assert_int_eq(rep.code, BH_E_PLUGIN_ERROR);
	ck_assert_msg(strstr(rep.message, "no such thing"), "%s", rep.message);
	/* A notification: it arrives before the call's response. */
	raw_request(&r, 4, "a.notify", p_strs, (const char *const[]){"progress", "half", NULL});
	const bh_value *m;
	ck_assert_int_eq(ht_raw_recv_any(&r, &m), 1);
	ck_assert_uint_eq(m->len, 3);
	ck_assert(bh_value_str_eq(bh_value_at(m, 1), "progress"));
	ck_assert(bh_value_str_eq(bh_value_at(bh_value_at(m, 2), 0), "half"));
	ck_assert_int_eq(ht_raw_recv(&r, &rep), 1);
	ck_assert(rep.msgid == 4 && rep.code == 0);
	/* A client that did not enable callbacks has no caller to call back. */
	bh_client *c = ht_connect(&d);
	bh_result *res;
	bh_error err;
	ck_assert_int_ne(call_strs(c, "a.caller", HT_LONG_MS, &res, &err, STRS("ask"), -1), 0);
	ck_assert_msg(strstr(err.message, "did not enable callbacks"), "%s", err.message);
	/* A client that leaves while a callback waits: the plugin hears it at once. */
	raw_request(&r, 5, "a.caller", p_strs, (const char *const[]){"ask", NULL});
	raw_expect_request(&r, "ask", &cid);
	ht_raw_close(&r);
	ck_assert_int_eq(counter(c, "a"), 0);
	bh_client_free(c);
	ht_stop(&d);
}
END_TEST

static void p_callbacks_and_errors(bh_writer *w, const void *arg)
{
	(void)arg;
	bh_write_array(w, 1);
	bh_write_map(w, 2);
	bh_write_cstr(w, "callbacks");
	bh_write_bool(w, true);
	bh_write_cstr(w, "notifications");
	bh_write_array(w, 1);
	bh_write_cstr(w, "bulkhead.error");
}

/* A chain a notification started has no caller: the plugin's call back fails with the
 * reason, which reaches the client as the notification's failure report. */
START_TEST(notification_chain_has_no_caller)
{
	struct ht_daemon d;
	ht_start(&d, CONF("callback = true;", ""));
	struct ht_raw r;
	struct ht_reply rep;
	ht_raw_open(&r, &d);
	raw_request(&r, 1, "bulkhead.hello", p_callbacks_and_errors, NULL);
	ck_assert_int_eq(ht_raw_recv(&r, &rep), 1);
	ck_assert_int_eq(rep.code, 0);
	struct bh_buf out;
	bh_writer w;
	bh_buf_init(&out, 0);
	bh_writer_init(&w, &out);
	bh_write_array(&w, 3);
	bh_write_uint(&w, BH_RPC_NOTIFY);
	bh_write_cstr(&w, "a.caller");
	bh_write_array(&w, 1);
	bh_write_cstr(&w, "ask");
	ck_assert_int_eq(ht_raw_send(&r, out.data, out.len), 0);
	bh_buf_done(&out);
	const bh_value *m;
	ck_assert_int_eq(ht_raw_recv_any(&r, &m), 1);
	ck_assert(m->len == 3 && bh_value_str_eq(bh_value_at(m, 1), "bulkhead.error"));
	const bh_value *e = bh_value_at(bh_value_at(m, 2), 0);
	ck_assert_msg(ht_str_has(ht_get(e, "message"), "started by a notification"),
		      "the report does not say why");
	ht_raw_close(&r);
	ht_stop(&d);
}
END_TEST

START_TEST(host_service_namespace)
{
	struct ht_daemon d;
	ht_start(&d, CONF("", ""));
	struct ht_raw p;
	struct ht_reply rep;
	ht_raw_open(&p, &d);
	/* Callbacks first. */
	raw_request(&p, 1, "bulkhead.provide", p_namespace, "app");
	ck_assert_int_eq(ht_raw_recv(&p, &rep), 1);
	ck_assert_int_eq(rep.code, BH_E_CONFLICT);
	ck_assert_msg(strstr(rep.message, "enable callbacks"), "%s", rep.message);
	ht_raw_close(&p);
	raw_serving(&p, &d);
	raw_request(&p, 2, "bulkhead.provide", p_namespace, "echo");
	ck_assert_int_eq(ht_raw_recv(&p, &rep), 1);
	ck_assert_msg(rep.code == BH_E_CONFLICT && strstr(rep.message, "a plugin has that name"),
		      "%s", rep.message);
	raw_request(&p, 3, "bulkhead.provide", p_namespace, "app");
	ck_assert_int_eq(ht_raw_recv(&p, &rep), 1);
	ck_assert_int_eq(rep.code, 0);

	/* a calls app.lookup like a plugin's method. */
	bh_client *c = ht_connect(&d);
	bh_writer *w = bh_client_params(c);
	bh_write_array(w, 2);
	bh_write_cstr(w, "app.lookup");
	bh_write_cstr(w, "k");
	struct ht_outcome o = {0};
	ck_assert_int_eq(bh_call_start(c, "a.relay", HT_LONG_MS, ht_outcome_cb, &o, NULL), 0);
	ck_assert_int_ge(bh_client_step(c), 0);
	uint32_t cid;
	const bh_value *args = raw_expect_request(&p, "app.lookup", &cid);
	ck_assert(bh_value_str_eq(bh_value_at(args, 0), "k"));
	raw_answer_str(&p, cid, NULL, "value");
	bh_client *cs[] = {c};
	ht_run_clients(cs, 1, HT_LONG_MS);
	ck_assert_int_eq(o.answered, 1);
	ck_assert_int_eq(o.code, 0);
	/* The status lists it. */
	bh_result *st = ht_status(c);
	const bh_value *prov = ht_get(bh_result_value(st), "providers");
	ck_assert(prov->len == 1 && ht_get_str_is(bh_value_at(prov, 0), "namespace", "app"));
	bh_result_free(st);

	/* The provider leaves: calls fail clearly; another connection takes over. */
	ht_raw_close(&p);
	char msg[BH_ERROR_MESSAGE_MAX];
	ck_assert_int_eq(try_code(c, STRS("app.lookup"), -1, msg, sizeof(msg)),
			 BH_E_UNKNOWN_PLUGIN);
	ck_assert_msg(strstr(msg, "host service named \"app\""), "%s", msg);
	raw_serving(&p, &d);
	raw_request(&p, 2, "bulkhead.provide", p_namespace, "app");
	ck_assert_int_eq(ht_raw_recv(&p, &rep), 1);
	ck_assert_int_eq(rep.code, 0);
	w = bh_client_params(c);
	bh_write_array(w, 1);
	bh_write_cstr(w, "app.lookup");
	ck_assert_int_eq(bh_call_start(c, "a.relay", HT_LONG_MS, ht_outcome_cb, &o, NULL), 0);
	ck_assert_int_ge(bh_client_step(c), 0);
	raw_expect_request(&p, "app.lookup", &cid);
	raw_answer_str(&p, cid, NULL, "again");
	ht_run_clients(cs, 1, HT_LONG_MS);
	ck_assert_int_eq(o.answered, 2);
	ht_raw_close(&p);
	bh_client_free(c);
	ht_stop(&d);
}
END_TEST

/* ---- operations on plugins of a chain in progress ---- */

START_TEST(swap_and_unload_during_a_chain)
{
	struct ht_daemon d;
	ht_start(&d, CONF("", ""));
	bh_client *x = ht_connect(&d), *admin = ht_connect(&d);
	bh_result *res;
	bh_error err;
	/* Swap b while it waits in a chain: the chain's call finishes on the old
	 * generation, the swap completes, nothing fails. */
	struct ht_outcome o = {0};
	start_b_waiting(x, admin, &o, 300);
	bh_writer *w = bh_client_params(admin);
	bh_write_array(w, 1);
	bh_write_cstr(w, "b");
	struct ht_outcome swap = {0};
	ck_assert_int_eq(bh_call_start(admin, "bulkhead.swap", HT_LONG_MS, ht_outcome_cb, &swap,
				       NULL), 0);
	bh_client *cs[] = {x, admin};
	ht_run_clients(cs, 2, HT_LONG_MS);
	ck_assert_int_eq(ht_outcome_int(&o, "b.relay"), 300);
	ck_assert_int_eq(swap.answered, 1);
	ck_assert_msg(swap.code == 0, "swap: %s", swap.message);
	ck_assert_int_eq(counter(x, "b"), 0);
	/* Unload b while it waits: the call in flight is answered, then b is gone. */
	memset(&o, 0, sizeof(o));
	start_b_waiting(x, admin, &o, 300);
	ht_assert_ok(call_strs(admin, "bulkhead.unload", HT_LONG_MS, &res, &err, STRS("b"), -1),
		     err);
	bh_result_free(res);
	bh_client *one[] = {x};
	ht_run_clients(one, 1, HT_LONG_MS);
	ck_assert_int_eq(ht_outcome_int(&o, "b.relay"), 300);
	ht_assert_err(call_strs(x, "b.counter", HT_LONG_MS, &res, &err, NULL, 0, -1), err,
		      BH_E_UNKNOWN_PLUGIN, NULL);
	bh_client_free(admin);
	bh_client_free(x);
	ht_stop(&d);
}
END_TEST


/* ---- the C client and Python clients serving callbacks ---- */

static int serve_ask(void *userdata, const char *method, const bh_value *params,
		     bh_writer *result, bh_error *err)
{
	int *served = userdata;
	(*served)++;
	const char *s;
	size_t len;
	if (bh_value_get_str(bh_value_at(params, 0), &s, &len) < 0)
		return bh_fail(err, BH_E_INVALID_PARAMS, "%s wants a string", method);
	char text[64];
	snprintf(text, sizeof(text), "C saw %.*s", (int)(len > 32 ? 32 : len), s);
	return bh_write_cstr(result, text);
}

START_TEST(c_client_serves_callbacks)
{
	struct ht_daemon d;
	ht_start(&d, CONF("callback = true;", ""));
	bh_client *c = ht_connect(&d);
	bh_error err;
	int served = 0;
	ck_assert_int_eq(bh_client_handle(c, "ask", serve_ask, &served), 0);
	ht_assert_ok(bh_client_enable_callbacks(c, HT_LONG_MS, &err), err);
	/* Served inside the blocking bh_call that caused it. */
	bh_result *res;
	ht_assert_ok(call_strs(c, "a.caller", HT_LONG_MS, &res, &err, STRS("ask", "x"), -1), err);
	ck_assert(bh_value_str_eq(bh_result_value(res), "C saw x"));
	bh_result_free(res);
	ck_assert_int_eq(served, 1);
	/* A method it does not serve: the plugin's error says so. */
	ck_assert_int_ne(call_strs(c, "a.caller", HT_LONG_MS, &res, &err, STRS("other"), -1), 0);
	ck_assert_msg(strstr(err.message, "other"), "%s", err.message);
	bh_client_free(c);
	ht_stop(&d);
}
END_TEST

/* A provider written as a plain msgpack-rpc session (msgpack_client.py). */
START_TEST(python_provider)
{
	struct ht_daemon d;
	ht_start(&d, CONF("", ""));
	char cmd[1024];
	snprintf(cmd, sizeof(cmd), "%s %s %s --serve 'app.lookup=\"from python\"' "
		 "--hello-callbacks --provide app --serve-until 1", HT_PYTHON, HT_MSGPACK_CLIENT,
		 d.sock);
	FILE *py = popen(cmd, "re");
	ck_assert_ptr_nonnull(py);
	char line[512];
	bool provided = false;
	while (!provided && fgets(line, sizeof(line), py))
		provided = strstr(line, "\"provided\"") != NULL;
	ck_assert_msg(provided, "msgpack_client.py did not provide app");
	bh_client *c = ht_connect(&d);
	bh_result *res;
	bh_error err;
	ht_assert_ok(call_strs(c, "a.relay", HT_LONG_MS, &res, &err, STRS("app.lookup", "k"), -1),
		     err);
	ck_assert(bh_value_str_eq(bh_result_value(res), "from python"));
	bh_result_free(res);
	bool request = false;
	while (fgets(line, sizeof(line), py))
		request |= strstr(line, "\"request\": \"app.lookup\"") != NULL;
	ck_assert(request);
	ck_assert_int_eq(pclose(py), 0);
	bh_client_free(c);
	ht_stop(&d);
}
END_TEST

/* pynvim's session, unmodified, serving a callback and a notification
 * (pynvim_callbacks.py). */
START_TEST(pynvim_serves_callbacks)
{
	struct ht_daemon d;
	ht_start(&d, CONF("callback = true;", ""));
	char cmd[1024];
	snprintf(cmd, sizeof(cmd), "%s %s %s", HT_PYTHON, HT_PYNVIM_CALLBACKS, d.sock);
	int st = system(cmd);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0,
		      "pynvim_callbacks.py failed (status %d)", st);
	ht_stop(&d);
}
END_TEST

/* 77 with the reason when python3 or the module lacks. */
static int need_python(const char *module, const char *package)
{
	char cmd[256];
	if (access(HT_PYTHON, X_OK) < 0) {
		printf("SKIP: no %s\n", HT_PYTHON);
		return HT_SKIP;
	}
	snprintf(cmd, sizeof(cmd), "%s -c 'import %s' 2>/dev/null", HT_PYTHON, module);
	if (system(cmd) != 0) {
		printf("SKIP: %s has no %s module (Debian: %s)\n", HT_PYTHON, module, package);
		return HT_SKIP;
	}
	return 0;
}

static int python_main(bool pynvim)
{
	int r = pynvim ? need_python("pynvim.msgpack_rpc", "python3-pynvim")
		       : need_python("msgpack", "python3-msgpack");
	if (r)
		return r;
	Suite *s = suite_create(pynvim ? "integ_callout_pynvim" : "integ_callout_python");
	TCase *tc = ht_tcase("python");
	tcase_add_test(tc, pynvim ? pynvim_serves_callbacks : python_provider);
	suite_add_tcase(s, tc);
	return ht_main(s);
}

/* ---- clients that answer badly ---- */

/* A client's answer to a callback that poses as a bulk reference (the shape the shim
 * reads as "the result lies in shared memory") is refused by the daemon: the plugin
 * gets a typed error, its instance lives on. */
START_TEST(callback_answer_posing_as_bulk_reference)
{
	struct ht_daemon d;
	ht_start(&d, CONF("callback = true;", ""));
	bh_client *c = ht_connect(&d);
	uint64_t pid = ht_instance_pid(c, "a", 0);
	struct ht_raw r;
	raw_serving(&r, &d);
	struct ht_reply rep;
	uint32_t cid;
	raw_request(&r, 2, "a.caller", p_strs, (const char *const[]){"ask", NULL});
	raw_expect_request(&r, "ask", &cid);
	uint8_t msg[3 + 5 + BH_BULK_REF_SIZE] = {0x94, BH_RPC_RESPONSE, 0xce, 0, 0, 0, 0, 0xc0};
	bh_patch_u32(msg + 2, cid);
	struct bh_bulk_ref ref = {.kind = BH_BULK_AREA, .len = 1u << 20};
	bh_bulk_ref_put(msg + 8, &ref);
	ck_assert_int_eq(ht_raw_send(&r, msg, sizeof(msg)), 0);
	ck_assert_int_eq(ht_raw_recv(&r, &rep), 1);
	ck_assert_uint_eq(rep.msgid, 2);
	/* The plugin fails its call with what it heard: a code of its own. */
	ck_assert_msg(rep.code == BH_E_PLUGIN_ERROR && strstr(rep.message, "bulk reference"),
		      "%d %s", rep.code, rep.message);
	ck_assert_uint_eq(ht_instance_pid(c, "a", 0), pid);
	ck_assert_int_eq(counter(c, "a"), 0);
	ht_raw_close(&r);
	bh_client_free(c);
	ht_stop(&d);
}
END_TEST

static void p_load(bh_writer *w, const void *arg)
{
	bh_write_array(w, 2);
	bh_write_cstr(w, arg);
	bh_write_cstr(w, ECHO);
}

/* A namespace a connection provides is not taken over by a plugin loaded later under
 * that name: the load is refused, the host service keeps its calls. */
START_TEST(load_refuses_a_provided_namespace)
{
	struct ht_daemon d;
	ht_start(&d, CONF("", ""));
	struct ht_raw p;
	struct ht_reply rep;
	raw_serving(&p, &d);
	raw_request(&p, 2, "bulkhead.provide", p_namespace, "app");
	ck_assert_int_eq(ht_raw_recv(&p, &rep), 1);
	ck_assert_int_eq(rep.code, 0);
	raw_request(&p, 3, "bulkhead.provide", p_namespace, "app");
	ck_assert_int_eq(ht_raw_recv(&p, &rep), 1);
	ck_assert_msg(rep.code == BH_E_CONFLICT && strstr(rep.message, "provides it already"),
		      "%s", rep.message);
	raw_request(&p, 4, "bulkhead.load", p_load, "app");
	ck_assert_int_eq(ht_raw_recv(&p, &rep), 1);
	ck_assert_msg(rep.code == BH_E_CONFLICT && strstr(rep.message, "host service"), "%d %s",
		      rep.code, rep.message);
	/* 16 namespaces a connection, the 17th refused. */
	for (int i = 1; i <= 16; i++) {
		char ns[16];
		snprintf(ns, sizeof(ns), "ns%d", i);
		raw_request(&p, 10 + (uint32_t)i, "bulkhead.provide", p_namespace, ns);
		ck_assert_int_eq(ht_raw_recv(&p, &rep), 1);
		if (i < 16)
			ck_assert_msg(rep.code == 0, "%s: %s", ns, rep.message);
		else
			ck_assert_msg(rep.code == BH_E_CONFLICT && strstr(rep.message, "the most"),
				      "%s: %d %s", ns, rep.code, rep.message);
	}

	/* a's call of app.lookup still reaches the provider. */
	bh_client *c = ht_connect(&d);
	bh_writer *w = bh_client_params(c);
	bh_write_array(w, 1);
	bh_write_cstr(w, "app.lookup");
	struct ht_outcome o = {0};
	ck_assert_int_eq(bh_call_start(c, "a.relay", HT_LONG_MS, ht_outcome_cb, &o, NULL), 0);
	ck_assert_int_ge(bh_client_step(c), 0);
	uint32_t cid;
	raw_expect_request(&p, "app.lookup", &cid);
	raw_answer_str(&p, cid, NULL, "host");
	bh_client *cs[] = {c};
	ht_run_clients(cs, 1, HT_LONG_MS);
	ck_assert_int_eq(o.answered, 1);
	ck_assert_int_eq(o.code, 0);
	ht_raw_close(&p);
	bh_client_free(c);
	ht_stop(&d);
}
END_TEST

static void start_relay(bh_client *c, const char *plugin, const char *target,
			struct ht_outcome *o)
{
	char m[32];
	snprintf(m, sizeof(m), "%s.relay", plugin);
	bh_writer *w = bh_client_params(c);
	bh_write_array(w, 1);
	bh_write_cstr(w, target);
	ck_assert_int_eq(bh_call_start(c, m, HT_LONG_MS, ht_outcome_cb, o, NULL), 0);
	ck_assert_int_ge(bh_client_step(c), 0);
}

/* SIGTERM while chains wait: on a host service that does not answer, on a plugin that
 * hangs, and a call of another chain queued behind the waiting instance. Each call is
 * answered once, the daemon exits 0 (the sanitized build: nothing leaks). */
START_TEST(shutdown_with_chains_in_flight)
{
	struct ht_daemon d;
	ht_start(&d, CONF("", "shutdown_timeout_ms = 1000;"));
	struct ht_raw p;
	struct ht_reply rep;
	raw_serving(&p, &d);
	raw_request(&p, 2, "bulkhead.provide", p_namespace, "app");
	ck_assert_int_eq(ht_raw_recv(&p, &rep), 1);
	ck_assert_int_eq(rep.code, 0);
	bh_client *c = ht_connect(&d), *c2 = ht_connect(&d);
	struct ht_outcome o[3] = {{0}};
	start_relay(c, "a", "app.lookup", &o[0]);
	uint32_t cid;
	raw_expect_request(&p, "app.lookup", &cid);
	start_relay(c2, "b", "echo.hang", &o[1]);
	ht_start_ints(c2, "a.counter", HT_LONG_MS, &o[2], NULL, 0);
	ht_sigterm(&d);
	bh_client *cs[] = {c, c2};
	ht_run_clients(cs, 2, HT_LONG_MS);
	for (int i = 0; i < 3; i++)
		ck_assert_msg(o[i].answered == 1, "call %d answered %d times", i, o[i].answered);
	ck_assert_int_ne(o[0].code, 0);
	ck_assert_int_ne(o[1].code, 0);
	int st = ht_wait(&d);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		char *log = ht_read_log(&d);
		ck_abort_msg("bulkheadd exited with wait status 0x%x; log:\n%s", st, log);
	}
	ht_raw_close(&p);
	bh_client_free(c);
	bh_client_free(c2);
	ht_cleanup(&d);
}
END_TEST

/* A -> B -> A -> host service, and the client of A's outer call leaves while the
 * re-entered A waits for the host service: the answer to the outer call out comes
 * while a deeper one still waits. The plugin takes both in turn; its instance lives. */
START_TEST(outer_answer_while_a_nested_call_waits)
{
	struct ht_daemon d;
	ht_start(&d, CONF("", ""));
	struct ht_raw p;
	struct ht_reply rep;
	raw_serving(&p, &d);
	raw_request(&p, 2, "bulkhead.provide", p_namespace, "app");
	ck_assert_int_eq(ht_raw_recv(&p, &rep), 1);
	ck_assert_int_eq(rep.code, 0);
	bh_client *watcher = ht_connect(&d);
	uint64_t pid = ht_instance_pid(watcher, "a", 0);

	bh_client *c = ht_connect(&d);
	bh_writer *w = bh_client_params(c);
	bh_write_array(w, 3);
	bh_write_cstr(w, "b.relay");
	bh_write_cstr(w, "a.relay");
	bh_write_cstr(w, "app.lookup");
	struct ht_outcome o = {0};
	ck_assert_int_eq(bh_call_start(c, "a.relay", HT_LONG_MS, ht_outcome_cb, &o, NULL), 0);
	ck_assert_int_ge(bh_client_step(c), 0);
	uint32_t cid;
	raw_expect_request(&p, "app.lookup", &cid);
	bh_client_free(c); /* the outer call out is answered "unavailable" now */
	/* The daemon has seen the client leave once it answers another of its calls. */
	ck_assert_int_eq(ht_call_int_ok(watcher, "echo.sleep_ms", (int64_t[]){0}, 1), 0);
	raw_answer_str(&p, cid, NULL, "late");

	/* The chain unwinds on the same instance, which then takes other calls. */
	ck_assert_int_eq(counter(watcher, "a"), 0);
	ck_assert_uint_eq(ht_instance_pid(watcher, "a", 0), pid);
	ck_assert(!ht_log_has(&d, "does not wait"));
	ht_raw_close(&p);
	bh_client_free(watcher);
	ht_stop(&d);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("callout");
	TCase *tc = ht_tcase("callout");
	tcase_add_test(tc, plugin_calls_plugin);
	tcase_add_test(tc, large_params_call_out);
	tcase_add_test(tc, chain_reenters_the_waiting_instance);
	tcase_add_test(tc, depth_cap_stops_a_cycle);
	tcase_add_test(tc, grants_are_required);
	tcase_add_test(tc, callee_crash_and_hang_are_errors);
	tcase_add_test(tc, deadline_flows_down);
	tcase_add_test(tc, abandoned_calls_never_start);
	tcase_add_test(tc, control_methods_from_a_plugin);
	tcase_add_test(tc, callbacks_to_the_caller);
	tcase_add_test(tc, host_service_namespace);
	tcase_add_test(tc, notification_chain_has_no_caller);
	tcase_add_test(tc, c_client_serves_callbacks);
	tcase_add_test(tc, swap_and_unload_during_a_chain);
	tcase_add_test(tc, callback_answer_posing_as_bulk_reference);
	tcase_add_test(tc, load_refuses_a_provided_namespace);
	tcase_add_test(tc, shutdown_with_chains_in_flight);
	tcase_add_test(tc, outer_answer_while_a_nested_call_waits);
	suite_add_tcase(s, tc);
	return s;
}

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "--python") == 0)
		return python_main(false);
	if (argc > 1 && strcmp(argv[1], "--pynvim") == 0)
		return python_main(true);
	return ht_main(suite());
}
