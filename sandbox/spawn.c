/* Process creation for plugin hosts: clone3 with a pidfd, fixed fd layout, exec. */
#define _GNU_SOURCE
#include "bulkhead/sandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "bulkhead/channel.h"

/* Async-signal-safe report from the child: one line on its stderr, then exit. */
static void child_die(const char *step, int err, int status)
{
	char line[256];
	int n = snprintf(line, sizeof(line), "sandbox: %s: %s\n", step, strerror(err));
	if (n > 0) {
		ssize_t w = write(STDERR_FILENO, line, (size_t)n);
		(void)w;
	}
	_exit(status);
}

/* Put src on fd `to`. dup2 clears close-on-exec on the new fd; an fd already in
 * place has its flag cleared by hand. */
static int place_fd(int src, int to)
{
	if (src == to)
		return fcntl(to, F_SETFD, 0);
	return dup2(src, to) < 0 ? -1 : 0;
}

static void child_setup_fds(const struct bh_spawn_args *a)
{
	/* Move the sources above the target range first so no dup2 clobbers another. */
	int chan = fcntl(a->channel_fd, F_DUPFD_CLOEXEC, 10);
	int out = fcntl(a->stdout_fd, F_DUPFD_CLOEXEC, 10);
	int err = fcntl(a->stderr_fd, F_DUPFD_CLOEXEC, 10);
	if (chan < 0 || out < 0 || err < 0)
		child_die("dup fds", errno, BH_SANDBOX_EXIT_SETUP);
	int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (null < 0)
		child_die("open /dev/null", errno, BH_SANDBOX_EXIT_SETUP);
	if (place_fd(null, STDIN_FILENO) < 0 || place_fd(out, STDOUT_FILENO) < 0 ||
	    place_fd(err, STDERR_FILENO) < 0 || place_fd(chan, BH_CHANNEL_FD) < 0)
		child_die("dup2", errno, BH_SANDBOX_EXIT_SETUP);
	if (syscall(SYS_close_range, BH_CHANNEL_FD + 1, ~0U, 0) < 0)
		child_die("close_range", errno, BH_SANDBOX_EXIT_SETUP);
}

static void child_reset_signals(void)
{
	sigset_t none;
	sigemptyset(&none);
	for (int s = 1; s < NSIG; s++)
		signal(s, SIG_DFL);
	sigprocmask(SIG_SETMASK, &none, NULL);
}

static void child_main(const struct bh_spawn_args *a, pid_t parent)
{
	child_reset_signals();
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0)
		child_die("PR_SET_PDEATHSIG", errno, BH_SANDBOX_EXIT_SETUP);
	if (getppid() != parent) /* the parent died before the prctl took effect */
		_exit(BH_SANDBOX_EXIT_SETUP);
	child_setup_fds(a);
	char *const empty_env[] = {NULL};
	execve(a->exe, a->argv, empty_env);
	child_die(a->exe, errno, BH_SANDBOX_EXIT_EXEC);
}

int bh_sandbox_spawn(const struct bh_spawn_args *a, struct bh_child *ret, char *errbuf,
		     size_t errlen)
{
	(void)errbuf;
	(void)errlen;
	int pidfd = -1;
	struct clone_args ca = {
		.flags = CLONE_PIDFD,
		.pidfd = (uint64_t)(uintptr_t)&pidfd,
		.exit_signal = SIGCHLD,
	};
	pid_t parent = getpid();
	long pid = syscall(SYS_clone3, &ca, sizeof(ca));
	if (pid < 0)
		return -errno;
	if (pid == 0)
		child_main(a, parent);
	/* clone3 returns the pidfd close-on-exec already. */
	ret->pid = (pid_t)pid;
	ret->pidfd = pidfd;
	ret->cg = NULL;
	bh_sandbox_enforcement(a->profile, &ret->enforced);
	return 0;
}

void bh_child_release(struct bh_child *c)
{
	if (!c || c->pidfd < 0)
		return;
	close(c->pidfd);
	c->pidfd = -1;
}

/* ---- placeholders until confinement lands: everything reports "none" ---- */

int bh_sandbox_host_init(char *errbuf, size_t errlen)
{
	if (errlen)
		snprintf(errbuf, errlen, "confinement not available in this build");
	return 0;
}

void bh_sandbox_host_done(void)
{
}

const char *bh_sandbox_plugin_path(const struct bh_sandbox_profile *p, const char *host_path,
				   char *buf, size_t len)
{
	(void)p;
	snprintf(buf, len, "%s", host_path);
	return buf;
}

void bh_sandbox_enforcement(const struct bh_sandbox_profile *p, struct bh_enforcement *ret)
{
	(void)p;
	*ret = (struct bh_enforcement){"none", "none", "none", "none", "none", "none", "none",
				       "none"};
}

void bh_child_limit_cause(const struct bh_child *c, const struct bh_sandbox_profile *p,
			  char *buf, size_t len)
{
	(void)c;
	(void)p;
	if (len)
		buf[0] = 0;
}

int bh_child_kill(struct bh_child *c)
{
	return c->pidfd >= 0 ? (int)syscall(SYS_pidfd_send_signal, c->pidfd, SIGKILL, NULL, 0) : 0;
}

int bh_seccomp_install(const char *const *extra, size_t n_extra, const char **ret_bad)
{
	(void)extra;
	(void)n_extra;
	(void)ret_bad;
	return -ENOSYS;
}
