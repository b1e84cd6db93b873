/* setuid: become uid/gid 0 and drop supplementary groups. Inside a user namespace the
 * plugin may already be "0" there; what matters is that no capability comes with
 * it (the test also checks the host uid of the instance). */
#define H_NAME "setuid"
#define H_CTOR H_CTOR_NONE
#include "hostile.h"

#include <grp.h>

static void h_attack(struct h_out *o, const struct h_args *a)
{
	struct h_facts f;
	uid_t before = getuid();
	(void)a;
	if (setresuid(0, 0, 0) == 0) {
		if (before != 0)
			h_succeeded(o, "setresuid(0) from uid %u", (unsigned)before);
		else
			h_note(o, "setresuid(0): already uid 0 in its user namespace");
	} else {
		h_blocked(o, "setresuid(0)", errno);
	}
	gid_t gbefore = getgid();
	if (setresgid(0, 0, 0) == 0) {
		if (gbefore != 0)
			h_succeeded(o, "setresgid(0) from gid %u", (unsigned)gbefore);
	} else if (!o->err) {
		h_blocked(o, "setresgid(0)", errno);
	}
	if (setgroups(0, NULL) == 0)
		h_note(o, "setgroups(0) allowed");
	else
		h_note(o, "setgroups: %s", h_errname(errno));
	h_facts_collect(&f);
	o->attempted = true;
	if (!h_caps_zero(f.cap_eff) || !h_caps_zero(f.cap_prm))
		h_succeeded(o, "holds capabilities now (CapEff %s)", f.cap_eff);
	if (!o->ok && !o->err)
		h_note(o, "no privilege gained");
}
