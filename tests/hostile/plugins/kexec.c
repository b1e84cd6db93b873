/* kexec: kexec_load with invalid flags. The kernel checks CAP_SYS_BOOT first (EPERM)
 * and the flags after (EINVAL): EINVAL means the check was passed, harmlessly. */
#define H_NAME "kexec"
#define H_CTOR H_CTOR_NONE
#include "hostile.h"

static void h_attack(struct h_out *o, const struct h_args *a)
{
	(void)a;
	if (syscall(SYS_kexec_load, 0UL, 0UL, NULL, 0xdead0000UL) == 0)
		h_succeeded(o, "kexec_load accepted");
	else if (errno == EPERM || errno == EACCES || errno == ENOSYS)
		h_blocked(o, "kexec_load", errno);
	else
		h_succeeded(o, "kexec_load passed the capability check (%s)", h_errname(errno));
}
