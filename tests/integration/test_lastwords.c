/* Integration: when a plugin dies during a call, its caller and the daemon's log learn
 * why in the plugin's own words (a panic message, an uncaught exception's what(), a
 * failed assertion) and of which signal: abort() is SIGABRT, also in the sandbox,
 * where the shim is pid 1 of its pid namespace. And a plugin's env reaches it.
 * Plugins: plugins/dying.c and
 * plugins/dying_cpp.cpp, which only end their own process. */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

#define DYING "{ name = \"dying\"; path = \"" HT_PLUGIN("dying") "\"; }"
#define DYING_CPP "{ name = \"dying_cpp\"; path = \"" HT_PLUGIN("dying_cpp") "\"; }"
#define FAST_RESTART "restart = { backoff_min_ms = 1; backoff_max_ms = 20; };"

/* Call method (no params) on a fresh daemon; it must fail plugin_crashed. The message
 * must hold every one of want[] and none of refuse[]; the daemon's log holds want[]
 * too. */
static void assert_dies(const char *config, const char *method, const char *const *want,
			const char *const *refuse)
{
	struct ht_daemon d;
	ht_start(&d, "plugins = (%s);" FAST_RESTART, config);
	bh_client *c = ht_connect(&d);
	bh_error err = {0};
	ck_assert_int_lt(bh_call(c, method, HT_LONG_MS, NULL, &err), 0);
	ck_assert_msg(err.code == BH_E_PLUGIN_CRASHED, "%s: %s: %s", method,
		      bh_code_name(err.code), err.message);
	for (; want && *want; want++) {
		ck_assert_msg(strstr(err.message, *want), "%s: no \"%s\" in: %s", method, *want,
			      err.message);
		ck_assert_msg(ht_log_has(&d, *want), "%s: no \"%s\" in the log", method, *want);
	}
	for (; refuse && *refuse; refuse++)
		ck_assert_msg(!strstr(err.message, *refuse), "%s: \"%s\" in: %s", method, *refuse,
			      err.message);
	bh_client_free(c);
	ht_stop(&d);
}

#define LIST(...) ((const char *const[]){__VA_ARGS__, NULL})

/* abort() without a word: SIGABRT, not the SIGSEGV of glibc's last resort. */
START_TEST(abort_is_sigabrt)
{
	assert_dies(DYING, "dying.abort", LIST("killed by signal 6 (SIGABRT)"), LIST("SIGSEGV"));
}
END_TEST

/* raise(SIGSEGV) ends it with SIGSEGV, raise(SIGFPE) with SIGFPE. */
START_TEST(raised_fault_signals)
{
	struct ht_daemon d;
	ht_start(&d, "plugins = (" DYING ");" FAST_RESTART);
	bh_client *c = ht_connect(&d);
	bh_error err = {0};
	ht_assert_err(ht_call_ints(c, "dying.raise", HT_LONG_MS, NULL, &err, HT_INTS(SIGSEGV)),
		      err, BH_E_PLUGIN_CRASHED, "killed by signal 11 (SIGSEGV)");
	ht_assert_err(ht_call_ints(c, "dying.raise", HT_LONG_MS, NULL, &err, HT_INTS(SIGFPE)),
		      err, BH_E_PLUGIN_CRASHED, "killed by signal 8 (SIGFPE)");
	bh_client_free(c);
	ht_stop(&d);
}
END_TEST

/* A plugin's own exit status 134 (128 + SIGABRT) is an exit, not a signal. */
START_TEST(exit_134_is_an_exit)
{
	struct ht_daemon d;
	ht_start(&d, "plugins = ({ name = \"echo\"; path = \"" HT_PLUGIN("echo") "\"; });");
	bh_client *c = ht_connect(&d);
	bh_error err = {0};
	ht_assert_err(ht_call_ints(c, "echo.exit", HT_LONG_MS, NULL, &err, HT_INTS(134)), err,
		      BH_E_PLUGIN_CRASHED, "exited with status 134");
	bh_client_free(c);
	ht_stop(&d);
}
END_TEST

START_TEST(rust_panic_message)
{
	assert_dies(DYING, "dying.rust_panic",
		    LIST("SIGABRT", "panicked at src/lib.rs:10:5: called `Option::unwrap()` on a "
				    "`None` value"),
		    LIST("RUST_BACKTRACE"));
}
END_TEST

START_TEST(go_panic_message)
{
	assert_dies(DYING, "dying.go_panic",
		    LIST("exited with status 2",
			 "panic: plugin state is corrupt | goroutine 17 [running]:"),
		    LIST("main.step", "main.go"));
}
END_TEST

START_TEST(assertion_message)
{
	assert_dies(DYING, "dying.assert",
		    LIST("SIGABRT", "dying.c", "m_assert: Assertion `args->len == 99' failed."),
		    NULL);
}
END_TEST

START_TEST(cxx_exception_what)
{
	assert_dies(DYING_CPP, "dying_cpp.throw",
		    LIST("SIGABRT",
			 "terminate called after throwing an instance of 'std::runtime_error' | "
			 "what():  the C++ plugin gave up"),
		    NULL);
}
END_TEST

/* getenv(name) in the plugin: the string, or "" for nil. */
static void plugin_getenv(bh_client *c, const char *name, char *buf, size_t len)
{
	bh_result *res = NULL;
	bh_error err = {0};
	ht_assert_ok(ht_call_str(c, "dying.getenv", HT_LONG_MS, &res, &err, name), err);
	const bh_value *v = bh_result_value(res);
	ht_str(v, buf, len);
	bh_result_free(res);
}

/* The plugin's env arrives in its instances (confined, the default sandbox), nothing
 * of the daemon's own environment does, and status shows it. */
START_TEST(env_reaches_the_plugin)
{
	struct ht_daemon d;
	ht_start(&d, "plugins = ({ name = \"dying\"; path = \"" HT_PLUGIN("dying") "\"; "
		     "env = { RUST_BACKTRACE = \"1\"; GREETING = \"hello, world = 1\"; "
		     "EMPTY = \"\"; }; });");
	bh_client *c = ht_connect(&d);
	char v[128];
	plugin_getenv(c, "GREETING", v, sizeof(v));
	ck_assert_str_eq(v, "hello, world = 1");
	plugin_getenv(c, "RUST_BACKTRACE", v, sizeof(v));
	ck_assert_str_eq(v, "1");
	plugin_getenv(c, "PATH", v, sizeof(v)); /* the daemon's own: not passed on */
	ck_assert_str_eq(v, "");
	bh_result *st = ht_status(c);
	const bh_value *env = ht_get(ht_status_plugin(bh_result_value(st), "dying"), "env");
	ck_assert_uint_eq(env->len, 3);
	ck_assert(ht_get_str_is(env, "GREETING", "hello, world = 1"));
	ck_assert(ht_get_str_is(env, "EMPTY", ""));
	bh_result_free(st);
	bh_client_free(c);
	ht_stop(&d);
}
END_TEST

/* A loader variable is a config error at load, with the reason. */
START_TEST(env_refuses_loader_variables)
{
	struct ht_daemon d;
	ht__setup(&d, __func__, NULL,
		  "plugins = ({ name = \"dying\"; path = \"" HT_PLUGIN("dying") "\"; "
		  "env = { LD_PRELOAD = \"/tmp/evil.so\"; }; });");
	ck_assert(!ht_spawn(&d));
	ck_assert(ht_log_has(&d, "env.LD_PRELOAD: refused"));
	ht_cleanup(&d);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("lastwords");
	TCase *tc = ht_tcase("death");
	tcase_add_test(tc, abort_is_sigabrt);
	tcase_add_test(tc, raised_fault_signals);
	tcase_add_test(tc, exit_134_is_an_exit);
	tcase_add_test(tc, rust_panic_message);
	tcase_add_test(tc, go_panic_message);
	tcase_add_test(tc, assertion_message);
	tcase_add_test(tc, cxx_exception_what);
	suite_add_tcase(s, tc);
	tc = ht_tcase("env");
	tcase_add_test(tc, env_reaches_the_plugin);
	tcase_add_test(tc, env_refuses_loader_variables);
	suite_add_tcase(s, tc);
	return ht_main(s);
}
