/* keyctl: the kernel keyring is not namespaced by uid mapping alone: add a key and
 * join a new session keyring. A key that gets created is revoked at once. */
#define H_NAME "keyctl"
#define H_CTOR H_CTOR_NONE
#include "hostile.h"

#include <linux/keyctl.h>

static void h_attack(struct h_out *o, const struct h_args *a)
{
	(void)a;
	long id = syscall(SYS_add_key, "user", "bulkhead-hostile", "x", 1,
			  KEY_SPEC_PROCESS_KEYRING);
	if (id >= 0) {
		syscall(SYS_keyctl, KEYCTL_REVOKE, id);
		h_succeeded(o, "add_key created key %ld", id);
	} else {
		h_blocked(o, "add_key", errno);
	}
	long r = syscall(SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, NULL);
	if (r >= 0)
		h_succeeded(o, "keyctl(KEYCTL_JOIN_SESSION_KEYRING) gave keyring %ld", r);
	else
		h_note(o, "keyctl(JOIN_SESSION_KEYRING): %s", h_errname(errno));
}
