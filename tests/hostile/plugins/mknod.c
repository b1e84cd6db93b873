/* mknod: make a twin of /dev/mem (character device 1:1) in /tmp and open it. */
#define H_NAME "mknod"
#define H_CTOR H_CTOR_NONE
#include "hostile.h"

#include <sys/sysmacros.h>

static void h_attack(struct h_out *o, const struct h_args *a)
{
	const char *node = "/tmp/bulkhead-hostile-mem";
	(void)a;
	if (mknod(node, S_IFCHR | 0600, makedev(1, 1)) < 0)
		return h_blocked(o, "mknod(1:1)", errno);
	int fd = open(node, O_RDONLY | O_CLOEXEC);
	h_succeeded(o, "made a /dev/mem twin%s", fd >= 0 ? " and opened it" : "");
	if (fd >= 0)
		close(fd);
	unlink(node);
}
