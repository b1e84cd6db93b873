/* capset: claim every capability (effective, permitted, inheritable), then raise an
 * ambient one. */
#define H_NAME "capset"
#define H_CTOR H_CTOR_NONE
#include "hostile.h"

#include <linux/capability.h>
#include <sys/prctl.h>

static void h_attack(struct h_out *o, const struct h_args *a)
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct data[2];
	struct h_facts f;
	(void)a;
	for (int i = 0; i < 2; i++)
		data[i].effective = data[i].permitted = data[i].inheritable = 0xffffffffu;
	if (syscall(SYS_capset, &hdr, data) == 0)
		h_succeeded(o, "capset(all) accepted");
	else
		h_blocked(o, "capset(all)", errno);
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, CAP_SYS_ADMIN, 0, 0) == 0)
		h_succeeded(o, "raised ambient CAP_SYS_ADMIN");
	else
		h_note(o, "PR_CAP_AMBIENT_RAISE: %s", h_errname(errno));
	h_facts_collect(&f);
	if (!h_caps_zero(f.cap_eff) || !h_caps_zero(f.cap_prm))
		h_succeeded(o, "holds capabilities now (CapEff %s)", f.cap_eff);
}
