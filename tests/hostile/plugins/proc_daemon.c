/* proc_daemon: read the supervisor's environment and root through /proc/<pid>.
 * From the constructor the target is the parent (getppid()). */
#define H_NAME "proc_daemon"
#define H_CTOR H_CTOR_INPROC
#include "hostile.h"

static void h_attack(struct h_out *o, const struct h_args *a)
{
	char path[64], buf[2048];
	long long pid = a->daemon_pid > 0 ? a->daemon_pid : getppid();
	if (pid <= 0)
		return h_blocked(o, "no parent visible (getppid() = 0)", ESRCH);
	snprintf(path, sizeof(path), "/proc/%lld/environ", pid);
	ssize_t n = h_read_file(path, buf, sizeof(buf));
	if (n < 0) {
		h_blocked(o, path, (int)-n);
	} else {
		o->count = n;
		for (ssize_t i = 0; i < n; i++)
			if (buf[i] == 0)
				buf[i] = ' ';
		h_succeeded(o, "read %zd bytes of %s: %.160s", n, path, buf);
	}
	snprintf(path, sizeof(path), "/proc/%lld/root/etc/hostname", pid);
	n = h_read_file(path, buf, sizeof(buf));
	if (n >= 0)
		h_succeeded(o, "read %s", path);
	else
		h_note(o, "%s: %s", path, h_errname((int)-n));
}
