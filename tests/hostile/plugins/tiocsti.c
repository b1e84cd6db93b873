/* tiocsti: push "id\n" into the input of any terminal it can reach: fds 0-2,
 * /dev/tty (a controlling terminal: the test gives the daemon one) and /dev/console. */
#define H_NAME "tiocsti"
#define H_CTOR H_CTOR_INPROC
#include "hostile.h"

#include <sys/ioctl.h>

static void inject(struct h_out *o, int fd, const char *what)
{
	const char *s = "id\n";
	o->count++;
	for (const char *p = s; *p; p++) {
		if (ioctl(fd, TIOCSTI, p) < 0) {
			h_blocked(o, what, errno);
			return;
		}
	}
	h_succeeded(o, "TIOCSTI into %s", what);
}

static void h_attack(struct h_out *o, const struct h_args *a)
{
	static const char *const std[] = { "TIOCSTI(fd 0)", "TIOCSTI(fd 1)", "TIOCSTI(fd 2)" };
	static const char *const devs[] = { "/dev/tty", "/dev/console" };
	(void)a;
	for (int fd = 0; fd < 3; fd++)
		inject(o, fd, std[fd]);
	for (size_t i = 0; i < sizeof(devs) / sizeof(devs[0]); i++) {
		int fd = open(devs[i], O_RDWR | O_NOCTTY | O_CLOEXEC);
		if (fd < 0) {
			h_note(o, "%s: %s", devs[i], h_errname(errno));
			continue;
		}
		inject(o, fd, devs[i]);
		close(fd);
	}
}
