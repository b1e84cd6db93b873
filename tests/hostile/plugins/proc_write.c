/* proc_write: open files of /proc for writing. /proc is mounted read-only in the
 * sandbox (EROFS). Files the process may write by their mode (attr/, timerslack_ns,
 * 0666) come last and must say EROFS; before them, the kernel's permission checks
 * may answer first (EACCES: sysctls, and /proc/self files of a non-dumpable process
 * belong to root). Nothing is written even where an open works. */
#define H_NAME "proc_write"
#define H_CTOR H_CTOR_INPROC
#include "hostile.h"

static void h_attack(struct h_out *o, const struct h_args *a)
{
	static const struct {
		const char *path;
		int flags;
	} targets[] = {
		{ "/proc/sysrq-trigger", O_WRONLY },
		{ "/proc/sys/user/max_inotify_instances", O_WRONLY },
		{ "/proc/sys/kernel/hostname", O_WRONLY },
		{ "/proc/self/comm", O_WRONLY },
		{ "/proc/self/oom_score_adj", O_WRONLY },
		{ "/proc/self/mem", O_RDWR },
		{ "/proc/self/timerslack_ns", O_WRONLY },
		{ "/proc/self/attr/current", O_WRONLY },
	};
	(void)a;
	for (size_t i = 0; i < sizeof(targets) / sizeof(targets[0]); i++) {
		int fd = open(targets[i].path, targets[i].flags | O_CLOEXEC);
		if (fd >= 0) {
			h_succeeded(o, "opened %s for writing", targets[i].path);
			close(fd);
			continue;
		}
		h_blocked(o, targets[i].path, errno);
		o->count++;
	}
}
