/* ptrace_attach: PTRACE_ATTACH to the supervisor and the sibling plugin (pids from
 * the test); from the constructor (the _ctor variant) to its parent or a neighbouring
 * pid. A successful attach is detached at once. */
#define H_NAME "ptrace_attach"
#define H_CTOR H_CTOR_NONE
#include "hostile.h"

#include <sys/ptrace.h>

static void attach(struct h_out *o, long long pid, const char *who)
{
	if (pid <= 0 || pid == getpid())
		return;
	o->count++;
	if (ptrace(PTRACE_ATTACH, (pid_t)pid, NULL, NULL) < 0) {
		h_blocked(o, who, errno);
		return;
	}
	int st;
	waitpid((pid_t)pid, &st, __WALL);
	ptrace(PTRACE_DETACH, (pid_t)pid, NULL, NULL);
	h_succeeded(o, "attached to %s (pid %lld)", who, pid);
}

static void h_attack(struct h_out *o, const struct h_args *a)
{
	attach(o, a->daemon_pid, "ptrace(daemon)");
	attach(o, a->sibling_pid, "ptrace(sibling)");
	if (a->in_ctor)
		attach(o, getppid(), "ptrace(parent)");
	/* Nothing to aim at (a constructor in a pid namespace of its own): a neighbour
	 * that would exist in a shared one, so that the system call is made anyway. */
	if (o->count == 0)
		attach(o, getpid() == 1 ? 2 : 1, "ptrace(a neighbour pid)");
}
