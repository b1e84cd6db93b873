/* Integration: exactly once. A call that completed is never blamed for a crash, a
 * call never runs twice, a call past its deadline or of a client that left never
 * starts, an instance is killed only for the call it runs, and no call waits behind a
 * busy instance while another is idle. Each test fails on a daemon that infers what a
 * child ran from the order of its calls. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

#define ECHO_ENTRY(extra) "{ name = \"echo\"; path = \"" HT_PLUGIN("echo") "\"; " extra " }"
/* Crash loops restart at once and never quarantine. */
#define CRASH_TOLERANT \
	"restart = { backoff_min_ms = 1; backoff_max_ms = 1; quarantine_crashes = 1000; };"

static const bh_value *echo_status(bh_result *st)
{
	return ht_status_plugin(bh_result_value(st), "echo");
}

static uint64_t echo_restarts(bh_client *c)
{
	bh_result *st = ht_status(c);
	uint64_t n = ht_get_uint(echo_status(st), "restarts");
	bh_result_free(st);
	return n;
}

/* A large result, then a crash, on one instance, with calls arriving one by one all
 * the while, many times: the large result was written before the crash and is ok;
 * only the crash fails; every other call runs once. A daemon that writes a new call to
 * the dying child, fails (EPIPE) and judges before reading the rest of what the child
 * wrote blames the large result and runs the crash again. */
START_TEST(completed_call_never_blamed)
{
	struct ht_daemon d;
	ht_start(&d, "plugins = (" ECHO_ENTRY("instances = 1; max_inflight = 1024;") ");"
		 CRASH_TOLERANT "limits = { max_message = \"16M\"; max_bytes = \"16M\"; };");
	bh_client *c = ht_connect(&d);
	ck_assert_int_eq(ht_call_int_ok(c, "echo.echo", HT_INTS(1)), 1);
	enum { ROUNDS = 20, TRAIN = 200 };
	static struct ht_outcome train[TRAIN];
	for (int round = 0; round < ROUNDS; round++) {
		struct ht_outcome big, crash;
		ht_start_ints(c, "echo.blob", HT_LONG_MS, &big, HT_INTS(4 << 20));
		ht_start_ints(c, "echo.crash", HT_LONG_MS, &crash, NULL, 0);
		/* One call per step of the client while the large result streams back. */
		int n = 0;
		while (n < TRAIN && !crash.answered) {
			ht_start_ints(c, "echo.echo", HT_LONG_MS, &train[n], HT_INTS(n));
			n++;
			(void)bh_client_step(c);
		}
		ht_run_clients(&c, 1, 60000);
		ck_assert_msg(big.answered == 1 && big.code == 0, "round %d: the large result: %s: %s",
			      round, big.code ? bh_code_name(big.code) : "ok", big.message);
		ht_outcome_failed(&crash, BH_E_PLUGIN_CRASHED, "crash");
		for (int i = 0; i < n; i++) {
			ck_assert_int_eq(ht_outcome_int(&train[i], "a call beside the crash"), i);
		}
	}
	/* One restart per crash, each for a crash: no crash ran twice. */
	ck_assert_uint_eq(echo_restarts(c), ROUNDS);
	bh_result *st = ht_status(c);
	const bh_value *exits = ht_get(echo_status(st), "exits");
	ck_assert_uint_eq(ht_get_uint(exits, "crashed"), ROUNDS);
	ck_assert_uint_eq(exits->len, 1);
	bh_result_free(st);
	bh_client_free(c);
	ht_stop(&d);
}
END_TEST

/* A call that runs within its own (long) deadline is not killed for the short
 * deadline of a call queued behind it; the queued one times out without running. */
START_TEST(deadline_kills_only_for_the_running_call)
{
	struct ht_daemon d;
	ht_start(&d, "plugins = (" ECHO_ENTRY("instances = 1; grace_ms = 20;") ");");
	bh_client *c = ht_connect(&d);
	uint64_t pid = (ht_call_int_ok(c, "echo.echo", HT_INTS(1)), ht_instance_pid(c, "echo", 0));
	struct ht_outcome slow, quick;
	ht_start_ints(c, "echo.sleep_ms", 20000, &slow, HT_INTS(600));
	ht_start_ints(c, "echo.exit", 30, &quick, HT_INTS(7));
	ht_run_clients(&c, 1, 60000);
	ck_assert_int_eq(ht_outcome_int(&slow, "sleep_ms(600) within its 20 s"), 600);
	ht_outcome_failed(&quick, BH_E_TIMEOUT, "exit(7) queued past its 30 ms");
	/* It never started: the instance did not exit, nor was it killed. */
	ck_assert_int_eq(ht_call_int_ok(c, "echo.echo", HT_INTS(2)), 2);
	ck_assert_uint_eq(ht_instance_pid(c, "echo", 0), pid);
	ck_assert_uint_eq(echo_restarts(c), 0);
	bh_client_free(c);
	ht_stop(&d);
}
END_TEST

/* The calls of a client that left and had not started never run. */
START_TEST(gone_client_calls_never_start)
{
	struct ht_daemon d;
	ht_start(&d, "plugins = (" ECHO_ENTRY("instances = 1;") ");");
	bh_client *stay = ht_connect(&d);
	uint64_t pid = (ht_call_int_ok(stay, "echo.echo", HT_INTS(1)), ht_instance_pid(stay, "echo", 0));
	bh_client *quitter = ht_connect(&d);
	struct ht_outcome slow, doomed;
	ht_start_ints(quitter, "echo.sleep_ms", HT_LONG_MS, &slow, HT_INTS(300));
	ht_start_ints(quitter, "echo.exit", HT_LONG_MS, &doomed, HT_INTS(7));
	/* A round trip on the same connection: both calls are at the instance. */
	bh_result_free(ht_status(quitter));
	bh_client_free(quitter);
	/* Behind the sleep (and the exit, which must not run) on the one instance. */
	ck_assert_int_eq(ht_call_int_ok(stay, "echo.echo", HT_INTS(2)), 2);
	ck_assert_uint_eq(ht_instance_pid(stay, "echo", 0), pid);
	ck_assert_uint_eq(echo_restarts(stay), 0);
	bh_client_free(stay);
	ht_stop(&d);
}
END_TEST

/* Calls pipelined to a busy instance move to an idle one: they finish long before
 * the call that keeps the first instance busy. */
START_TEST(no_call_waits_behind_a_busy_instance)
{
	struct ht_daemon d;
	ht_start(&d, "plugins = (" ECHO_ENTRY("instances = 2;") ");");
	bh_client *c = ht_connect(&d);
	ck_assert_int_eq(ht_call_int_ok(c, "echo.echo", HT_INTS(1)), 1);
	enum { N = 8 };
	struct ht_outcome longest, shorter, quick[N];
	/* One instance each, then the quick calls spread over both. */
	ht_start_ints(c, "echo.sleep_ms", HT_LONG_MS, &longest, HT_INTS(5000));
	ht_start_ints(c, "echo.sleep_ms", HT_LONG_MS, &shorter, HT_INTS(200));
	for (int i = 0; i < N; i++)
		ht_start_ints(c, "echo.echo", HT_LONG_MS, &quick[i], HT_INTS(i));
	ht_run_clients(&c, 1, 60000);
	ck_assert_int_eq(ht_outcome_int(&longest, "sleep_ms(5000)"), 5000);
	ck_assert_int_eq(ht_outcome_int(&shorter, "sleep_ms(200)"), 200);
	for (int i = 0; i < N; i++) {
		ck_assert_int_eq(ht_outcome_int(&quick[i], "a quick call"), i);
		ck_assert_msg(quick[i].order < longest.order,
			      "quick call %d waited behind the 5 s call", i);
	}
	/* They got there by moving, not by luck of the first placement. */
	bh_result *st = ht_status(c);
	ck_assert_uint_ge(ht_get_uint(echo_status(st), "moved"), 1);
	bh_result_free(st);
	bh_client_free(c);
	ht_stop(&d);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("integ_once");
	TCase *tc = ht_tcase("once");
	tcase_add_test(tc, completed_call_never_blamed);
	tcase_add_test(tc, deadline_kills_only_for_the_running_call);
	tcase_add_test(tc, gone_client_calls_never_start);
	tcase_add_test(tc, no_call_waits_behind_a_busy_instance);
	suite_add_tcase(s, tc);
	return ht_main(s);
}
