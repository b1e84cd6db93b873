/* Integration: administration — runtime load and unload, status, version, access
 * control, shutdown on SIGTERM (drain, then "shutting down"), and ownership of the
 * socket path (a live daemon keeps it, a dead one's is reclaimed). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

#define ECHO_ENTRY(extra) "{ name = \"echo\"; path = \"" HT_PLUGIN("echo") "\"; " extra " }"
#define KV_ENTRY(extra) "{ name = \"kv\"; path = \"" HT_PLUGIN("kv") "\"; " extra " }"

/* bulkhead.load / unload with string params. */
static int admin(bh_client *c, const char *method, const char *a, const char *b,
		 bh_result **ret, bh_error *err)
{
	bh_writer *w = bh_client_params(c);
	bh_write_array(w, b ? 2 : 1);
	bh_write_cstr(w, a);
	if (b)
		bh_write_cstr(w, b);
	return bh_call(c, method, HT_LONG_MS, ret, err);
}

static void start_int(bh_client *c, const char *method, int64_t arg, struct ht_outcome *o)
{
	bh_writer *w = bh_client_params(c);
	bh_write_array(w, 1);
	bh_write_int(w, arg);
	memset(o, 0, sizeof(*o));
	ck_assert_int_eq(bh_call_start(c, method, HT_LONG_MS, ht_outcome_cb, o, NULL), 0);
}


/* ---- runtime load ------------------------------------------------------------------ */

START_TEST(runtime_load)
{
	struct ht_daemon d;
	ht_start(&d, "plugins = (" ECHO_ENTRY("") ");");
	bh_client *c = ht_connect(&d);
	bh_result *res = NULL;
	bh_error err = {0};

	/* kv.so under a name of our choosing: answered once ready. */
	ht_assert_ok(admin(c, "bulkhead.load", "store2", HT_PLUGIN("kv"), &res, &err), err);
	const bh_value *v = bh_result_value(res);
	ck_assert(ht_get_str_is(v, "name", "store2"));
	ck_assert(ht_get_str_is(v, "state", "ready"));
	ck_assert_uint_ge(ht_get_uint(v, "generation"), 1);
	bh_result_free(res);
	bh_writer *w = bh_client_params(c);
	bh_write_array(w, 2);
	bh_write_cstr(w, "k");
	bh_write_int(w, 5);
	ht_assert_ok(bh_call(c, "store2.set", HT_LONG_MS, NULL, &err), err);
	ht_assert_ok(ht_call_str(c, "store2.incr", HT_LONG_MS, &res, &err, "k"), err);
	int64_t n;
	ck_assert(bh_value_get_int(bh_result_value(res), &n) == 0 && n == 6);
	bh_result_free(res);
	bh_result *st = ht_status(c);
	const bh_value *p = ht_status_plugin(bh_result_value(st), "store2");
	ck_assert_ptr_nonnull(p);
	ck_assert(ht_get_str_is(p, "state", "ready"));
	ck_assert(ht_get_str_is(p, "path", HT_PLUGIN("kv")));
	bh_result_free(st);

	/* Bad paths and names are the caller's mistake. */
	ht_assert_err(admin(c, "bulkhead.load", "x1", "/nonexistent/dir/kv.so", NULL, &err), err,
		      BH_E_INVALID_PARAMS, "/nonexistent/dir/kv.so");
	ht_assert_err(admin(c, "bulkhead.load", "x2", "kv.so", NULL, &err), err,
		      BH_E_INVALID_PARAMS, "absolute");
	ht_assert_err(admin(c, "bulkhead.load", "x3", HT_PLUGIN_DIR, NULL, &err), err,
		      BH_E_INVALID_PARAMS, NULL);
	ht_assert_err(admin(c, "bulkhead.load", "not a name", HT_PLUGIN("kv"), NULL, &err), err,
		      BH_E_INVALID_PARAMS, NULL);
	ht_assert_err(admin(c, "bulkhead.load", "bulkhead", HT_PLUGIN("kv"), NULL, &err), err,
		      BH_E_INVALID_PARAMS, NULL);
	ht_assert_err(admin(c, "bulkhead.load", "x4", NULL, NULL, &err), err, BH_E_INVALID_PARAMS,
		      NULL);
	ht_assert_err(bh_call(c, "bulkhead.load", HT_LONG_MS, NULL, &err), err,
		      BH_E_INVALID_PARAMS, NULL);
	/* A name in use, from the config or loaded at run time. */
	ht_assert_err(admin(c, "bulkhead.load", "echo", HT_PLUGIN("kv"), NULL, &err), err,
		      BH_E_CONFLICT, "echo");
	ht_assert_err(admin(c, "bulkhead.load", "store2", HT_PLUGIN("kv"), NULL, &err), err,
		      BH_E_CONFLICT, "store2");

	/* A plugin that cannot load: the load fails with the reason, and leaves nothing
	 * behind (the name is free again). */
	ht_assert_err(admin(c, "bulkhead.load", "later", HT_PLUGIN("bad_abi"), NULL, &err), err,
		      BH_E_UNAVAILABLE, "ABI version 999");
	st = ht_status(c);
	ck_assert_ptr_null(ht_status_plugin(bh_result_value(st), "later"));
	bh_result_free(st);
	ht_assert_err(bh_call(c, "later.never", HT_LONG_MS, NULL, &err), err,
		      BH_E_UNKNOWN_PLUGIN, NULL);
	ht_assert_ok(admin(c, "bulkhead.load", "later", HT_PLUGIN("echo"), NULL, &err), err);
	ck_assert_int_gt(ht_call_int_ok(c, "later.pid", NULL, 0), 0);

	/* Everything still answers; the configured plugin never noticed. */
	ck_assert_int_gt(ht_call_int_ok(c, "echo.pid", NULL, 0), 0);
	bh_client_free(c);
	ht_stop(&d);
}
END_TEST

/* ---- unload ---------------------------------------------------------------------------- */

START_TEST(unload_drains_calls)
{
	struct ht_daemon d;
	ht_start(&d, "plugins = (" ECHO_ENTRY("") "," KV_ENTRY("") ");");
	bh_client *c = ht_connect(&d);
	bh_error err = {0};
	ck_assert_int_gt(ht_call_int_ok(c, "echo.pid", NULL, 0), 0); /* ready */
	uint64_t pid = ht_instance_pid(c, "echo", 0);

	/* In one write, so that the order in which the daemon sees them is fixed. */
	struct ht_raw r;
	ht_raw_open(&r, &d);
	struct bh_buf out;
	bh_buf_init(&out, 0);
	ht_req_ints(&out, 1, "echo.sleep_ms", 0, HT_INTS(300));
	ht_req_ints(&out, 2, "echo.sleep_ms", 0, HT_INTS(300));
	ht_req_str(&out, 3, "bulkhead.unload", "echo");
	ht_req_ints(&out, 4, "echo.ping", 0, NULL, 0);
	ht_req_str(&out, 5, "bulkhead.unload", "echo");
	ck_assert_int_eq(ht_raw_send(&r, out.data, out.len), 0);

	struct ht_reply rep;
	int order[6] = {0}, n = 0;
	for (int i = 0; i < 5; i++) {
		ck_assert_int_eq(ht_raw_recv(&r, &rep), 1);
		ck_assert(!rep.msgid_nil && rep.msgid >= 1 && rep.msgid <= 5 && !order[rep.msgid]);
		order[rep.msgid] = ++n;
		int64_t v;
		switch (rep.msgid) {
		case 1:
		case 2: /* calls in flight when the unload came finish normally */
			ck_assert_msg(rep.code == 0, "sleep %u: %s: %s", rep.msgid, rep.name,
				      rep.message);
			ck_assert(bh_value_get_int(rep.result, &v) == 0 && v == 300);
			break;
		case 3:
			ck_assert_msg(rep.code == 0, "unload: %s: %s", rep.name, rep.message);
			ck_assert(ht_get_str_is(rep.result, "name", "echo"));
			ck_assert(ht_get_str_is(rep.result, "state", "unloaded"));
			break;
		case 4: /* new calls during the drain are refused */
			ck_assert_msg(rep.code == BH_E_UNAVAILABLE, "ping: %s: %s", rep.name,
				      rep.message);
			break;
		case 5:
			ck_assert_msg(rep.code == BH_E_CONFLICT, "second unload: %s: %s", rep.name,
				      rep.message);
			break;
		}
	}
	/* The unload is answered only after the calls it waited for. */
	ck_assert_int_gt(order[3], order[1]);
	ck_assert_int_gt(order[3], order[2]);
	bh_buf_done(&out);
	ht_raw_close(&r);

	/* Gone: its process reaped, its name unknown, the other plugin untouched. */
	ck_assert(!ht_pid_alive(pid));
	ht_assert_err(bh_call(c, "echo.ping", HT_LONG_MS, NULL, &err), err, BH_E_UNKNOWN_PLUGIN,
		      NULL);
	ht_assert_err(admin(c, "bulkhead.unload", "echo", NULL, NULL, &err), err,
		      BH_E_UNKNOWN_PLUGIN, NULL);
	bh_result *st = ht_status(c);
	ck_assert_ptr_null(ht_status_plugin(bh_result_value(st), "echo"));
	ck_assert_ptr_nonnull(ht_status_plugin(bh_result_value(st), "kv"));
	bh_result_free(st);
	ck_assert_int_eq(ht_call_int_ok(c, "kv.count", NULL, 0), 0);
	/* The name can be used again. */
	ht_assert_ok(admin(c, "bulkhead.load", "echo", HT_PLUGIN("echo"), NULL, &err), err);
	ck_assert_int_gt(ht_call_int_ok(c, "echo.pid", NULL, 0), 0);
	ck_assert_uint_ne(ht_instance_pid(c, "echo", 0), pid);
	bh_client_free(c);
	ht_stop(&d);
}
END_TEST

/* ---- status, version ------------------------------------------------------------------- */

START_TEST(status_and_version)
{
	struct ht_daemon d;
	ht_start(&d, "plugins = (" ECHO_ENTRY("instances = 2;") "," KV_ENTRY("") ");");
	bh_client *c = ht_connect(&d);
	bh_result *res = NULL;
	bh_error err = {0};

	ht_assert_ok(bh_call(c, "bulkhead.version", HT_LONG_MS, &res, &err), err);
	ck_assert_msg(bh_value_str_eq(bh_result_value(res), "bulkhead " BH_VERSION),
		      "bulkhead.version is not \"bulkhead %s\"", BH_VERSION);
	bh_result_free(res);

	enum { CALLS = 10 };
	for (int i = 0; i < CALLS; i++)
		ck_assert_int_eq(ht_call_int_ok(c, "echo.sleep_ms", HT_INTS(i)), i);
	ht_assert_err(bh_call(c, "echo.crash_not", HT_LONG_MS, NULL, &err), err,
		      BH_E_UNKNOWN_METHOD, NULL);
	bh_writer *w = bh_client_params(c);
	bh_write_array(w, 2);
	bh_write_int(w, 1234);
	bh_write_cstr(w, "counted");
	ht_assert_err(bh_call(c, "echo.fail", HT_LONG_MS, NULL, &err), err, 1234, "counted");

	bh_result *st = ht_status(c);
	const bh_value *s = bh_result_value(st);
	ck_assert(ht_get_str_is(s, "version", BH_VERSION));
	ck_assert_uint_eq(ht_get_uint(s, "pid"), (uint64_t)d.pid);
	(void)ht_get_uint(s, "uptime_ms");
	ck_assert_uint_ge(ht_get_uint(s, "clients"), 1);
	const bh_value *plugins = ht_get(s, "plugins");
	ck_assert_int_eq(plugins->type, BH_ARRAY);
	ck_assert_uint_eq(plugins->len, 2);

	const bh_value *p = ht_status_plugin(s, "echo");
	ck_assert_ptr_nonnull(p);
	ck_assert(ht_get_str_is(p, "state", "ready"));
	ck_assert(ht_get_str_is(p, "path", HT_PLUGIN("echo")));
	ck_assert(ht_get_str_is(p, "version", "1.0.0"));
	ck_assert_uint_ge(ht_get_uint(p, "generation"), 1);
	ck_assert_uint_eq(ht_get_uint(p, "restarts"), 0);
	ck_assert_uint_eq(ht_get_uint(p, "queued"), 0);
	ck_assert_int_eq(ht_get(p, "last_exit")->type, BH_STR);
	(void)ht_get_uint(p, "uptime_ms");
	/* Calls that reached the plugin; the fail counts as an error. */
	uint64_t calls = ht_get_uint(p, "calls"), errors = ht_get_uint(p, "errors");
	ck_assert_uint_ge(calls, CALLS + 1);
	ck_assert_uint_ge(errors, 1);
	ck_assert_uint_lt(errors, calls);

	const bh_value *insts = ht_get(p, "instances");
	ck_assert_int_eq(insts->type, BH_ARRAY);
	ck_assert_uint_eq(insts->len, 2);
	uint64_t inst_calls = 0, pids[2];
	for (uint32_t i = 0; i < 2; i++) {
		const bh_value *in = &insts->as.items[i];
		pids[i] = ht_get_uint(in, "pid");
		ck_assert(pids[i] != 0 && pids[i] != (uint64_t)d.pid && ht_pid_alive(pids[i]));
		ck_assert_uint_eq(ht_get_uint(in, "generation"), ht_get_uint(p, "generation"));
		ck_assert(ht_get_str_is(in, "state", "ready"));
		ck_assert_uint_gt(ht_get_uint(in, "rss_kb"), 0);
		ck_assert_uint_eq(ht_get_uint(in, "inflight"), 0);
		ck_assert_uint_eq(ht_get_uint(in, "started"), 0);
		(void)ht_get_uint(in, "uptime_ms");
		(void)ht_get_uint(in, "errors");
		inst_calls += ht_get_uint(in, "calls");
	}
	ck_assert_uint_ne(pids[0], pids[1]);
	ck_assert_uint_eq(inst_calls, CALLS + 1);

	p = ht_status_plugin(s, "kv");
	ck_assert_ptr_nonnull(p);
	ck_assert_uint_eq(ht_get_uint(p, "calls"), 0);
	ck_assert_uint_eq(ht_get(p, "instances")->len, 1);
	bh_result_free(st);
	bh_client_free(c);
	ht_stop(&d);

	/* The daemon reaped its children before exiting. */
	ck_assert(!ht_pid_alive(pids[0]) && !ht_pid_alive(pids[1]));
}
END_TEST

START_TEST(access_control)
{
	struct ht_daemon d;
	unsigned me = (unsigned)getuid(), other = me + 4242;
	ht_start(&d,
		 "access = { admin = [ \"uid:%u\" ]; };"
		 "plugins = (" ECHO_ENTRY("") ","
		 "{ name = \"locked\"; path = \"" HT_PLUGIN("kv") "\"; access = { call = [ \"uid:%u\" ]; }; },"
		 "{ name = \"mine\"; path = \"" HT_PLUGIN("kv") "\"; access = { call = [ \"uid:%u\" ]; }; });",
		 other, other, me);
	bh_client *c = ht_connect(&d);
	bh_error err = {0};
	ht_assert_err(bh_call(c, "locked.count", HT_LONG_MS, NULL, &err), err,
		      BH_E_PERMISSION_DENIED, NULL);
	ck_assert_int_eq(ht_call_int_ok(c, "mine.count", NULL, 0), 0);
	ck_assert_int_gt(ht_call_int_ok(c, "echo.pid", NULL, 0), 0);
	/* Not an admin: no load, no unload; status and version stay open. */
	ht_assert_err(admin(c, "bulkhead.load", "x", HT_PLUGIN("kv"), NULL, &err), err,
		      BH_E_PERMISSION_DENIED, NULL);
	ht_assert_err(admin(c, "bulkhead.unload", "echo", NULL, NULL, &err), err,
		      BH_E_PERMISSION_DENIED, NULL);
	bh_result *st = ht_status(c);
	ck_assert(ht_get_str_is(ht_status_plugin(bh_result_value(st), "echo"), "state", "ready"));
	bh_result_free(st);
	ht_assert_ok(bh_call(c, "bulkhead.version", HT_LONG_MS, NULL, &err), err);
	bh_client_free(c);
	ht_stop(&d);
}
END_TEST

/* ---- SIGTERM ------------------------------------------------------------------------------ */

START_TEST(sigterm_drains)
{
	struct ht_daemon d;
	ht_start(&d, "plugins = (" ECHO_ENTRY("instances = 3;") ");");
	bh_client *c = ht_connect(&d);
	bh_client *c2 = ht_connect(&d);
	enum { N = 6 };
	struct ht_outcome o[N];
	for (int i = 0; i < N; i++)
		start_int(i % 2 ? c2 : c, "echo.sleep_ms", 500, &o[i]);
	/* Status on both connections: answered once every call before it is routed. */
	bh_result *st = ht_status(c);
	bh_result_free(st);
	st = ht_status(c2);
	const bh_value *insts = ht_get(ht_status_plugin(bh_result_value(st), "echo"), "instances");
	uint64_t pids[3] = {0};
	for (uint32_t i = 0; i < insts->len && i < 3; i++)
		pids[i] = ht_get_uint(&insts->as.items[i], "pid");
	bh_result_free(st);

	ht_sigterm(&d);
	bh_client *both[2] = {c, c2};
	ht_run_clients(both, 2, 50000);
	for (int i = 0; i < N; i++) {
		ck_assert_int_eq(o[i].answered, 1);
		ck_assert_msg(o[i].code == 0, "call %d during the drain: %s: %s", i,
			      bh_code_name(o[i].code), o[i].message);
		ck_assert_int_eq(o[i].value, 500);
	}
	int stat = ht_wait(&d);
	ck_assert_msg(WIFEXITED(stat) && WEXITSTATUS(stat) == 0, "wait status 0x%x", stat);
	struct stat sb;
	ck_assert_msg(lstat(d.sock, &sb) < 0 && errno == ENOENT, "socket left behind");
	for (int i = 0; i < 3; i++)
		ck_assert(pids[i] && !ht_pid_alive(pids[i]));
	/* The connections end with the daemon. */
	ck_assert_int_lt(bh_call(c, "echo.ping", HT_LONG_MS, NULL, &(bh_error){0}), 0);
	bh_client_free(c);
	bh_client_free(c2);
	ht_cleanup(&d);
}
END_TEST

START_TEST(sigterm_stuck_call_shutting_down)
{
	struct ht_daemon d;
	ht_start(&d, "shutdown_timeout_ms = 200;"
		     "plugins = (" ECHO_ENTRY("instances = 1;") ");");
	bh_client *c = ht_connect(&d);
	ck_assert_int_gt(ht_call_int_ok(c, "echo.pid", NULL, 0), 0); /* ready */
	struct ht_outcome hang, behind;
	memset(&hang, 0, sizeof(hang));
	bh_writer *w = bh_client_params(c);
	bh_write_array(w, 0);
	ck_assert_int_eq(bh_call_start(c, "echo.hang", HT_LONG_MS, ht_outcome_cb, &hang, NULL), 0);
	start_int(c, "echo.echo", 7, &behind);
	bh_result_free(ht_status(c)); /* both are at the instance now */

	ht_sigterm(&d);
	ht_run_clients(&c, 1, 50000);
	ck_assert_int_eq(hang.answered, 1);
	ck_assert_msg(hang.code == BH_E_SHUTTING_DOWN, "hang: %s: %s", bh_code_name(hang.code),
		      hang.message);
	ck_assert_int_eq(behind.answered, 1);
	ck_assert_msg(behind.code == BH_E_SHUTTING_DOWN, "behind: %s: %s",
		      bh_code_name(behind.code), behind.message);
	bh_client_free(c);
	int stat = ht_wait(&d);
	ck_assert_msg(WIFEXITED(stat) && WEXITSTATUS(stat) == 0, "wait status 0x%x", stat);
	struct stat sb;
	ck_assert_msg(lstat(d.sock, &sb) < 0 && errno == ENOENT, "socket left behind");
	ht_cleanup(&d);
}
END_TEST

/* ---- the socket path ------------------------------------------------------------------- */

START_TEST(second_daemon_refused)
{
	struct ht_daemon d1, d2;
	ht_start(&d1, "plugins = (" ECHO_ENTRY("") ");");
	bh_client *c = ht_connect(&d1);
	ck_assert_int_gt(ht_call_int_ok(c, "echo.pid", NULL, 0), 0);

	ht_setup(&d2, d1.sock, "plugins = (" ECHO_ENTRY("") ");");
	ck_assert_msg(!ht_spawn(&d2), "a second daemon started on a live socket");
	ck_assert_msg(WIFEXITED(d2.status) && WEXITSTATUS(d2.status) != 0, "wait status 0x%x",
		      d2.status);
	ck_assert_msg(ht_log_has(&d2, d1.sock), "the refusal does not name the path");

	/* The first one never noticed: old and new connections work. */
	ck_assert_int_gt(ht_call_int_ok(c, "echo.pid", NULL, 0), 0);
	bh_client *c2 = ht_connect(&d1);
	ck_assert_int_gt(ht_call_int_ok(c2, "echo.pid", NULL, 0), 0);
	bh_client_free(c);
	bh_client_free(c2);
	ht_stop(&d1);
	ht_cleanup(&d2);
}
END_TEST

START_TEST(stale_socket_reclaimed)
{
	struct ht_daemon d1, d2;
	ht_start(&d1, "plugins = (" ECHO_ENTRY("") ");");
	/* Killed once its child is a running shim: a child still being set up shares the
	 * daemon's lock for a moment (see the report), which is not what this tests. */
	bh_client *c1 = ht_connect(&d1);
	ck_assert_int_gt(ht_call_int_ok(c1, "echo.pid", NULL, 0), 0);
	bh_client_free(c1);
	ht_kill9(&d1);
	struct stat sb;
	ck_assert_msg(lstat(d1.sock, &sb) == 0 && S_ISSOCK(sb.st_mode),
		      "a SIGKILLed daemon should have left its socket");

	ht_setup(&d2, d1.sock, "plugins = (" ECHO_ENTRY("") ");");
	ht_assert_ready(&d2);
	ck_assert(ht_log_has(&d2, "stale"));
	bh_client *c = ht_connect(&d2);
	ck_assert_int_gt(ht_call_int_ok(c, "echo.pid", NULL, 0), 0);
	bh_client_free(c);
	ht_stop(&d2);
	ht_cleanup(&d1);
}
END_TEST

START_TEST(non_socket_path_kept)
{
	struct ht_daemon d;
	char path[HT_PATH_MAX + 16];
	ht_setup(&d, NULL, "plugins = ();");
	snprintf(path, sizeof(path), "%s", d.sock);
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, "precious", 8), 8);
	close(fd);
	ck_assert(!ht_spawn(&d));
	ck_assert(WIFEXITED(d.status) && WEXITSTATUS(d.status) != 0);
	ck_assert(ht_log_has(&d, "not a socket"));
	struct stat sb;
	ck_assert(lstat(path, &sb) == 0 && S_ISREG(sb.st_mode) && sb.st_size == 8);
	ht_cleanup(&d);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("integ_admin");
	TCase *tc = ht_tcase("admin");
	tcase_add_test(tc, runtime_load);
	tcase_add_test(tc, unload_drains_calls);
	tcase_add_test(tc, status_and_version);
	tcase_add_test(tc, access_control);
	tcase_add_test(tc, sigterm_drains);
	tcase_add_test(tc, sigterm_stuck_call_shutting_down);
	tcase_add_test(tc, second_daemon_refused);
	tcase_add_test(tc, stale_socket_reclaimed);
	tcase_add_test(tc, non_socket_path_kept);
	suite_add_tcase(s, tc);
	return ht_main(s);
}
