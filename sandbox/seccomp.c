/* The seccomp allow-list a plugin runs under, installed by the shim before it
 * dlopen()s the plugin (the plugin's ELF constructors run inside dlopen).
 *
 * Default action: kill the process. Architecture: native x86_64 only; an i386
 * entry (int 0x80, AUDIT_ARCH_I386) is a bad architecture and x32 system calls
 * (nr | 0x40000000, same AUDIT_ARCH_X86_64) are rejected by the range check
 * libseccomp puts in every x86_64 filter; both take the bad-architecture action,
 * which is set to kill the process too.
 *
 * What is allowed is what a library plausibly needs: memory, time, I/O on the
 * process's own descriptors (the file system it sees is read-only but for /tmp),
 * threads, signals to itself and its own threads (any other target: EPERM),
 * identity queries, AF_UNIX sockets (without MSG_OOB: EOPNOTSUPP). A profile with
 * network = true keeps the host network namespace but still gets EACCES for network
 * sockets until "socket" is granted by name (and then every family is allowed: its
 * namespace decides what they reach). Process creation is refused: plugins are
 * libraries, not launchers. fork/vfork/clone without CLONE_THREAD fail with EPERM
 * (a library's popen() fails like on a full process table); execve/execveat kill.
 *
 * Some calls get an errno instead of the kill, where a library probing for a
 * feature should see it missing rather than die: sockets of the network families
 * (EACCES), clone3 (ENOSYS, so that glibc falls back to clone, which is checked),
 * personality other than a query, setrlimit/prlimit setting, mlock*,
 * sched_setaffinity and friends, pidfd_open and pidfd_send_signal (EPERM), inotify
 * and fanotify (ENOSYS), terminal ioctls (ENOTTY), TIOCSTI (EPERM).
 *
 * Arguments that the kernel reads as 32-bit ints (ioctl request, socket family,
 * prctl option) are compared on their low 32 bits, as the kernel sees them; other
 * arguments on all 64. A value that matches no rule is killed, so garbage in the
 * upper half can never turn a refused call into an allowed one. */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <termios.h>
#include <unistd.h>
#include <seccomp.h>

#include "bulkhead/sandbox.h"

/* Allowed as they are. */
static const int allowed[] = {
	/* memory */
	SCMP_SYS(brk), SCMP_SYS(mmap), SCMP_SYS(munmap), SCMP_SYS(mremap), SCMP_SYS(mprotect),
	SCMP_SYS(madvise), SCMP_SYS(msync), SCMP_SYS(mincore), SCMP_SYS(munlock),
	SCMP_SYS(munlockall), SCMP_SYS(membarrier), SCMP_SYS(memfd_create),
	/* time */
	SCMP_SYS(clock_gettime), SCMP_SYS(clock_getres), SCMP_SYS(clock_nanosleep),
	SCMP_SYS(nanosleep), SCMP_SYS(gettimeofday), SCMP_SYS(time), SCMP_SYS(alarm),
	SCMP_SYS(getitimer), SCMP_SYS(setitimer), SCMP_SYS(timer_create),
	SCMP_SYS(timer_settime), SCMP_SYS(timer_gettime), SCMP_SYS(timer_getoverrun),
	SCMP_SYS(timer_delete), SCMP_SYS(timerfd_create), SCMP_SYS(timerfd_settime),
	SCMP_SYS(timerfd_gettime),
	/* I/O on the process's own descriptors */
	SCMP_SYS(read), SCMP_SYS(write), SCMP_SYS(readv), SCMP_SYS(writev), SCMP_SYS(pread64),
	SCMP_SYS(pwrite64), SCMP_SYS(preadv), SCMP_SYS(pwritev), SCMP_SYS(preadv2),
	SCMP_SYS(pwritev2), SCMP_SYS(lseek), SCMP_SYS(close), SCMP_SYS(close_range),
	SCMP_SYS(fcntl), SCMP_SYS(dup), SCMP_SYS(dup2), SCMP_SYS(dup3), SCMP_SYS(pipe),
	SCMP_SYS(pipe2), SCMP_SYS(poll), SCMP_SYS(ppoll), SCMP_SYS(select), SCMP_SYS(pselect6),
	SCMP_SYS(epoll_create), SCMP_SYS(epoll_create1), SCMP_SYS(epoll_ctl),
	SCMP_SYS(epoll_wait), SCMP_SYS(epoll_pwait), SCMP_SYS(epoll_pwait2),
	SCMP_SYS(eventfd), SCMP_SYS(eventfd2), SCMP_SYS(signalfd), SCMP_SYS(signalfd4),
	SCMP_SYS(fsync), SCMP_SYS(fdatasync), SCMP_SYS(ftruncate), SCMP_SYS(fallocate),
	SCMP_SYS(flock), SCMP_SYS(sendfile), SCMP_SYS(fadvise64),
	/* the file system: read-only except the private /tmp */
	SCMP_SYS(open), SCMP_SYS(openat), SCMP_SYS(stat), SCMP_SYS(lstat), SCMP_SYS(fstat),
	SCMP_SYS(newfstatat), SCMP_SYS(statx), SCMP_SYS(statfs), SCMP_SYS(fstatfs),
	SCMP_SYS(getdents), SCMP_SYS(getdents64), SCMP_SYS(access), SCMP_SYS(faccessat),
	SCMP_SYS(faccessat2), SCMP_SYS(readlink), SCMP_SYS(readlinkat), SCMP_SYS(getcwd),
	SCMP_SYS(chdir), SCMP_SYS(fchdir), SCMP_SYS(umask), SCMP_SYS(fchmod),
	SCMP_SYS(unlink), SCMP_SYS(unlinkat), SCMP_SYS(mkdir), SCMP_SYS(mkdirat),
	SCMP_SYS(rmdir), SCMP_SYS(rename), SCMP_SYS(renameat), SCMP_SYS(renameat2),
	/* threads, futexes, the C library's per-thread state */
	SCMP_SYS(futex), SCMP_SYS(set_robust_list), SCMP_SYS(rseq), SCMP_SYS(set_tid_address),
	SCMP_SYS(exit), SCMP_SYS(exit_group), SCMP_SYS(restart_syscall),
	SCMP_SYS(sched_yield), SCMP_SYS(sched_getaffinity), SCMP_SYS(sched_getparam),
	SCMP_SYS(sched_getscheduler), SCMP_SYS(sched_get_priority_max),
	SCMP_SYS(sched_get_priority_min), SCMP_SYS(getpriority),
	/* signal handling; sending one is checked (add_conditional): only to itself */
	SCMP_SYS(rt_sigaction), SCMP_SYS(rt_sigprocmask), SCMP_SYS(rt_sigreturn),
	SCMP_SYS(rt_sigsuspend), SCMP_SYS(rt_sigtimedwait), SCMP_SYS(rt_sigpending),
	SCMP_SYS(sigaltstack), SCMP_SYS(pause),
	/* who and where am I */
	SCMP_SYS(getpid), SCMP_SYS(gettid), SCMP_SYS(getppid), SCMP_SYS(getuid),
	SCMP_SYS(geteuid), SCMP_SYS(getgid), SCMP_SYS(getegid), SCMP_SYS(getresuid),
	SCMP_SYS(getresgid), SCMP_SYS(getgroups), SCMP_SYS(getpgrp), SCMP_SYS(getpgid),
	SCMP_SYS(getsid), SCMP_SYS(uname), SCMP_SYS(sysinfo), SCMP_SYS(getrlimit),
	SCMP_SYS(getrusage), SCMP_SYS(times), SCMP_SYS(getrandom),
	/* sockets already open (the channel) and AF_UNIX ones. connect/bind/accept
	 * reach only what the plugin made itself: its file system is private, its network
	 * namespace empty (glibc's syslog() connects to /dev/log, which is not there).
	 * send/recv calls are checked for MSG_OOB (add_conditional). */
	SCMP_SYS(shutdown), SCMP_SYS(getsockopt),
	SCMP_SYS(setsockopt), SCMP_SYS(getsockname), SCMP_SYS(getpeername), SCMP_SYS(connect),
	SCMP_SYS(bind), SCMP_SYS(listen), SCMP_SYS(accept), SCMP_SYS(accept4),
	/* children: there are none, but waiting is harmless */
	SCMP_SYS(wait4), SCMP_SYS(waitid),
};

/* Answered with an errno, whatever the arguments. */
static const struct {
	int nr, err;
} refused[] = {
	{SCMP_SYS(clone3), ENOSYS},
	{SCMP_SYS(fork), EPERM},
	{SCMP_SYS(vfork), EPERM},
	{SCMP_SYS(setrlimit), EPERM},
	{SCMP_SYS(mlock), EPERM},
	{SCMP_SYS(mlock2), EPERM},
	{SCMP_SYS(mlockall), EPERM},
	{SCMP_SYS(sched_setaffinity), EPERM},
	{SCMP_SYS(sched_setscheduler), EPERM},
	{SCMP_SYS(sched_setparam), EPERM},
	{SCMP_SYS(setpriority), EPERM},
	/* Signals through a pidfd: the filter cannot tell whose process an fd names. */
	{SCMP_SYS(pidfd_open), EPERM},
	{SCMP_SYS(pidfd_send_signal), EPERM},
	/* File system notification: every instance is charged to the owner of the
	 * plugin's user namespace (host root, for a root daemon), whose per-user limit
	 * (fs.inotify.max_user_instances, 128 by default) the daemon's own plugin_dir
	 * watch needs too. "Not available", so that libraries fall back to polling. */
	{SCMP_SYS(inotify_init), ENOSYS},
	{SCMP_SYS(inotify_init1), ENOSYS},
	{SCMP_SYS(inotify_add_watch), ENOSYS},
	{SCMP_SYS(inotify_rm_watch), ENOSYS},
	{SCMP_SYS(fanotify_init), ENOSYS},
	{SCMP_SYS(fanotify_mark), ENOSYS},
};

#define LO32 0xffffffffULL
/* arg n's low 32 bits == v */
#define A32(n, v) SCMP_CMP((n), SCMP_CMP_MASKED_EQ, LO32, (uint64_t)(uint32_t)(v))

/* clone flags that would make anything but a thread of this process. */
#define CLONE_NS_FLAGS                                                                     \
	(CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER |         \
	 CLONE_NEWPID | CLONE_NEWNET)

struct build {
	scmp_filter_ctx ctx;
	pid_t self;       /* our pid, as our pid namespace numbers it */
	const int *extra; /* granted unconditionally: our conditions on them are skipped */
	size_t n_extra;
	int err;
};

static bool is_extra(const struct build *b, int nr)
{
	for (size_t i = 0; i < b->n_extra; i++)
		if (b->extra[i] == nr)
			return true;
	return false;
}

/* Add one rule unless the syscall was granted by name; the first error sticks. */
static void rule(struct build *b, uint32_t action, int nr, unsigned n, const struct scmp_arg_cmp *cmp)
{
	if (b->err || is_extra(b, nr))
		return;
	int r = seccomp_rule_add_array(b->ctx, action, nr, n, cmp);
	if (r < 0)
		b->err = r;
}

static void rule0(struct build *b, uint32_t action, int nr)
{
	rule(b, action, nr, 0, NULL);
}

static void rule1(struct build *b, uint32_t action, int nr, struct scmp_arg_cmp c)
{
	rule(b, action, nr, 1, &c);
}

/* Signals go to the process itself only: its pid namespace leaves little else to
 * reach, but kill(0) names the process group, which a child can share with whoever
 * started it (and getppid() is 0 in a new pid namespace: kill(getppid(), ...) is
 * kill(0, ...)). So the target pid (tgid) of every call that sends one must be our
 * own: kill(self), tgkill(self, any thread of ours) as raise() and pthread_kill()
 * use, tkill(self) (the main thread), rt_(tg)sigqueueinfo(self). 0, -1, a process
 * group or another pid gets EPERM, what the kernel says about a process one may not
 * signal: a library checking whether a pid lives (kill(pid, 0)) learns nothing and
 * does not die. Compared on all 64 bits (a pid is passed sign-extended): garbage in
 * the upper half is refused, never allowed. */
static void add_signals(struct build *b)
{
	static const int send[] = {SCMP_SYS(kill), SCMP_SYS(tkill), SCMP_SYS(tgkill),
				   SCMP_SYS(rt_sigqueueinfo), SCMP_SYS(rt_tgsigqueueinfo)};
	uint64_t self = (uint64_t)b->self;
	for (size_t i = 0; i < sizeof(send) / sizeof(send[0]); i++) {
		rule1(b, SCMP_ACT_ALLOW, send[i], SCMP_A0(SCMP_CMP_EQ, self));
		rule1(b, SCMP_ACT_ERRNO(EPERM), send[i], SCMP_A0(SCMP_CMP_NE, self));
	}
}

/* MSG_OOB: out-of-band data on AF_UNIX stream sockets is a young and bug-prone path
 * of the kernel (several use-after-frees since it came in 5.15) that nothing needs
 * on a local socket. Refused with EOPNOTSUPP, what a socket without OOB support
 * answers. flags is an unsigned int to the kernel; the test is on bit 0.
 *
 * The cost: a call whose filter result depends on its arguments is not in the
 * kernel's seccomp action cache, so the filter runs on every sendmsg (the shim's
 * reply path): about 0.13 us per call measured here, below the run-to-run noise of a
 * routed call in tests/bench (figures in SECURITY.md). */
static void add_no_oob(struct build *b)
{
	static const struct {
		int nr;
		unsigned flags_arg;
	} io[] = {
		{SCMP_SYS(sendto), 3},  {SCMP_SYS(recvfrom), 3}, {SCMP_SYS(sendmsg), 2},
		{SCMP_SYS(recvmsg), 2}, {SCMP_SYS(sendmmsg), 3}, {SCMP_SYS(recvmmsg), 3},
	};
	for (size_t i = 0; i < sizeof(io) / sizeof(io[0]); i++) {
		rule1(b, SCMP_ACT_ALLOW, io[i].nr,
		      SCMP_CMP(io[i].flags_arg, SCMP_CMP_MASKED_EQ, MSG_OOB, 0));
		rule1(b, SCMP_ACT_ERRNO(EOPNOTSUPP), io[i].nr,
		      SCMP_CMP(io[i].flags_arg, SCMP_CMP_MASKED_EQ, MSG_OOB, MSG_OOB));
	}
}

static void add_conditional(struct build *b)
{
	add_signals(b);
	add_no_oob(b);

	/* Threads only: CLONE_THREAD set and no namespace flag. Another process: EPERM. */
	rule1(b, SCMP_ACT_ALLOW, SCMP_SYS(clone),
	      SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_THREAD | CLONE_NS_FLAGS, CLONE_THREAD));
	rule1(b, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(clone),
	      SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_THREAD, 0));

	/* Sockets: AF_UNIX; the network families answered EACCES (the plugin has no
	 * network anyway); every other family (AF_ALG, AF_VSOCK, ...: kernel attack
	 * surface without a use here) is killed. */
	rule1(b, SCMP_ACT_ALLOW, SCMP_SYS(socket), A32(0, AF_UNIX));
	static const int net[] = {AF_INET, AF_INET6, AF_NETLINK, AF_PACKET};
	for (size_t i = 0; i < sizeof(net) / sizeof(net[0]); i++)
		rule1(b, SCMP_ACT_ERRNO(EACCES), SCMP_SYS(socket), A32(0, net[i]));
	rule1(b, SCMP_ACT_ALLOW, SCMP_SYS(socketpair), A32(0, AF_UNIX));

	/* ioctl: the generic fd ones; terminal queries say "not a terminal" (isatty);
	 * TIOCSTI (typing into a terminal) is refused outright. */
	static const unsigned long io_ok[] = {FIONREAD, FIONBIO, FIOCLEX, FIONCLEX, FIOASYNC};
	for (size_t i = 0; i < sizeof(io_ok) / sizeof(io_ok[0]); i++)
		rule1(b, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), A32(1, io_ok[i]));
	static const unsigned long io_tty[] = {TCGETS, TIOCGWINSZ, TIOCGPGRP};
	for (size_t i = 0; i < sizeof(io_tty) / sizeof(io_tty[0]); i++)
		rule1(b, SCMP_ACT_ERRNO(ENOTTY), SCMP_SYS(ioctl), A32(1, io_tty[i]));
	rule1(b, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(ioctl), A32(1, TIOCSTI));

	/* prctl: names and harmless queries. */
	static const int pr_ok[] = {
		PR_SET_NAME, PR_GET_NAME, PR_GET_DUMPABLE, PR_GET_NO_NEW_PRIVS, PR_GET_SECCOMP,
		PR_CAPBSET_READ, PR_GET_TIMERSLACK, PR_GET_PDEATHSIG, PR_GET_KEEPCAPS,
#ifdef PR_SET_VMA
		PR_SET_VMA, /* naming anonymous mappings (newer glibc's malloc) */
#endif
	};
	for (size_t i = 0; i < sizeof(pr_ok) / sizeof(pr_ok[0]); i++)
		rule1(b, SCMP_ACT_ALLOW, SCMP_SYS(prctl), A32(0, pr_ok[i]));

	/* personality(0xffffffff) only reads the persona; changing it (e.g.
	 * ADDR_NO_RANDOMIZE, READ_IMPLIES_EXEC) is refused. */
	rule1(b, SCMP_ACT_ALLOW, SCMP_SYS(personality), SCMP_A0(SCMP_CMP_EQ, 0xffffffffULL));
	rule1(b, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(personality), SCMP_A0(SCMP_CMP_NE, 0xffffffffULL));

	/* prlimit64 reading only (new_limit NULL); glibc's setrlimit is a prlimit64. */
	rule1(b, SCMP_ACT_ALLOW, SCMP_SYS(prlimit64), SCMP_A2(SCMP_CMP_EQ, 0));
	rule1(b, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(prlimit64), SCMP_A2(SCMP_CMP_NE, 0));
}

int bh_seccomp_install(const char *const *extra, size_t n_extra, const char **ret_bad)
{
	int *nrs = NULL;
	struct build b = {0};
	int r;

	/* Names first: an unknown one fails before anything is installed. */
	if (n_extra) {
		nrs = calloc(n_extra, sizeof(*nrs));
		if (!nrs)
			return -ENOMEM;
	}
	for (size_t i = 0; i < n_extra; i++) {
		int nr = extra[i] ? seccomp_syscall_resolve_name(extra[i]) : __NR_SCMP_ERROR;
		if (nr < 0) { /* unknown, or a pseudo-syscall without a number on x86_64 */
			if (ret_bad)
				*ret_bad = extra[i];
			free(nrs);
			return -EINVAL;
		}
		nrs[i] = nr;
	}
	b.extra = nrs;
	b.n_extra = n_extra;
	b.self = getpid();

	b.ctx = seccomp_init(SCMP_ACT_KILL_PROCESS);
	if (!b.ctx) {
		free(nrs);
		return -ENOMEM;
	}
	/* Only the native architecture is in the filter; anything else is killed. */
	if ((r = seccomp_attr_set(b.ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS)) < 0 ||
	    /* all threads, if the plugin host ever had any before this point */
	    (r = seccomp_attr_set(b.ctx, SCMP_FLTATR_CTL_TSYNC, 1)) < 0 ||
	    /* A binary tree. Not for run time: the kernel caches "always allowed" per
	     * syscall number (seccomp action cache, Linux 5.11), so either layout costs
	     * ~30 ns per allowed call. For load time: to build that cache the kernel
	     * runs the filter for every syscall number of every architecture, and a
	     * linear filter made the seccomp() call itself ~400 us instead of ~150 us
	     * (measured here), more than the tree costs to generate. */
	    (r = seccomp_attr_set(b.ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2)) < 0)
		goto out;

	for (size_t i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++)
		rule0(&b, SCMP_ACT_ALLOW, allowed[i]);
	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++)
		rule0(&b, SCMP_ACT_ERRNO(refused[i].err), refused[i].nr);
	add_conditional(&b);
	if ((r = b.err) < 0)
		goto out;
	for (size_t i = 0; i < n_extra; i++) {
		if ((r = seccomp_rule_add(b.ctx, SCMP_ACT_ALLOW, nrs[i], 0)) < 0) {
			if (ret_bad)
				*ret_bad = extra[i];
			goto out;
		}
	}
	/* execve resets "dumpable" for a readable binary: set it again, so that no other
	 * process of the same host uid can ptrace the plugin or read its memory. */
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0) {
		r = -errno;
		goto out;
	}
	r = seccomp_load(b.ctx);
out:
	seccomp_release(b.ctx);
	free(nrs);
	return r < 0 ? r : 0;
}
