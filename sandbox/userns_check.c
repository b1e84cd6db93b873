/* Whether this host lets the daemon create the user namespace every sandbox starts
 * in. The kernel refuses it to a process in a chroot (EPERM), where
 * user.max_user_namespaces is 0 (ENOSPC), and where a container's seccomp profile
 * or an LSM forbids it (EPERM): then no sandboxed plugin can start, and the daemon
 * says so once instead of every spawn failing the same way. */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bulkhead/sandbox.h"

/* True when / is not the root of pid 1 (readable for root only): a chroot. */
static bool in_chroot(void)
{
	struct stat self, init;
	return stat("/", &self) == 0 && stat("/proc/1/root/", &init) == 0 &&
	       (self.st_dev != init.st_dev || self.st_ino != init.st_ino);
}

int bh_sandbox_userns_check(char *why, size_t len)
{
	pid_t pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0)
		_exit(unshare(CLONE_NEWUSER) == 0 ? 0 : errno & 0x7f);
	int st;
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -errno;
	int err = WIFEXITED(st) ? WEXITSTATUS(st) : EIO;
	if (err == 0)
		return 0;
	const char *hint = in_chroot()	? "the process runs in a chroot, where the kernel refuses them"
			   : err == ENOSPC ? "user.max_user_namespaces is 0 or used up"
					   : "forbidden by a sysctl, a container's seccomp profile or an LSM";
	if (len)
		snprintf(why, len, "user namespaces are not available here (%s: %s)",
			 strerror(err), hint);
	return -err;
}
