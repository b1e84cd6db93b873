/* pivot_root: change the root mount. Without CAP_SYS_ADMIN the kernel says EPERM
 * before it looks at the arguments; any other answer means the check was passed. */
#define H_NAME "pivot_root"
#define H_CTOR H_CTOR_NONE
#include "hostile.h"

static void h_attack(struct h_out *o, const struct h_args *a)
{
	(void)a;
	if (syscall(SYS_pivot_root, "/tmp", "/tmp") == 0)
		h_succeeded(o, "pivot_root(/tmp, /tmp)");
	else if (errno == EPERM || errno == EACCES || errno == ENOSYS)
		h_blocked(o, "pivot_root", errno);
	else
		h_succeeded(o, "pivot_root passed the capability check (%s)", h_errname(errno));
}
