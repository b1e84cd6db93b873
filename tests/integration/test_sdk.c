/* Integration: the plugin SDKs. Each language's example plugin, built by the project's
 * build, loaded into the real daemon under the default sandbox, called: a call that
 * works, an argument of the wrong type (invalid_params with the SDK's text), and for
 * the languages that have them a panic or exception (plugin_error with its message,
 * the instance still serving).
 *
 *   test_integ_sdk CASE [nobody]
 *
 * CASE is c (kv.c with plugin_args.h), cpp (greeter, C++17), cpp20 (greeter20), rust
 * (stats) or go (tally). With `nobody`, the daemon runs as nobody (unprivileged: its
 * default limits, the memory fallback where it has no cgroup); that needs root to set
 * up, and SKIPs without it. A plugin whose toolchain the build did not find SKIPs. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

#define NOBODY 65534

static bool as_nobody;

/* A call with params [s] that must succeed with a string: its text in buf. */
static const char *call_str_ok(bh_client *c, const char *method, const char *s, char *buf,
			       size_t len)
{
	bh_result *r;
	bh_error err;
	ht_assert_ok(ht_call_str(c, method, HT_LONG_MS, &r, &err, s), err);
	ht_str(bh_result_value(r), buf, len);
	bh_result_free(r);
	return buf;
}

/* A call with params [ints...] that must fail with code and a message holding want. */
static void call_ints_fails(bh_client *c, const char *method, int32_t code, const char *want,
			    const int64_t *v, size_t n)
{
	bh_error err;
	bh_result *r;
	ht_assert_err(ht_call_ints(c, method, HT_LONG_MS, &r, &err, v, n), err, code, want);
}

/* The daemon with plugin `p` from so (and `extra` in its group) and echo, as the
 * test's user or as nobody; SKIP when the plugin was not built. */
static bh_client *start(struct ht_daemon *d, const char *so, const char *why_missing,
			const char *extra)
{
	char path[HT_PATH_MAX];
	snprintf(path, sizeof(path), "%s/%s", HT_PLUGIN_DIR, so);
	if (access(path, R_OK) < 0)
		ht_skip("%s not built (%s)", so, why_missing);
	ht__setup(d, so, NULL,
		  "plugins = ( { name = \"p\"; path = \"%s\"; %s },\n"
		  "            { name = \"echo\"; path = \"" HT_PLUGIN("echo") "\"; } );\n",
		  path, extra);
	if (as_nobody) {
		unsetenv("XDG_RUNTIME_DIR"); /* root's, which nobody cannot write */
		d->run_uid = NOBODY;
		d->run_gid = NOBODY;
		if (!ht_spawn(d)) {
			char *log = ht_read_log(d);
			bool userns = strstr(log, "user namespaces") != NULL;
			free(log);
			ck_assert_msg(userns, "the unprivileged daemon did not start");
			ht_cleanup(d);
			ht_skip("no user namespaces for nobody here");
		}
	} else {
		ht_assert_ready(d);
	}
	return ht_connect(d);
}

START_TEST(sdk_c)
{
	struct ht_daemon d;
	bh_client *c = start(&d, "kv.so", "", "");
	bh_result *r;
	bh_error err;

	ht_assert_ok(ht_call_str(c, "p.get", HT_LONG_MS, &r, &err, "absent"), err);
	ck_assert_int_eq(bh_result_value(r)->type, BH_NIL);
	bh_result_free(r);
	call_ints_fails(c, "p.get", BH_E_INVALID_PARAMS, "params[0] (key): want str, got int",
			HT_INTS(5));
	call_ints_fails(c, "p.set", BH_E_INVALID_PARAMS, "want 2 params, got 1", HT_INTS(5));
	call_ints_fails(c, "p.incr", BH_E_INVALID_PARAMS, "params[0] (key): want str, got int",
			HT_INTS(1, 2));
	bh_client_free(c);
	ht_stop(&d);
}
END_TEST

static void check_greeter(const char *so)
{
	struct ht_daemon d;
	bh_client *c = start(&d, so, "no C++20 compiler", "");
	char buf[128];

	ck_assert_str_eq(call_str_ok(c, "p.greet", "Ada", buf, sizeof(buf)), "Hello, Ada!");
	call_ints_fails(c, "p.greet", BH_E_INVALID_PARAMS, "params[0] (name): want str, got int",
			HT_INTS(5));
	call_ints_fails(c, "p.throw", BH_E_PLUGIN_ERROR, "greeter threw on purpose", NULL, 0);
	ck_assert_str_eq(call_str_ok(c, "p.greet", "Bob", buf, sizeof(buf)), "Hello, Bob!");
	bh_client_free(c);
	ht_stop(&d);
}

START_TEST(sdk_cpp)
{
	check_greeter("greeter.so");
}
END_TEST

START_TEST(sdk_cpp20)
{
	check_greeter("greeter20.so");
}
END_TEST

START_TEST(sdk_rust)
{
	struct ht_daemon d;
	bh_client *c = start(&d, "stats.so", "no rustc >= 1.63 when the build was configured",
			     "calls = [ \"p\", \"echo\" ];");

	ck_assert_int_eq(ht_call_int_ok(c, "p.sum", HT_INTS(1, 2, 3)), 6);
	bh_result *r;
	bh_error err;
	ht_assert_err(ht_call_str(c, "p.sum", HT_LONG_MS, &r, &err, "x"), err,
		      BH_E_INVALID_PARAMS, "params[0] (addend): want number, got str");
	call_ints_fails(c, "p.mean", BH_E_INVALID_PARAMS, "params[0] (numbers): want array, got int",
			HT_INTS(1));
	/* The panic's message and place, caught at the boundary: the instance lives on. */
	call_ints_fails(c, "p.panic", BH_E_PLUGIN_ERROR, "stats panicked on purpose", NULL, 0);
	call_ints_fails(c, "p.panic", BH_E_PLUGIN_ERROR, "panicked at ", NULL, 0);
	call_ints_fails(c, "p.panic", BH_E_PLUGIN_ERROR, "stats.rs:", NULL, 0);
	ck_assert_int_eq(ht_call_int_ok(c, "p.sum", HT_INTS(4, 5)), 9);
	bh_result *st = ht_status(c);
	ck_assert_uint_eq(ht_get_uint(ht_status_plugin(bh_result_value(st), "p"), "restarts"), 0);
	bh_result_free(st);
	/* The state: observed numbers, through a hot swap (snapshot, restore). */
	ck_assert_int_eq(ht_call_int_ok(c, "p.observe", HT_INTS(1, 2, 3)), 3);
	bh_writer *w = bh_client_params(c);
	bh_write_array(w, 2);
	bh_write_cstr(w, "p");
	bh_write_nil(w);
	ht_assert_ok(bh_call(c, "bulkhead.swap", HT_LONG_MS, &r, &err), err);
	bh_result_free(r);
	ht_assert_ok(ht_call_ints(c, "p.summary", HT_LONG_MS, &r, &err, NULL, 0), err);
	ck_assert_uint_eq(ht_get_uint(bh_result_value(r), "count"), 3);
	bh_result_free(r);
	/* A call out: echo.echo [3]. */
	w = bh_client_params(c);
	bh_write_array(w, 2);
	bh_write_cstr(w, "echo.echo");
	bh_write_int(w, 3);
	ht_assert_ok(bh_call(c, "p.forward", HT_LONG_MS, &r, &err), err);
	ck_assert(bh_result_value(r)->type == BH_FLOAT && bh_result_value(r)->as.f == 3.0);
	bh_result_free(r);
	/* Back into the same instance (A -> A, nested): the state is held by forward. */
	w = bh_client_params(c);
	bh_write_array(w, 3);
	bh_write_cstr(w, "p.sum");
	bh_write_int(w, 1);
	bh_write_int(w, 2);
	ht_assert_err(bh_call(c, "p.forward", HT_LONG_MS, &r, &err), err, BH_E_PLUGIN_ERROR,
		      "the state is held by a method of this instance");
	ck_assert_int_eq(ht_call_int_ok(c, "p.sum", HT_INTS(1, 2)), 3);
	bh_client_free(c);
	ht_stop(&d);
}
END_TEST

START_TEST(sdk_go)
{
	struct ht_daemon d;
	bh_client *c = start(&d, "tally.so", "no Go >= 1.19 when the build was configured",
			     "config = { max_words = 3; }; calls = [ \"p\" ];");
	bh_result *r;
	bh_error err;

	ht_assert_ok(ht_call_str(c, "p.add", HT_LONG_MS, &r, &err, "go"), err);
	ck_assert_int_eq(bh_result_value(r)->as.i, 1);
	bh_result_free(r);
	call_ints_fails(c, "p.add", BH_E_INVALID_PARAMS, "params[0] (word): want str, got int",
			HT_INTS(5));
	call_ints_fails(c, "p.panic", BH_E_PLUGIN_ERROR, "panic: tally panicked on purpose",
			NULL, 0);
	call_ints_fails(c, "p.panic", BH_E_PLUGIN_ERROR, "tally.go:", NULL, 0);
	ht_assert_ok(ht_call_str(c, "p.add", HT_LONG_MS, &r, &err, "go"), err);
	ck_assert_int_eq(bh_result_value(r)->as.i, 2); /* the same instance, its state kept */
	bh_result_free(r);
	ht_assert_ok(ht_call_str(c, "p.add", HT_LONG_MS, &r, &err, "rust"), err);
	bh_result_free(r);
	/* Say under which limits the Go runtime ran (a cgroup, or the RLIMIT_DATA fallback). */
	bh_result *st = ht_status(c);
	const bh_value *sb = ht_get(ht_status_plugin(bh_result_value(st), "p"), "sandbox");
	char mem[256], pids[64];
	printf("go plugin ran with memory: %s; pids: %s\n", ht_str(ht_get(sb, "memory"), mem,
	       sizeof(mem)), ht_str(ht_get(sb, "pids"), pids, sizeof(pids)));
	bh_result_free(st);
	/* A call out, back into the same instance (A -> A, nested): p.add ["rust"]. */
	bh_writer *w = bh_client_params(c);
	bh_write_array(w, 2);
	bh_write_cstr(w, "p.add");
	bh_write_cstr(w, "rust");
	ht_assert_ok(bh_call(c, "p.forward", HT_LONG_MS, &r, &err), err);
	ck_assert_int_eq(bh_result_value(r)->as.i, 2);
	bh_result_free(r);
	/* A hot swap to the same library: the counts go through Snapshot and Restore. */
	w = bh_client_params(c);
	bh_write_array(w, 2);
	bh_write_cstr(w, "p");
	bh_write_nil(w);
	ht_assert_ok(bh_call(c, "bulkhead.swap", HT_LONG_MS, &r, &err), err);
	bh_result_free(r);
	ht_assert_ok(ht_call_str(c, "p.add", HT_LONG_MS, &r, &err, "go"), err);
	ck_assert_int_eq(bh_result_value(r)->as.i, 3);
	bh_result_free(r);
	/* config.max_words = 3 reached init. */
	ht_assert_ok(ht_call_str(c, "p.add", HT_LONG_MS, &r, &err, "c"), err);
	bh_result_free(r);
	ht_assert_err(ht_call_str(c, "p.add", HT_LONG_MS, &r, &err, "zig"), err,
		      BH_E_INVALID_PARAMS, "full: 3 words");
	bh_client_free(c);
	ht_stop(&d);
}
END_TEST

int main(int argc, char **argv)
{
	const struct ht_case cases[] = {
		{"c", sdk_c}, {"cpp", sdk_cpp}, {"cpp20", sdk_cpp20}, {"rust", sdk_rust},
		{"go", sdk_go},
	};
	as_nobody = argc > 2 && strcmp(argv[2], "nobody") == 0;
	if (as_nobody && geteuid() != 0) {
		printf("SKIP: running the daemon as nobody needs root\n");
		return HT_SKIP;
	}
	return ht_main_cases("sdk", cases, sizeof(cases) / sizeof(cases[0]), 120, argc, argv);
}
