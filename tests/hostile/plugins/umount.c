/* umount: detach /tmp and the root from its mount tree. */
#define H_NAME "umount"
#define H_CTOR H_CTOR_NONE
#include "hostile.h"

#include <sys/mount.h>

static void h_attack(struct h_out *o, const struct h_args *a)
{
	(void)a;
	if (umount2("/tmp", MNT_DETACH) == 0)
		h_succeeded(o, "unmounted /tmp");
	else
		h_blocked(o, "umount2(/tmp)", errno);
	if (umount2("/", MNT_DETACH) == 0)
		h_succeeded(o, "unmounted /");
	else
		h_note(o, "umount2(/): %s", h_errname(errno));
}
