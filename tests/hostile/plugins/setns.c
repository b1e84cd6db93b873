/* setns: join namespaces through /proc/<pid>/ns: its own mount namespace (needs
 * CAP_SYS_ADMIN) and pid 1's network namespace. */
#define H_NAME "setns"
#define H_CTOR H_CTOR_NONE
#include "hostile.h"

#include <sched.h>

static void join(struct h_out *o, const char *path, int type)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	o->count++;
	if (fd < 0) {
		h_blocked(o, path, errno);
		return;
	}
	if (setns(fd, type) == 0)
		h_succeeded(o, "setns(%s)", path);
	else
		h_blocked(o, "setns", errno);
	close(fd);
}

static void h_attack(struct h_out *o, const struct h_args *a)
{
	(void)a;
	join(o, "/proc/self/ns/mnt", CLONE_NEWNS);
	if (getpid() != 1)
		join(o, "/proc/1/ns/net", CLONE_NEWNET);
}
