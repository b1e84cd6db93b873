/* sandbox-probe: exec'd by the tests through bh_sandbox_spawn in place of the shim.
 * It looks at its own confinement and reports on stdout as "key=value" lines; the
 * test process checks them. Built without sanitizers (the seccomp modes run under
 * the allow-list, and the probe must behave like a plain plugin host).
 *
 *   probe info         report identity, namespaces, file system, privileges,
 *                      limits; then "ready" and block until fd 3 is closed
 *   probe hold         "ready", then block until fd 3 is closed
 *   probe echo         write one byte on fd 3, then block until it is closed
 *   probe hog          allocate and touch memory until something stops it
 *   probe fork N       fork N children that wait; report how many forks worked
 *   probe seccomp CASE [NAME...]
 *                      install the allow-list (granting NAMEs), then run CASE:
 *       deny-ptrace deny-unshare deny-mount deny-io_uring deny-bpf deny-execve
 *       x32 i386       must be killed (SIGSYS)
 *       errno          errno-answered calls: "name=ERRNO" lines
 *       efault         allowed calls with a bad pointer: "name=ERRNO" lines
 *       extra          getcpu (killed unless granted)
 *       allowed        threads, AF_UNIX, pipes, /tmp: "name=ok|ERRNO" lines
 *       signals        signals to others (refused) and to itself (allowed)
 *       abort          abort(): how a plugin's own abort ends (pid 1 of its namespace)
 *       oob            MSG_OOB on an AF_UNIX stream pair, and plain sends
 *       notify         inotify, fanotify: "name=ERRNO" lines
 *       inotify-cap    inotify_init1 until it fails: "inotify_count=N" (grant it)
 *   probe badname      bh_seccomp_install with an unknown name (nothing installed)
 * Exit status 0 when the mode ran to its end, 2 on bad usage. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <net/if.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fanotify.h>
#include <sys/inotify.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>
#include <linux/sched.h>

#include "bulkhead/sandbox.h"

extern char **environ;

static const char *ename(int e)
{
	const char *n = strerrorname_np(e);
	return e == 0 ? "0" : n ? n : "?";
}

/* "key=ok" or "key=ERRNO" for a call returning -1/errno. */
static void res(const char *key, long r)
{
	printf("%s=%s\n", key, r < 0 ? ename(errno) : "ok");
}

static void wait_channel_closed(void)
{
	char b;
	fflush(stdout);
	while (read(3, &b, 1) > 0 || errno == EINTR)
		;
}

/* ---- info ----------------------------------------------------------------------- */

static void list_dir(const char *key, const char *path, int only_digits)
{
	DIR *d = opendir(path);
	printf("%s=", key);
	if (!d) {
		printf("%s\n", ename(errno));
		return;
	}
	struct dirent *e;
	int first = 1;
	char self[16];
	snprintf(self, sizeof(self), "%d", dirfd(d)); /* not listed: it is ours */
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.' || strcmp(e->d_name, self) == 0)
			continue;
		if (only_digits && (e->d_name[0] < '0' || e->d_name[0] > '9'))
			continue;
		printf("%s%s", first ? "" : ",", e->d_name);
		first = 0;
	}
	closedir(d);
	printf("\n");
}

static void status_fields(void)
{
	FILE *f = fopen("/proc/self/status", "re");
	if (!f) {
		printf("status=%s\n", ename(errno));
		return;
	}
	char line[256];
	static const char *const keys[] = {"CapInh:", "CapPrm:", "CapEff:", "CapBnd:",
					   "CapAmb:", "NoNewPrivs:", "Seccomp:"};
	while (fgets(line, sizeof(line), f)) {
		for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
			size_t n = strlen(keys[i]);
			if (strncmp(line, keys[i], n) == 0) {
				char *v = line + n;
				while (*v == ' ' || *v == '\t')
					v++;
				v[strcspn(v, "\n")] = '\0';
				printf("%.*s=%s\n", (int)n - 1, keys[i], v);
			}
		}
	}
	fclose(f);
}

static void rlimit_line(const char *name, int res_)
{
	struct rlimit rl;
	getrlimit(res_, &rl);
	if (rl.rlim_cur == RLIM_INFINITY)
		printf("rlimit_%s=inf\n", name);
	else
		printf("rlimit_%s=%llu\n", name, (unsigned long long)rl.rlim_cur);
}

static void fs_checks(void)
{
	struct stat st;
	static const char *const hidden[] = {"/etc/shadow", "/etc/passwd", "/root", "/home",
					     "/var", "/sys", "/run", "/boot"};
	for (size_t i = 0; i < sizeof(hidden) / sizeof(hidden[0]); i++) {
		char key[64];
		snprintf(key, sizeof(key), "stat%s", hidden[i]);
		res(key, stat(hidden[i], &st));
	}
	/* read-only mounts, as the kernel reports them */
	static const char *const ro[][2] = {{"ro_root", "/"}, {"ro_usr", "/usr"},
		{"ro_shim", "/bulkhead/bulkhead-shim"}, {"ro_plugin_dir", "/bulkhead/plugin"},
		{"ro_ldcache", "/etc/ld.so.cache"}, {"ro_tmp", "/tmp"}, {"ro_proc", "/proc"}};
	for (size_t i = 0; i < sizeof(ro) / sizeof(ro[0]); i++) {
		struct statvfs sv;
		if (statvfs(ro[i][1], &sv) < 0)
			printf("%s=%s\n", ro[i][0], ename(errno));
		else
			printf("%s=%d\n", ro[i][0], (sv.f_flag & ST_RDONLY) ? 1 : 0);
	}
	res("mkdir_root", mkdir("/newdir", 0755));
	res("create_usr", open("/usr/probe-file", O_CREAT | O_WRONLY | O_CLOEXEC, 0644));
	res("create_bulkhead", open("/bulkhead/x", O_CREAT | O_WRONLY | O_CLOEXEC, 0644));
	res("write_plugin", open("/bulkhead/bulkhead-shim", O_WRONLY | O_CLOEXEC));
	res("write_proc_comm", open("/proc/self/comm", O_WRONLY | O_CLOEXEC));
	res("write_proc_sysctl", open("/proc/sys/user/max_inotify_instances", O_WRONLY | O_CLOEXEC));
	res("stat_libc", stat("/lib/x86_64-linux-gnu/libc.so.6", &st));
	res("stat_ldcache", stat("/etc/ld.so.cache", &st));
	list_dir("dev", "/dev", 0);
	list_dir("root", "/", 0);

	/* /tmp: writable, and full at its size. */
	int fd = open("/tmp/fill", O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
	res("tmp_create", fd);
	if (fd >= 0) {
		static char block[4096];
		unsigned long long total = 0;
		int err = 0;
		memset(block, 'x', sizeof(block));
		for (;;) {
			ssize_t w = write(fd, block, sizeof(block));
			if (w < 0) {
				err = errno;
				break;
			}
			total += (unsigned long long)w;
			if (total > (256ULL << 20))
				break; /* no cap at all */
		}
		printf("tmp_fill_bytes=%llu\ntmp_fill_errno=%s\n", total, ename(err));
		close(fd);
		unlink("/tmp/fill");
	}
	/* /tmp's inodes: empty files until it says no (they take no blocks). Only on a
	 * small one: unconfined, /tmp is the host's. */
	struct statvfs tv;
	int made = 0, ierr = 0;
	if (statvfs("/tmp", &tv) < 0 || tv.f_files > 100000)
		made = 100000;
	for (; made < 100000; made++) {
		char name[32];
		snprintf(name, sizeof(name), "/tmp/i%d", made);
		int f = open(name, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
		if (f < 0) {
			ierr = errno;
			break;
		}
		close(f);
	}
	printf("tmp_inodes_made=%d\ntmp_inodes_errno=%s\n", made, ename(ierr));
	for (int i = 0; i < made && made < 100000; i++) {
		char name[32];
		snprintf(name, sizeof(name), "/tmp/i%d", i);
		unlink(name);
	}
	/* noexec /tmp: a copy of ourselves cannot run from there. */
	int exe = open("/tmp/exe", O_CREAT | O_WRONLY | O_CLOEXEC, 0755);
	if (exe >= 0) {
		close(exe);
		res("tmp_exec", execl("/tmp/exe", "exe", (char *)NULL));
		unlink("/tmp/exe");
	}
}

static void net_checks(void)
{
	struct if_nameindex *ifs = if_nameindex();
	printf("ifaces=");
	for (struct if_nameindex *i = ifs; i && i->if_index; i++)
		printf("%s%s", i == ifs ? "" : ",", i->if_name);
	printf("\n");
	if (ifs)
		if_freenameindex(ifs);
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct ifreq ifr;
	memset(&ifr, 0, sizeof(ifr));
	strcpy(ifr.ifr_name, "lo");
	if (s >= 0 && ioctl(s, SIOCGIFFLAGS, &ifr) == 0)
		printf("lo_up=%d\n", (ifr.ifr_flags & IFF_UP) ? 1 : 0);
	else
		printf("lo_up=%s\n", ename(errno));
	if (s >= 0)
		close(s);
}

static int mode_info(void)
{
	uid_t r, e, sv;
	gid_t rg, eg, sg;
	getresuid(&r, &e, &sv);
	getresgid(&rg, &eg, &sg);
	printf("uid=%u,%u,%u\ngid=%u,%u,%u\n", r, e, sv, rg, eg, sg);
	printf("ngroups=%d\n", getgroups(0, NULL));
	printf("pid=%d\n", (int)getpid());
	list_dir("procpids", "/proc", 1);
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/1/exe", exe, sizeof(exe) - 1);
	printf("proc1_exe=%.*s\n", n > 0 ? (int)n : 0, exe);
	struct utsname u;
	uname(&u);
	printf("hostname=%s\n", u.nodename);
	int nenv = 0;
	for (char **v = environ; v && *v; v++)
		nenv++;
	printf("env=%d\n", nenv);
	list_dir("fds", "/proc/self/fd", 0);
	printf("securebits=%d\n", prctl(PR_GET_SECUREBITS));
	status_fields();
	rlimit_line("nofile", RLIMIT_NOFILE);
	rlimit_line("fsize", RLIMIT_FSIZE);
	rlimit_line("core", RLIMIT_CORE);
	rlimit_line("as", RLIMIT_AS);
	rlimit_line("data", RLIMIT_DATA);
	rlimit_line("sigpending", RLIMIT_SIGPENDING);
	rlimit_line("msgqueue", RLIMIT_MSGQUEUE);
	rlimit_line("memlock", RLIMIT_MEMLOCK);
	rlimit_line("nproc", RLIMIT_NPROC);
	FILE *cg = fopen("/proc/self/cgroup", "re");
	char line[256] = "";
	if (cg) {
		while (fgets(line, sizeof(line), cg))
			if (strncmp(line, "0::", 3) == 0)
				break;
		fclose(cg);
	}
	line[strcspn(line, "\n")] = '\0';
	printf("cgroup=%s\n", line);
	/* the user namespace's counters (userns.c caps them) */
	static const char *const counters[] = {"max_inotify_instances", "max_inotify_watches",
		"max_user_namespaces", "max_mnt_namespaces", "max_net_namespaces"};
	for (size_t i = 0; i < sizeof(counters) / sizeof(counters[0]); i++) {
		char path[96], v[32] = "";
		snprintf(path, sizeof(path), "/proc/sys/user/%s", counters[i]);
		FILE *f = fopen(path, "re");
		if (f) {
			if (!fgets(v, sizeof(v), f))
				v[0] = '\0';
			fclose(f);
		}
		v[strcspn(v, "\n")] = '\0';
		printf("%s=%s\n", counters[i], f ? v : ename(errno));
	}
	net_checks();
	fs_checks();
	printf("ready\n");
	wait_channel_closed();
	return 0;
}

/* ---- limits --------------------------------------------------------------------- */

static int mode_hog(void)
{
	printf("ready\n");
	fflush(stdout);
	for (size_t total = 0;; total += 1 << 20) {
		char *p = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
			       -1, 0);
		if (p == MAP_FAILED) {
			printf("mmap_failed_at=%zu errno=%s\n", total, ename(errno));
			fflush(stdout);
			return 3;
		}
		memset(p, 1, 1 << 20);
	}
}

/* What the Go runtime does at start: reserve a large range PROT_NONE, touch a page of
 * it made writable. */
static int mode_reserve(void)
{
	size_t len = (size_t)4 << 30;
	char *p = mmap(NULL, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED) {
		printf("reserve=%s\n", ename(errno));
		return 3;
	}
	if (mprotect(p, 1 << 20, PROT_READ | PROT_WRITE) < 0) {
		printf("reserve=mprotect:%s\n", ename(errno));
		return 3;
	}
	memset(p, 1, 1 << 20);
	printf("reserve=ok\n");
	fflush(stdout);
	return 0;
}

static int mode_fork(int n)
{
	int ok = 0, err = 0;
	for (int i = 0; i < n; i++) {
		pid_t p = fork();
		if (p == 0) {
			pause();
			_exit(0);
		}
		if (p < 0) {
			err = errno;
			break;
		}
		ok++;
	}
	printf("forked=%d\nfork_errno=%s\nready\n", ok, ename(err));
	wait_channel_closed(); /* the children die with the pid namespace */
	return 0;
}

/* ---- seccomp -------------------------------------------------------------------- */

static void *thread_fn(void *arg)
{
	return arg;
}

static volatile sig_atomic_t got_usr1;

static void on_usr1(int sig)
{
	(void)sig;
	got_usr1++;
}

static void *wait_fn(void *arg)
{
	int *p = arg;
	char b;
	while (read(p[0], &b, 1) < 0 && errno == EINTR)
		;
	return NULL;
}

/* Signals: to other processes (0, -1, getppid(), a pid that is not ours) refused by
 * the filter, to itself and its own threads allowed. Signal 0 where it can be: no
 * side effect even where a call got through. */
static void signal_case(void)
{
	pid_t self = getpid(), other = self + 1;
	struct sigaction sa = {.sa_handler = on_usr1};
	sigaction(SIGUSR1, &sa, NULL);
	printf("self=%d\nppid=%d\n", (int)self, (int)getppid());
	res("kill_group", kill(0, 0));
	res("kill_all", kill(-1, 0));
	res("kill_ppid", kill(getppid(), 0));
	res("kill_other", kill(other, 0));
	res("kill_pgrp", kill(-getpgrp(), 0));
	res("tgkill_other", syscall(SYS_tgkill, other, other, 0));
	res("tkill_other", syscall(SYS_tkill, other, 0));
	siginfo_t si = {.si_code = SI_QUEUE, .si_pid = self};
	res("sigqueue_other", syscall(SYS_rt_sigqueueinfo, other, SIGUSR1, &si));
	res("tgsigqueue_other", syscall(SYS_rt_tgsigqueueinfo, other, other, SIGUSR1, &si));
	res("pidfd_open", syscall(SYS_pidfd_open, self, 0));
	res("pidfd_send_signal", syscall(SYS_pidfd_send_signal, 0, 0, NULL, 0));
	res("kill_self", kill(self, SIGUSR1));
	res("raise", raise(SIGUSR1));
	res("tkill_self", syscall(SYS_tkill, self, SIGUSR1));
	res("sigqueue_self", sigqueue(self, SIGUSR1, (union sigval){0}));
	int p[2];
	pthread_t t;
	if (pipe2(p, O_CLOEXEC) == 0 && pthread_create(&t, NULL, wait_fn, p) == 0) {
		int e = pthread_kill(t, SIGUSR1);
		printf("pthread_kill=%s\n", e ? ename(e) : "ok");
		close(p[1]);
		pthread_join(t, NULL);
	}
	printf("self_signals=%d\n", (int)got_usr1);
}

/* MSG_OOB refused on every send and receive call; the same calls without it work. */
static void oob_case(void)
{
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		res("socketpair", -1);
		return;
	}
	char b = 'x';
	struct iovec iov = {.iov_base = &b, .iov_len = 1};
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
	struct mmsghdr mm = {.msg_hdr = mh};
	res("send_oob", send(sv[0], &b, 1, MSG_OOB));
	res("sendto_oob", sendto(sv[0], &b, 1, MSG_OOB | MSG_DONTWAIT, NULL, 0));
	res("sendmsg_oob", sendmsg(sv[0], &mh, MSG_OOB));
	res("sendmmsg_oob", sendmmsg(sv[0], &mm, 1, MSG_OOB));
	res("recv_oob", recv(sv[1], &b, 1, MSG_OOB | MSG_DONTWAIT));
	res("recvmsg_oob", recvmsg(sv[1], &mh, MSG_OOB | MSG_DONTWAIT));
	res("recvmmsg_oob", recvmmsg(sv[1], &mm, 1, MSG_OOB | MSG_DONTWAIT, NULL));
	res("send_plain", send(sv[0], &b, 1, MSG_NOSIGNAL));
	res("sendmsg_plain", sendmsg(sv[0], &mh, MSG_NOSIGNAL));
	res("recv_plain", recv(sv[1], &b, 1, MSG_DONTWAIT));
	res("recvmsg_plain", recvmsg(sv[1], &mh, MSG_DONTWAIT));
	/* the channel to the supervisor too */
	res("send_oob_channel", send(3, &b, 1, MSG_OOB));
}

static void install(int argc, char **argv)
{
	const char *bad = NULL;
	int r = bh_seccomp_install((const char *const *)argv, (size_t)argc, &bad);
	printf("install=%d\n", r);
	fflush(stdout);
	if (r < 0) {
		printf("bad=%s\n", bad ? bad : "");
		exit(1);
	}
}

static int mode_seccomp(const char *what, int argc, char **argv)
{
	install(argc, argv);
	if (strcmp(what, "deny-ptrace") == 0) {
		ptrace(PTRACE_TRACEME, 0, NULL, NULL);
	} else if (strcmp(what, "deny-unshare") == 0) {
		unshare(CLONE_NEWUSER);
	} else if (strcmp(what, "deny-mount") == 0) {
		syscall(SYS_mount, "none", "/tmp", "tmpfs", 0, NULL);
	} else if (strcmp(what, "deny-io_uring") == 0) {
		syscall(SYS_io_uring_setup, 1, NULL);
	} else if (strcmp(what, "deny-bpf") == 0) {
		syscall(SYS_bpf, 0, NULL, 0);
	} else if (strcmp(what, "deny-execve") == 0) {
		execl("/usr/bin/true", "true", (char *)NULL);
	} else if (strcmp(what, "x32") == 0) {
		syscall(__NR_getpid | 0x40000000);
	} else if (strcmp(what, "i386") == 0) {
		long ret;
		/* getpid is 20 in the i386 table */
		__asm__ volatile("int $0x80" : "=a"(ret) : "a"(20L) : "memory");
		printf("i386_ret=%ld\n", ret);
	} else if (strcmp(what, "errno") == 0) {
		res("socket_inet", socket(AF_INET, SOCK_STREAM, 0));
		res("socket_inet6", socket(AF_INET6, SOCK_DGRAM, 0));
		res("socket_netlink", socket(AF_NETLINK, SOCK_RAW, 0));
		res("socket_packet", socket(AF_PACKET, SOCK_RAW, 0));
		res("clone3", syscall(SYS_clone3, NULL, 0));
		res("fork", syscall(SYS_fork));
		res("clone_process", syscall(SYS_clone, SIGCHLD, 0, NULL, NULL, 0));
		res("personality_set", personality(ADDR_NO_RANDOMIZE));
		res("personality_query", personality(0xffffffff));
		res("tiocsti", ioctl(0, TIOCSTI, "x"));
		res("tcgets", ioctl(1, TCGETS, &(struct termios){0}));
		struct rlimit rl = {32, 32}; /* lowering: the kernel would allow it */
		res("setrlimit", setrlimit(RLIMIT_NOFILE, &rl));
		res("getrlimit", getrlimit(RLIMIT_NOFILE, &rl));
		static char page[4096];
		res("mlock", mlock(page, sizeof(page)));
		cpu_set_t set;
		CPU_ZERO(&set);
		CPU_SET(0, &set);
		res("sched_setaffinity", sched_setaffinity(0, sizeof(set), &set));
	} else if (strcmp(what, "signals") == 0) {
		signal_case();
	} else if (strcmp(what, "abort") == 0) {
		fflush(stdout);
		abort();
	} else if (strcmp(what, "oob") == 0) {
		oob_case();
	} else if (strcmp(what, "notify") == 0) {
		res("inotify_init1", syscall(SYS_inotify_init1, IN_CLOEXEC));
		res("inotify_init", syscall(SYS_inotify_init));
		res("inotify_add_watch", syscall(SYS_inotify_add_watch, 0, "/", IN_ALL_EVENTS));
		res("fanotify_init", syscall(SYS_fanotify_init, FAN_CLASS_NOTIF | FAN_REPORT_FID, 0));
	} else if (strcmp(what, "inotify-cap") == 0) {
		int n = 0, e = 0;
		for (; n < 1000; n++)
			if (syscall(SYS_inotify_init1, IN_CLOEXEC) < 0) {
				e = errno;
				break;
			}
		printf("inotify_count=%d\ninotify_errno=%s\n", n, ename(e));
	} else if (strcmp(what, "efault") == 0) {
		/* Allowed calls with a bad pointer reach the kernel, which says EFAULT: proof
		 * that the filter let them through, with no side effect. */
		res("uname", syscall(SYS_uname, (void *)1));
		res("getrandom", syscall(SYS_getrandom, (void *)1, 16, 0));
		res("clock_gettime", syscall(SYS_clock_gettime, CLOCK_MONOTONIC, (void *)1));
		int zero = open("/dev/zero", O_RDONLY | O_CLOEXEC);
		res("read", syscall(SYS_read, zero, (void *)1, 1));
		res("fstat", syscall(SYS_fstat, 0, (void *)1));
		res("sysinfo", syscall(SYS_sysinfo, (void *)1));
		/* argument-checked calls, with arguments the filter lets through */
		int sv[2] = {-1, -1};
		socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv);
		res("sendto", syscall(SYS_sendto, sv[0], (void *)1, 1, MSG_NOSIGNAL, NULL, 0));
		res("recvmsg", syscall(SYS_recvmsg, sv[1], (void *)1, MSG_DONTWAIT));
		res("sigqueue_self", syscall(SYS_rt_sigqueueinfo, getpid(), SIGUSR1, (void *)1));
		/* and the same where the filter answers first: its errno, not EFAULT */
		res("sendto_oob", syscall(SYS_sendto, sv[0], (void *)1, 1, MSG_OOB, NULL, 0));
		res("sigqueue_other", syscall(SYS_rt_sigqueueinfo, getpid() + 1, SIGUSR1, (void *)1));
	} else if (strcmp(what, "extra") == 0) {
		unsigned cpu = 0;
		res("getcpu", syscall(SYS_getcpu, &cpu, NULL, NULL));
	} else if (strcmp(what, "allowed") == 0) {
		pthread_t t;
		int e = pthread_create(&t, NULL, thread_fn, NULL);
		printf("pthread_create=%s\n", e ? ename(e) : "ok");
		if (!e)
			pthread_join(t, NULL);
		int sv[2];
		res("socketpair_unix", socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv));
		res("socket_unix", socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
		int p[2];
		res("pipe2", pipe2(p, O_CLOEXEC));
		res("tmp_file", open("/tmp/f", O_CREAT | O_RDWR | O_CLOEXEC, 0600));
		res("memfd", memfd_create("x", MFD_CLOEXEC));
		res("prctl_name", prctl(PR_SET_NAME, "probe"));
		res("kill_self0", kill(getpid(), 0));
		/* glibc's syslog() does this: allowed, and there is no /dev/log */
		int u = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		struct sockaddr_un sa = {.sun_family = AF_UNIX, .sun_path = "/dev/log"};
		res("connect_devlog", connect(u, (struct sockaddr *)&sa, sizeof(sa)));
	} else {
		fprintf(stderr, "probe: unknown seccomp case %s\n", what);
		return 2;
	}
	printf("survived\n");
	return 0;
}

static int mode_badname(void)
{
	const char *names[] = {"getpid", "no_such_syscall"};
	const char *bad = NULL;
	int r = bh_seccomp_install(names, 2, &bad);
	printf("install=%d\nbad=%s\n", r, bad ? bad : "");
	return 0;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc < 2)
		return 2;
	const char *m = argv[1];
	if (strcmp(m, "info") == 0)
		return mode_info();
	if (strcmp(m, "hold") == 0) {
		printf("ready\n");
		wait_channel_closed();
		return 0;
	}
	if (strcmp(m, "echo") == 0) {
		if (write(3, "!", 1) != 1)
			return 1;
		wait_channel_closed();
		return 0;
	}
	if (strcmp(m, "hog") == 0)
		return mode_hog();
	if (strcmp(m, "reserve") == 0)
		return mode_reserve();
	if (strcmp(m, "fork") == 0 && argc > 2)
		return mode_fork(atoi(argv[2]));
	if (strcmp(m, "seccomp") == 0 && argc > 2)
		return mode_seccomp(argv[2], argc - 3, argv + 3);
	if (strcmp(m, "badname") == 0)
		return mode_badname();
	return 2;
}
