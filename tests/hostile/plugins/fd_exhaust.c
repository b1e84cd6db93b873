/* fd_exhaust: duplicate descriptors until the kernel says no (EMFILE at RLIMIT_NOFILE).
 * All of them are closed before the call returns. */
#define H_NAME "fd_exhaust"
#define H_CTOR H_CTOR_INPROC
#include "hostile.h"

#define MAX_FDS 100000

static int fds[MAX_FDS];

static void h_attack(struct h_out *o, const struct h_args *a)
{
	int n = 0, top = 0;
	(void)a;
	for (; n < MAX_FDS; n++) {
		int fd = fcntl(0, F_DUPFD_CLOEXEC, 0);
		if (fd < 0) {
			h_blocked(o, "dup", errno);
			break;
		}
		fds[n] = fd;
		if (fd > top)
			top = fd;
	}
	o->attempted = true;
	o->count = n;
	o->extra = top;
	if (n == MAX_FDS)
		h_succeeded(o, "opened %d descriptors", n);
	else
		h_note(o, "%d descriptors opened before that, the highest %d", n, top);
	for (int i = 0; i < n; i++)
		close(fds[i]);
}
