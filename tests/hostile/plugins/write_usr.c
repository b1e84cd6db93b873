/* write_usr: create a file in /usr, and open a system library for writing. */
#define H_NAME "write_usr"
#define H_CTOR H_CTOR_INPROC
#include "hostile.h"

static void h_attack(struct h_out *o, const struct h_args *a)
{
	const char *path = "/usr/bulkhead-hostile-probe";
	(void)a;
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd >= 0) {
		close(fd);
		unlink(path);
		h_succeeded(o, "created %s", path);
	} else {
		h_blocked(o, "create /usr/bulkhead-hostile-probe", errno);
	}
	/* O_APPEND and nothing written: finding out must not damage anything. */
	const char *libs[] = { "/usr/lib/x86_64-linux-gnu/libc.so.6", "/lib/x86_64-linux-gnu/libc.so.6" };
	for (size_t i = 0; i < sizeof(libs) / sizeof(libs[0]); i++) {
		fd = open(libs[i], O_WRONLY | O_APPEND | O_CLOEXEC);
		if (fd >= 0) {
			close(fd);
			h_succeeded(o, "opened %s for writing", libs[i]);
		} else {
			h_note(o, "%s: %s", libs[i], h_errname(errno));
		}
	}
}
