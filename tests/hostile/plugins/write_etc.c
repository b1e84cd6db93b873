/* write_etc: create a file in /etc. */
#define H_NAME "write_etc"
#define H_CTOR H_CTOR_INPROC
#include "hostile.h"

static void h_attack(struct h_out *o, const struct h_args *a)
{
	const char *path = "/etc/bulkhead-hostile-probe";
	(void)a;
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return h_blocked(o, "create /etc/bulkhead-hostile-probe", errno);
	close(fd);
	unlink(path);
	h_succeeded(o, "created %s", path);
}
