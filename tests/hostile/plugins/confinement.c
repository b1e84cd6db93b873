/* confinement: look around. The root directory must be the minimal one (no home,
 * root, boot, var, srv, ...); the facts (namespaces, ids, capabilities, seccomp,
 * environment, descriptors) are checked by the test. */
#define H_NAME "confinement"
#define H_CTOR H_CTOR_INPROC
#include "hostile.h"

static void h_attack(struct h_out *o, const struct h_args *a)
{
	static const char *const host_only[] = { "home", "root", "boot", "var", "srv", "opt",
						 "mnt",	 "media", "run", "sys", "snap" };
	char names[512], probe[64];
	struct stat st;
	(void)a;
	int n = h_list_dir("/", names, sizeof(names));
	if (n < 0)
		return h_blocked(o, "open(/)", -n);
	o->attempted = true;
	o->count = n;
	h_note(o, "/ holds: %s", names);
	for (size_t i = 0; i < sizeof(host_only) / sizeof(host_only[0]); i++) {
		snprintf(probe, sizeof(probe), "/%s", host_only[i]);
		if (stat(probe, &st) == 0)
			h_succeeded(o, "the host's %s is visible", probe);
	}
	n = h_list_dir("/dev", names, sizeof(names));
	if (n >= 0) {
		o->extra = n;
		h_note(o, "/dev holds: %s", names);
	}
}
