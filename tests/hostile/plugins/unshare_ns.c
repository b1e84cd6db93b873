/* unshare_ns: each other namespace type on its own. */
#define H_NAME "unshare_ns"
#define H_CTOR H_CTOR_NONE
#include "hostile.h"

#include <sched.h>

#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif

static void h_attack(struct h_out *o, const struct h_args *a)
{
	static const struct {
		int flag;
		const char *name;
	} ns[] = {
		{ CLONE_NEWNS, "CLONE_NEWNS" },	    { CLONE_NEWNET, "CLONE_NEWNET" },
		{ CLONE_NEWUTS, "CLONE_NEWUTS" },   { CLONE_NEWIPC, "CLONE_NEWIPC" },
		{ CLONE_NEWPID, "CLONE_NEWPID" },   { CLONE_NEWCGROUP, "CLONE_NEWCGROUP" },
		{ CLONE_NEWTIME, "CLONE_NEWTIME" },
	};
	(void)a;
	for (size_t i = 0; i < sizeof(ns) / sizeof(ns[0]); i++) {
		o->count++;
		if (unshare(ns[i].flag) == 0)
			h_succeeded(o, "unshare(%s)", ns[i].name);
		else
			h_blocked(o, ns[i].name, errno);
	}
}
