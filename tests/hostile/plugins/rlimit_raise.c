/* rlimit_raise: lift its own hard limits (open files, core size) and change the
 * supervisor's with prlimit. Core dumps must stay impossible. */
#define H_NAME "rlimit_raise"
#define H_CTOR H_CTOR_INPROC
#include "hostile.h"

static void h_attack(struct h_out *o, const struct h_args *a)
{
	struct rlimit rl, big = { RLIM_INFINITY, RLIM_INFINITY };
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
		h_note(o, "nofile %llu/%llu", (unsigned long long)rl.rlim_cur,
		       (unsigned long long)rl.rlim_max);
	if (setrlimit(RLIMIT_NOFILE, &big) == 0)
		h_succeeded(o, "RLIMIT_NOFILE raised to unlimited");
	else
		h_blocked(o, "setrlimit(NOFILE, unlimited)", errno);
	struct rlimit core = { 1 << 20, 1 << 20 };
	if (setrlimit(RLIMIT_CORE, &core) == 0)
		h_succeeded(o, "RLIMIT_CORE raised to 1 MiB: core dumps possible");
	else
		h_note(o, "setrlimit(CORE): %s", h_errname(errno));
	if (a->daemon_pid > 0) {
		if (prlimit((pid_t)a->daemon_pid, RLIMIT_NOFILE, NULL, &rl) == 0)
			h_succeeded(o, "prlimit read the daemon's limits");
		else
			h_note(o, "prlimit(daemon): %s", h_errname(errno));
	}
}
