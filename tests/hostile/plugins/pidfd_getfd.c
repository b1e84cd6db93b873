/* pidfd_getfd: steal a file descriptor from the supervisor or the sibling through a
 * pidfd (their stdin or, for the sibling, its channel); from a constructor, from its
 * parent or a neighbouring pid. */
#define H_NAME "pidfd_getfd"
#define H_CTOR H_CTOR_NONE
#include "hostile.h"

static void steal(struct h_out *o, long long pid, const char *who)
{
	if (pid <= 0 || pid == getpid())
		return;
	o->count++;
	int pfd = (int)syscall(SYS_pidfd_open, (pid_t)pid, 0);
	if (pfd < 0) {
		h_blocked(o, who, errno);
		return;
	}
	h_note(o, "pidfd_open(%s) allowed", who);
	for (int target = 0; target <= 3; target++) {
		int fd = (int)syscall(SYS_pidfd_getfd, pfd, target, 0);
		if (fd >= 0) {
			close(fd);
			h_succeeded(o, "stole fd %d of %s (pid %lld)", target, who, pid);
			break;
		}
		if (target == 0)
			h_blocked(o, "pidfd_getfd", errno);
	}
	close(pfd);
}

static void h_attack(struct h_out *o, const struct h_args *a)
{
	steal(o, a->daemon_pid, "pidfd(daemon)");
	steal(o, a->sibling_pid, "pidfd(sibling)");
	if (a->in_ctor)
		steal(o, getppid(), "pidfd(parent)");
	/* Nothing to aim at (a constructor in a pid namespace of its own): a neighbour
	 * that would exist in a shared one, so that the system call is made anyway. */
	if (o->count == 0)
		steal(o, getpid() == 1 ? 2 : 1, "pidfd(a neighbour pid)");
}
