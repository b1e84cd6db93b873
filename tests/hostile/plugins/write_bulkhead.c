/* write_bulkhead: write into /bulkhead, where the sandbox shows the shim and the
 * plugin: create a file there, open the plugin's own .so and the shim for writing
 * (O_APPEND, nothing written: finding out must not damage the build). */
#define H_NAME "write_bulkhead"
#define H_CTOR H_CTOR_INPROC
#include "hostile.h"

#include <dlfcn.h>

static void try_open(struct h_out *o, const char *path)
{
	int fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);
	if (fd >= 0) {
		close(fd);
		h_succeeded(o, "opened %s for writing", path);
	} else {
		h_note(o, "open(%s, O_WRONLY): %s", path, h_errname(errno));
	}
}

static void h_attack(struct h_out *o, const struct h_args *a)
{
	const char *path = "/bulkhead/bulkhead-hostile-probe";
	Dl_info info;
	(void)a;
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd >= 0) {
		close(fd);
		unlink(path);
		h_succeeded(o, "created %s", path);
	} else {
		h_blocked(o, "create /bulkhead/bulkhead-hostile-probe", errno);
	}
	if (dladdr((void *)h_attack, &info) && info.dli_fname)
		try_open(o, info.dli_fname);
	try_open(o, "/bulkhead/bulkhead-shim");
}
