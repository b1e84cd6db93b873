/* modules: init_module / finit_module with nothing to load. CAP_SYS_MODULE is checked
 * first (EPERM); EFAULT / EBADF mean the check was passed, harmlessly. */
#define H_NAME "modules"
#define H_CTOR H_CTOR_NONE
#include "hostile.h"

static void check(struct h_out *o, long r, const char *what)
{
	if (r == 0)
		h_succeeded(o, "%s accepted", what);
	else if (errno == EPERM || errno == EACCES || errno == ENOSYS)
		h_blocked(o, what, errno);
	else
		h_succeeded(o, "%s passed the capability check (%s)", what, h_errname(errno));
}

static void h_attack(struct h_out *o, const struct h_args *a)
{
	(void)a;
	check(o, syscall(SYS_init_module, NULL, 0UL, ""), "init_module");
	check(o, syscall(SYS_finit_module, -1, "", 0), "finit_module");
}
