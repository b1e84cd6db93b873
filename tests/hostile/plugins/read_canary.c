/* read_canary: read a file the test wrote in its own temporary directory on the host
 * (args "canary"); from the constructor, which has no path, look for any file at all
 * in /tmp: a plugin's private /tmp is empty when it is loaded. */
#define H_NAME "read_canary"
#define H_CTOR H_CTOR_INPROC
#include "hostile.h"

static void h_attack(struct h_out *o, const struct h_args *a)
{
	char buf[256];
	if (!a->canary[0]) {
		int n = h_list_dir("/tmp", buf, sizeof(buf));
		if (n < 0)
			return h_blocked(o, "open(/tmp)", -n);
		o->count = n;
		if (n > 0)
			h_succeeded(o, "/tmp at load time holds: %s", buf);
		else
			h_blocked(o, "/tmp is empty (private)", ENOENT);
		return;
	}
	ssize_t n = h_read_file(a->canary, buf, sizeof(buf));
	if (n < 0)
		return h_blocked(o, "open(canary)", (int)-n);
	o->count = n;
	h_succeeded(o, "read the host canary: %.64s", buf);
}
