/* dev_access: open raw devices (memory, kernel log, disks, tun, fuse). The minimal
 * /dev has null, zero and urandom only (counted in "extra"). */
#define H_NAME "dev_access"
#define H_CTOR H_CTOR_INPROC
#include "hostile.h"

static void h_attack(struct h_out *o, const struct h_args *a)
{
	static const char *const bad[] = {
		"/dev/mem", "/dev/kmem", "/dev/port", "/dev/kmsg", "/dev/vda", "/dev/sda",
		"/dev/nvme0n1", "/dev/loop-control", "/dev/fuse", "/dev/net/tun",
	};
	static const char *const good[] = { "/dev/null", "/dev/zero", "/dev/urandom" };
	(void)a;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		o->count++;
		int fd = open(bad[i], O_RDONLY | O_CLOEXEC | O_NONBLOCK);
		if (fd >= 0) {
			close(fd);
			h_succeeded(o, "opened %s", bad[i]);
		} else if (!o->err) {
			h_blocked(o, bad[i], errno);
		}
	}
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		int fd = open(good[i], O_RDONLY | O_CLOEXEC);
		if (fd >= 0) {
			o->extra++;
			close(fd);
		}
	}
}
