/* inotify_flood: inotify instances until the kernel says no, kept open. Each one is
 * charged to the owner of the plugin's user namespace, host root for a root daemon,
 * whose 128 (fs.inotify.max_user_instances) the daemon's own plugin_dir watch needs
 * too. The filter answers inotify and fanotify with ENOSYS; granted by name
 * (BH_HOSTILE_LOOSEN), the namespace's own cap (8) stops it with EMFILE. "count":
 * instances made. */
#define H_NAME "inotify_flood"
#define H_CTOR H_CTOR_INPROC
#include "hostile.h"

#include <sys/fanotify.h>
#include <sys/inotify.h>

#define H_MAX 1000

static int h_fds[H_MAX];
static int h_n;

static void h_attack(struct h_out *o, const struct h_args *a)
{
	(void)a;
	while (h_n < H_MAX) {
		long fd = syscall(SYS_inotify_init1, IN_CLOEXEC);
		if (fd < 0) {
			h_blocked(o, "inotify_init1", errno);
			break;
		}
		h_fds[h_n++] = (int)fd;
		o->count++;
	}
	if (o->count > 0)
		h_note(o, "%lld inotify instances held", o->count);
	if (syscall(SYS_inotify_add_watch, h_n ? h_fds[0] : 0, "/", IN_ALL_EVENTS) >= 0)
		h_note(o, "a watch on /");
	long fan = syscall(SYS_fanotify_init, FAN_CLASS_NOTIF | FAN_REPORT_FID, 0);
	if (fan >= 0) {
		h_note(o, "a fanotify group");
		close((int)fan);
	} else {
		h_note(o, "fanotify_init: %s", h_errname(errno));
	}
}
