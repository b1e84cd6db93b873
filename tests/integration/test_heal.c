/* Health probes, recycling and the circuit breaker, against the real daemon: every
 * wait is for an event (bulkhead.subscribe) or a call's answer, bounded by a receive
 * timeout on the subscriber's socket and the test's own deadline. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

#define HEAL_PLUGIN(name, settings)                                                        \
	"{ name = \"" name "\"; path = \"" HT_PLUGIN("heal") "\"; " settings " }"
#define PLAIN_PLUGIN(name, settings)                                                       \
	"{ name = \"" name "\"; path = \"" HT_PLUGIN("heal_plain") "\"; " settings " }"

/* Longest wait for one event: far beyond what any of them takes. */
#define EVENT_WAIT_S 30

/* ---- events ---- */

/* A raw connection subscribed to the daemon's events. */
static void events_open(struct ht_raw *r, const struct ht_daemon *d)
{
	ht_raw_open(r, d);
	struct timeval tv = { .tv_sec = EVENT_WAIT_S };
	ck_assert_int_eq(setsockopt(r->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), 0);
	static const uint8_t req[] = { 0x94, 0x00, 0x01, 0xb2, 'b', 'u', 'l', 'k', 'h', 'e', 'a',
				       'd', '.', 's', 'u', 'b', 's', 'c', 'r', 'i', 'b', 'e', 0x90 };
	ck_assert_int_eq(ht_raw_send(r, req, sizeof(req)), 0);
	struct ht_reply rep;
	ck_assert_int_eq(ht_raw_recv(r, &rep), 1);
	ck_assert_msg(rep.code == 0, "subscribe failed: %s", rep.message);
}

/* The next event of that kind for plugin (the others are skipped): its map. Valid
 * until the next receive. A missing one fails the test (receive timeout). */
static const bh_value *event_wait(struct ht_raw *r, const char *kind, const char *plugin)
{
	for (;;) {
		const bh_value *m;
		ck_assert_msg(ht_raw_recv_any(r, &m) == 1, "the daemon closed the subscription");
		if (m->type != BH_ARRAY || m->len != 3 || !ht_str_has(&m->as.items[1], "bulkhead.event"))
			continue;
		const bh_value *params = &m->as.items[2];
		if (params->type != BH_ARRAY || params->len < 1)
			continue;
		const bh_value *e = &params->as.items[0];
		if (ht_get_str_is(e, "kind", kind) && ht_get_str_is(e, "plugin", plugin))
			return e;
	}
}

/* ---- helpers ---- */

static const bh_value *plugin_status(bh_result *st, const char *name)
{
	const bh_value *p = ht_status_plugin(bh_result_value(st), name);
	ck_assert_msg(p, "no plugin %s in the status", name);
	return p;
}

static int64_t whoami(bh_client *c, const char *plugin)
{
	char m[64];
	snprintf(m, sizeof(m), "%s.whoami", plugin);
	return ht_call_int_ok(c, m, NULL, 0);
}

/* ---- health ---- */

/* The health callback blocks (and the shim's loop with it): the idle instance is
 * replaced with no client call in between, and the new one serves. */
START_TEST(health_hang_replaced)
{
	struct ht_daemon d;
	ht_start(&d, "plugins = (" HEAL_PLUGIN("h", "health = { interval_ms = 50; timeout_ms = 100; "
						  "failures = 2; };") ");");
	bh_client *c = ht_connect(&d);
	struct ht_raw ev;
	events_open(&ev, &d);
	int64_t born = whoami(c, "h");
	ck_assert_int_eq(ht_call_int_ok(c, "h.set_health", HT_INTS(2)), 2);

	const bh_value *e = event_wait(&ev, "instance.health_failed", "h");
	ck_assert_msg(ht_str_has(ht_get(e, "detail"), "no answer"), "detail of health_failed");
	e = event_wait(&ev, "instance.recycled", "h");
	ck_assert_msg(ht_get_str_is(e, "cause", "health"), "recycled for health");
	ck_assert_int_ne(whoami(c, "h"), born);

	bh_result *st = ht_status(c);
	ck_assert_uint_eq(ht_get_uint(plugin_status(st, "h"), "recycled"), 1);
	bh_result_free(st);
	ht_raw_close(&ev);
	bh_client_free(c);
	ht_stop(&d);
}
END_TEST

/* A plugin without a health callback whose loop is taken by a signal handler while
 * idle: the shim's own answer to the probe is missing, so it is replaced too. A call
 * sent to it meanwhile is not left there (the wedged instance is killed only at the
 * drain deadline, after the call's own): its successor runs it. */
START_TEST(health_wedged_loop_replaced)
{
	struct ht_daemon d;
	ht_start(&d, "plugins = (" PLAIN_PLUGIN("p", "drain_timeout_ms = 600000; "
						   "health = { interval_ms = 50; timeout_ms = 100; "
						   "failures = 3; };") ");");
	bh_client *c = ht_connect(&d);
	struct ht_raw ev;
	events_open(&ev, &d);
	int64_t born = whoami(c, "p");
	ck_assert_int_eq(ht_call_int_ok(c, "p.wedge", NULL, 0), 0);
	event_wait(&ev, "instance.health_failed", "p"); /* wedged now */
	struct ht_outcome late = {0};
	ht_start_ints(c, "p.whoami", 20000, &late, NULL, 0);
	ck_assert_int_eq(bh_client_step(c), 0); /* sent now, to the wedged instance */
	const bh_value *e = event_wait(&ev, "instance.recycled", "p");
	ck_assert_msg(ht_get_str_is(e, "cause", "health"), "recycled for health");
	ht_run_clients(&c, 1, HT_LONG_MS);
	ht_outcome_int(&late, "whoami sent while wedged");
	ck_assert_int_ne(whoami(c, "p"), born);
	ht_raw_close(&ev);
	bh_client_free(c);
	ht_stop(&d);
}
END_TEST

#ifdef HT_CLI
/* `bulkhead health [PLUGIN]`: its exit status. */
static int health_cli(const struct ht_daemon *d, const char *plugin, const char *sock)
{
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
		dup2(null, 1);
		execl(HT_CLI, HT_CLI, "-s", sock ? sock : d->sock, "health", plugin, (char *)NULL);
		_exit(127);
	}
	int status;
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFEXITED(status), "bulkhead health died");
	return WEXITSTATUS(status);
}

START_TEST(health_cli_exit_status)
{
	struct ht_daemon d;
	ht_start(&d, "plugins = (" HEAL_PLUGIN("h", "health = { interval_ms = 50; timeout_ms = 1000; "
						  "failures = 1000; };") ", "
		     HEAL_PLUGIN("ok", "") ");");
	bh_client *c = ht_connect(&d);
	struct ht_raw ev;
	events_open(&ev, &d);
	whoami(c, "h");
	whoami(c, "ok");
	ck_assert_int_eq(health_cli(&d, NULL, NULL), 0);
	ck_assert_int_eq(health_cli(&d, "h", NULL), 0);

	ck_assert_int_eq(ht_call_int_ok(c, "h.set_health", HT_INTS(1)), 1);
	event_wait(&ev, "instance.health_failed", "h");
	ck_assert_int_eq(health_cli(&d, "h", NULL), 1);
	ck_assert_int_eq(health_cli(&d, NULL, NULL), 1);
	ck_assert_int_eq(health_cli(&d, "ok", NULL), 0);
	ck_assert_int_eq(health_cli(&d, "nosuch", NULL), 1);

	bh_result *st = ht_status(c);
	const bh_value *inst = &ht_get(plugin_status(st, "h"), "instances")->as.items[0];
	ck_assert_msg(ht_get_str_is(inst, "health", "failing"), "instance health");
	ck_assert_msg(ht_str_has(ht_get(inst, "health_error"), "unhealthy on demand"), "error");
	bh_result_free(st);
	ht_raw_close(&ev);
	bh_client_free(c);
	ht_stop(&d);
	/* No daemon: unhealthy as well. */
	ck_assert_int_eq(health_cli(&d, NULL, "/nonexistent/bulkhead.sock"), 1);
}
END_TEST
#endif

/* ---- recycling ---- */

#define RECYCLE_WAVE 50
#define RECYCLE_MAX_CALLS 20000
#define RECYCLE_WANT 6

static uint64_t recycled_count(bh_client *c, const char *plugin)
{
	bh_result *st = ht_status(c);
	const bh_value *p = plugin_status(st, plugin);
	uint64_t n = ht_get_uint(p, "recycled");
	ck_assert_uint_eq(ht_get_uint(p, "errors"), 0);
	bh_result_free(st);
	return n;
}

/* Calls pipelined in waves while the instances are replaced every 25 calls, until
 * RECYCLE_WANT replacements happened: none fails, and the state moves with each
 * replacement (with one instance every count is seen exactly once). */
static void recycle_under_load(uint32_t instances)
{
	struct ht_daemon d;
	ht_start(&d, "plugins = ({ name = \"r\"; path = \"" HT_PLUGIN("heal") "\"; instances = %u; "
		     "max_calls = 25; health = { interval_ms = 0; }; });", instances);
	bh_client *c = ht_connect(&d);
	struct ht_raw ev;
	events_open(&ev, &d);
	static struct ht_outcome out[RECYCLE_MAX_CALLS];
	static bool seen[RECYCLE_MAX_CALLS + 1];
	memset(out, 0, sizeof(out));
	memset(seen, 0, sizeof(seen));
	int n = 0;
	while (recycled_count(c, "r") < RECYCLE_WANT) {
		ck_assert_msg(n + RECYCLE_WAVE <= RECYCLE_MAX_CALLS, "%d calls, too few recycled", n);
		for (int k = 0; k < RECYCLE_WAVE; k++, n++)
			ht_start_ints(c, "r.incr", HT_LONG_MS, &out[n], NULL, 0);
		ht_run_clients(&c, 1, HT_LONG_MS);
	}
	for (int k = 0; k < n; k++) {
		int64_t v = ht_outcome_int(&out[k], "incr"); /* fails the test unless it succeeded */
		if (instances > 1)
			continue;
		ck_assert_msg(v >= 1 && v <= n && !seen[v], "count %lld twice or out of range: "
			      "the state was lost", (long long)v);
		seen[v] = true;
	}
	const bh_value *e = event_wait(&ev, "instance.recycled", "r");
	ck_assert_msg(ht_get_str_is(e, "cause", "max_calls"), "recycled for max_calls");
	ht_raw_close(&ev);
	bh_client_free(c);
	ht_stop(&d);
}

/* An instance whose memory passes max_rss is replaced, its state handed over. */
START_TEST(recycle_max_rss)
{
	struct ht_daemon d;
	ht_start(&d, "plugins = (" HEAL_PLUGIN("m", "max_rss = \"160M\"; sandbox = { memory = \"1G\"; }; "
						  "health = { interval_ms = 50; };") ");");
	bh_client *c = ht_connect(&d);
	struct ht_raw ev;
	events_open(&ev, &d);
	ck_assert_int_eq(ht_call_int_ok(c, "m.incr", NULL, 0), 1);
	int64_t born = whoami(c, "m");
	ck_assert_int_eq(ht_call_int_ok(c, "m.grow", HT_INTS(200)), 200);
	const bh_value *e = event_wait(&ev, "instance.recycled", "m");
	ck_assert_msg(ht_get_str_is(e, "cause", "max_rss"), "recycled for max_rss");
	ck_assert_int_ne(whoami(c, "m"), born);
	ck_assert_int_eq(ht_call_int_ok(c, "m.incr", NULL, 0), 2); /* the state moved */
	ht_raw_close(&ev);
	bh_client_free(c);
	ht_stop(&d);
}
END_TEST

START_TEST(recycle_max_calls_one_instance)
{
	recycle_under_load(1);
}
END_TEST

START_TEST(recycle_max_calls_two_instances)
{
	recycle_under_load(2);
}
END_TEST

/* ---- the breaker ---- */

/* Two timeouts in a row open it: calls fail at once with the reason; after the
 * cool-down one call tries, succeeds, and closes it. */
START_TEST(breaker_timeouts)
{
	struct ht_daemon d;
	ht_start(&d, "plugins = (" HEAL_PLUGIN("b", "grace_ms = 30000; health = { interval_ms = 0; }; "
						  "breaker = { failures = 2; cooldown_ms = 200; };")
		     ");");
	bh_client *c = ht_connect(&d);
	struct ht_raw ev;
	events_open(&ev, &d);
	bh_error err = {0};
	for (int k = 0; k < 2; k++)
		ht_assert_err(ht_call_ints(c, "b.sleep", 50, NULL, &err, HT_INTS(300)), err,
			      BH_E_TIMEOUT, NULL);
	const bh_value *e = event_wait(&ev, "breaker.open", "b");
	ck_assert_msg(ht_str_has(ht_get(e, "detail"), "2 timeouts in a row"), "open detail");
	ht_assert_err(bh_call(c, "b.whoami", HT_LONG_MS, NULL, &err), err, BH_E_UNAVAILABLE,
		      "circuit breaker open: 2 timeouts in a row");
	bh_result *st = ht_status(c);
	ck_assert_msg(ht_get_str_is(plugin_status(st, "b"), "breaker", "open"), "status open");
	bh_result_free(st);

	event_wait(&ev, "breaker.half_open", "b");
	whoami(c, "b");
	event_wait(&ev, "breaker.closed", "b");
	st = ht_status(c);
	ck_assert_msg(ht_get_str_is(plugin_status(st, "b"), "breaker", "closed"), "closed");
	bh_result_free(st);
	ht_raw_close(&ev);
	bh_client_free(c);
	ht_stop(&d);
}
END_TEST

/* plugin_error answers count when breaker.plugin_error is set: half of at least 4
 * calls failing opens it. */
START_TEST(breaker_error_rate)
{
	struct ht_daemon d;
	ht_start(&d, "plugins = (" HEAL_PLUGIN("e", "breaker = { error_pct = 50; min_calls = 4; "
						  "plugin_error = true; cooldown_ms = 600000; };") ");");
	bh_client *c = ht_connect(&d);
	struct ht_raw ev;
	events_open(&ev, &d);
	bh_error err = {0};
	whoami(c, "e");
	ht_assert_err(bh_call(c, "e.fail", HT_LONG_MS, NULL, &err), err, BH_E_PLUGIN_ERROR, NULL);
	whoami(c, "e"); /* 1 of 3: closed */
	ht_assert_err(bh_call(c, "e.fail", HT_LONG_MS, NULL, &err), err, BH_E_PLUGIN_ERROR, NULL);
	const bh_value *e = event_wait(&ev, "breaker.open", "e");
	ck_assert_msg(ht_str_has(ht_get(e, "detail"), "2 of 4 calls failed"), "open detail");
	ht_assert_err(bh_call(c, "e.whoami", HT_LONG_MS, NULL, &err), err, BH_E_UNAVAILABLE,
		      "circuit breaker open: 2 of 4 calls failed");
	ht_raw_close(&ev);
	bh_client_free(c);
	ht_stop(&d);
}
END_TEST

/* Crashes that quarantine the plugin open the breaker; the quarantine lifts by
 * itself after the cool-down, and a call that succeeds closes it. */
START_TEST(quarantine_lifts)
{
	struct ht_daemon d;
	ht_start(&d, "plugins = (" HEAL_PLUGIN("q", "breaker = { cooldown_ms = 200; };") ");"
		     "restart = { backoff_min_ms = 1; backoff_max_ms = 20; quarantine_crashes = 2; "
		     "quarantine_window_ms = 600000; };");
	bh_client *c = ht_connect(&d);
	struct ht_raw ev;
	events_open(&ev, &d);
	bh_error err = {0};
	for (int k = 0; k < 2; k++)
		ht_assert_err(bh_call(c, "q.crash", HT_LONG_MS, NULL, &err), err,
			      BH_E_PLUGIN_CRASHED, "SIGSEGV");
	event_wait(&ev, "plugin.quarantined", "q");
	ht_assert_err(bh_call(c, "q.whoami", HT_LONG_MS, NULL, &err), err, BH_E_UNAVAILABLE,
		      "quarantined: 2 crashes");
	event_wait(&ev, "breaker.half_open", "q");
	event_wait(&ev, "plugin.unquarantined", "q");
	whoami(c, "q");
	event_wait(&ev, "breaker.closed", "q");
	bh_result *st = ht_status(c);
	const bh_value *p = plugin_status(st, "q");
	ck_assert_msg(ht_get_str_is(p, "state", "ready"), "state");
	ck_assert_msg(ht_get_str_is(p, "breaker", "closed"), "breaker");
	bh_result_free(st);
	ht_raw_close(&ev);
	bh_client_free(c);
	ht_stop(&d);
}
END_TEST

static Suite *heal_suite(void)
{
	Suite *s = suite_create("heal");
	TCase *tc = ht_tcase("heal");
	tcase_add_test(tc, health_hang_replaced);
	tcase_add_test(tc, health_wedged_loop_replaced);
#ifdef HT_CLI
	tcase_add_test(tc, health_cli_exit_status);
#endif
	tcase_add_test(tc, recycle_max_calls_one_instance);
	tcase_add_test(tc, recycle_max_calls_two_instances);
	tcase_add_test(tc, recycle_max_rss);
	tcase_add_test(tc, breaker_timeouts);
	tcase_add_test(tc, quarantine_lifts);
	tcase_add_test(tc, breaker_error_rate);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return ht_main(heal_suite());
}
