/* unshare_user: a new user namespace, where the process would hold every capability,
 * and with them a mount. */
#define H_NAME "unshare_user"
#define H_CTOR H_CTOR_NONE
#include "hostile.h"

#include <sched.h>
#include <sys/mount.h>

static void h_attack(struct h_out *o, const struct h_args *a)
{
	(void)a;
	if (unshare(CLONE_NEWUSER) < 0)
		return h_blocked(o, "unshare(CLONE_NEWUSER)", errno);
	h_succeeded(o, "entered a new user namespace");
	if (unshare(CLONE_NEWNS) == 0 && mount("none", "/tmp", "tmpfs", 0, "size=64k") == 0)
		h_succeeded(o, "and mounted a tmpfs in a new mount namespace");
}
