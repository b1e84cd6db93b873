/* Privileges: the parent-death signal, and dropping every capability for good.
 *
 * The child of clone(CLONE_NEWUSER) holds a full capability set in its namespace.
 * It needs it to build its root, bring up loopback and set the hostname; this file
 * takes all of it away before exec, in an order where each step still has the
 * capability it requires (CAP_SETPCAP for securebits and the bounding set). */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>
#include <linux/securebits.h>

#include "internal.h"

/* Locked: no uid 0 magic, no capability fix-ups on uid changes, no keeping
 * capabilities, no raising ambient ones, and none of it can be undone. */
#define LOCKED_SECUREBITS                                                               \
	(SECBIT_NOROOT | SECBIT_NOROOT_LOCKED | SECBIT_NO_SETUID_FIXUP |                  \
	 SECBIT_NO_SETUID_FIXUP_LOCKED | SECBIT_KEEP_CAPS_LOCKED | SECBIT_NO_CAP_AMBIENT_RAISE | \
	 SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED)

/* SIGKILL when the daemon dies, then make sure it has not died already. getppid()
 * cannot tell: in a new pid namespace the parent is outside it and getppid() is 0
 * whether or not the parent lives. The parent's pidfd can: it becomes readable when
 * the parent exits. (Without a pid namespace, getppid() still names the parent.) */
void bh__child_set_deathsig(const struct bh__plan *pl)
{
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0)
		bh__child_die(pl, "PR_SET_PDEATHSIG", errno);
	if (pl->parent_pidfd >= 0) {
		struct pollfd pfd = {.fd = pl->parent_pidfd, .events = POLLIN};
		int n;
		do
			n = poll(&pfd, 1, 0);
		while (n < 0 && errno == EINTR);
		if (n != 0)
			_exit(BH_SANDBOX_EXIT_SETUP); /* the daemon is gone: nobody to report to */
	} else if (getppid() != pl->parent_pid) {
		_exit(BH_SANDBOX_EXIT_SETUP);
	}
}

void bh__caps_drop_all(const struct bh__plan *pl)
{
	/* 1. securebits first: it needs CAP_SETPCAP, and locks what execve and set*id may
	 *    do with capabilities from here on. */
	if (cap_set_secbits(LOCKED_SECUREBITS) < 0)
		bh__child_die(pl, "securebits", errno);
	/* 2. The bounding set (also needs CAP_SETPCAP): no execve can regain anything.
	 *    cap_max_bits() is the running kernel's count, which may exceed the headers'. */
	cap_value_t last = cap_max_bits();
	for (cap_value_t c = 0; c < last; c++)
		if (cap_drop_bound(c) < 0)
			bh__child_die(pl, "PR_CAPBSET_DROP", errno);
	/* 3. Ambient, then effective/permitted/inheritable: nothing left at all. */
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0)
		bh__child_die(pl, "PR_CAP_AMBIENT_CLEAR_ALL", errno);
	if (cap_set_proc(pl->no_caps) < 0)
		bh__child_die(pl, "cap_set_proc", errno);
	/* 4. No execve may grant privileges again (setuid bits, file capabilities); also
	 *    what lets the shim install its seccomp filter without CAP_SYS_ADMIN. */
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		bh__child_die(pl, "PR_SET_NO_NEW_PRIVS", errno);
	/* 5. Not dumpable: no core, no ptrace by other processes of the same host uid.
	 *    execve resets this for a readable binary, so the shim sets it again
	 *    (bh_seccomp_install) before the plugin runs. */
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
		bh__child_die(pl, "PR_SET_DUMPABLE", errno);
}
