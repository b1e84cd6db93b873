/* Integration: operations on a slot (load, unload) and what happens to the calls
 * around them.
 *
 *   - an unload that finds calls re-queued from a killed instance dispatches them to
 *     the instance that is left, and returns once they are done, not at its drain
 *     deadline;
 *   - a plugin the configuration defines, unloaded and loaded again by name (with or
 *     without a path), comes back with its configured settings.
 *
 * Synchronisation is the protocol: a status call answered on the connection that
 * sent the unload shows the unload has begun; the instance's state is read from
 * bulkhead.status. Nothing here depends on time: the drain deadline is ten minutes. */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

#define ECHO_ENTRY(extra) "{ name = \"echo\"; path = \"" HT_PLUGIN("echo") "\"; " extra " }"

static void start_call(bh_client *c, const char *method, int timeout_ms, struct ht_outcome *o,
		       const char *str, const int64_t *v, size_t n)
{
	bh_writer *w = bh_client_params(c);
	bh_write_array(w, (uint32_t)n + (str != NULL));
	if (str)
		bh_write_cstr(w, str);
	for (size_t i = 0; i < n; i++)
		bh_write_int(w, v[i]);
	memset(o, 0, sizeof(*o));
	ck_assert_int_eq(bh_call_start(c, method, timeout_ms, ht_outcome_cb, o, NULL), 0);
}

static void assert_answered_ok(const struct ht_outcome *o, const char *what)
{
	ck_assert_msg(o->answered == 1, "%s answered %d times", what, o->answered);
	ck_assert_msg(o->code == 0, "%s failed: %s (%d): %s", what, bh_code_name(o->code),
		      (int)o->code, o->message);
}

/* ---- unload ---------------------------------------------------------------------------- */

/* Two instances; a hang and calls pipelined behind it on one of them (X), the other
 * (Y) idle. The unload begins, then X is killed: the calls it never started go back
 * to the queue and must run on Y, and the unload returns once they are done. With
 * a ten-minute drain deadline and twenty-second call timeouts, a queue that nobody
 * pumps shows as calls answered "timeout" and an unload that never returns. */
START_TEST(unload_dispatches_requeued_calls)
{
	struct ht_daemon d;
	ht_start(&d, "plugins = (" ECHO_ENTRY("instances = 2; drain_timeout_ms = 600000;") ");");
	bh_client *c = ht_connect(&d), *admin = ht_connect(&d);
	ck_assert_int_gt(ht_call_int_ok(c, "echo.pid", NULL, 0), 0); /* one is ready */

	enum { N = 8, CALL_MS = 20000 };
	struct ht_outcome hang, calls[N], unload;
	start_call(c, "echo.hang", HT_LONG_MS, &hang, NULL, NULL, 0);
	for (int i = 0; i < N; i++)
		start_call(c, "echo.echo", CALL_MS, &calls[i], NULL, HT_INTS(100 + i));

	/* Until the calls that went to Y are done and X has begun the hang: then exactly
	 * one instance (X) has calls in flight, one of them started (killed before it
	 * reads the hang, X would leave it to Y, where it hangs until its timeout). Every
	 * status call is a round trip behind them. */
	uint64_t x_pid = 0, x_inflight = 0, x_started = 0;
	while (!x_pid) {
		bh_result *st = ht_status(c);
		const bh_value *insts = ht_get(ht_status_plugin(bh_result_value(st), "echo"),
					       "instances");
		int answered = 0, busy = 0;
		for (int i = 0; i < N; i++)
			answered += calls[i].answered;
		for (uint32_t k = 0; k < insts->len; k++) {
			uint64_t n = ht_get_uint(&insts->as.items[k], "inflight");
			if (n) {
				busy++;
				x_inflight = n;
				x_started = ht_get_uint(&insts->as.items[k], "started");
				x_pid = ht_get_uint(&insts->as.items[k], "pid");
			}
		}
		if (busy != 1 || answered + (int)x_inflight != N + 1 || x_started != 1)
			x_pid = 0;
		bh_result_free(st);
	}

	start_call(admin, "bulkhead.unload", HT_LONG_MS, &unload, "echo", NULL, 0);
	bh_result *st = ht_status(admin); /* answered after the unload began */
	ck_assert(ht_get_str_is(ht_status_plugin(bh_result_value(st), "echo"), "state",
				"unloading"));
	bh_result_free(st);
	ck_assert_int_eq(unload.answered, 0);
	ck_assert_int_eq(kill((pid_t)x_pid, SIGKILL), 0);

	bh_client *both[2] = {c, admin};
	ht_run_clients(both, 2, 50000);
	ck_assert_int_eq(hang.answered, 1);
	ck_assert_msg(hang.code == BH_E_PLUGIN_CRASHED, "hang: %s: %s", bh_code_name(hang.code),
		      hang.message);
	for (int i = 0; i < N; i++) {
		assert_answered_ok(&calls[i], "a call re-queued during the unload");
		ck_assert_int_eq(calls[i].value, 100 + i);
	}
	assert_answered_ok(&unload, "unload");
	/* Nothing is left of the plugin. */
	bh_error err = {0};
	ht_assert_err(bh_call(c, "echo.ping", HT_LONG_MS, NULL, &err), err, BH_E_UNKNOWN_PLUGIN,
		      NULL);
	ck_assert(!ht_pid_alive(x_pid));
	bh_client_free(c);
	bh_client_free(admin);
	ht_stop(&d);
}
END_TEST

/* ---- load of a configured plugin ------------------------------------------------------------ */

/* bulkhead.load [name] or [name, path]. */
static int load(bh_client *c, const char *name, const char *path, bh_error *err)
{
	bh_writer *w = bh_client_params(c);
	bh_write_array(w, path ? 2 : 1);
	bh_write_cstr(w, name);
	if (path)
		bh_write_cstr(w, path);
	bh_result *res = NULL;
	int r = bh_call(c, "bulkhead.load", HT_LONG_MS, &res, err);
	bh_result_free(res);
	return r;
}

static void unload_echo(bh_client *c)
{
	bh_error err = {0};
	bh_writer *w = bh_client_params(c);
	bh_write_array(w, 1);
	bh_write_cstr(w, "echo");
	ht_assert_ok(bh_call(c, "bulkhead.unload", HT_LONG_MS, NULL, &err), err);
}

/* The configured settings of echo (two instances, an extra system call) are in
 * effect, and it runs from path. */
static void assert_configured(bh_client *c, const char *path)
{
	bh_result *st = ht_status(c);
	const bh_value *p = ht_status_plugin(bh_result_value(st), "echo");
	ck_assert_ptr_nonnull(p);
	ck_assert_uint_eq(ht_get(p, "instances")->len, 2);
	const bh_value *sys = ht_get(ht_get(p, "sandbox"), "extra_syscalls");
	ck_assert(sys->type == BH_ARRAY && sys->len == 1 &&
		  bh_value_str_eq(&sys->as.items[0], "getcpu"));
	char buf[HT_PATH_MAX];
	ck_assert_msg(ht_get_str_is(p, "path", path), "echo runs %s, not %s",
		      ht_str(ht_get(p, "path"), buf, sizeof(buf)), path);
	bh_result_free(st);
	ck_assert_int_gt(ht_call_int_ok(c, "echo.pid", NULL, 0), 0);
}

START_TEST(load_configured_plugin_by_name)
{
	struct ht_daemon d;
	ht_start(&d, "plugins = (" ECHO_ENTRY("instances = 2; sandbox = { syscalls = [ \"getcpu\" ]; };")
		     ");");
	bh_client *c = ht_connect(&d);
	bh_error err = {0};
	assert_configured(c, HT_PLUGIN("echo"));

	unload_echo(c);
	ht_assert_ok(load(c, "echo", NULL, &err), err);
	assert_configured(c, HT_PLUGIN("echo"));

	/* The same file by another name: the path given, the settings configured. */
	const char *other = HT_PLUGIN_DIR "/./echo.so";
	unload_echo(c);
	ht_assert_ok(load(c, "echo", other, &err), err);
	assert_configured(c, other);

	/* A plugin the configuration does not define still needs a path. */
	ht_assert_err(load(c, "stranger", NULL, &err), err, BH_E_INVALID_PARAMS, "path");
	bh_client_free(c);
	ht_stop(&d);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("integ_ops");
	TCase *tc = ht_tcase("ops");
	tcase_add_test(tc, unload_dispatches_requeued_calls);
	tcase_add_test(tc, load_configured_plugin_by_name);
	suite_add_tcase(s, tc);
	return ht_main(s);
}
