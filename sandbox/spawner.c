/* The spawn helper: a small process, forked from the daemon while the daemon is
 * still small, that makes the clone3 of every instance on the daemon's behalf.
 *
 * Why it exists: a process that clones itself without CLONE_VM copies its page
 * tables (dup_mmap, copy_page_range), and while the child has not exec'd yet every
 * page the parent writes takes a copy-on-write fault with a TLB flush on the other
 * CPUs. A daemon holding 1000 one-instance plugins spent about 5 ms of its CPU per
 * instance that way (bench_scale, Release, 2-vCPU VM: 27 % of its CPU in clone3,
 * 28 % in those faults afterwards), and the cost grew with the daemon's size.
 *
 * Only the clone moves here. The daemon still does everything around it (cgroup
 * leaves, detached mount trees, rlimit plan, id maps, the release through the pipe)
 * and sends the helper the plan, flattened (struct bh__spawn_req in internal.h, then
 * its strings), with the fds the child needs (SCM_RIGHTS) over a SOCK_SEQPACKET
 * socketpair. The helper clones with CLONE_PARENT: the instance is the daemon's child
 * as before (the daemon reaps it through its pidfd, its parent-death signal follows
 * the daemon, getppid() names the daemon, its exit signal is the helper's own,
 * SIGCHLD; the kernel refuses CLONE_PARENT only to an init, which the helper never
 * is, even under a daemon that is pid 1 of its namespace) and runs bh__child_run with
 * the helper's fd numbers. The reply is the pid with the pidfd attached, or -errno.
 * One request at a time; the daemon waits for the reply, which takes one clone3 of a
 * small process. The children inherit what the helper had when it was forked:
 * limits, signal mask, cgroup, CPU affinity.
 *
 * Without a helper (never started, e.g. a program calling bh_sandbox_spawn alone, or
 * dead), the caller clones itself as before. A dead helper is not restarted: a new
 * one would be a copy of the daemon as it is by then, large, and each of its clones
 * would copy that address space again, moving the cost rather than removing it. */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/sched.h>

#include "internal.h"

/* The daemon's side. sock is -1 without a helper. */
static struct {
	int sock;
	int pidfd;
	pid_t pid;
} helper = {-1, -1, -1};

/* ---- both sides ------------------------------------------------------------------ */

static int *fd_slot(struct bh__plan *pl, int *cgroup, enum bh__spawn_fd f)
{
	switch (f) {
	case BH__SF_CHANNEL: return &pl->channel_fd;
	case BH__SF_STDOUT: return &pl->stdout_fd;
	case BH__SF_STDERR: return &pl->stderr_fd;
	case BH__SF_CLAIMS: return &pl->claims_fd;
	case BH__SF_ERR: return &pl->err_fd;
	case BH__SF_SYNC_RD: return &pl->sync_rd;
	case BH__SF_SYNC_WR: return &pl->sync_wr;
	case BH__SF_PARENT: return &pl->parent_pidfd;
	case BH__SF_V1_MEMORY:
	case BH__SF_V1_PIDS:
	case BH__SF_V1_CPU: return &pl->v1_tasks[f - BH__SF_V1_MEMORY];
	case BH__SF_SHIM_TREE: return &pl->shim.tree;
	case BH__SF_PLUGIN_TREE: return &pl->plugin.tree;
	case BH__SF_CGROUP:
	case BH__SF_N: break;
	}
	return cgroup;
}

static int send_fds(int sock, const void *buf, size_t len, const int *fds, size_t n_fds)
{
	char ctl[CMSG_SPACE(sizeof(int) * BH__SF_N)] __attribute__((aligned(8))) = {0};
	struct iovec iov = {.iov_base = (void *)buf, .iov_len = len};
	struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1};
	if (n_fds) {
		m.msg_control = ctl;
		m.msg_controllen = CMSG_SPACE(sizeof(int) * n_fds);
		struct cmsghdr *c = CMSG_FIRSTHDR(&m);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * n_fds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * n_fds);
	}
	ssize_t n;
	do
		n = sendmsg(sock, &m, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	return (size_t)n == len ? 0 : -EIO;
}

static void close_all(int *fds, size_t n)
{
	for (size_t i = 0; i < n; i++)
		close(fds[i]);
}

/* One message and the fds attached to it (at most max_fds; close-on-exec). The
 * byte count, 0 at end of file, or -errno. *ret_truncated: the message or its fds
 * did not fit (the fds that came are closed then, and *ret_n_fds is 0); the kernel
 * also cuts the fds short when the receiver has no free fd left. */
static ssize_t recv_fds(int sock, void *buf, size_t len, int *fds, size_t max_fds,
			size_t *ret_n_fds, bool *ret_truncated)
{
	char ctl[CMSG_SPACE(sizeof(int) * BH__SF_N)] __attribute__((aligned(8)));
	struct iovec iov = {.iov_base = buf, .iov_len = len};
	struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl,
			   .msg_controllen = CMSG_SPACE(sizeof(int) * max_fds)};
	ssize_t n;
	do
		n = recvmsg(sock, &m, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	size_t got = 0;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		if (k > max_fds - got) /* cannot happen: the kernel truncates */
			k = max_fds - got;
		memcpy(fds + got, CMSG_DATA(c), k * sizeof(int));
		got += k;
	}
	*ret_n_fds = got;
	*ret_truncated = m.msg_flags & (MSG_TRUNC | MSG_CTRUNC);
	if (*ret_truncated) {
		close_all(fds, got);
		*ret_n_fds = 0;
	}
	return n;
}

/* clone3, the child running pl. In the helper flags has CLONE_PARENT, which takes
 * the exit signal from the caller (clone3 wants 0 there). */
static int clone_child(const struct bh__plan *pl, uint64_t flags, int cgroup, pid_t *ret_pid,
		       int *ret_pidfd)
{
	int pidfd = -1;
	struct clone_args ca = {
		.flags = flags,
		.pidfd = (uint64_t)(uintptr_t)&pidfd,
		.exit_signal = flags & CLONE_PARENT ? 0 : SIGCHLD,
		.cgroup = flags & CLONE_INTO_CGROUP ? (uint64_t)cgroup : 0,
	};
	long pid = syscall(SYS_clone3, &ca, sizeof(ca));
	if (pid < 0)
		return -errno;
	if (pid == 0)
		bh__child_run(pl);
	*ret_pid = (pid_t)pid;
	*ret_pidfd = pidfd; /* clone3 makes it close-on-exec */
	return 0;
}

/* ---- the helper ------------------------------------------------------------------- */

static bool has_nul(const char *s, size_t len)
{
	return memchr(s, '\0', len) != NULL;
}

/* The plan of a request, checked: every size, count and string. Points into q, fds
 * and argv (BH__SPAWN_ARGS_MAX + 1 entries). 0 or -EPROTO. */
static int parse(const struct bh__spawn_req *q, size_t len, const int *fds, size_t n_fds,
		 char **argv, struct bh__plan *pl, int *ret_cgroup)
{
	if (len < sizeof(*q) || len - sizeof(*q) > BH__SPAWN_STRINGS_MAX)
		return -EPROTO;
	if ((q->clone_flags & ~(uint64_t)BH__SPAWN_CLONE_FLAGS) ||
	    !(q->clone_flags & CLONE_PIDFD) ||
	    (q->fds >> BH__SF_N) || (q->fds & BH__SF_NEEDED) != BH__SF_NEEDED ||
	    (size_t)__builtin_popcount(q->fds) != n_fds ||
	    !(q->clone_flags & CLONE_INTO_CGROUP) != !(q->fds & 1u << BH__SF_CGROUP) ||
	    (q->bits & ~(uint32_t)BH__SR_ALL) || q->parent_pid <= 0 || q->n_rl > BH__MAX_RLIMITS ||
	    q->argc == 0 || q->argc > BH__SPAWN_ARGS_MAX || q->cpus_size > sizeof(q->cpus))
		return -EPROTO;
	if ((q->bits & BH__SR_CONFINED) &&
	    (q->fds & BH__SF_CONFINED_NEEDED) != BH__SF_CONFINED_NEEDED)
		return -EPROTO;
	if (!has_nul(q->tmp_opts, sizeof(q->tmp_opts)) ||
	    !has_nul(q->shim_target, sizeof(q->shim_target)) ||
	    !has_nul(q->plugin_target, sizeof(q->plugin_target)))
		return -EPROTO;
	const char *s = (const char *)(q + 1), *end = (const char *)q + len;
	const char *head[3];
	for (size_t i = 0; i < 3 + q->argc; i++) {
		const char *nul = memchr(s, '\0', (size_t)(end - s));
		if (!nul)
			return -EPROTO;
		if (i < 3)
			head[i] = s;
		else
			argv[i - 3] = (char *)s;
		s = nul + 1;
	}
	argv[q->argc] = NULL;
	if (s != end || !head[0][0])
		return -EPROTO;

	memset(pl, 0, sizeof(*pl));
	size_t k = 0;
	for (enum bh__spawn_fd f = 0; f < BH__SF_N; f++)
		*fd_slot(pl, ret_cgroup, f) = q->fds & 1u << f ? fds[k++] : -1;
	pl->parent_pid = q->parent_pid;
	pl->exe = head[0];
	pl->argv = argv;
	pl->confined = q->bits & BH__SR_CONFINED;
	pl->network = q->bits & BH__SR_NETWORK;
	pl->privileged = q->bits & BH__SR_PRIVILEGED;
	pl->drop_groups = q->bits & BH__SR_DROP_GROUPS;
	pl->shim.host_path = head[1][0] ? head[1] : NULL;
	pl->plugin.host_path = head[2][0] ? head[2] : NULL;
	memcpy(pl->shim.target, q->shim_target, sizeof(pl->shim.target));
	memcpy(pl->plugin.target, q->plugin_target, sizeof(pl->plugin.target));
	memcpy(pl->tmp_opts, q->tmp_opts, sizeof(pl->tmp_opts));
	memcpy(pl->rl, q->rl, sizeof(pl->rl));
	pl->n_rl = (int)q->n_rl;
	memcpy(pl->cpus, q->cpus, sizeof(pl->cpus));
	pl->cpus_size = q->cpus_size;
	return 0;
}

/* What one request is parsed into, in memory mapped afresh for it. After a clone,
 * every page the helper writes is a copy-on-write fault with a TLB flush on the
 * other CPUs while the newest child, which waits for its release, still shares it;
 * a fresh mapping is shared with no child yet. The child reads its request from
 * here until it execs. Page-aligned: a page shared with the previous job would be
 * shared with the previous child too. */
struct job {
	union {
		struct bh__spawn_req q;
		char bytes[sizeof(struct bh__spawn_req) + BH__SPAWN_STRINGS_MAX];
	} msg;
	char *argv[BH__SPAWN_ARGS_MAX + 1];
	struct bh__plan pl;
} __attribute__((aligned(4096)));
/* Jobs per mapping: unmapping one takes a TLB flush, so they go 16 at a time
 * (about 1.6 MiB of address space, a few pages of it touched per job). */
#define JOBS_PER_MAP 16

/* One request: receive, check, clone, reply, close what came. Returns false at end
 * of file (the daemon closed its end or is gone). no_caps: an empty capability
 * state for every child. */
static bool serve_one(int sock, struct job *j, cap_t no_caps)
{
	int fds[BH__SF_N], cgroup = -1, pidfd = -1;
	size_t n_fds = 0;
	bool truncated;
	ssize_t n = recv_fds(sock, &j->msg, sizeof(j->msg), fds, BH__SF_N, &n_fds, &truncated);
	if (n <= 0)
		return false;
	struct bh__spawn_reply rep = {.pid = -EPROTO};
	if (!truncated && parse(&j->msg.q, (size_t)n, fds, n_fds, j->argv, &j->pl, &cgroup) == 0) {
		j->pl.no_caps = no_caps;
		pid_t pid = -1;
		int r = clone_child(&j->pl, j->msg.q.clone_flags | CLONE_PARENT, cgroup, &pid,
				    &pidfd);
		rep.pid = r < 0 ? r : pid;
	}
	close_all(fds, n_fds); /* before the reply: the daemon may count on it */
	int r = send_fds(sock, &rep, sizeof(rep), &pidfd, pidfd >= 0 ? 1 : 0);
	if (pidfd >= 0)
		close(pidfd);
	return r == 0 || r == -EMSGSIZE || r == -ENOBUFS || r == -ENOMEM;
}

static _Noreturn void helper_main(int sock, pid_t daemon)
{
	/* Dies with the daemon; and if the daemon is gone already, now. */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != daemon)
		_exit(1);
	prctl(PR_SET_NAME, "bh-spawner");
	/* Nothing of the daemon's but the socket. */
	if ((sock > 0 && syscall(SYS_close_range, 0, sock - 1, 0) < 0) ||
	    syscall(SYS_close_range, sock + 1, ~0U, 0) < 0)
		_exit(1);
	cap_t no_caps = cap_init(); /* all three sets empty */
	if (!no_caps)
		_exit(1);
	for (;;) {
		struct job *jobs = mmap(NULL, JOBS_PER_MAP * sizeof(*jobs), PROT_READ | PROT_WRITE,
					MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (jobs == MAP_FAILED) /* the daemon finds us gone and clones itself */
			_exit(1);
		for (int i = 0; i < JOBS_PER_MAP; i++)
			if (!serve_one(sock, &jobs[i], no_caps))
				_exit(0);
		munmap(jobs, JOBS_PER_MAP * sizeof(*jobs));
	}
}

/* ---- the daemon's side --------------------------------------------------------- */

int bh_sandbox_spawner_start(char *errbuf, size_t errlen)
{
	if (errlen)
		errbuf[0] = '\0';
	if (helper.sock >= 0)
		return 0;
	int sv[2], r;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
		r = -errno;
		bh__set_err(errbuf, errlen, "spawn helper: socketpair: %s", strerror(-r));
		return r;
	}
	pid_t self = getpid();
	pid_t pid = fork();
	if (pid == 0) {
		close(sv[0]);
		helper_main(sv[1], self);
	}
	r = pid < 0 ? -errno : 0;
	close(sv[1]);
	int pidfd = pid < 0 ? -1 : (int)syscall(SYS_pidfd_open, pid, 0);
	if (pid > 0 && pidfd < 0) {
		r = -errno;
		kill(pid, SIGKILL);
		while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
			;
	}
	if (r < 0) {
		close(sv[0]);
		bh__set_err(errbuf, errlen, "spawn helper: %s: %s", pid < 0 ? "fork" : "pidfd_open",
			    strerror(-r));
		return r;
	}
	helper.sock = sv[0];
	helper.pidfd = pidfd;
	helper.pid = pid;
	return 0;
}

void bh_sandbox_spawner_stop(void)
{
	if (helper.sock < 0)
		return;
	close(helper.sock);
	/* SIGKILL: the wait below is short whatever state the helper is in. */
	syscall(SYS_pidfd_send_signal, helper.pidfd, SIGKILL, NULL, 0);
	siginfo_t si;
	while (waitid(P_PIDFD, (id_t)helper.pidfd, &si, WEXITED) < 0 && errno == EINTR)
		;
	close(helper.pidfd);
	helper.sock = helper.pidfd = -1;
	helper.pid = -1;
}

pid_t bh_sandbox_spawner_pid(void)
{
	return helper.pid;
}

int bh__spawner_fd(void)
{
	return helper.sock;
}

/* The request for pl, in a buffer the caller frees. 0 or -E2BIG. */
static int build_req(const struct bh__plan *pl, uint64_t flags, int cgroup,
		     struct bh__spawn_req **ret, size_t *ret_len, int fds[BH__SF_N],
		     size_t *ret_n_fds)
{
	const char *head[3] = {pl->exe, pl->shim.host_path ? pl->shim.host_path : "",
			       pl->plugin.host_path ? pl->plugin.host_path : ""};
	size_t strings = 0, argc = 0;
	for (size_t i = 0; i < 3; i++)
		strings += strlen(head[i]) + 1;
	for (; pl->argv[argc]; argc++)
		strings += strlen(pl->argv[argc]) + 1;
	if (argc > BH__SPAWN_ARGS_MAX || strings > BH__SPAWN_STRINGS_MAX)
		return -E2BIG;
	struct bh__spawn_req *q = calloc(1, sizeof(*q) + strings);
	if (!q)
		return -ENOMEM;
	*q = (struct bh__spawn_req){
		.clone_flags = flags,
		.bits = (pl->confined ? BH__SR_CONFINED : 0) | (pl->network ? BH__SR_NETWORK : 0) |
			(pl->privileged ? BH__SR_PRIVILEGED : 0) |
			(pl->drop_groups ? BH__SR_DROP_GROUPS : 0),
		.parent_pid = pl->parent_pid,
		.argc = (uint32_t)argc,
		.n_rl = (uint32_t)pl->n_rl,
		.cpus_size = pl->cpus_size,
	};
	memcpy(q->cpus, pl->cpus, sizeof(q->cpus));
	memcpy(q->rl, pl->rl, sizeof(q->rl));
	memcpy(q->tmp_opts, pl->tmp_opts, sizeof(q->tmp_opts));
	memcpy(q->shim_target, pl->shim.target, sizeof(q->shim_target));
	memcpy(q->plugin_target, pl->plugin.target, sizeof(q->plugin_target));
	char *s = (char *)(q + 1);
	for (size_t i = 0; i < 3 + argc; i++) {
		const char *from = i < 3 ? head[i] : pl->argv[i - 3];
		size_t l = strlen(from) + 1;
		memcpy(s, from, l);
		s += l;
	}
	struct bh__plan copy = *pl; /* fd_slot's pointers only read here */
	size_t n = 0;
	for (enum bh__spawn_fd f = 0; f < BH__SF_N; f++) {
		int fd = *fd_slot(&copy, &cgroup, f);
		if (f == BH__SF_CGROUP && !(flags & CLONE_INTO_CGROUP))
			fd = -1;
		if (fd >= 0) {
			q->fds |= 1u << f;
			fds[n++] = fd;
		}
	}
	*ret = q;
	*ret_len = sizeof(*q) + strings;
	*ret_n_fds = n;
	return 0;
}

/* The helper is gone or broken: no more requests to it. */
static void helper_gone(void)
{
	bh_sandbox_spawner_stop();
}

static void clone_failed(int r, uint64_t flags, char *errbuf, size_t errlen)
{
	bh__set_err(errbuf, errlen, "clone3: %s%s", strerror(-r),
		    (flags & CLONE_NEWUSER) && (r == -EPERM || r == -ENOSPC)
			    ? " (are user namespaces allowed for this user?)" : "");
}

/* Ask the helper. 0, -errno with errbuf filled, or 1: the request never reached it
 * (the caller clones itself). */
static int ask_helper(const struct bh__plan *pl, uint64_t flags, int cgroup, pid_t *ret_pid,
		      int *ret_pidfd, char *errbuf, size_t errlen)
{
	struct bh__spawn_req *q;
	size_t len, n_fds;
	int fds[BH__SF_N];
	int r = build_req(pl, flags, cgroup, &q, &len, fds, &n_fds);
	if (r < 0) {
		bh__set_err(errbuf, errlen, "spawn helper: %s", r == -E2BIG
			    ? "more than 2048 arguments or 64 KiB of paths and arguments"
			    : strerror(-r));
		return r;
	}
	r = send_fds(helper.sock, q, len, fds, n_fds);
	free(q);
	if (r == -EPIPE || r == -ECONNRESET || r == -ENOTCONN)
		helper_gone();
	if (r < 0)
		return 1;
	struct bh__spawn_reply rep;
	int pidfd[1];
	size_t n_pidfd = 0;
	bool truncated;
	ssize_t n = recv_fds(helper.sock, &rep, sizeof(rep), pidfd, 1, &n_pidfd, &truncated);
	if (n == sizeof(rep) && rep.pid > 0 && n_pidfd == 1) {
		*ret_pid = rep.pid;
		*ret_pidfd = pidfd[0];
		return 0;
	}
	if (n == sizeof(rep) && rep.pid > 0 && truncated) {
		/* We had no fd left for the pidfd. The child is ours and not reaped, so
		 * its pid is still its own: end it, and let the caller retry later. */
		kill(rep.pid, SIGKILL);
		while (waitpid(rep.pid, NULL, __WALL) < 0 && errno == EINTR)
			;
		bh__set_err(errbuf, errlen, "no free fd for the child's pidfd");
		return -EMFILE;
	}
	if (n == sizeof(rep) && rep.pid < 0 && n_pidfd == 0) {
		if (rep.pid == -EPROTO)
			bh__set_err(errbuf, errlen, "the spawn helper refused the request");
		else
			clone_failed(rep.pid, flags, errbuf, errlen);
		return rep.pid;
	}
	/* It died or broke while it had the request: it may have cloned a child, which
	 * ends when the caller closes the fds it was given on this failure (end of file
	 * on the release pipe or the channel). So no second clone on the same fds: the
	 * caller retries the spawn. */
	close_all(pidfd, n_pidfd);
	helper_gone();
	bh__set_err(errbuf, errlen, "the spawn helper %s during the request; no instance "
		    "started", n == 0 || n == -ECONNRESET ? "died" : "answered nonsense");
	return -EAGAIN;
}

int bh__spawner_clone(const struct bh__plan *pl, uint64_t flags, int cgroup, pid_t *ret_pid,
		      int *ret_pidfd, bool *ret_via_helper, char *errbuf, size_t errlen)
{
	if (helper.sock >= 0) {
		int r = ask_helper(pl, flags, cgroup, ret_pid, ret_pidfd, errbuf, errlen);
		if (r <= 0) {
			*ret_via_helper = r == 0;
			return r;
		}
	}
	/* No helper, or the request did not reach it: the caller clones itself. */
	int r = clone_child(pl, flags, cgroup, ret_pid, ret_pidfd);
	if (r < 0)
		clone_failed(r, flags, errbuf, errlen);
	*ret_via_helper = false;
	return r;
}
