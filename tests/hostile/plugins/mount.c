/* mount: mount a tmpfs over /tmp, and remount the root read-write. */
#define H_NAME "mount"
#define H_CTOR H_CTOR_NONE
#include "hostile.h"

#include <sys/mount.h>

static void h_attack(struct h_out *o, const struct h_args *a)
{
	(void)a;
	if (mount("none", "/tmp", "tmpfs", 0, "size=64k") == 0) {
		h_succeeded(o, "mounted a tmpfs on /tmp");
		umount2("/tmp", MNT_DETACH);
	} else {
		h_blocked(o, "mount(tmpfs, /tmp)", errno);
	}
	if (mount(NULL, "/", NULL, MS_REMOUNT | MS_BIND, NULL) == 0)
		h_succeeded(o, "remounted / read-write");
	else
		h_note(o, "mount(MS_REMOUNT, /): %s", h_errname(errno));
}
