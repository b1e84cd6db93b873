/* io_uring: set up a ring (an interface that bypasses per-syscall filtering). */
#define H_NAME "io_uring"
#define H_CTOR H_CTOR_NONE
#include "hostile.h"

#include <linux/io_uring.h>

static void h_attack(struct h_out *o, const struct h_args *a)
{
	struct io_uring_params p;
	(void)a;
	memset(&p, 0, sizeof(p));
	int fd = (int)syscall(SYS_io_uring_setup, 4, &p);
	if (fd < 0)
		return h_blocked(o, "io_uring_setup", errno);
	close(fd);
	h_succeeded(o, "io_uring_setup gave a ring");
}
