/* pidfd_signal: signals through a pidfd, which the filter cannot attribute to a
 * process by its arguments: pidfd_open of pid 1 (itself) and of the daemon's host
 * pid, and pidfd_send_signal through a /proc/<pid> directory fd (which the kernel
 * accepts as a pidfd). Both calls are refused whatever their arguments (EPERM). */
#define H_NAME "pidfd_signal"
#define H_CTOR H_CTOR_INPROC
#include "hostile.h"

static void h_attack(struct h_out *o, const struct h_args *a)
{
	const long long pids[] = { 1, a->daemon_pid };

	for (size_t i = 0; i < sizeof(pids) / sizeof(pids[0]); i++) {
		if (pids[i] <= 0)
			continue;
		long fd = syscall(SYS_pidfd_open, (pid_t)pids[i], 0);
		if (fd >= 0) {
			h_succeeded(o, "pidfd_open(%lld)", pids[i]);
			close((int)fd);
		} else {
			h_blocked(o, "pidfd_open", errno);
			o->count++;
		}
	}
	int dir = open("/proc/1", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dir < 0)
		return h_note(o, "open /proc/1: %s", h_errname(errno));
	/* Signal 0: nothing is delivered even where the call gets through. */
	if (syscall(SYS_pidfd_send_signal, dir, 0, NULL, 0) == 0) {
		h_succeeded(o, "pidfd_send_signal(/proc/1, 0)");
	} else {
		h_blocked(o, "pidfd_send_signal(/proc/1)", errno);
		o->count++;
	}
	close(dir);
}
