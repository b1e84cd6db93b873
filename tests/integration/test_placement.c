/* Integration: cpu_placement (placement.c).
 *
 *   - apart: the daemon runs on the first of its CPUs alone, every thread of every
 *     instance, confined or not, on the others (the child sets it on itself first);
 *   - a reload back to shared gives the daemon all its CPUs again, and instances
 *     started from then on are born where the daemon is; running ones keep theirs;
 *   - with one CPU, apart stays shared and the log says why;
 *   - a value other than shared or apart is a config error naming both;
 *   - bulkhead.status says which placement holds, and `bulkhead status` says "cpus
 *     apart" on its first line.
 * The suite SKIPs on a host that gives it fewer than two CPUs.
 *
 * CPUs are read with sched_getaffinity on the daemon's and the instances' host pids;
 * the daemon inherits this test's CPUs, which is what it divides. The reload is
 * awaited on the config.reloaded event. */
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

#define ECHO_ENTRY(name, extra) \
	"{ name = \"" name "\"; path = \"" HT_PLUGIN("echo") "\"; " extra " }"

static cpu_set_t cpus_of(pid_t pid)
{
	cpu_set_t s;
	CPU_ZERO(&s);
	ck_assert_msg(sched_getaffinity(pid, sizeof s, &s) == 0, "sched_getaffinity %d: %m",
		      (int)pid);
	return s;
}

static int first_cpu(const cpu_set_t *s)
{
	for (int c = 0; c < CPU_SETSIZE; c++)
		if (CPU_ISSET(c, s))
			return c;
	return -1;
}


static void ping(bh_client *c, const char *method)
{
	bh_error err = { 0 };
	int r = bh_call(c, method, HT_LONG_MS, NULL, &err);
	ht_assert_ok(r, err);
}

static void assert_apart(bh_client *c, pid_t daemon, const char *plugin, uint32_t n,
			 const cpu_set_t *all)
{
	int d_cpu = first_cpu(all);
	cpu_set_t want_daemon, want_inst = *all;
	CPU_ZERO(&want_daemon);
	CPU_SET(d_cpu, &want_daemon);
	CPU_CLR(d_cpu, &want_inst);
	cpu_set_t got = cpus_of(daemon);
	ck_assert_msg(CPU_EQUAL(&got, &want_daemon), "the daemon is not on CPU %d alone", d_cpu);
	for (uint32_t i = 0; i < n; i++) {
		pid_t pid = (pid_t)ht_instance_pid(c, plugin, i);
		/* Every thread: the shim's and any the plugin started. */
		char dir[64];
		snprintf(dir, sizeof dir, "/proc/%d/task", (int)pid);
		DIR *tasks = opendir(dir);
		ck_assert_ptr_nonnull(tasks);
		int n_tasks = 0;
		for (struct dirent *e; (e = readdir(tasks));) {
			if (e->d_name[0] == '.')
				continue;
			got = cpus_of((pid_t)atoi(e->d_name));
			ck_assert_msg(CPU_EQUAL(&got, &want_inst),
				      "%s instance %u (pid %d), thread %s, is not on the daemon's "
				      "other CPUs", plugin, i, (int)pid, e->d_name);
			n_tasks++;
		}
		closedir(tasks);
		ck_assert_int_gt(n_tasks, 0);
	}
}

#ifdef HT_CLI
/* The first line `bulkhead status` prints (malloc'd). */
static char *cli_status_head(const struct ht_daemon *d)
{
	int p[2];
	ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		dup2(p[1], 1);
		execl(HT_CLI, HT_CLI, "-s", d->sock, "status", (char *)NULL);
		_exit(127);
	}
	close(p[1]);
	FILE *f = fdopen(p[0], "r");
	ck_assert_ptr_nonnull(f);
	char *line = NULL;
	size_t cap = 0;
	ck_assert_int_gt(getline(&line, &cap, f), 0);
	fclose(f);
	int status;
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "bulkhead status failed");
	return line;
}
#endif

START_TEST(apart_places_daemon_and_instances)
{
	cpu_set_t all = cpus_of(0);
	struct ht_daemon d;
	ht_start(&d, "cpu_placement = \"apart\";\nplugins = (" ECHO_ENTRY("echo", "instances = 2;")
		     ",\n" ECHO_ENTRY("bare", "sandbox = false;") ");");
	bh_client *c = ht_connect(&d);
	ping(c, "echo.ping");
	ping(c, "bare.ping");
	assert_apart(c, d.pid, "echo", 2, &all);
	assert_apart(c, d.pid, "bare", 1, &all); /* unconfined: placed all the same */
	char line[96];
	snprintf(line, sizeof line, "apart: daemon on CPU %d", first_cpu(&all));
	ck_assert_msg(ht_log_has(&d, line), "no \"%s\" in the log", line);
	bh_result *st = ht_status(c);
	ck_assert_msg(ht_str_has(ht_get(bh_result_value(st), "cpu_placement"), line),
		      "status does not say \"%s\"", line);
	bh_result_free(st);
#ifdef HT_CLI
	char *head = cli_status_head(&d);
	ck_assert_msg(strstr(head, ", cpus apart"), "bulkhead status: %s", head);
	free(head);
#endif
	bh_client_free(c);
	ht_stop(&d);
}
END_TEST

/* ---- reload ---- */

static int on_event(void *userdata, const char *method, const bh_value *params,
		    bh_writer *result, bh_error *err)
{
	bool *reloaded = userdata;
	(void)method, (void)result, (void)err;
	char kind[64];
	ht_str(ht_get(bh_value_at(params, 0), "kind"), kind, sizeof kind);
	if (strcmp(kind, "config.reloaded") == 0)
		*reloaded = true;
	return 0;
}

static void await_reload(bh_client *sub, const bool *reloaded)
{
	int64_t deadline = ht_now_ms() + HT_LONG_MS;
	while (!*reloaded) {
		int64_t left = deadline - ht_now_ms();
		ck_assert_msg(left > 0, "no config.reloaded event");
		struct pollfd p = { .fd = bh_client_fd(sub), .events = POLLIN };
		ck_assert_int_ge(poll(&p, 1, (int)left), 0);
		ck_assert_int_eq(bh_client_step(sub), 0);
	}
}

START_TEST(reload_to_shared_gives_cpus_back)
{
	cpu_set_t all = cpus_of(0);
	struct ht_daemon d;
	ht_start(&d, "cpu_placement = \"apart\";\nplugins = (" ECHO_ENTRY("echo", "") ");");
	bh_client *c = ht_connect(&d), *sub = ht_connect(&d);
	ping(c, "echo.ping");
	assert_apart(c, d.pid, "echo", 1, &all);
	bool reloaded = false;
	ck_assert_int_eq(bh_client_handle(sub, "bulkhead.event", on_event, &reloaded), 0);
	ping(sub, "bulkhead.subscribe");

	FILE *f = fopen(d.conf, "we");
	ck_assert_ptr_nonnull(f);
	fprintf(f, "socket = { path = \"%s\"; };\ncpu_placement = \"shared\";\nplugins = ("
		   ECHO_ENTRY("echo", "") ",\n" ECHO_ENTRY("late", "") ");\n", d.sock);
	ck_assert_int_eq(fclose(f), 0);
	ck_assert_int_eq(kill(d.pid, SIGHUP), 0);
	await_reload(sub, &reloaded);

	cpu_set_t got = cpus_of(d.pid);
	ck_assert_msg(CPU_EQUAL(&got, &all), "the daemon did not get its CPUs back");
	bh_result *st = ht_status(c);
	ck_assert(ht_get_str_is(bh_result_value(st), "cpu_placement", "shared"));
	bh_result_free(st);
	ping(c, "late.ping"); /* started after the reload: born where the daemon is */
	got = cpus_of((pid_t)ht_instance_pid(c, "late", 0));
	ck_assert_msg(CPU_EQUAL(&got, &all), "an instance started after the reload is placed");
	cpu_set_t kept = all;
	CPU_CLR(first_cpu(&all), &kept);
	got = cpus_of((pid_t)ht_instance_pid(c, "echo", 0));
	ck_assert_msg(CPU_EQUAL(&got, &kept), "a running instance was moved");
	bh_client_free(sub);
	bh_client_free(c);
	ht_stop(&d);
}
END_TEST

START_TEST(one_cpu_stays_shared)
{
	cpu_set_t mine = cpus_of(0), one;
	CPU_ZERO(&one);
	CPU_SET(first_cpu(&mine), &one);
	/* The daemon inherits this: it may use one CPU. */
	ck_assert_int_eq(sched_setaffinity(0, sizeof one, &one), 0);
	struct ht_daemon d;
	ht_start(&d, "cpu_placement = \"apart\";\nplugins = (" ECHO_ENTRY("echo", "") ");");
	ck_assert_int_eq(sched_setaffinity(0, sizeof mine, &mine), 0);
	bh_client *c = ht_connect(&d);
	ping(c, "echo.ping");
	ck_assert(ht_log_has(&d, "cpu_placement = \"apart\" needs 2 CPUs; the daemon may use 1"));
	cpu_set_t got = cpus_of((pid_t)ht_instance_pid(c, "echo", 0));
	ck_assert(CPU_EQUAL(&got, &one));
	bh_client_free(c);
	ht_stop(&d);
}
END_TEST

START_TEST(unknown_placement_refused)
{
	struct ht_daemon d;
	ht__setup(&d, __func__, NULL, "cpu_placement = \"far\";\nplugins = ();");
	ck_assert(!ht_spawn(&d));
	ck_assert(ht_log_has(&d, "cpu_placement: expected one of shared, apart; got \"far\""));
	ht_cleanup(&d);
}
END_TEST

int main(void)
{
	cpu_set_t mine;
	CPU_ZERO(&mine);
	if (sched_getaffinity(0, sizeof mine, &mine) < 0 || CPU_COUNT(&mine) < 2) {
		printf("SKIP: cpu_placement = apart needs 2 CPUs; this test may use %d\n",
		       CPU_COUNT(&mine));
		return HT_SKIP;
	}
	Suite *s = suite_create("placement");
	TCase *tc = ht_tcase("placement");
	tcase_add_test(tc, apart_places_daemon_and_instances);
	tcase_add_test(tc, reload_to_shared_gives_cpus_back);
	tcase_add_test(tc, one_cpu_stays_shared);
	tcase_add_test(tc, unknown_placement_refused);
	suite_add_tcase(s, tc);
	return ht_main(s);
}
