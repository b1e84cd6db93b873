/* reboot: with a wrong second magic number. CAP_SYS_BOOT is checked first (EPERM);
 * EINVAL means the check was passed (and nothing happened). */
#define H_NAME "reboot"
#define H_CTOR H_CTOR_NONE
#include "hostile.h"

#include <linux/reboot.h>

static void h_attack(struct h_out *o, const struct h_args *a)
{
	(void)a;
	if (syscall(SYS_reboot, LINUX_REBOOT_MAGIC1, 0, LINUX_REBOOT_CMD_CAD_OFF, NULL) == 0)
		h_succeeded(o, "reboot(CAD_OFF) accepted");
	else if (errno == EPERM || errno == EACCES || errno == ENOSYS)
		h_blocked(o, "reboot", errno);
	else
		h_succeeded(o, "reboot passed the CAP_SYS_BOOT check (%s)", h_errname(errno));
}
