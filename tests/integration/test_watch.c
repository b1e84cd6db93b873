/* Integration tests: the watch for close calls (spin_us). A hot instance and the
 * daemon watch the claim table's doorbell instead of sleeping between calls that
 * come close together (plugin-sdk/shim/hot.c, supervisor/daemon/loop.c). What the
 * daemon's watches did is in `status` → reply_watch; proven by those counters and by
 * CPU time, never by timing a call. Watching pays only across CPUs, so the first two
 * cases put the instance on one CPU and the daemon and this test on another:
 *   - sequential calls to a plugin with a generous spin_us are caught by the watch;
 *   - spin_us = 0 never watches;
 *   - an instance left idle stops watching: neither it nor the daemon spends CPU. */
#define _GNU_SOURCE
#include <check.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <unistd.h>

#include "harness.h"

#define CALLS 300
/* Idle for this long, an instance and the daemon may use at most a quarter of it
 * (their watches are bounded by spin_us = 1 ms; one that never ended would use it
 * all). */
#define IDLE_MS 400

#define PLUGINS                                                                            \
	"plugins = (\n"                                                                    \
	"  { name = \"hot\"; path = \"" HT_PLUGIN("echo") "\"; spin_us = 1000; },\n"     \
	"  { name = \"cold\"; path = \"" HT_PLUGIN("echo") "\"; spin_us = 0; }\n"        \
	");\n"

struct watch {
	uint64_t watches, caught;
};

static struct watch watch_now(bh_client *c)
{
	bh_result *st = ht_status(c);
	const bh_value *w = ht_get(bh_result_value(st), "reply_watch");
	struct watch r = {
		.watches = ht_get_uint(w, "watches"),
		.caught = ht_get_uint(w, "replies_caught"),
	};
	bh_result_free(st);
	return r;
}

static void pin(pid_t pid, int cpu)
{
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	ck_assert_msg(sched_setaffinity(pid, sizeof(set), &set) == 0, "pinning %d to CPU %d",
		      (int)pid, cpu);
}

/* The instance of `plugin` on one CPU, the daemon and this process on another; false
 * when this host has fewer than two CPUs to give. */
static bool spread(struct ht_daemon *d, bh_client *c, const char *plugin)
{
	cpu_set_t mine;
	if (sched_getaffinity(0, sizeof(mine), &mine) < 0 || CPU_COUNT(&mine) < 2)
		return false;
	int cpus[2], n = 0;
	for (int i = 0; i < CPU_SETSIZE && n < 2; i++)
		if (CPU_ISSET(i, &mine))
			cpus[n++] = i;
	pin((pid_t)ht_instance_pid(c, plugin, 0), cpus[1]);
	pin(d->pid, cpus[0]);
	pin(0, cpus[0]);
	return true;
}

static void calls(bh_client *c, const char *method)
{
	for (int i = 0; i < CALLS; i++) {
		int64_t v = i;
		ck_assert_int_eq(ht_call_int_ok(c, method, &v, 1), i);
	}
}

START_TEST(close_calls_are_caught)
{
	struct ht_daemon d;
	ht_start(&d, PLUGINS);
	bh_client *c = ht_connect(&d);
	if (!spread(&d, c, "hot")) {
		bh_client_free(c);
		ht_stop(&d);
		ht_skip("watching needs two CPUs; this host gives one");
	}
	struct watch w0 = watch_now(c);
	calls(c, "hot.echo");
	struct watch w1 = watch_now(c);
	ck_assert_msg(w1.watches > w0.watches, "no watch in %d sequential calls", CALLS);
	ck_assert_msg(w1.caught > w0.caught, "no reply was caught by a watch in %d calls", CALLS);
	bh_client_free(c);
	ht_stop(&d);
}
END_TEST

START_TEST(spin_us_zero_never_watches)
{
	struct ht_daemon d;
	ht_start(&d, PLUGINS);
	bh_client *c = ht_connect(&d);
	if (!spread(&d, c, "cold")) {
		bh_client_free(c);
		ht_stop(&d);
		ht_skip("watching needs two CPUs; this host gives one");
	}
	struct watch w0 = watch_now(c);
	calls(c, "cold.echo");
	struct watch w1 = watch_now(c);
	/* The status calls themselves are answered by the daemon: no instance. */
	ck_assert_uint_eq(w1.watches, w0.watches);
	bh_client_free(c);
	ht_stop(&d);
}
END_TEST

START_TEST(idle_instance_stops_watching)
{
	struct ht_daemon d;
	ht_start(&d, PLUGINS);
	bh_client *c = ht_connect(&d);
	calls(c, "hot.echo");
	pid_t shim = (pid_t)ht_instance_pid(c, "hot", 0);
	uint64_t shim0 = ht_cpu_ms(shim), daemon0 = ht_cpu_ms(d.pid);
	poll(NULL, 0, IDLE_MS); /* the interval measured, not a synchronisation */
	uint64_t shim_ms = ht_cpu_ms(shim) - shim0, daemon_ms = ht_cpu_ms(d.pid) - daemon0;
	ck_assert_msg(shim_ms < IDLE_MS / 4, "the idle instance used %llu ms of CPU in %d ms",
		      (unsigned long long)shim_ms, IDLE_MS);
	ck_assert_msg(daemon_ms < IDLE_MS / 4, "the idle daemon used %llu ms of CPU in %d ms",
		      (unsigned long long)daemon_ms, IDLE_MS);
	/* And it still answers at once after the pause. */
	int64_t v = 7;
	ck_assert_int_eq(ht_call_int_ok(c, "hot.echo", &v, 1), 7);
	bh_client_free(c);
	ht_stop(&d);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("integ_watch");
	TCase *tc = ht_tcase("watch");
	tcase_add_test(tc, close_calls_are_caught);
	tcase_add_test(tc, spin_us_zero_never_watches);
	tcase_add_test(tc, idle_instance_stops_watching);
	suite_add_tcase(s, tc);
	return ht_main(s);
}
