/* Tests of libbulkhead-sandbox: real confined children, checked from inside (the
 * probe reports what it sees) and from outside (/proc, cgroupfs, wait status).
 *
 *     test_sandbox [CASE [--spawner]]
 * Without CASE every case runs and a skipped one counts as passed (its reason is
 * printed). With CASE only that one runs and the exit status is 77 when it was
 * skipped: ctest registers one test per case with SKIP_RETURN_CODE 77. --spawner
 * runs the case with the spawn helper started (as the daemon does): its children
 * are cloned by the helper, not by this process.
 *
 * Every wait has a deadline (poll on the pipes and the pidfd); nothing sleeps. */
#define _GNU_SOURCE
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <linux/sched.h>
#include <linux/securebits.h>

#include "bulkhead/proto.h"
#include "bulkhead/sandbox.h"
#include "internal.h" /* the spawn helper's wire, for the malformed requests */

#define PROBE BH_TEST_PROBE
#define SHIM BH_TEST_SHIM
#define PLUGINS BH_TEST_PLUGINS
#define DEADLINE_MS 15000

/* ---- skipping ------------------------------------------------------------------- */

/* Shared with the forked test processes: a case that cannot run here leaves its
 * reason, main() turns it into exit status 77. */
static char *skip_reason;

/* --spawner: the fixtures start the spawn helper. */
static bool use_spawner;

#define SKIP(...)                                                                          \
	do {                                                                               \
		snprintf(skip_reason, 512, __VA_ARGS__);                                   \
		printf("SKIP: %s\n", skip_reason);                                         \
		return;                                                                    \
	} while (0)

/* ---- a confined child ------------------------------------------------------------ */

struct proc {
	struct bh_child c;
	int chan, out, err;
	char buf[65536]; /* its stdout */
	size_t len;
	char ebuf[4096]; /* its stderr */
	size_t elen;
	siginfo_t si;
	bool reaped;
	char spawn_err[512];
};

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static struct bh_sandbox_profile full_profile(void)
{
	return (struct bh_sandbox_profile){
		.enabled = true,
		.memory_bytes = 64 << 20,
		.pids_max = 16,
		.cpu_percent = 50,
		.nofile = 64,
		.fsize_bytes = 4 << 20,
		.tmp_bytes = 512 << 10,
		.tmp_inodes = 256,
	};
}

static unsigned serial;

/* Spawn exe (argv[0] is what the child sees) confined by p (NULL: unconfined), the
 * plugin file being the probe itself unless plugin is given. 0 or -errno. */
static int start_exe(struct proc *pr, const struct bh_sandbox_profile *p, const char *exe,
		     const char *plugin, char *const *argv)
{
	int sv[2], o[2], e[2];
	memset(pr, 0, sizeof(*pr));
	pr->chan = pr->out = pr->err = -1;
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	ck_assert_int_eq(pipe2(o, O_CLOEXEC), 0);
	ck_assert_int_eq(pipe2(e, O_CLOEXEC), 0);
	char name[32];
	snprintf(name, sizeof(name), "test.%u", ++serial);
	struct bh_spawn_args a = {
		.exe = exe, .argv = argv, .channel_fd = sv[1], .stdout_fd = o[1],
		.stderr_fd = e[1], .plugin_path = plugin ? plugin : PROBE, .profile = p,
		.name = name,
	};
	int r = bh_sandbox_spawn(&a, &pr->c, pr->spawn_err, sizeof(pr->spawn_err));
	/* A helper still running after the spawn cloned the child (one found dead
	 * is forgotten, and the child cloned here). */
	ck_assert(r < 0 || pr->c.via_spawner == (bh_sandbox_spawner_pid() > 0));
	close(sv[1]);
	close(o[1]);
	close(e[1]);
	if (r < 0) {
		close(sv[0]);
		close(o[0]);
		close(e[0]);
		return r;
	}
	pr->chan = sv[0];
	pr->out = o[0];
	pr->err = e[0];
	return 0;
}

/* The probe in mode argv (NULL-terminated, without the program name). */
static int start(struct proc *pr, const struct bh_sandbox_profile *p, const char *const *args)
{
	char *argv[16] = {"sandbox-probe"};
	int n = 1;
	for (; args[n - 1] && n < 15; n++)
		argv[n] = (char *)args[n - 1];
	argv[n] = NULL;
	return start_exe(pr, p, PROBE, NULL, argv);
}

static void start_ok(struct proc *pr, const struct bh_sandbox_profile *p, const char *const *args)
{
	int r = start(pr, p, args);
	ck_assert_msg(r == 0, "spawn: %s (%s)", strerror(-r), pr->spawn_err);
}

/* Read stdout/stderr until stdout has a line "ready", or end of file. */
static void read_until(struct proc *pr, const char *marker)
{
	int64_t deadline = now_ms() + DEADLINE_MS;
	while (pr->out >= 0) {
		if (marker) {
			pr->buf[pr->len] = '\0';
			if (strstr(pr->buf, marker))
				return;
		}
		struct pollfd pfd[2] = {{.fd = pr->out, .events = POLLIN},
					{.fd = pr->err, .events = POLLIN}};
		int64_t left = deadline - now_ms();
		ck_assert_msg(left > 0, "probe: no \"%s\" within %d ms; stdout: %.*s; stderr: %.*s",
			      marker ? marker : "EOF", DEADLINE_MS, (int)pr->len, pr->buf,
			      (int)pr->elen, pr->ebuf);
		if (poll(pfd, pr->err >= 0 ? 2 : 1, (int)left) < 0)
			continue;
		if (pfd[1].revents && pr->err >= 0) {
			ssize_t n = read(pr->err, pr->ebuf + pr->elen, sizeof(pr->ebuf) - 1 - pr->elen);
			if (n <= 0) {
				close(pr->err);
				pr->err = -1;
			} else {
				pr->elen += (size_t)n;
			}
		}
		if (pfd[0].revents) {
			ssize_t n = read(pr->out, pr->buf + pr->len, sizeof(pr->buf) - 1 - pr->len);
			if (n <= 0) {
				close(pr->out);
				pr->out = -1;
			} else {
				pr->len += (size_t)n;
			}
		}
	}
	pr->buf[pr->len] = '\0';
	pr->ebuf[pr->elen] = '\0';
}

/* The value of "key=..." on its own line, or NULL. Rotating static buffers. */
static const char *kv(struct proc *pr, const char *key)
{
	static char vals[8][1024];
	static int next;
	size_t kl = strlen(key);
	pr->buf[pr->len] = '\0';
	for (char *l = pr->buf; l && *l; l = strchr(l, '\n'), l = l ? l + 1 : NULL) {
		if (strncmp(l, key, kl) == 0 && l[kl] == '=') {
			char *v = vals[next++ % 8];
			size_t n = strcspn(l + kl + 1, "\n");
			snprintf(v, 1024, "%.*s", (int)n, l + kl + 1);
			return v;
		}
	}
	return NULL;
}

#define ck_kv(pr, key, want)                                                                \
	do {                                                                                \
		const char *v_ = kv((pr), (key));                                           \
		ck_assert_msg(v_ && strcmp(v_, (want)) == 0, "%s: want \"%s\", got \"%s\"", \
			      (key), (want), v_ ? v_ : "(missing)");                        \
	} while (0)

/* Close the channel (the probe's cue to exit), then wait for the exit. */
static void finish(struct proc *pr)
{
	if (pr->chan >= 0)
		close(pr->chan);
	pr->chan = -1;
	read_until(pr, NULL);
	struct pollfd pfd = {.fd = pr->c.pidfd, .events = POLLIN};
	int n = poll(&pfd, 1, DEADLINE_MS);
	if (n == 0)
		bh_child_kill(&pr->c);
	ck_assert_msg(n == 1, "the child did not exit within %d ms", DEADLINE_MS);
	ck_assert_int_eq(waitid(P_PIDFD, (id_t)pr->c.pidfd, &pr->si, WEXITED), 0);
	pr->reaped = true;
}

static void release(struct proc *pr)
{
	bh_child_release(&pr->c);
	if (pr->out >= 0)
		close(pr->out);
	if (pr->err >= 0)
		close(pr->err);
	pr->out = pr->err = -1;
}

static void ck_exited(struct proc *pr, int status)
{
	ck_assert_msg(pr->si.si_code == CLD_EXITED && pr->si.si_status == status,
		      "want exit %d, got code %d status %d; stderr: %s", status, pr->si.si_code,
		      pr->si.si_status, pr->ebuf);
}

static void ck_killed(struct proc *pr, int sig)
{
	ck_assert_msg((pr->si.si_code == CLD_KILLED || pr->si.si_code == CLD_DUMPED) &&
			      pr->si.si_status == sig,
		      "want killed by %s, got code %d status %d; stdout: %s; stderr: %s",
		      strsignal(sig), pr->si.si_code, pr->si.si_status, pr->buf, pr->ebuf);
}

/* One field of /proc/PID/status as the host sees it, e.g. "Uid". */
static void proc_status(pid_t pid, const char *field, char *out, size_t len)
{
	char path[64], line[256];
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	FILE *f = fopen(path, "re");
	ck_assert_ptr_nonnull(f);
	out[0] = '\0';
	size_t fl = strlen(field);
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, field, fl) == 0 && line[fl] == ':') {
			char *v = line + fl + 1;
			v += strspn(v, " \t");
			v[strcspn(v, "\n")] = '\0';
			snprintf(out, len, "%s", v);
			break;
		}
	}
	fclose(f);
}

/* ---- fixtures ---------------------------------------------------------------------- */

static char host_note[1024];

static void spawner_setup(void)
{
	char err[256];
	int r = bh_sandbox_spawner_start(err, sizeof(err));
	ck_assert_msg(r == 0, "%s", err);
	ck_assert_int_gt(bh_sandbox_spawner_pid(), 0);
}

static void host_setup(void)
{
	ck_assert_int_eq(bh_sandbox_host_init(host_note, sizeof(host_note)), 0);
	if (use_spawner)
		spawner_setup();
}

static void host_teardown(void)
{
	bh_sandbox_host_done();
}

static bool is_cgroup(const char *how)
{
	return strncmp(how, "cgroup", 6) == 0;
}

/* ---- identity, namespaces ------------------------------------------------------------ */

START_TEST(identity)
{
	struct bh_sandbox_profile p = full_profile();
	struct proc pr;
	start_ok(&pr, &p, (const char *const[]){"info", NULL});
	read_until(&pr, "\nready\n");
	ck_kv(&pr, "uid", "1000,1000,1000");
	ck_kv(&pr, "gid", "1000,1000,1000");
	ck_kv(&pr, "env", "0");
	ck_kv(&pr, "hostname", "bulkhead");
	ck_kv(&pr, "fds", "0,1,2,3");
	ck_kv(&pr, "cgroup", "0::/");
	if (geteuid() == 0)
		ck_kv(&pr, "ngroups", "0");
	/* From the host, while it blocks on the channel: the unprivileged host id. */
	char uid[128], gid[128], want[128];
	unsigned host = geteuid() == 0 ? 65534 : geteuid();
	unsigned hostg = geteuid() == 0 ? 65534 : getegid();
	proc_status(pr.c.pid, "Uid", uid, sizeof(uid));
	proc_status(pr.c.pid, "Gid", gid, sizeof(gid));
	snprintf(want, sizeof(want), "%u\t%u\t%u\t%u", host, host, host, host);
	ck_assert_str_eq(uid, want);
	snprintf(want, sizeof(want), "%u\t%u\t%u\t%u", hostg, hostg, hostg, hostg);
	ck_assert_str_eq(gid, want);
	ck_assert_str_eq(pr.c.enforced.namespaces, "user,pid,net,mnt,ipc,uts,cgroup");
	/* A session and process group of its own: kill(0) reaches nobody else. */
	ck_assert_int_eq(getsid(pr.c.pid), pr.c.pid);
	ck_assert_int_eq(getpgid(pr.c.pid), pr.c.pid);
	finish(&pr);
	ck_exited(&pr, 0);
	release(&pr);
}
END_TEST

START_TEST(host_uid)
{
	if (geteuid() != 0)
		SKIP("host_uid: only a root daemon chooses the host id");
	struct bh_sandbox_profile p = full_profile();
	p.host_uid = 54321;
	p.host_gid = 54322;
	struct proc pr;
	start_ok(&pr, &p, (const char *const[]){"hold", NULL});
	read_until(&pr, "ready\n");
	char uid[128], gid[128];
	proc_status(pr.c.pid, "Uid", uid, sizeof(uid));
	proc_status(pr.c.pid, "Gid", gid, sizeof(gid));
	ck_assert_str_eq(uid, "54321\t54321\t54321\t54321");
	ck_assert_str_eq(gid, "54322\t54322\t54322\t54322");
	finish(&pr);
	release(&pr);
}
END_TEST

START_TEST(pidns)
{
	struct bh_sandbox_profile p = full_profile();
	struct proc pr;
	start_ok(&pr, &p, (const char *const[]){"info", NULL});
	read_until(&pr, "\nready\n");
	ck_kv(&pr, "pid", "1");
	ck_kv(&pr, "procpids", "1");
	ck_kv(&pr, "proc1_exe", BH_SANDBOX_SHIM_PATH);
	finish(&pr);
	release(&pr);
}
END_TEST

START_TEST(netns)
{
	struct bh_sandbox_profile p = full_profile();
	struct proc pr;
	start_ok(&pr, &p, (const char *const[]){"info", NULL});
	read_until(&pr, "\nready\n");
	ck_kv(&pr, "ifaces", "lo");
	ck_kv(&pr, "lo_up", "1");
	finish(&pr);
	release(&pr);
}
END_TEST

/* ---- file system ------------------------------------------------------------------- */

static bool in_list(const char *list, const char *word)
{
	size_t wl = strlen(word);
	for (const char *p = list; p && *p;) {
		size_t n = strcspn(p, ",");
		if (n == wl && strncmp(p, word, n) == 0)
			return true;
		p += n + (p[n] == ',');
	}
	return false;
}

START_TEST(filesystem)
{
	struct bh_sandbox_profile p = full_profile();
	struct proc pr;
	start_ok(&pr, &p, (const char *const[]){"info", NULL});
	read_until(&pr, "\nready\n");
	static const char *const hidden[] = {"stat/etc/shadow", "stat/etc/passwd", "stat/root",
					     "stat/home", "stat/var", "stat/sys", "stat/run",
					     "stat/boot"};
	for (size_t i = 0; i < sizeof(hidden) / sizeof(hidden[0]); i++)
		ck_kv(&pr, hidden[i], "ENOENT");
	ck_kv(&pr, "ro_root", "1");
	ck_kv(&pr, "ro_usr", "1");
	ck_kv(&pr, "ro_shim", "1");
	ck_kv(&pr, "ro_plugin_dir", "1");
	ck_kv(&pr, "ro_ldcache", "1");
	ck_kv(&pr, "ro_tmp", "0");
	ck_kv(&pr, "ro_proc", "1");
	ck_kv(&pr, "write_proc_comm", "EROFS");
	/* a sysctl: the permission check may come before the mount's */
	const char *ws = kv(&pr, "write_proc_sysctl");
	ck_assert_msg(ws && (strcmp(ws, "EROFS") == 0 || strcmp(ws, "EACCES") == 0),
		      "write_proc_sysctl: %s", ws ? ws : "?");
	ck_kv(&pr, "mkdir_root", "EROFS");
	ck_kv(&pr, "create_bulkhead", "EROFS");
	/* not the owner: the kernel may say EACCES before it looks at the mount */
	static const char *const denied[] = {"create_usr", "write_plugin"};
	for (size_t i = 0; i < 2; i++) {
		const char *w = kv(&pr, denied[i]);
		ck_assert_msg(w && (strcmp(w, "EROFS") == 0 || strcmp(w, "EACCES") == 0),
			      "%s: %s", denied[i], w ? w : "?");
	}
	ck_kv(&pr, "stat_libc", "ok");
	ck_kv(&pr, "stat_ldcache", "ok");
	const char *dev = kv(&pr, "dev");
	ck_assert_msg(dev && strlen(dev) == strlen("null,zero,urandom") && in_list(dev, "null") &&
			      in_list(dev, "zero") && in_list(dev, "urandom"),
		      "/dev has %s", dev ? dev : "?");
	const char *root = kv(&pr, "root");
	ck_assert_ptr_nonnull(root);
	static const char *const want_root[] = {"usr", "lib", "bin", "etc", "bulkhead", "dev",
						"proc", "tmp"};
	for (size_t i = 0; i < sizeof(want_root) / sizeof(want_root[0]); i++)
		ck_assert_msg(in_list(root, want_root[i]), "/ lacks %s: %s", want_root[i], root);
	ck_assert_msg(!in_list(root, "home") && !in_list(root, "root") && !in_list(root, "var"),
		      "/ has more than it should: %s", root);
	/* /tmp: writable, capped at tmp_bytes, not executable */
	ck_kv(&pr, "tmp_create", "ok");
	ck_kv(&pr, "tmp_fill_errno", "ENOSPC");
	long long filled = atoll(kv(&pr, "tmp_fill_bytes"));
	ck_assert_msg(filled <= (long long)p.tmp_bytes && filled >= (long long)p.tmp_bytes / 2,
		      "/tmp took %lld bytes, its size is %llu", filled,
		      (unsigned long long)p.tmp_bytes);
	ck_kv(&pr, "tmp_exec", "EACCES");
	/* and holds at most tmp_inodes files (the root directory is one) */
	ck_kv(&pr, "tmp_inodes_errno", "ENOSPC");
	int made = atoi(kv(&pr, "tmp_inodes_made"));
	ck_assert_msg(made < (int)p.tmp_inodes && made >= (int)p.tmp_inodes - 8,
		      "/tmp took %d files, its nr_inodes is %llu", made,
		      (unsigned long long)p.tmp_inodes);
	ck_assert_str_eq(pr.c.enforced.tmp, "tmpfs");
	finish(&pr);
	release(&pr);
}
END_TEST

/* ---- privileges, rlimits --------------------------------------------------------------- */

START_TEST(privileges)
{
	struct bh_sandbox_profile p = full_profile();
	struct proc pr;
	start_ok(&pr, &p, (const char *const[]){"info", NULL});
	read_until(&pr, "\nready\n");
	static const char *const caps[] = {"CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"};
	for (size_t i = 0; i < sizeof(caps) / sizeof(caps[0]); i++)
		ck_kv(&pr, caps[i], "0000000000000000");
	ck_kv(&pr, "NoNewPrivs", "1");
	ck_kv(&pr, "Seccomp", "0"); /* the shim installs it; the probe has not */
	char want[32];
	snprintf(want, sizeof(want), "%d",
		 SECBIT_NOROOT | SECBIT_NOROOT_LOCKED | SECBIT_NO_SETUID_FIXUP |
			 SECBIT_NO_SETUID_FIXUP_LOCKED | SECBIT_KEEP_CAPS_LOCKED |
			 SECBIT_NO_CAP_AMBIENT_RAISE | SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED);
	ck_kv(&pr, "securebits", want);
	finish(&pr);
	release(&pr);
}
END_TEST

START_TEST(rlimits)
{
	struct bh_sandbox_profile p = full_profile();
	struct proc pr;
	start_ok(&pr, &p, (const char *const[]){"info", NULL});
	read_until(&pr, "\nready\n");
	ck_kv(&pr, "rlimit_nofile", "64");
	ck_kv(&pr, "rlimit_fsize", "4194304");
	ck_kv(&pr, "rlimit_core", "0");
	/* Counters also charged to the user namespace's owner: capped per instance. */
	ck_kv(&pr, "rlimit_sigpending", "256");
	ck_kv(&pr, "rlimit_msgqueue", "0");
	ck_kv(&pr, "rlimit_memlock", "65536");
	/* The fallbacks apply exactly when no cgroup controller does. */
	ck_kv(&pr, "rlimit_as", "inf");
	if (!is_cgroup(pr.c.enforced.memory))
		ck_kv(&pr, "rlimit_data", "67108864");
	else
		ck_kv(&pr, "rlimit_data", "inf");
	if (!is_cgroup(pr.c.enforced.pids))
		ck_kv(&pr, "rlimit_nproc", "16"); /* else inherited from the daemon */
	ck_assert_str_eq(pr.c.enforced.nofile, "rlimit");
	ck_assert_str_eq(pr.c.enforced.fsize, "rlimit");
	finish(&pr);
	release(&pr);
}
END_TEST

/* ---- cgroups ------------------------------------------------------------------------ */

START_TEST(memory_limit)
{
	struct bh_sandbox_profile p = full_profile();
	p.memory_bytes = 32 << 20;
	struct bh_enforcement e;
	bh_sandbox_enforcement(&p, &e);
	if (!is_cgroup(e.memory))
		SKIP("memory limit: no memory controller on cgroup v2 or v1 (%s): %s", e.memory,
		     host_note);
	struct proc pr;
	start_ok(&pr, &p, (const char *const[]){"hog", NULL});
	finish(&pr);
	ck_killed(&pr, SIGKILL);
	char cause[128];
	bh_child_limit_cause(&pr.c, &p, cause, sizeof(cause));
	ck_assert_str_eq(cause, "out of memory (limit 32 MiB)");
	release(&pr);
}
END_TEST

START_TEST(pids_limit)
{
	struct bh_sandbox_profile p = full_profile();
	p.pids_max = 8;
	struct bh_enforcement e;
	bh_sandbox_enforcement(&p, &e);
	if (!is_cgroup(e.pids))
		SKIP("pids limit: no pids controller on cgroup v2 or v1 (%s): %s", e.pids, host_note);
	struct proc pr;
	start_ok(&pr, &p, (const char *const[]){"fork", "20", NULL});
	read_until(&pr, "ready\n");
	ck_kv(&pr, "forked", "7"); /* 8 tasks: the probe and 7 children */
	ck_kv(&pr, "fork_errno", "EAGAIN");
	finish(&pr);
	char cause[128];
	bh_child_limit_cause(&pr.c, &p, cause, sizeof(cause));
	ck_assert_str_eq(cause, "pids limit reached (8)");
	release(&pr);
}
END_TEST

/* The directory of cgroup `rel` ("memory", "0::" for v2) of pid, as the host sees it. */
static bool cgroup_path_of(pid_t pid, const char *ctl, char *out, size_t len)
{
	char path[64], line[1024], rel[1024] = "";
	snprintf(path, sizeof(path), "/proc/%d/cgroup", (int)pid);
	FILE *f = fopen(path, "re");
	if (!f)
		return false;
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = '\0';
		char *c1 = strchr(line, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
		if (!c2)
			continue;
		*c2 = '\0';
		bool v2 = strcmp(ctl, "0::") == 0;
		if (v2 ? strcmp(line, "0") == 0 : in_list(c1 + 1, ctl)) {
			snprintf(rel, sizeof(rel), "%s", c2 + 1);
			break;
		}
	}
	fclose(f);
	if (!rel[0])
		return false;
	/* the mount: cgroup2, or cgroup with ctl in its super options */
	f = fopen("/proc/self/mountinfo", "re");
	if (!f)
		return false;
	bool found = false;
	while (fgets(line, sizeof(line), f)) {
		char root[512], mnt[512], type[64], super[512];
		char *dash = strstr(line, " - ");
		if (!dash || sscanf(line, "%*s %*s %*s %511s %511s", root, mnt) != 2 ||
		    sscanf(dash + 3, "%63s %*s %511s", type, super) != 2)
			continue;
		bool v2 = strcmp(ctl, "0::") == 0;
		if (v2 ? strcmp(type, "cgroup2") == 0
		       : strcmp(type, "cgroup") == 0 && in_list(super, ctl)) {
			snprintf(out, len, "%s%s", mnt, strcmp(root, "/") == 0 ? rel : rel + strlen(root));
			found = true;
			break;
		}
	}
	fclose(f);
	return found;
}

static bool dir_exists(const char *p)
{
	struct stat st;
	return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

START_TEST(cgroup_cleanup)
{
	struct bh_sandbox_profile p = full_profile();
	struct proc pr;
	start_ok(&pr, &p, (const char *const[]){"hold", NULL});
	read_until(&pr, "ready\n");
	static const char *const ctls[] = {"0::", "memory", "pids", "cpu"};
	char dirs[4][1024];
	bool have[4];
	int n = 0;
	for (int i = 0; i < 4; i++) {
		have[i] = cgroup_path_of(pr.c.pid, ctls[i], dirs[i], sizeof(dirs[i])) &&
			  strstr(dirs[i], "/bulkhead-") != NULL;
		if (have[i]) {
			ck_assert_msg(dir_exists(dirs[i]), "%s: %s is not there", ctls[i], dirs[i]);
			n++;
		}
	}
	if (n == 0) {
		finish(&pr);
		release(&pr);
		SKIP("cgroup cleanup: this daemon could create no cgroup (%s)", host_note);
	}
	finish(&pr);
	release(&pr);
	for (int i = 0; i < 4; i++)
		if (have[i])
			ck_assert_msg(!dir_exists(dirs[i]), "%s: %s is still there", ctls[i], dirs[i]);
	bh_sandbox_host_done();
	for (int i = 0; i < 4; i++) {
		if (!have[i])
			continue;
		*strrchr(dirs[i], '/') = '\0'; /* the daemon's bulkhead-<pid> */
		ck_assert_msg(!dir_exists(dirs[i]), "%s: %s is still there", ctls[i], dirs[i]);
	}
}
END_TEST

/* Another daemon's subtree is swept only when its lock can be taken: its pid proves
 * nothing (from another pid namespace a live daemon's pid looks free). A subtree named
 * after a pid no process can have, once locked (alive) and once not (dead). */
START_TEST(cgroup_sweep)
{
	static const char *const ctls[] = {"memory", "0::"};
	char own[1024], live[1100], live_leaf[1200], dead[1100];
	int ci;
	for (ci = 0; ci < 2; ci++) {
		if (!cgroup_path_of(getpid(), ctls[ci], own, sizeof(own)))
			continue;
		snprintf(live, sizeof(live), "%s/bulkhead-99999999-0badf00d", own);
		if (mkdir(live, 0755) == 0)
			break;
	}
	if (ci == 2)
		SKIP("cgroup sweep: no cgroup below this process can be created");
	snprintf(live_leaf, sizeof(live_leaf), "%s/i1", live);
	snprintf(dead, sizeof(dead), "%s/bulkhead-99999998-0badf00e", own);
	ck_assert_int_eq(mkdir(live_leaf, 0755), 0);
	ck_assert_int_eq(mkdir(dead, 0755), 0);
	int lock = open(live, O_DIRECTORY | O_RDONLY | O_CLOEXEC);
	ck_assert_int_ge(lock, 0);
	ck_assert_int_eq(flock(lock, LOCK_EX | LOCK_NB), 0);

	pid_t child = fork(); /* the daemon's host set-up is once per process */
	ck_assert_int_ge(child, 0);
	if (child == 0) {
		char note[512];
		int r = bh_sandbox_host_init(note, sizeof(note));
		bh_sandbox_host_done();
		_exit(r == 0 ? 0 : 1);
	}
	int st;
	ck_assert_int_eq(waitpid(child, &st, 0), child);
	ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);

	bool live_kept = dir_exists(live_leaf), dead_gone = !dir_exists(dead);
	close(lock);
	rmdir(live_leaf);
	rmdir(live);
	rmdir(dead);
	ck_assert_msg(live_kept, "%s: a locked (live) subtree was swept", ctls[ci]);
	ck_assert_msg(dead_gone, "%s: an unlocked (dead) subtree was left", ctls[ci]);
}
END_TEST

START_TEST(cpu_limit)
{
	struct bh_sandbox_profile p = full_profile();
	struct proc pr;
	start_ok(&pr, &p, (const char *const[]){"hold", NULL});
	read_until(&pr, "ready\n");
	char dir[1024], file[1100], buf[64] = "";
	const char *want;
	if (strcmp(pr.c.enforced.cpu, "cgroup v2") == 0) {
		ck_assert(cgroup_path_of(pr.c.pid, "0::", dir, sizeof(dir)));
		snprintf(file, sizeof(file), "%s/cpu.max", dir);
		want = "50000 100000\n";
	} else if (strcmp(pr.c.enforced.cpu, "cgroup v1") == 0) {
		ck_assert(cgroup_path_of(pr.c.pid, "cpu", dir, sizeof(dir)));
		snprintf(file, sizeof(file), "%s/cpu.cfs_quota_us", dir);
		want = "50000\n";
	} else {
		finish(&pr);
		release(&pr);
		SKIP("cpu limit: no cpu controller on cgroup v2 or v1: %s", host_note);
	}
	FILE *f = fopen(file, "re");
	ck_assert_msg(f != NULL, "%s: %s", file, strerror(errno));
	ck_assert_ptr_nonnull(fgets(buf, sizeof(buf), f));
	fclose(f);
	ck_assert_str_eq(buf, want);
	finish(&pr);
	release(&pr);
}
END_TEST

START_TEST(cgroup_v2_controllers)
{
	struct bh_sandbox_profile p = full_profile();
	struct bh_enforcement e;
	bh_sandbox_enforcement(&p, &e);
	if (strcmp(e.memory, "cgroup v2") != 0 && strcmp(e.pids, "cgroup v2") != 0)
		SKIP("cgroup v2 limits: no memory or pids controller can be used on cgroup v2 "
		     "here (%s)", host_note);
	struct proc pr;
	start_ok(&pr, &p, (const char *const[]){"hold", NULL});
	read_until(&pr, "ready\n");
	char dir[1024], file[1100], buf[64] = "";
	ck_assert(cgroup_path_of(pr.c.pid, "0::", dir, sizeof(dir)));
	if (strcmp(e.memory, "cgroup v2") == 0) {
		snprintf(file, sizeof(file), "%s/memory.max", dir);
		FILE *f = fopen(file, "re");
		ck_assert_ptr_nonnull(f);
		ck_assert_ptr_nonnull(fgets(buf, sizeof(buf), f));
		fclose(f);
		ck_assert_str_eq(buf, "67108864\n");
	}
	finish(&pr);
	release(&pr);
}
END_TEST

START_TEST(unlimited)
{
	struct bh_sandbox_profile p = full_profile();
	p.memory_bytes = 0;
	p.pids_max = 0;
	p.cpu_percent = 0;
	struct proc pr;
	start_ok(&pr, &p, (const char *const[]){"info", NULL});
	read_until(&pr, "\nready\n");
	ck_assert_str_eq(pr.c.enforced.memory, "unlimited");
	ck_assert_str_eq(pr.c.enforced.pids, "unlimited");
	ck_assert_str_eq(pr.c.enforced.cpu, "unlimited");
	ck_kv(&pr, "rlimit_as", "inf");
	/* no v1 leaf where nothing is limited */
	static const char *const ctls[] = {"memory", "pids", "cpu"};
	for (int i = 0; i < 3; i++) {
		char dir[1024];
		if (cgroup_path_of(pr.c.pid, ctls[i], dir, sizeof(dir)))
			ck_assert_msg(!strstr(dir, "/bulkhead-"), "%s: %s", ctls[i], dir);
	}
	finish(&pr);
	ck_exited(&pr, 0);
	release(&pr);
}
END_TEST

START_TEST(kill_instance)
{
	struct bh_sandbox_profile p = full_profile();
	struct proc pr;
	start_ok(&pr, &p, (const char *const[]){"fork", "3", NULL});
	read_until(&pr, "ready\n");
	ck_assert_int_eq(bh_child_kill(&pr.c), 0);
	struct pollfd pfd = {.fd = pr.c.pidfd, .events = POLLIN};
	ck_assert_int_eq(poll(&pfd, 1, DEADLINE_MS), 1);
	ck_assert_int_eq(waitid(P_PIDFD, (id_t)pr.c.pidfd, &pr.si, WEXITED), 0);
	ck_killed(&pr, SIGKILL);
	release(&pr);
}
END_TEST

START_TEST(require_limits)
{
	/* A disabled sandbox cannot enforce anything. */
	struct bh_sandbox_profile p = full_profile();
	p.enabled = false;
	p.require_limits = true;
	struct proc pr;
	int r = start(&pr, &p, (const char *const[]){"hold", NULL});
	ck_assert_int_eq(r, -EOPNOTSUPP);
	ck_assert_msg(strstr(pr.spawn_err, "disabled"), "message: %s", pr.spawn_err);
	/* Enabled: fails exactly when a configured limit would not be a cgroup's. */
	p = full_profile();
	p.require_limits = true;
	struct bh_enforcement e;
	bh_sandbox_enforcement(&p, &e);
	bool exact = is_cgroup(e.memory) && is_cgroup(e.pids) && is_cgroup(e.cpu);
	r = start(&pr, &p, (const char *const[]){"hold", NULL});
	if (exact) {
		ck_assert_msg(r == 0, "%s", pr.spawn_err);
		read_until(&pr, "ready\n");
		finish(&pr);
		release(&pr);
	} else {
		ck_assert_int_eq(r, -EOPNOTSUPP);
		ck_assert_msg(strstr(pr.spawn_err, "controller on cgroup v2 or v1"), "message: %s",
			      pr.spawn_err);
	}
	/* No limit configured: nothing to refuse. */
	p = (struct bh_sandbox_profile){.enabled = true, .require_limits = true};
	ck_assert_int_eq(start(&pr, &p, (const char *const[]){"hold", NULL}), 0);
	read_until(&pr, "ready\n");
	finish(&pr);
	release(&pr);
}
END_TEST

START_TEST(unconfined)
{
	struct proc pr;
	start_ok(&pr, NULL, (const char *const[]){"info", NULL});
	read_until(&pr, "\nready\n");
	ck_kv(&pr, "env", "0");
	ck_kv(&pr, "fds", "0,1,2,3");
	char want[64];
	snprintf(want, sizeof(want), "%u,%u,%u", getuid(), geteuid(), geteuid());
	ck_kv(&pr, "uid", want);
	ck_assert_str_eq(pr.c.enforced.namespaces, "none");
	ck_assert_str_eq(pr.c.enforced.seccomp, "none");
	ck_assert_ptr_null(pr.c.cg);
	ck_assert_int_eq(getsid(pr.c.pid), pr.c.pid);
	finish(&pr);
	ck_exited(&pr, 0);
	release(&pr);
}
END_TEST

START_TEST(setup_failure)
{
	/* A plugin that does not exist: the spawn fails in the parent, with a message. */
	struct bh_sandbox_profile p = full_profile();
	struct proc pr;
	char *argv[] = {"sandbox-probe", "hold", NULL};
	int r = start_exe(&pr, &p, PROBE, "/nonexistent/plugin.so", argv);
	ck_assert_int_eq(r, -ENOENT);
	ck_assert_msg(strstr(pr.spawn_err, "/nonexistent/plugin.so"), "%s", pr.spawn_err);
}
END_TEST

START_TEST(exec_failure)
{
	/* Set-up succeeds, execve fails inside: exit BH_SANDBOX_EXIT_EXEC and one line
	 * "sandbox: PATH: REASON" on the stderr pipe. */
	char dir[] = "/tmp/bh-sandbox-test.XXXXXX", path[64];
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/not-a-program", dir);
	int fd = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0755);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, "plain text\n", 11), 11);
	close(fd);
	struct bh_sandbox_profile p = full_profile();
	struct proc pr;
	char *argv[] = {"bulkhead-shim", NULL};
	int r = start_exe(&pr, &p, path, PROBE, argv);
	ck_assert_msg(r == 0, "%s", pr.spawn_err);
	finish(&pr);
	unlink(path);
	rmdir(dir);
	ck_exited(&pr, BH_SANDBOX_EXIT_EXEC);
	ck_assert_msg(strstr(pr.ebuf, "sandbox: " BH_SANDBOX_SHIM_PATH ": Exec format error\n"),
		      "stderr: %s", pr.ebuf);
	release(&pr);
}
END_TEST

/* ---- seccomp -------------------------------------------------------------------------- */

static void run_seccomp(struct proc *pr, const char *const *args)
{
	struct bh_sandbox_profile p = full_profile();
	const char *argv[12] = {"seccomp"};
	int n = 1;
	for (; args[n - 1] && n < 11; n++)
		argv[n] = args[n - 1];
	argv[n] = NULL;
	start_ok(pr, &p, argv);
	finish(pr);
}

START_TEST(seccomp_deny)
{
	static const char *const cases[] = {"deny-ptrace", "deny-unshare", "deny-mount",
					    "deny-io_uring", "deny-bpf", "deny-execve"};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct proc pr;
		run_seccomp(&pr, (const char *const[]){cases[i], NULL});
		ck_kv(&pr, "install", "0");
		ck_assert_msg(!strstr(pr.buf, "survived"), "%s survived", cases[i]);
		ck_killed(&pr, SIGSYS);
		release(&pr);
	}
}
END_TEST

/* Whether this kernel serves int $0x80 at all (IA-32 emulation): without it the
 * instruction faults (SIGSEGV) before any filter sees it. */
static bool have_i386_entry(void)
{
	pid_t pid = fork();
	if (pid == 0) {
		long r = 20; /* getpid on i386 */
		__asm__ volatile("int $0x80" : "+a"(r) : : "memory", "r8", "r9", "r10", "r11");
		_exit(r == getpid() ? 0 : 1);
	}
	int st = 0;
	waitpid(pid, &st, 0);
	return WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

START_TEST(seccomp_arch)
{
	static const char *const cases[] = {"x32", "i386"};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (strcmp(cases[i], "i386") == 0 && !have_i386_entry())
			SKIP("seccomp arch: this kernel has no IA-32 emulation (int $0x80 faults "
			     "outside the sandbox too): x32 was checked, i386 cannot be");
		struct proc pr;
		run_seccomp(&pr, (const char *const[]){cases[i], NULL});
		ck_kv(&pr, "install", "0");
		ck_assert_msg(!strstr(pr.buf, "survived"), "%s survived", cases[i]);
		ck_killed(&pr, SIGSYS);
		release(&pr);
	}
}
END_TEST

START_TEST(seccomp_errno)
{
	struct proc pr;
	run_seccomp(&pr, (const char *const[]){"errno", NULL});
	ck_exited(&pr, 0);
	ck_kv(&pr, "socket_inet", "EACCES");
	ck_kv(&pr, "socket_inet6", "EACCES");
	ck_kv(&pr, "socket_netlink", "EACCES");
	ck_kv(&pr, "socket_packet", "EACCES");
	ck_kv(&pr, "clone3", "ENOSYS");
	ck_kv(&pr, "fork", "EPERM");
	ck_kv(&pr, "clone_process", "EPERM");
	ck_kv(&pr, "personality_set", "EPERM");
	ck_kv(&pr, "personality_query", "ok");
	ck_kv(&pr, "tiocsti", "EPERM");
	ck_kv(&pr, "tcgets", "ENOTTY");
	ck_kv(&pr, "setrlimit", "EPERM");
	ck_kv(&pr, "getrlimit", "ok");
	ck_kv(&pr, "mlock", "EPERM");
	ck_kv(&pr, "sched_setaffinity", "EPERM");
	ck_assert(strstr(pr.buf, "\nsurvived\n") != NULL);
	release(&pr);
}
END_TEST

START_TEST(seccomp_efault)
{
	struct proc pr;
	run_seccomp(&pr, (const char *const[]){"efault", NULL});
	ck_exited(&pr, 0);
	static const char *const calls[] = {"uname", "getrandom", "clock_gettime", "read", "fstat",
					    "sysinfo", "sendto", "recvmsg", "sigqueue_self"};
	for (size_t i = 0; i < sizeof(calls) / sizeof(calls[0]); i++)
		ck_kv(&pr, calls[i], "EFAULT");
	/* where the filter answers before the kernel looks at the pointer */
	ck_kv(&pr, "sendto_oob", "EOPNOTSUPP");
	ck_kv(&pr, "sigqueue_other", "EPERM");
	release(&pr);
}
END_TEST

START_TEST(seccomp_allowed)
{
	struct proc pr;
	run_seccomp(&pr, (const char *const[]){"allowed", NULL});
	ck_exited(&pr, 0);
	static const char *const calls[] = {"pthread_create", "socketpair_unix", "socket_unix",
					    "pipe2", "tmp_file", "memfd", "prctl_name",
					    "kill_self0"};
	for (size_t i = 0; i < sizeof(calls) / sizeof(calls[0]); i++)
		ck_kv(&pr, calls[i], "ok");
	ck_kv(&pr, "connect_devlog", "ENOENT");
	release(&pr);
}
END_TEST

START_TEST(seccomp_signals)
{
	struct proc pr;
	run_seccomp(&pr, (const char *const[]){"signals", NULL});
	ck_exited(&pr, 0);
	ck_kv(&pr, "self", "1");
	ck_kv(&pr, "ppid", "0"); /* so kill(getppid()) is kill(0): the process group */
	static const char *const others[] = {"kill_group", "kill_all", "kill_ppid", "kill_other",
		"kill_pgrp", "tgkill_other", "tkill_other", "sigqueue_other", "tgsigqueue_other",
		"pidfd_open", "pidfd_send_signal"};
	for (size_t i = 0; i < sizeof(others) / sizeof(others[0]); i++)
		ck_kv(&pr, others[i], "EPERM");
	static const char *const own[] = {"kill_self", "raise", "tkill_self", "sigqueue_self",
					  "pthread_kill"};
	for (size_t i = 0; i < sizeof(own) / sizeof(own[0]); i++)
		ck_kv(&pr, own[i], "ok");
	ck_kv(&pr, "self_signals", "5");
	release(&pr);
}
END_TEST

START_TEST(seccomp_abort)
{
	/* abort() raises SIGABRT at itself (tgkill: allowed). The shim is pid 1 of its
	 * namespace, which ignores a signal it sent itself without a handler, so glibc's
	 * abort ends in its fallback: a fault (SIGSEGV). Never SIGSYS. */
	struct proc pr;
	run_seccomp(&pr, (const char *const[]){"abort", NULL});
	ck_assert_msg(pr.si.si_code == CLD_KILLED || pr.si.si_code == CLD_DUMPED,
		      "abort: code %d status %d", pr.si.si_code, pr.si.si_status);
	ck_assert_msg(pr.si.si_status == SIGABRT || pr.si.si_status == SIGSEGV,
		      "abort ended with signal %d", pr.si.si_status);
	printf("abort() in the sandbox ends with %s\n", strsignal(pr.si.si_status));
	release(&pr);
}
END_TEST

START_TEST(seccomp_oob)
{
	struct proc pr;
	run_seccomp(&pr, (const char *const[]){"oob", NULL});
	ck_exited(&pr, 0);
	static const char *const oob[] = {"send_oob", "sendto_oob", "sendmsg_oob", "sendmmsg_oob",
		"recv_oob", "recvmsg_oob", "recvmmsg_oob", "send_oob_channel"};
	for (size_t i = 0; i < sizeof(oob) / sizeof(oob[0]); i++)
		ck_kv(&pr, oob[i], "EOPNOTSUPP");
	static const char *const plain[] = {"send_plain", "sendmsg_plain", "recv_plain",
					    "recvmsg_plain"};
	for (size_t i = 0; i < sizeof(plain) / sizeof(plain[0]); i++)
		ck_kv(&pr, plain[i], "ok");
	release(&pr);
}
END_TEST

START_TEST(seccomp_notify)
{
	struct proc pr;
	run_seccomp(&pr, (const char *const[]){"notify", NULL});
	ck_exited(&pr, 0);
	static const char *const calls[] = {"inotify_init1", "inotify_init", "inotify_add_watch",
					    "fanotify_init"};
	for (size_t i = 0; i < sizeof(calls) / sizeof(calls[0]); i++)
		ck_kv(&pr, calls[i], "ENOSYS");
	release(&pr);
}
END_TEST

/* The per-user-namespace counters the namespace's owner is charged for are capped
 * inside it: granted inotify by name, one instance still gets only a few. */
START_TEST(userns_counters)
{
	struct bh_sandbox_profile p = full_profile();
	struct proc pr;
	start_ok(&pr, &p, (const char *const[]){"info", NULL});
	read_until(&pr, "\nready\n");
	ck_kv(&pr, "max_inotify_instances", "8");
	ck_kv(&pr, "max_inotify_watches", "1024");
	ck_kv(&pr, "max_user_namespaces", "0");
	ck_kv(&pr, "max_mnt_namespaces", "0");
	ck_kv(&pr, "max_net_namespaces", "0");
	finish(&pr);
	release(&pr);
	run_seccomp(&pr, (const char *const[]){"inotify-cap", "inotify_init1", NULL});
	ck_exited(&pr, 0);
	ck_kv(&pr, "inotify_count", "8");
	ck_kv(&pr, "inotify_errno", "EMFILE");
	release(&pr);
}
END_TEST

/* The daemon's fds may have any numbers: with every number below the plugin's
 * RLIMIT_NOFILE taken and the sources far above it, the child still gets 0-3. */
START_TEST(high_fds)
{
	struct rlimit rl;
	ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
	if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < 600)
		SKIP("high_fds: the hard RLIMIT_NOFILE (%llu) is below 600",
		     (unsigned long long)rl.rlim_max);
	rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > 4096 ? 4096 : rl.rlim_max;
	ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);
	/* fds up to 400 taken, so that the spawn's own fds come above it */
	int fill[512], n = 0;
	for (;;) {
		int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
		ck_assert_int_ge(fd, 0);
		fill[n++] = fd;
		if (fd >= 400 || n == 512)
			break;
	}
	struct bh_sandbox_profile p = full_profile();
	p.nofile = 16;
	struct proc pr;
	start_ok(&pr, &p, (const char *const[]){"info", NULL});
	ck_assert_int_gt(pr.chan, 400);
	for (int i = 0; i < n; i++)
		close(fill[i]);
	read_until(&pr, "\nready\n");
	ck_kv(&pr, "fds", "0,1,2,3");
	ck_kv(&pr, "rlimit_nofile", "16");
	finish(&pr);
	ck_exited(&pr, 0);
	release(&pr);
}
END_TEST

START_TEST(seccomp_extra)
{
	struct proc pr;
	run_seccomp(&pr, (const char *const[]){"extra", NULL});
	ck_killed(&pr, SIGSYS);
	release(&pr);
	run_seccomp(&pr, (const char *const[]){"extra", "getcpu", NULL});
	ck_exited(&pr, 0);
	ck_kv(&pr, "getcpu", "ok");
	release(&pr);
	/* Granting a refused call by name turns its errno into "allowed" (glibc's
	 * setrlimit is the prlimit64 system call). */
	run_seccomp(&pr, (const char *const[]){"errno", "prlimit64", "personality", NULL});
	ck_exited(&pr, 0);
	ck_kv(&pr, "setrlimit", "ok");
	ck_kv(&pr, "personality_set", "ok");
	ck_kv(&pr, "mlock", "EPERM");
	release(&pr);
}
END_TEST

START_TEST(seccomp_badname)
{
	struct bh_sandbox_profile p = full_profile();
	struct proc pr;
	start_ok(&pr, &p, (const char *const[]){"badname", NULL});
	finish(&pr);
	ck_exited(&pr, 0);
	char want[16];
	snprintf(want, sizeof(want), "%d", -EINVAL);
	ck_kv(&pr, "install", want);
	ck_kv(&pr, "bad", "no_such_syscall");
	release(&pr);
}
END_TEST

/* ---- the real shim with the example plugins ------------------------------------------- */

/* Next whole message from the channel into buf; its envelope in *rpc. */
static void recv_msg(struct proc *pr, uint8_t *buf, size_t cap, size_t *have, size_t *used,
		     struct bh_rpc *rpc)
{
	struct bh_limits lim;
	bh_limits_default(&lim);
	memmove(buf, buf + *used, *have - *used);
	*have -= *used;
	*used = 0;
	int64_t deadline = now_ms() + DEADLINE_MS;
	for (;;) {
		struct bh_scan sc;
		int r = *have ? bh_scan(buf, *have, &lim, &sc) : -EAGAIN;
		if (r == 0) {
			ck_assert_int_eq(bh_rpc_parse(buf, sc.size, rpc, NULL), 0);
			*used = sc.size;
			return;
		}
		ck_assert_int_eq(r, -EAGAIN);
		struct pollfd pfd = {.fd = pr->chan, .events = POLLIN};
		int64_t left = deadline - now_ms();
		ck_assert_msg(left > 0 && poll(&pfd, 1, (int)left) == 1,
			      "no message from the shim; stderr: %s", pr->ebuf);
		ssize_t n = read(pr->chan, buf + *have, cap - *have);
		if (n <= 0)
			read_until(pr, NULL);
		ck_assert_msg(n > 0, "the shim closed the channel; stderr: %s", pr->ebuf);
		*have += (size_t)n;
	}
}

static void send_request(struct proc *pr, uint32_t id, const char *method, const uint8_t *params,
			 size_t plen)
{
	struct bh_buf b;
	struct bh_writer w;
	bh_buf_init(&b, 0);
	bh_writer_init(&w, &b);
	ck_assert_int_eq(bh_rpc_write_request(&w, id, method, strlen(method), params, plen), 0);
	ck_assert_int_eq(write(pr->chan, b.data, b.len), (ssize_t)b.len);
	bh_buf_done(&b);
}

/* $hello, $init, then one call whose raw result must be `want`. */
static void plugin_session(const char *file, const char *method, const uint8_t *params,
			   size_t plen, const uint8_t *want, size_t wlen)
{
	char path[4096], inside[4096];
	snprintf(path, sizeof(path), "%s/%s", PLUGINS, file);
	struct bh_sandbox_profile p = full_profile();
	bh_sandbox_plugin_path(&p, path, inside, sizeof(inside));
	char *argv[] = {"bulkhead-shim", "--seccomp", inside, NULL};
	struct proc pr;
	int r = start_exe(&pr, &p, SHIM, path, argv);
	ck_assert_msg(r == 0, "%s: %s", file, pr.spawn_err);
	static uint8_t buf[1 << 20];
	size_t have = 0, used = 0;
	struct bh_rpc rpc;
	recv_msg(&pr, buf, sizeof(buf), &have, &used, &rpc);
	ck_assert_int_eq(rpc.type, BH_RPC_NOTIFY);
	ck_assert_msg(rpc.method_len == 6 && memcmp(rpc.method, "$hello", 6) == 0,
		      "%s: first message is %.*s", file, (int)rpc.method_len, rpc.method);
	static const uint8_t init_params[] = {0x91, 0x80}; /* [{}] */
	send_request(&pr, 1, "$init", init_params, sizeof(init_params));
	recv_msg(&pr, buf, sizeof(buf), &have, &used, &rpc);
	ck_assert_int_eq(rpc.type, BH_RPC_RESPONSE);
	ck_assert_msg(rpc.error_len == 1 && rpc.error[0] == 0xc0, "%s: $init failed", file);
	send_request(&pr, 2, method, params, plen);
	recv_msg(&pr, buf, sizeof(buf), &have, &used, &rpc);
	ck_assert_int_eq(rpc.msgid, 2);
	ck_assert_msg(rpc.error_len == 1 && rpc.error[0] == 0xc0, "%s.%s failed", file, method);
	ck_assert_msg(rpc.result_len == wlen && memcmp(rpc.result, want, wlen) == 0,
		      "%s.%s: unexpected result", file, method);
	finish(&pr);
	ck_exited(&pr, 0);
	release(&pr);
}

START_TEST(shim_plugins)
{
	/* echo.pid: the plugin is pid 1 of its namespace */
	static const uint8_t none[] = {0x90}, one[] = {0x01};
	plugin_session("echo.so", "pid", none, sizeof(none), one, sizeof(one));
	/* C++ with libstdc++ */
	static const uint8_t ada[] = {0x91, 0xa3, 'A', 'd', 'a'};
	static const uint8_t hello[] = {0xab, 'H', 'e', 'l', 'l', 'o', ',', ' ', 'A', 'd', 'a', '!'};
	plugin_session("greeter.so", "greet", ada, sizeof(ada), hello, sizeof(hello));
	/* Rust */
	char path[4096];
	snprintf(path, sizeof(path), "%s/stats.so", PLUGINS);
	if (access(path, R_OK) == 0) {
		static const uint8_t nums[] = {0x93, 1, 2, 3}, six[] = {0x06};
		plugin_session("stats.so", "sum", nums, sizeof(nums), six, sizeof(six));
	} else {
		printf("note: %s not built (no rustc): Rust plugin not checked\n", path);
	}
}
END_TEST

START_TEST(shim_bad_syscall_name)
{
	char path[4096], inside[4096];
	snprintf(path, sizeof(path), "%s/echo.so", PLUGINS);
	struct bh_sandbox_profile p = full_profile();
	bh_sandbox_plugin_path(&p, path, inside, sizeof(inside));
	char *argv[] = {"bulkhead-shim", "--seccomp", "--allow-syscall", "getcpu",
			"--allow-syscall", "frobnicate", inside, NULL};
	struct proc pr;
	int r = start_exe(&pr, &p, SHIM, path, argv);
	ck_assert_msg(r == 0, "%s", pr.spawn_err);
	static uint8_t buf[65536];
	size_t have = 0, used = 0;
	struct bh_rpc rpc;
	recv_msg(&pr, buf, sizeof(buf), &have, &used, &rpc);
	ck_assert_msg(rpc.method_len == 6 && memcmp(rpc.method, "$fatal", 6) == 0,
		      "first message is %.*s", (int)rpc.method_len, rpc.method);
	ck_assert_msg(memmem(rpc.params, rpc.params_len, "frobnicate", 10) != NULL,
		      "$fatal does not name the system call");
	finish(&pr);
	ck_exited(&pr, 2);
	release(&pr);
}
END_TEST

/* ---- an unprivileged daemon ----------------------------------------------------------- */

START_TEST(unprivileged)
{
	if (geteuid() == 0) {
		/* This forked test process becomes an unprivileged daemon for good. */
		ck_assert_int_eq(setgroups(0, NULL), 0);
		ck_assert_int_eq(setresgid(65534, 65534, 65534), 0);
		ck_assert_int_eq(setresuid(65534, 65534, 65534), 0);
		/* A uid change made us non-dumpable: our children's /proc files would be
		 * root's, and we could not write their id maps. A daemon started as a user
		 * is dumpable. */
		ck_assert_int_eq(prctl(PR_SET_DUMPABLE, 1), 0);
	}
	char note[1024];
	ck_assert_int_eq(bh_sandbox_host_init(note, sizeof(note)), 0);
	if (use_spawner) /* as this user: forked after the change */
		spawner_setup();
	struct bh_sandbox_profile p = full_profile();
	struct proc pr;
	int r = start(&pr, &p, (const char *const[]){"info", NULL});
	if (r == -EPERM || r == -ENOSPC || r == -EACCES)
		SKIP("unprivileged: cannot create a user namespace here: %s", pr.spawn_err);
	ck_assert_msg(r == 0, "%s", pr.spawn_err);
	read_until(&pr, "\nready\n");
	ck_kv(&pr, "uid", "1000,1000,1000");
	ck_kv(&pr, "procpids", "1");
	ck_kv(&pr, "ifaces", "lo");
	ck_kv(&pr, "stat/etc/shadow", "ENOENT");
	ck_kv(&pr, "stat/root", "ENOENT");
	ck_kv(&pr, "mkdir_root", "EROFS");
	ck_kv(&pr, "CapEff", "0000000000000000");
	ck_kv(&pr, "CapBnd", "0000000000000000");
	ck_kv(&pr, "NoNewPrivs", "1");
	ck_kv(&pr, "max_inotify_instances", "8");
	ck_kv(&pr, "max_user_namespaces", "0");
	ck_kv(&pr, "ro_proc", "1");
	char uid[128], want[64];
	proc_status(pr.c.pid, "Uid", uid, sizeof(uid));
	snprintf(want, sizeof(want), "%u\t%u\t%u\t%u", geteuid(), geteuid(), geteuid(), geteuid());
	ck_assert_str_eq(uid, want);
	/* What the limits became without cgroups of our own, and that it is reported. */
	if (!is_cgroup(pr.c.enforced.memory)) {
		ck_assert_str_eq(pr.c.enforced.memory, BH_SANDBOX_MEMORY_FALLBACK);
		ck_kv(&pr, "rlimit_data", "67108864");
		ck_kv(&pr, "rlimit_as", "inf");
	}
	if (!is_cgroup(pr.c.enforced.pids))
		ck_kv(&pr, "rlimit_nproc", "16");
	printf("unprivileged: memory %s, pids %s, cpu %s (%s)\n", pr.c.enforced.memory,
	       pr.c.enforced.pids, pr.c.enforced.cpu, note);
	struct bh_enforcement enf = pr.c.enforced;
	finish(&pr);
	ck_exited(&pr, 0);
	release(&pr);
	/* require_limits refuses what would be approximated. */
	if (!is_cgroup(enf.memory)) {
		p.require_limits = true;
		r = start(&pr, &p, (const char *const[]){"hold", NULL});
		ck_assert_int_eq(r, -EOPNOTSUPP);
		ck_assert_msg(strstr(pr.spawn_err, "memory: no memory controller on cgroup v2 or v1"),
			      "message: %s", pr.spawn_err);
	}
	/* The fallbacks bite: address space for memory, the per-uid process count for
	 * pids (shared with every other process of this uid: fewer forks may work). */
	p.require_limits = false;
	if (strncmp(enf.memory, "rlimit", 6) == 0) {
		start_ok(&pr, &p, (const char *const[]){"hog", NULL});
		finish(&pr);
		ck_exited(&pr, 3);
		const char *at = kv(&pr, "mmap_failed_at");
		ck_assert_msg(at && atoll(at) < (long long)p.memory_bytes, "hog got %s", at ? at : "?");
		release(&pr);
		/* ... but address space reserved and never made writable is not memory: a
		 * runtime that reserves gigabytes at start (Go) starts. */
		start_ok(&pr, &p, (const char *const[]){"reserve", NULL});
		finish(&pr);
		ck_kv(&pr, "reserve", "ok");
		ck_exited(&pr, 0);
		release(&pr);
	}
	if (strncmp(enf.pids, "rlimit", 6) == 0) {
		p.pids_max = 8;
		start_ok(&pr, &p, (const char *const[]){"fork", "20", NULL});
		read_until(&pr, "ready\n");
		ck_kv(&pr, "fork_errno", "EAGAIN");
		ck_assert_int_lt(atoi(kv(&pr, "forked")), 8);
		finish(&pr);
		release(&pr);
	}
	/* The seccomp filter works the same. */
	run_seccomp(&pr, (const char *const[]){"deny-ptrace", NULL});
	ck_killed(&pr, SIGSYS);
	release(&pr);
	bh_sandbox_host_done();
}
END_TEST

/* ---- the spawn helper ------------------------------------------------------------------- */

/* Field n (1-based, as in proc(5)) of /proc/PID/stat. */
static long stat_field(pid_t pid, int n)
{
	char path[64], line[1024];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	FILE *f = fopen(path, "re");
	ck_assert_ptr_nonnull(f);
	ck_assert_ptr_nonnull(fgets(line, sizeof(line), f));
	fclose(f);
	char *p = strrchr(line, ')'); /* the name may hold spaces */
	ck_assert_ptr_nonnull(p);
	p += 2;
	for (int i = 3; i < n && p; i++)
		p = strchr(p, ' '), p = p ? p + 1 : NULL;
	ck_assert_ptr_nonnull(p);
	return strtol(p, NULL, 10);
}

static int count_fds(pid_t pid)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	DIR *d = opendir(path);
	ck_assert_ptr_nonnull(d);
	int n = 0;
	for (struct dirent *e; (e = readdir(d));)
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

/* Cloned by the helper, the child is ours all the same: our pid is its parent's,
 * its exit signal SIGCHLD (the pidfd waits below reap it with its real status). */
static void ck_our_child(struct proc *pr)
{
	char ppid[32], want[32];
	proc_status(pr->c.pid, "PPid", ppid, sizeof(ppid));
	snprintf(want, sizeof(want), "%d", (int)getpid());
	ck_assert_str_eq(ppid, want);
	ck_assert_int_eq(stat_field(pr->c.pid, 38), SIGCHLD);
}

static void ck_reaped(pid_t pid)
{
	siginfo_t si;
	errno = 0;
	ck_assert_int_eq(waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG), -1);
	ck_assert_int_eq(errno, ECHILD);
}

static int helper_fds(pid_t helper);

START_TEST(spawner)
{
	spawner_setup();
	pid_t helper = bh_sandbox_spawner_pid();
	struct bh_sandbox_profile p = full_profile();
	struct proc pr;
	start_ok(&pr, &p, (const char *const[]){"info", NULL});
	ck_assert(pr.c.via_spawner);
	read_until(&pr, "\nready\n");
	ck_kv(&pr, "fds", "0,1,2,3");
	ck_kv(&pr, "uid", "1000,1000,1000");
	ck_kv(&pr, "pid", "1");
	ck_our_child(&pr);
	finish(&pr);
	ck_exited(&pr, 0);
	release(&pr);

	start_ok(&pr, NULL, (const char *const[]){"info", NULL});
	ck_assert(pr.c.via_spawner);
	read_until(&pr, "\nready\n");
	ck_kv(&pr, "fds", "0,1,2,3");
	char pid[32];
	snprintf(pid, sizeof(pid), "%d", (int)pr.c.pid);
	ck_kv(&pr, "pid", pid);
	ck_our_child(&pr);
	finish(&pr);
	ck_exited(&pr, 0);
	release(&pr);

	/* A failure in the child before exec: its status and its line on stderr. */
	char *argv[] = {"missing", NULL};
	ck_assert_int_eq(start_exe(&pr, NULL, "/nonexistent/program", NULL, argv), 0);
	ck_assert(pr.c.via_spawner);
	finish(&pr);
	ck_exited(&pr, BH_SANDBOX_EXIT_EXEC);
	ck_assert_msg(strstr(pr.ebuf, "sandbox: /nonexistent/program: No such file"), "stderr: %s",
		      pr.ebuf);
	release(&pr);

	/* Between requests the helper holds its socket and nothing else. */
	ck_assert_int_eq(helper_fds(helper), 1);
	bh_sandbox_spawner_stop();
	ck_assert_int_eq(bh_sandbox_spawner_pid(), -1);
	ck_reaped(helper);
}
END_TEST

START_TEST(spawner_fallback)
{
	spawner_setup();
	pid_t helper = bh_sandbox_spawner_pid();
	ck_assert_int_eq(kill(helper, SIGKILL), 0);
	/* Dead, its socket closed, not reaped: the library reaps it when it finds out. */
	siginfo_t si;
	ck_assert_int_eq(waitid(P_PID, (id_t)helper, &si, WEXITED | WNOWAIT), 0);
	struct bh_sandbox_profile p = full_profile();
	struct proc pr;
	start_ok(&pr, &p, (const char *const[]){"info", NULL});
	ck_assert(!pr.c.via_spawner);
	ck_assert_int_eq(bh_sandbox_spawner_pid(), -1);
	ck_reaped(helper);
	read_until(&pr, "\nready\n");
	ck_kv(&pr, "fds", "0,1,2,3");
	ck_our_child(&pr);
	finish(&pr);
	ck_exited(&pr, 0);
	release(&pr);
}
END_TEST

/* No fd left for the child's pidfd when the reply comes: the spawn fails as a
 * shortage (the child ended and reaped, nothing left behind), and the helper,
 * which did nothing wrong, stays. */
START_TEST(spawner_no_fd)
{
	spawner_setup();
	pid_t helper = bh_sandbox_spawner_pid();
	int sv[2], o[2], e[2];
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	ck_assert_int_eq(pipe2(o, O_CLOEXEC), 0);
	ck_assert_int_eq(pipe2(e, O_CLOEXEC), 0);
	struct rlimit rl;
	ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
	rl.rlim_cur = 64;
	ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);
	int fill[64], n = 0, fd;
	while (n < 64 && (fd = open("/dev/null", O_RDONLY | O_CLOEXEC)) >= 0)
		fill[n++] = fd;
	ck_assert_int_eq(errno, EMFILE);
	char *argv[] = {"sandbox-probe", "info", NULL};
	struct bh_spawn_args a = {.exe = PROBE, .argv = argv, .channel_fd = sv[1],
				  .stdout_fd = o[1], .stderr_fd = e[1], .name = "nofd"};
	struct bh_child c;
	char err[256];
	ck_assert_int_eq(bh_sandbox_spawn(&a, &c, err, sizeof(err)), -EMFILE);
	ck_assert_msg(strstr(err, "pidfd"), "%s", err);
	ck_assert_int_eq(bh_sandbox_spawner_pid(), helper);
	/* Our only child is the helper: the one cloned was reaped. */
	siginfo_t si = {0};
	ck_assert_int_eq(waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT), 0);
	ck_assert_int_eq(si.si_pid, 0);
	char path[64], kids[64] = "";
	snprintf(path, sizeof(path), "/proc/self/task/%d/children", (int)getpid());
	for (int i = 0; i < n; i++)
		close(fill[i]);
	FILE *f = fopen(path, "re");
	ck_assert_ptr_nonnull(f);
	ck_assert_ptr_nonnull(fgets(kids, sizeof(kids), f));
	fclose(f);
	char want[32];
	snprintf(want, sizeof(want), "%d ", (int)helper);
	ck_assert_str_eq(kids, want);
	close(sv[0]), close(sv[1]), close(o[0]), close(o[1]), close(e[0]), close(e[1]);
	/* With fds again, the helper serves. */
	struct proc pr;
	start_ok(&pr, NULL, (const char *const[]){"info", NULL});
	ck_assert(pr.c.via_spawner);
	read_until(&pr, "\nready\n");
	finish(&pr);
	ck_exited(&pr, 0);
	release(&pr);
}
END_TEST

/* A request as the library would build it for the unconfined probe, then spoiled as
 * variant v says. fds: channel, stdout, stderr (twice: also the error fd). */
enum bad_req {
	GOOD, SHORT, HUGE, UNTERMINATED, TRAILING, NO_ARGS, TOO_MANY_ARGS, FDS_MISSING,
	FDS_EXTRA, CLONE_VM_ASKED, CGROUP_WITHOUT_FD, UNKNOWN_BIT, CONFINED_NO_PIPE,
	TOO_MANY_RLIMITS, OPTS_UNTERMINATED, EMPTY_EXE, BAD_REQ_N
};

static int send_req(int sock, enum bad_req v, const int fds3[3])
{
	static union {
		struct bh__spawn_req q;
		char bytes[sizeof(struct bh__spawn_req) + BH__SPAWN_STRINGS_MAX + 64];
	} m;
	memset(&m, 0, sizeof(m));
	struct bh__spawn_req *q = &m.q;
	q->clone_flags = CLONE_PIDFD;
	q->fds = BH__SF_NEEDED;
	q->parent_pid = getpid();
	q->argc = 2;
	static const char strings[] = PROBE "\0\0\0sandbox-probe\0info"; /* + final NUL */
	memcpy(q + 1, strings, sizeof(strings));
	size_t len = sizeof(*q) + sizeof(strings);
	int fds[5] = {fds3[0], fds3[1], fds3[2], fds3[2], fds3[2]};
	size_t n_fds = 4;
	switch (v) {
	case GOOD: case BAD_REQ_N: break;
	case SHORT: len = 1; break;
	case HUGE: len = sizeof(m); break;
	case UNTERMINATED: len--; break;
	case TRAILING: len++; break;
	case NO_ARGS: q->argc = 0; break;
	case TOO_MANY_ARGS: q->argc = BH__SPAWN_ARGS_MAX + 1; break;
	case FDS_MISSING: n_fds = 3; break;
	case FDS_EXTRA: n_fds = 5; break;
	case CLONE_VM_ASKED: q->clone_flags |= CLONE_VM; break;
	case CGROUP_WITHOUT_FD: q->clone_flags |= CLONE_INTO_CGROUP; break;
	case UNKNOWN_BIT: q->bits = BH__SR_ALL + 1; break;
	case CONFINED_NO_PIPE: q->bits = BH__SR_CONFINED; break;
	case TOO_MANY_RLIMITS: q->n_rl = BH__MAX_RLIMITS + 1; break;
	case OPTS_UNTERMINATED: memset(q->tmp_opts, 'x', sizeof(q->tmp_opts)); break;
	case EMPTY_EXE: memmove((char *)(q + 1), (char *)(q + 1) + strlen(PROBE), sizeof(strings));
		len -= strlen(PROBE); break;
	}
	char ctl[CMSG_SPACE(sizeof(fds))] __attribute__((aligned(8))) = {0};
	struct iovec iov = {.iov_base = &m, .iov_len = len};
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl,
			    .msg_controllen = CMSG_SPACE(sizeof(int) * n_fds)};
	struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int) * n_fds);
	memcpy(CMSG_DATA(c), fds, sizeof(int) * n_fds);
	return sendmsg(sock, &mh, MSG_NOSIGNAL) == (ssize_t)len ? 0 : -errno;
}

/* The reply: the pid (with *ret_pidfd) or -errno. */
static int recv_reply(int sock, int *ret_pidfd)
{
	struct bh__spawn_reply rep;
	char ctl[CMSG_SPACE(sizeof(int) * 4)] __attribute__((aligned(8)));
	struct iovec iov = {.iov_base = &rep, .iov_len = sizeof(rep)};
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl,
			    .msg_controllen = sizeof(ctl)};
	ck_assert_int_eq(recvmsg(sock, &mh, MSG_CMSG_CLOEXEC), sizeof(rep));
	struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
	*ret_pidfd = -1;
	if (c) {
		ck_assert_int_eq(c->cmsg_len, CMSG_LEN(sizeof(int)));
		memcpy(ret_pidfd, CMSG_DATA(c), sizeof(int));
	}
	ck_assert_int_eq(rep.pid > 0, *ret_pidfd >= 0);
	return rep.pid;
}

/* The fds the helper holds once it has answered everything: it closes a pidfd
 * right after sending it, so a refused request's reply comes first. */
static int helper_fds(pid_t helper)
{
	int fds3[3] = {0, 1, 2}, pidfd;
	ck_assert_int_eq(send_req(bh__spawner_fd(), SHORT, fds3), 0);
	ck_assert_int_eq(recv_reply(bh__spawner_fd(), &pidfd), -EPROTO);
	return count_fds(helper);
}

START_TEST(spawner_malformed)
{
	spawner_setup();
	pid_t helper = bh_sandbox_spawner_pid();
	int sock = bh__spawner_fd();
	struct proc pr;
	memset(&pr, 0, sizeof(pr));
	int sv[2], o[2], e[2];
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	ck_assert_int_eq(pipe2(o, O_CLOEXEC), 0);
	ck_assert_int_eq(pipe2(e, O_CLOEXEC), 0);
	const int fds3[3] = {sv[1], o[1], e[1]};
	/* Every spoiled request is refused, whatever it carried, and the helper goes on. */
	for (enum bad_req v = SHORT; v < BAD_REQ_N; v++) {
		int pidfd;
		ck_assert_int_eq(send_req(sock, v, fds3), 0);
		int r = recv_reply(sock, &pidfd);
		ck_assert_msg(r == -EPROTO, "variant %d: reply %d", (int)v, r);
		ck_assert_int_eq(count_fds(helper), 1);
	}
	/* The same request unspoiled starts the probe, which is ours (so the variants
	 * above were refused for what they spoiled). */
	ck_assert_int_eq(send_req(sock, GOOD, fds3), 0);
	pr.c.pid = recv_reply(sock, &pr.c.pidfd);
	ck_assert_int_gt(pr.c.pid, 0);
	close(sv[1]);
	close(o[1]);
	close(e[1]);
	pr.chan = sv[0];
	pr.out = o[0];
	pr.err = e[0];
	read_until(&pr, "\nready\n");
	ck_kv(&pr, "fds", "0,1,2,3");
	ck_our_child(&pr);
	finish(&pr);
	ck_exited(&pr, 0);
	release(&pr);
	ck_assert_int_eq(helper_fds(helper), 1);
}
END_TEST

/* ---- main ----------------------------------------------------------------------------- */

struct tcase_def {
	const char *name;
	const TTest *fn;
	bool host; /* runs with bh_sandbox_host_init */
};


int main(int argc, char **argv)
{
	/* The test pointers START_TEST defines are variables: a local table. */
	const struct tcase_def cases[] = {
		{"identity", identity, true},
		{"host_uid", host_uid, true},
		{"pidns", pidns, true},
		{"netns", netns, true},
		{"filesystem", filesystem, true},
		{"privileges", privileges, true},
		{"rlimits", rlimits, true},
		{"memory_limit", memory_limit, true},
		{"pids_limit", pids_limit, true},
		{"cpu_limit", cpu_limit, true},
		{"cgroup_v2_controllers", cgroup_v2_controllers, true},
		{"cgroup_cleanup", cgroup_cleanup, true},
		{"cgroup_sweep", cgroup_sweep, false},
		{"unlimited", unlimited, true},
		{"kill", kill_instance, true},
		{"require_limits", require_limits, true},
		{"unconfined", unconfined, true},
		{"setup_failure", setup_failure, true},
		{"exec_failure", exec_failure, true},
		{"seccomp_deny", seccomp_deny, true},
		{"seccomp_arch", seccomp_arch, true},
		{"seccomp_errno", seccomp_errno, true},
		{"seccomp_efault", seccomp_efault, true},
		{"seccomp_allowed", seccomp_allowed, true},
		{"seccomp_signals", seccomp_signals, true},
		{"seccomp_abort", seccomp_abort, true},
		{"seccomp_oob", seccomp_oob, true},
		{"seccomp_notify", seccomp_notify, true},
		{"userns_counters", userns_counters, true},
		{"high_fds", high_fds, true},
		{"seccomp_extra", seccomp_extra, true},
		{"seccomp_badname", seccomp_badname, true},
		{"shim_plugins", shim_plugins, true},
		{"shim_bad_syscall_name", shim_bad_syscall_name, true},
		{"unprivileged", unprivileged, false},
		{"spawner", spawner, true},
		{"spawner_fallback", spawner_fallback, true},
		{"spawner_malformed", spawner_malformed, true},
		{"spawner_no_fd", spawner_no_fd, true},
	};
	skip_reason = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (skip_reason == MAP_FAILED)
		return 1;
	skip_reason[0] = '\0';
	const char *only = argc > 1 ? argv[1] : NULL;
	use_spawner = argc > 2 && strcmp(argv[2], "--spawner") == 0;
	char why[256];
	if (bh_sandbox_userns_check(why, sizeof(why)) < 0) {
		/* Every sandboxed child starts in a user namespace. */
		printf("SKIP: %s\n", why);
		return 77;
	}
	Suite *s = suite_create("sandbox");
	int found = 0;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (only && strcmp(only, cases[i].name) != 0)
			continue;
		TCase *tc = tcase_create(cases[i].name);
		tcase_set_timeout(tc, 60);
		if (cases[i].host)
			tcase_add_checked_fixture(tc, host_setup, host_teardown);
		tcase_add_test(tc, cases[i].fn);
		suite_add_tcase(s, tc);
		found++;
	}
	if (!found) {
		fprintf(stderr, "test_sandbox: no case %s\n", only);
		return 2;
	}
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	if (failed)
		return 1;
	if (only && skip_reason[0])
		return 77;
	return 0;
}
