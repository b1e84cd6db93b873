/* Integration: host identities of instances (sandbox_ids, subordinate ranges), the
 * memory limit without a memory cgroup, and spawns that run short of resources.
 *
 * The unprivileged cases run the daemon as nobody (65534); the subordinate-range case
 * gives nobody a range in a private mount namespace (its own /etc/subuid and
 * /etc/subgid bound over the host's), so the host's files are never touched. Cases
 * this host cannot run report why and pass nothing: they exit 77 through
 * ht_skip(), which ctest reports as SKIP. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"

#define NOBODY 65534
#define ECHO HT_PLUGIN("echo")
#define MEM HT_PLUGIN("mem")

/* A range of 8 ids of our own, unlikely to be another test daemon's (the lock
 * file keeps them apart anyway). */
static uint32_t test_range(void)
{
	return 1900000000u + (uint32_t)(getpid() % 100000) * 8;
}

/* A call without params that must succeed with a string: its value (static buffer). */
static const char *call_str(bh_client *c, const char *method)
{
	static char buf[256];
	bh_result *res;
	bh_error err;
	bh_client_params(c);
	ht_assert_ok(bh_call(c, method, HT_LONG_MS, &res, &err), err);
	ht_str(bh_result_value(res), buf, sizeof(buf));
	bh_result_free(res);
	return buf;
}

static const bh_value *instances_of(const bh_value *status, const char *plugin)
{
	const bh_value *p = ht_status_plugin(status, plugin);
	ck_assert_msg(p != NULL, "no plugin %s in the status", plugin);
	const bh_value *insts = ht_get(p, "instances");
	ck_assert_int_eq(insts->type, BH_ARRAY);
	return insts;
}

/* The host uid the kernel says pid runs as (all four of real, effective, saved, fs). */
static void assert_runs_as(uint64_t pid, uint64_t uid)
{
	char path[64], buf[4096], want[96];
	snprintf(path, sizeof(path), "/proc/%llu/status", (unsigned long long)pid);
	FILE *f = fopen(path, "re");
	ck_assert_msg(f != NULL, "%s: %s", path, strerror(errno));
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	snprintf(want, sizeof(want), "\nUid:\t%llu\t%llu\t%llu\t%llu\n", (unsigned long long)uid,
		 (unsigned long long)uid, (unsigned long long)uid, (unsigned long long)uid);
	ck_assert_msg(strstr(buf, want) != NULL, "pid %llu does not run as uid %llu",
		      (unsigned long long)pid, (unsigned long long)uid);
}

static const char *identity_mode(const bh_value *status, char *buf, size_t len)
{
	return ht_str(ht_get(ht_get(status, "identity"), "mode"), buf, len);
}

/* ---- a root daemon: one uid per instance ------------------------------------------- */

START_TEST(root_one_uid_per_instance)
{
	uint32_t first = test_range();
	struct ht_daemon d;
	ht_start(&d,
		 "sandbox_ids = { first = %u; count = 8; };\n"
		 "plugins = ( { name = \"a\"; path = \"%s\"; instances = 3; },\n"
		 "            { name = \"b\"; path = \"%s\"; } );\n",
		 first, ECHO, ECHO);
	bh_client *c = ht_connect(&d);
	ck_assert_str_eq(call_str(c, "a.ping"), "pong");
	ck_assert_str_eq(call_str(c, "b.ping"), "pong");
	bh_result *st = ht_status(c);
	char mode[32];
	ck_assert_str_eq(identity_mode(bh_result_value(st), mode, sizeof(mode)), "range");
	uint64_t seen[4];
	size_t n = 0;
	const char *names[] = {"a", "b"};
	for (int k = 0; k < 2; k++) {
		const bh_value *insts = instances_of(bh_result_value(st), names[k]);
		for (uint32_t i = 0; i < insts->len; i++) {
			uint64_t uid = ht_get_uint(&insts->as.items[i], "host_uid");
			ck_assert_msg(uid >= first && uid < first + 8, "uid %llu outside the range",
				      (unsigned long long)uid);
			for (size_t j = 0; j < n; j++)
				ck_assert_msg(seen[j] != uid, "two instances share host uid %llu",
					      (unsigned long long)uid);
			ck_assert_uint_lt(n, 4);
			seen[n++] = uid;
			assert_runs_as(ht_get_uint(&insts->as.items[i], "pid"), uid);
		}
	}
	ck_assert_uint_eq(n, 4);
	bh_result_free(st);
	bh_client_free(c);
	ht_stop(&d);
}
END_TEST

/* Two ids, three instances: the third waits (a transient shortage, not `failed`) and
 * starts as soon as an id is given back, which happens once its holder is gone. */
START_TEST(root_ids_run_out)
{
	uint32_t first = test_range();
	struct ht_daemon d;
	ht_start(&d,
		 "sandbox_ids = { first = %u; count = 2; };\n"
		 "restart = { backoff_min_ms = 5; backoff_max_ms = 50; };\n"
		 "plugins = ( { name = \"a\"; path = \"%s\"; instances = 2; },\n"
		 "            { name = \"b\"; path = \"%s\"; } );\n",
		 first, ECHO, ECHO);
	bh_client *c = ht_connect(&d);
	ck_assert_str_eq(call_str(c, "a.ping"), "pong");
	bh_result *st = ht_status(c);
	const bh_value *b = ht_status_plugin(bh_result_value(st), "b");
	ck_assert_msg(ht_get_str_is(b, "state", "starting"), "b is not waiting to start");
	ck_assert_uint_ge(ht_get_uint(b, "spawn_failures"), 1);
	ck_assert_msg(ht_str_has(ht_get(b, "last_exit"), "no free host uid"), "last_exit");
	ck_assert_uint_eq(ht_get_uint(ht_get(bh_result_value(st), "identity"), "in_use"), 2);
	bh_result_free(st);

	bh_writer *w = bh_client_params(c);
	bh_write_array(w, 1);
	bh_write_cstr(w, "a");
	bh_result *res;
	bh_error err;
	ht_assert_ok(bh_call(c, "bulkhead.unload", HT_LONG_MS, &res, &err), err);
	bh_result_free(res);
	/* a's ids are free now: b's next retry takes one. */
	ck_assert_str_eq(call_str(c, "b.ping"), "pong");
	st = ht_status(c);
	const bh_value *insts = instances_of(bh_result_value(st), "b");
	uint64_t uid = ht_get_uint(&insts->as.items[0], "host_uid");
	ck_assert(uid == first || uid == first + 1);
	bh_result_free(st);
	bh_client_free(c);
	ht_stop(&d);
}
END_TEST

/* ---- spawns that run short of file descriptors -------------------------------------- */

static unsigned fd_count(pid_t pid)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	DIR *dir = opendir(path);
	ck_assert_msg(dir != NULL, "%s: %s", path, strerror(errno));
	unsigned n = 0;
	struct dirent *e;
	while ((e = readdir(dir)))
		n += e->d_name[0] != '.';
	closedir(dir);
	return n;
}

static uint64_t plugin_uint(bh_client *c, const char *plugin, const char *key, bool *failed)
{
	bh_result *st = ht_status(c);
	const bh_value *p = ht_status_plugin(bh_result_value(st), plugin);
	uint64_t v = ht_get_uint(p, key);
	*failed = ht_get_str_is(p, "state", "failed") || ht_get_str_is(p, "state", "quarantined");
	bh_result_free(st);
	return v;
}

/* The newest instance's pid, 0 when there is none. */
static uint64_t newest_pid(bh_client *c, const char *plugin)
{
	bh_result *st = ht_status(c);
	const bh_value *insts = instances_of(bh_result_value(st), plugin);
	uint64_t pid = insts->len ? ht_get_uint(&insts->as.items[insts->len - 1], "pid") : 0;
	bh_result_free(st);
	return pid;
}

#define FD_LIMIT 96
#define MAX_HOLD FD_LIMIT

/* The daemon may only hold FD_LIMIT fds. For every number of free fds from 0 up,
 * clients take all the others, the plugin crashes, and its restart meets the
 * shortage wherever it falls: in the daemon (socketpair, pipes, pidfds, cgroup
 * files) or in the child's set-up (its own nofile, 32, is below the numbers of the
 * daemon's fds it moves). Whatever happens, the plugin is never `failed`, and it
 * answers again once the clients are gone. */
START_TEST(spawn_short_of_fds)
{
	struct ht_daemon d;
	ht_start(&d,
		 "restart = { backoff_min_ms = 1; backoff_max_ms = 20; quarantine_crashes = 1000; };\n"
		 "plugins = ( { name = \"e\"; path = \"%s\"; restart = \"always\";\n"
		 "              sandbox = { nofile = 32; }; } );\n", ECHO);
	struct rlimit rl = {FD_LIMIT, FD_LIMIT};
	ck_assert_int_eq(prlimit(d.pid, RLIMIT_NOFILE, &rl, NULL), 0);
	bh_client *ctl = ht_connect(&d);
	ck_assert_str_eq(call_str(ctl, "e.ping"), "pong");
	bool failed;
	for (unsigned free_fds = 0; free_fds <= 24; free_fds++) {
		bh_client *hold[MAX_HOLD];
		size_t n = 0;
		/* Each client is accepted (it got an answer) before the next one. */
		while (fd_count(d.pid) + free_fds < FD_LIMIT && n < MAX_HOLD) {
			hold[n] = ht_connect(&d);
			bh_result *res;
			bh_error err;
			bh_client_params(hold[n]);
			ht_assert_ok(bh_call(hold[n], "bulkhead.version", HT_LONG_MS, &res, &err), err);
			bh_result_free(res);
			n++;
		}
		uint64_t failures = plugin_uint(ctl, "e", "spawn_failures", &failed);
		uint64_t pid = newest_pid(ctl, "e");
		bh_result *res;
		bh_error err;
		bh_client_params(ctl);
		int rc = bh_call(ctl, "e.crash", HT_LONG_MS, &res, &err);
		ht_assert_err(rc, err, BH_E_PLUGIN_CRASHED, NULL);
		/* The restart was tried: it failed for lack of fds, or an instance started. */
		for (;;) {
			uint64_t now = plugin_uint(ctl, "e", "spawn_failures", &failed);
			ck_assert_msg(!failed, "free fds %u: the plugin was given up on", free_fds);
			uint64_t p = newest_pid(ctl, "e");
			if (now > failures || (p && p != pid))
				break;
		}
		for (size_t i = 0; i < n; i++)
			bh_client_free(hold[i]);
		ck_assert_str_eq(call_str(ctl, "e.ping"), "pong");
	}
	uint64_t failures = plugin_uint(ctl, "e", "spawn_failures", &failed);
	printf("spawn_short_of_fds: %llu spawns ran short and were retried\n",
	       (unsigned long long)failures);
	ck_assert_msg(failures > 0, "no spawn ran short: the fault was not provoked");
	bh_client_free(ctl);
	ht_stop(&d);
}
END_TEST

/* A plugin file the instances' host uid cannot read: retried with back-off, the
 * reason logged once however often it is retried, and served once it is readable. */
START_TEST(root_unreadable_plugin_reported_once)
{
	char path[64];
	snprintf(path, sizeof(path), "/tmp/bh-unreadable-%d.so", (int)getpid());
	char cmd[256];
	snprintf(cmd, sizeof(cmd), "cp '%s' '%s' && chmod 0600 '%s'", ECHO, path, path);
	ck_assert_int_eq(system(cmd), 0);
	struct ht_daemon d;
	ht_start(&d,
		 "sandbox_ids = { first = %u; count = 8; };\n"
		 "restart = { backoff_min_ms = 1; backoff_max_ms = 4; };\n"
		 "plugins = ( { name = \"u\"; path = \"%s\"; } );\n",
		 test_range(), path);
	bh_client *c = ht_connect(&d);
	bool failed;
	while (plugin_uint(c, "u", "spawn_failures", &failed) < 5)
		ck_assert_msg(!failed, "the plugin was given up on");
	char *log = ht_read_log(&d);
	int n = 0;
	for (const char *p = log; (p = strstr(p, "not readable by others")); p++)
		n++;
	ck_assert_msg(n == 1, "the reason was logged %d times in 5 failed spawns:\n%s", n, log);
	free(log);
	ck_assert_int_eq(chmod(path, 0644), 0);
	ck_assert_str_eq(call_str(c, "u.ping"), "pong");
	bh_client_free(c);
	ht_stop(&d);
	unlink(path);
}
END_TEST

/* ---- an unprivileged daemon ------------------------------------------------------------ */

static bool start_as_nobody(struct ht_daemon *d)
{
	unsetenv("XDG_RUNTIME_DIR"); /* root's, which nobody cannot write */
	d->run_uid = NOBODY;
	d->run_gid = NOBODY;
	return ht_spawn(d);
}

/* start_as_nobody, or SKIP when the host gives nobody no user namespaces (the log
 * says why); any other failure to start fails the test. */
static void start_as_nobody_or_skip(struct ht_daemon *d)
{
	if (start_as_nobody(d))
		return;
	char *log = ht_read_log(d);
	bool userns = strstr(log, "user namespaces") != NULL;
	free(log);
	ck_assert_msg(userns, "the unprivileged daemon did not start");
	ht_cleanup(d);
	ht_skip("no user namespaces for nobody here");
}

/* Without a memory cgroup: the Go-like reservation at init starts and answers; memfd
 * pages past the limit end the instance with the memory-limit reason. */
START_TEST(unprivileged_memory_fallback)
{
	struct ht_daemon d;
	ht_setup(&d, NULL,
		 "sandbox_ids = { subordinate = false; };\n"
		 "plugins = ( { name = \"m\"; path = \"%s\"; timeout_ms = 20000;\n"
		 "              sandbox = { memory = \"32M\"; }; } );\n", MEM);
	start_as_nobody_or_skip(&d);
	bh_client *c = ht_connect(&d);
	bh_result *st = ht_status(c);
	char buf[512];
	const bh_value *sb = ht_get(ht_status_plugin(bh_result_value(st), "m"), "sandbox");
	ht_str(ht_get(sb, "memory"), buf, sizeof(buf));
	ck_assert(ht_str_has(ht_get(sb, "tmp"), "4096 inodes")); /* the /tmp inode cap */
	char mode[32];
	ck_assert_str_eq(identity_mode(bh_result_value(st), mode, sizeof(mode)), "own");
	ck_assert(ht_str_has(ht_get(ht_get(bh_result_value(st), "identity"), "why"),
			     "subordinate = false"));
	bool fallback = strstr(buf, "RLIMIT_DATA") != NULL;
	if (fallback)
		ck_assert(ht_str_has(ht_get(sb, "memory_enforced"), "memfd"));
	bh_result_free(st);
	if (!fallback) {
		bh_client_free(c);
		ht_stop(&d);
		ht_skip("memory is enforced by %s for nobody here, not by the fallback", buf);
	}
	/* init reserved 4 GiB: ready, and answering. */
	ck_assert_str_eq(call_str(c, "m.ping"), "pong");
	bh_result *res;
	bh_error err;
	int rc = ht_call_ints(c, "m.memfd", HT_LONG_MS, &res, &err, HT_INTS(96));
	ht_assert_err(rc, err, BH_E_LIMIT, "out of memory (limit 32 MiB)");
	ck_assert_str_eq(call_str(c, "m.ping"), "pong"); /* restarted */
	bh_client_free(c);
	ht_stop(&d);
}
END_TEST

/* Bind a file holding text over path (in our private mount namespace). */
static void bind_text(const char *dir, const char *path, const char *text)
{
	char tmp[HT_PATH_MAX + 16];
	snprintf(tmp, sizeof(tmp), "%s/%s", dir, strrchr(path, '/') + 1);
	FILE *f = fopen(tmp, "we");
	ck_assert_msg(f != NULL, "%s: %s", tmp, strerror(errno));
	fputs(text, f);
	ck_assert_int_eq(fclose(f), 0);
	ck_assert_int_eq(chmod(tmp, 0644), 0);
	ck_assert_msg(mount(tmp, path, NULL, MS_BIND, NULL) == 0, "bind %s: %s", path,
		      strerror(errno));
}

/* nobody with a subordinate range: each instance maps its own id from it through
 * newuidmap/newgidmap, and drops the daemon's groups. */
START_TEST(unprivileged_subordinate_ids)
{
	struct stat sb;
	if (stat("/usr/bin/newuidmap", &sb) < 0 || !(sb.st_mode & S_ISUID))
		ht_skip("newuidmap is not installed setuid (package uidmap; tests/install-deps.sh "
			"installs it)");
	/* This test process (libcheck forked it) gets a mount namespace of its own. */
	ck_assert_int_eq(unshare(CLONE_NEWNS), 0);
	ck_assert_int_eq(mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL), 0);
	uint32_t first = test_range() + 1000000;
	struct ht_daemon d;
	ht_setup(&d, NULL, "plugins = ( { name = \"m\"; path = \"%s\"; instances = 2; } );\n", MEM);
	char line[96];
	snprintf(line, sizeof(line), "nobody:%u:8\n", first);
	bind_text(d.dir, "/etc/subuid", line);
	bind_text(d.dir, "/etc/subgid", line);
	start_as_nobody_or_skip(&d);
	bh_client *c = ht_connect(&d);
	ck_assert_str_eq(call_str(c, "m.ping"), "pong");
	bh_result *st = ht_status(c);
	char mode[32];
	ck_assert_str_eq(identity_mode(bh_result_value(st), mode, sizeof(mode)), "subordinate");
	const bh_value *insts = instances_of(bh_result_value(st), "m");
	ck_assert_uint_eq(insts->len, 2);
	uint64_t u0 = ht_get_uint(&insts->as.items[0], "host_uid");
	uint64_t u1 = ht_get_uint(&insts->as.items[1], "host_uid");
	ck_assert(u0 != u1);
	ck_assert(u0 >= first && u0 < first + 8 && u1 >= first && u1 < first + 8);
	assert_runs_as(ht_get_uint(&insts->as.items[0], "pid"), u0);
	assert_runs_as(ht_get_uint(&insts->as.items[1], "pid"), u1);
	bh_result_free(st);
	/* Inside, it is 1000:1000 as always. */
	bh_result *res;
	bh_error err;
	bh_client_params(c);
	ht_assert_ok(bh_call(c, "m.whoami", HT_LONG_MS, &res, &err), err);
	const bh_value *v = bh_result_value(res);
	int64_t uid, gid;
	ck_assert(v->type == BH_ARRAY && v->len == 2);
	ck_assert(bh_value_get_int(&v->as.items[0], &uid) == 0 && uid == 1000);
	ck_assert(bh_value_get_int(&v->as.items[1], &gid) == 0 && gid == 1000);
	bh_result_free(res);
	bh_client_free(c);
	ht_stop(&d);
}
END_TEST

/* One case per process (ctest entry integ_ident.CASE): ht_main_cases. */
int main(int argc, char **argv)
{
	const struct ht_case cases[] = {
		{"root_one_uid_per_instance", root_one_uid_per_instance},
		{"root_ids_run_out", root_ids_run_out},
		{"spawn_short_of_fds", spawn_short_of_fds},
		{"root_unreadable_plugin_reported_once", root_unreadable_plugin_reported_once},
		{"unprivileged_memory_fallback", unprivileged_memory_fallback},
		{"unprivileged_subordinate_ids", unprivileged_subordinate_ids},
	};
	if (geteuid() != 0) {
		printf("SKIP: integ_ident needs root (it starts root daemons and becomes nobody)\n");
		return 77;
	}
	return ht_main_cases("ident", cases, sizeof(cases) / sizeof(cases[0]), 120, argc, argv);
}
