/* userfaultfd: the syscall and /dev/userfaultfd (a classic exploit helper). */
#define H_NAME "userfaultfd"
#define H_CTOR H_CTOR_NONE
#include "hostile.h"

static void h_attack(struct h_out *o, const struct h_args *a)
{
	(void)a;
	int fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	if (fd >= 0) {
		close(fd);
		h_succeeded(o, "userfaultfd() gave an fd");
	} else {
		h_blocked(o, "userfaultfd", errno);
	}
	fd = open("/dev/userfaultfd", O_RDWR | O_CLOEXEC);
	if (fd >= 0) {
		close(fd);
		h_succeeded(o, "opened /dev/userfaultfd");
	} else {
		h_note(o, "/dev/userfaultfd: %s", h_errname(errno));
	}
}
