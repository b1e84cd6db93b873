/* tgkill_other: the thread-directed and queued signal calls aimed at other
 * processes: tgkill, tkill, rt_sigqueueinfo and rt_tgsigqueueinfo, SIGKILL to 0, to
 * a pid that is not ours and to the daemon's and the sibling's host pids. The filter
 * lets them name the process itself only (EPERM). */
#define H_NAME "tgkill_other"
#define H_CTOR H_CTOR_INPROC
#include "hostile.h"

/* One call's result, recorded while errno is still its own. */
static void h_step(struct h_out *o, const char *call, long long target, long r)
{
	char what[64];

	snprintf(what, sizeof(what), "%s(%lld)", call, target);
	if (r == 0) {
		h_succeeded(o, "%s", what);
		return;
	}
	h_blocked(o, what, errno);
	o->count++;
}

static void h_attack(struct h_out *o, const struct h_args *a)
{
	const long long targets[] = { 0, getpid() + 1, a->daemon_pid, a->sibling_pid };
	siginfo_t si;

	memset(&si, 0, sizeof(si));
	si.si_signo = SIGKILL;
	si.si_code = SI_QUEUE;
	for (size_t i = 0; i < sizeof(targets) / sizeof(targets[0]); i++) {
		pid_t t = (pid_t)targets[i];
		if (targets[i] < 0 || t == getpid())
			continue; /* not given, or ourselves */
		h_step(o, "tgkill", t, syscall(SYS_tgkill, t, t, SIGKILL));
		h_step(o, "tkill", t, syscall(SYS_tkill, t, SIGKILL));
		h_step(o, "rt_sigqueueinfo", t, syscall(SYS_rt_sigqueueinfo, t, SIGKILL, &si));
		h_step(o, "rt_tgsigqueueinfo", t,
		       syscall(SYS_rt_tgsigqueueinfo, t, t, SIGKILL, &si));
	}
}
