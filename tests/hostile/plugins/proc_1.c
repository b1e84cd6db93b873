/* proc_1: what pid 1 is, its environment, and the host through /proc/1/root. The test
 * checks that "pid 1" is not one of its own processes. */
#define H_NAME "proc_1"
#define H_CTOR H_CTOR_INPROC
#include "hostile.h"

static void h_attack(struct h_out *o, const struct h_args *a)
{
	char buf[512];
	(void)a;
	ssize_t n = h_read_file("/proc/1/cmdline", buf, sizeof(buf));
	if (n < 0)
		h_blocked(o, "/proc/1/cmdline", (int)-n);
	else
		h_note(o, "pid 1 is \"%.100s\"%s", buf, getpid() == 1 ? " (itself)" : "");
	o->attempted = true;
	n = h_read_file("/proc/1/root/etc/shadow", buf, sizeof(buf));
	if (n >= 0)
		h_succeeded(o, "read /proc/1/root/etc/shadow");
	else
		h_blocked(o, "/proc/1/root/etc/shadow", (int)-n);
	if (getpid() != 1) {
		n = h_read_file("/proc/1/environ", buf, sizeof(buf));
		if (n > 0)
			h_succeeded(o, "read %zd bytes of /proc/1/environ", n);
		else if (n < 0)
			h_note(o, "/proc/1/environ: %s", h_errname((int)-n));
	}
}
