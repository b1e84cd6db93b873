/* read_home: list /home and read what is in the users' directories. */
#define H_NAME "read_home"
#define H_CTOR H_CTOR_INPROC
#include "hostile.h"

static void h_attack(struct h_out *o, const struct h_args *a)
{
	char names[256], sub[256], path[300];
	(void)a;
	int n = h_list_dir("/home", names, sizeof(names));
	if (n < 0)
		return h_blocked(o, "open(/home)", -n);
	o->count = n;
	if (n == 0)
		return h_blocked(o, "/home is visible but empty (not the host's)", ENOENT);
	h_succeeded(o, "listed /home: %s", names);
	char *save = NULL;
	for (char *u = strtok_r(names, ",", &save); u; u = strtok_r(NULL, ",", &save)) {
		snprintf(path, sizeof(path), "/home/%s", u);
		int m = h_list_dir(path, sub, sizeof(sub));
		if (m >= 0)
			h_note(o, "%s: %d entries", path, m);
		else
			h_note(o, "%s: %s", path, h_errname(-m));
	}
}
