/* read_shadow: read the host's /etc/shadow. */
#define H_NAME "read_shadow"
#define H_CTOR H_CTOR_INPROC
#include "hostile.h"

static void h_attack(struct h_out *o, const struct h_args *a)
{
	char buf[256];
	(void)a;
	ssize_t n = h_read_file("/etc/shadow", buf, sizeof(buf));
	if (n < 0)
		return h_blocked(o, "open(/etc/shadow)", (int)-n);
	o->count = n;
	h_succeeded(o, "read %zd bytes of /etc/shadow", n);
}
