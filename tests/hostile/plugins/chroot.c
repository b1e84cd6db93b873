/* chroot: change the root directory. */
#define H_NAME "chroot"
#define H_CTOR H_CTOR_NONE
#include "hostile.h"

static void h_attack(struct h_out *o, const struct h_args *a)
{
	(void)a;
	if (chroot("/tmp") == 0)
		h_succeeded(o, "chroot(/tmp)");
	else
		h_blocked(o, "chroot(/tmp)", errno);
}
