/* clone_ns: namespaces through clone() and clone3() flags rather than unshare(). A
 * child that gets created exits at once. */
#define H_NAME "clone_ns"
#define H_CTOR H_CTOR_INPROC
#include "hostile.h"

#include <linux/sched.h>
#include <sched.h>

static void reap(pid_t pid)
{
	int st;
	while (waitpid(pid, &st, __WALL) < 0 && errno == EINTR)
		;
}

static void h_attack(struct h_out *o, const struct h_args *a)
{
	(void)a;
	long pid = syscall(SYS_clone, CLONE_NEWUSER | CLONE_NEWNS | SIGCHLD, 0, 0, 0, 0);
	if (pid == 0)
		_exit(0);
	if (pid > 0) {
		reap((pid_t)pid);
		h_succeeded(o, "clone(CLONE_NEWUSER|CLONE_NEWNS) created a child");
	} else {
		h_blocked(o, "clone(CLONE_NEWUSER|CLONE_NEWNS)", errno);
	}
	struct clone_args ca;
	memset(&ca, 0, sizeof(ca));
	ca.flags = CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET;
	ca.exit_signal = SIGCHLD;
	pid = syscall(SYS_clone3, &ca, sizeof(ca));
	if (pid == 0)
		_exit(0);
	if (pid > 0) {
		reap((pid_t)pid);
		h_succeeded(o, "clone3(CLONE_NEWUSER|CLONE_NEWPID|CLONE_NEWNET) created a child");
	} else {
		int e = errno;
		if (o->ok || o->err == 0)
			h_blocked(o, "clone3(namespaces)", e);
		else
			h_note(o, "clone3(namespaces): %s", h_errname(e));
	}
}
