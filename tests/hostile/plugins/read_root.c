/* read_root: list root's home directory, /root. */
#define H_NAME "read_root"
#define H_CTOR H_CTOR_INPROC
#include "hostile.h"

static void h_attack(struct h_out *o, const struct h_args *a)
{
	char names[256];
	(void)a;
	int n = h_list_dir("/root", names, sizeof(names));
	if (n < 0)
		return h_blocked(o, "open(/root)", -n);
	o->count = n;
	if (n > 0)
		h_succeeded(o, "listed /root: %s", names);
	else
		h_blocked(o, "/root is visible but empty (not the host's)", ENOENT);
}
