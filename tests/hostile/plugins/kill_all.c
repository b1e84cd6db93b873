/* kill_all: kill(-1, SIGKILL), every process it may signal. Confined, there is none
 * (ESRCH) or the call is refused; the test checks that the supervisor and the sibling
 * live on. */
#define H_NAME "kill_all"
#define H_CTOR H_CTOR_INPROC
#include "hostile.h"

static void h_attack(struct h_out *o, const struct h_args *a)
{
	(void)a;
	if (kill(-1, SIGKILL) == 0)
		h_succeeded(o, "kill(-1, SIGKILL) signalled at least one process");
	else
		h_blocked(o, "kill(-1, SIGKILL)", errno);
	if (a->daemon_pid > 0) {
		if (kill((pid_t)a->daemon_pid, 0) == 0)
			h_succeeded(o, "may signal the daemon (pid %lld)", a->daemon_pid);
		else
			h_note(o, "kill(daemon, 0): %s", h_errname(errno));
	}
}
