/* The child between clone3 and execve: the confinement phases, in order.
 *
 * Nothing here allocates or takes a lock: the plan was computed by the parent. A
 * failure is one line "sandbox: STEP: REASON" on the stderr pipe and exit
 * BH_SANDBOX_EXIT_SETUP, or BH_SANDBOX_EXIT_RESOURCE when a resource was short. */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

#define HOSTNAME "bulkhead"

/* One line "sandbox: STEP: REASON" on fd, assembled by hand: no stdio between
 * clone and exec. strerrordesc_np reads a static table (no locale, no allocation). */
static void report(int fd, const char *step, int err)
{
	char line[512];
	size_t n = 0;
	const char *parts[] = {"sandbox: ", step, ": ", strerrordesc_np(err), "\n"};
	for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++) {
		const char *s = parts[i] ? parts[i] : "?";
		size_t l = strlen(s);
		if (l > sizeof(line) - n)
			l = sizeof(line) - n;
		memcpy(line + n, s, l);
		n += l;
	}
	ssize_t w = write(fd, line, n);
	(void)w;
}

/* Errors that say "not now" rather than "never": out of fds, memory, processes or
 * namespaces (ENOSPC: a user namespace's max_*_namespaces count). */
static bool resource_errno(int err)
{
	return err == EMFILE || err == ENFILE || err == EAGAIN || err == ENOMEM ||
	       err == ENOSPC || err == ENOBUFS;
}

static _Noreturn void die_with(const struct bh__plan *pl, const char *step, int err, int status)
{
	report(pl->err_fd, step, err);
	_exit(status);
}

_Noreturn void bh__child_die(const struct bh__plan *pl, const char *step, int err)
{
	die_with(pl, step, err, resource_errno(err) ? BH_SANDBOX_EXIT_RESOURCE
						    : BH_SANDBOX_EXIT_SETUP);
}

/* Block until the parent has written our id maps (and joined us to the v1
 * cgroups). End of file without the byte: the parent failed or died. */
void bh__child_wait_release(const struct bh__plan *pl)
{
	char b;
	ssize_t n;
	close(pl->sync_wr);
	do
		n = read(pl->sync_rd, &b, 1);
	while (n < 0 && errno == EINTR);
	if (n != 1)
		_exit(BH_SANDBOX_EXIT_SETUP);
	close(pl->sync_rd);
}

/* Join the v1 leaves: "0" written to a v1 "tasks" file moves the writing thread
 * itself. Moving oneself skips the global cgroup_threadgroup_rwsem that moving
 * another process (the parent writing our pid to cgroup.procs) takes for writing,
 * which can wait for an RCU grace period: about 50 us for three hierarchies instead
 * of about 1.4 ms here. The permission check uses the credentials of whoever opened
 * the file: the daemon. We are single-threaded, so the whole process moves. */
void bh__child_join_v1(const struct bh__plan *pl)
{
	for (int c = 0; c < BH__CTL_N; c++) {
		if (pl->v1_tasks[c] < 0)
			continue;
		ssize_t w;
		do
			w = write(pl->v1_tasks[c], "0", 1);
		while (w < 0 && errno == EINTR);
		/* A leaf removed under us (ENODEV, ENOENT) is gone, not refused: the
		 * next instance gets a new one. */
		if (w != 1)
			die_with(pl, "joining the cgroup v1 leaves", w < 0 ? errno : EIO,
				 BH_SANDBOX_EXIT_RESOURCE);
		close(pl->v1_tasks[c]);
	}
}

/* Default dispositions and an empty mask, right before exec: until then the
 * daemon's blocked signals stay blocked, so none of its handlers can run here. */
static void reset_signals(void)
{
	sigset_t none;
	struct sigaction dfl;
	memset(&dfl, 0, sizeof(dfl));
	dfl.sa_handler = SIG_DFL;
	for (int s = 1; s < NSIG; s++)
		if (s != SIGKILL && s != SIGSTOP)
			sigaction(s, &dfl, NULL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
}

/* After the fd layout: failures are reported on fd 2, the stderr pipe. */
static _Noreturn void exec_now(const struct bh__plan *pl)
{
	char *const empty_env[] = {NULL};
	reset_signals();
	execve(pl->exe, pl->argv, empty_env);
	report(STDERR_FILENO, pl->exe, errno); /* the stderr pipe is fd 2 by now */
	_exit(BH_SANDBOX_EXIT_EXEC);
}

/* A session and process group of our own: the daemon's group (and its terminal,
 * if it has one) must be out of reach of kill(0, ...) and of a job-control signal
 * meant for the daemon. getppid() is 0 in a new pid namespace, so a plugin's
 * kill(getppid(), ...) is kill(0, ...); without this it reached every sibling of
 * the same host uid, and an unprivileged daemon itself. */
static void new_session(const struct bh__plan *pl)
{
	if (setsid() < 0)
		bh__child_die(pl, "setsid", errno);
}

/* The phases, and why in this order:
 *  1. parent-death signal first, so that a daemon dying from here on takes us along;
 *     then a session of our own (also for an unconfined child);
 *  2. into the v1 cgroups before anything is allocated (the v2 leaf holds us from
 *     birth: CLONE_INTO_CGROUP);
 *  3. the mount, ipc, uts and network namespaces: made here rather than by clone3,
 *     where their cost (~0.45 ms for the network one) would be spent in the daemon's
 *     event loop; it overlaps with the parent writing our id maps. They belong to
 *     our user namespace all the same;
 *  4. wait for the parent: until the id maps exist we are nobody in the namespace;
 *  5. ids: 1000:1000 inside; before the root is built, whose files need a mapped
 *     owner; capabilities kept (securebits) for what follows;
 *  6. a cgroup namespace, now that we are in every cgroup: the plugin sees its own
 *     cgroup as "/", not the daemon's tree;
 *  7. the private root (needs CAP_SYS_ADMIN in the namespace);
 *  8. loopback up and the hostname (CAP_NET_ADMIN, CAP_SYS_ADMIN);
 *  9. the fd layout, before RLIMIT_NOFILE is lowered (spawn.c); from here on a
 *     failure is reported on fd 2, where the stderr pipe now is;
 * 10. rlimits (lowering needs nothing; done before the capability drop anyway);
 * 11. drop every capability, lock securebits, no_new_privs, not dumpable: last,
 *     since everything above needs the capabilities;
 * 12. exec. */
_Noreturn void bh__child_run(const struct bh__plan *pl)
{
	/* Before anything runs that could start a thread: every thread of the instance
	 * inherits it. A mask that no longer fits the machine (CPUs gone offline) leaves
	 * the child where it was born: a placement is not worth failing a start for. */
	if (pl->cpus_size)
		(void)sched_setaffinity(0, pl->cpus_size, (const cpu_set_t *)pl->cpus);
	bh__child_set_deathsig(pl);
	new_session(pl);
	if (!pl->confined) {
		bh__child_setup_fds(pl);
		exec_now(pl);
	}
	bh__child_join_v1(pl);
	if (unshare(CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWUTS | (pl->network ? 0 : CLONE_NEWNET)) < 0)
		bh__child_die(pl, "mount, ipc, uts, network namespaces", errno);
	bh__child_wait_release(pl);
	bh__userns_become(pl);
	if (unshare(CLONE_NEWCGROUP) < 0)
		bh__child_die(pl, "cgroup namespace", errno);
	bh__mounts_build_root(pl);
	if (!pl->network)
		bh__net_loopback_up(pl);
	if (sethostname(HOSTNAME, sizeof(HOSTNAME) - 1) < 0)
		bh__child_die(pl, "sethostname", errno);
	bh__child_setup_fds(pl);
	struct bh__plan laid = *pl; /* our own copy of the parent's plan: nothing is shared */
	laid.err_fd = STDERR_FILENO;
	bh__rlimits_apply(&laid);
	bh__caps_drop_all(&laid);
	exec_now(&laid);
}
