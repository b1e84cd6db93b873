/* Process creation for plugin hosts: clone3 with a pidfd (into the instance's
 * namespaces and cgroup), the parent's part of the set-up, the fixed fd layout.
 *
 * The parent's part is short and never waits for the child: prepare everything
 * (cgroup leaves, the detached trees of the shim and plugin, the child's plan),
 * clone3 (done by the spawn helper when there is one: spawner.c), write the child's
 * id maps into /proc, release the child through a pipe. The child does the rest
 * alone (child.c); a failure there is reported on its stderr pipe. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/sched.h>

#include "bulkhead/channel.h"
#include "bulkhead/claims.h"
#include "internal.h"

/* ---- the child's fd layout -------------------------------------------------------- */

/* Put src on fd `to`. dup2 clears close-on-exec on the new fd; an fd already in
 * place has its flag cleared by hand. */
static int place_fd(int src, int to)
{
	if (src == to)
		return fcntl(to, F_SETFD, 0);
	return dup2(src, to) < 0 ? -1 : 0;
}

/* Close every fd but keep[0..n), whatever their numbers. */
static int close_all_but(int *keep, int n)
{
	for (int i = 1; i < n; i++) /* insertion sort of at most four */
		for (int j = i; j > 0 && keep[j - 1] > keep[j]; j--) {
			int t = keep[j];
			keep[j] = keep[j - 1];
			keep[j - 1] = t;
		}
	unsigned from = 0;
	for (int i = 0; i < n; i++) {
		unsigned k = (unsigned)keep[i];
		if (k < from) /* the same fd twice */
			continue;
		if (k > from && syscall(SYS_close_range, from, k - 1, 0) < 0)
			return -1;
		from = k + 1;
	}
	return (int)syscall(SYS_close_range, from, ~0U, 0);
}

/* 0 = /dev/null, 1 and 2 = the log pipes, 3 = the channel, 4 = the claim table (when
 * there is one), nothing else.
 *
 * The sources may have any numbers: a daemon with hundreds of clients holds fds far
 * above the plugin's RLIMIT_NOFILE, and every number below it may be taken. So
 * everything else is closed first; then at most six fds are open, the copies below
 * land on numbers under 10, and nothing here depends on which numbers the daemon
 * used (nor on the plugin's limit: this runs before rlimits.c lowers it). */
void bh__child_setup_fds(const struct bh__plan *pl)
{
	bool claims = pl->claims_fd >= 0;
	int keep[4] = {pl->channel_fd, pl->stdout_fd, pl->stderr_fd, pl->claims_fd};
	if (close_all_but(keep, claims ? 4 : 3) < 0)
		bh__child_die(pl, "close_range", errno);
	/* Copies above the target range, so that no dup2 below clobbers a source. */
	int chan = fcntl(pl->channel_fd, F_DUPFD_CLOEXEC, BH_CLAIMS_FD + 1);
	int out = fcntl(pl->stdout_fd, F_DUPFD_CLOEXEC, BH_CLAIMS_FD + 1);
	int err = fcntl(pl->stderr_fd, F_DUPFD_CLOEXEC, BH_CLAIMS_FD + 1);
	int tab = claims ? fcntl(pl->claims_fd, F_DUPFD_CLOEXEC, BH_CLAIMS_FD + 1) : 0;
	if (chan < 0 || out < 0 || err < 0 || tab < 0)
		bh__child_die(pl, "dup fds", errno);
	int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (null < 0)
		bh__child_die(pl, "open /dev/null", errno);
	if (place_fd(null, STDIN_FILENO) < 0 || place_fd(out, STDOUT_FILENO) < 0 ||
	    place_fd(err, STDERR_FILENO) < 0 || place_fd(chan, BH_CHANNEL_FD) < 0 ||
	    (claims && place_fd(tab, BH_CLAIMS_FD) < 0))
		bh__child_die(pl, "dup2", errno);
	if (syscall(SYS_close_range, claims ? BH_CLAIMS_FD + 1 : BH_CHANNEL_FD + 1, ~0U, 0) < 0)
		bh__child_die(pl, "close_range", errno);
}

/* ---- public helpers --------------------------------------------------------------- */

const char *bh_sandbox_plugin_path(const struct bh_sandbox_profile *p, const char *host_path,
				   char *buf, size_t len)
{
	if (!p || !p->enabled) {
		snprintf(buf, len, "%s", host_path);
		return buf;
	}
	const char *base = strrchr(host_path, '/');
	snprintf(buf, len, "%s/%s", BH_SANDBOX_PLUGIN_DIR, base ? base + 1 : host_path);
	return buf;
}

void bh__set_err(char *errbuf, size_t errlen, const char *fmt, ...)
{
	if (!errlen)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(errbuf, errlen, fmt, ap);
	va_end(ap);
}

/* a->cpus into the plan, for the child to apply to itself. */
static void plan_cpus(struct bh__plan *pl, const struct bh_spawn_args *a)
{
	if (!a->cpus)
		return;
	pl->cpus_size = (uint32_t)(a->cpus_size < sizeof(pl->cpus) ? a->cpus_size
								   : sizeof(pl->cpus));
	memcpy(pl->cpus, a->cpus, pl->cpus_size);
}

/* ---- unconfined ------------------------------------------------------------------- */

static int spawn_plain(const struct bh_spawn_args *a, struct bh_child *ret, char *errbuf,
		       size_t errlen)
{
	struct bh__plan pl = {
		.channel_fd = a->channel_fd, .stdout_fd = a->stdout_fd, .stderr_fd = a->stderr_fd,
		.claims_fd = a->claims_fd > 2 ? a->claims_fd : -1,
		.err_fd = a->stderr_fd, .sync_rd = -1, .sync_wr = -1, .parent_pidfd = -1,
		.v1_tasks = {-1, -1, -1}, .parent_pid = getpid(), .exe = a->exe, .argv = a->argv,
	};
	plan_cpus(&pl, a);
	pid_t pid;
	int pidfd;
	int r = bh__spawner_clone(&pl, CLONE_PIDFD, -1, &pid, &pidfd, &ret->via_spawner, errbuf,
				  errlen);
	if (r < 0)
		return r;
	ret->pid = pid;
	ret->pidfd = pidfd;
	ret->cg = NULL;
	return 0;
}

/* ---- confined --------------------------------------------------------------------- */

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

static int spawn_confined(const struct bh_spawn_args *a, struct bh_child *ret, char *errbuf,
			  size_t errlen)
{
	const struct bh_sandbox_profile *p = a->profile;
	struct bh_sandbox_cgroup *cg = NULL;
	int sync[2] = {-1, -1}, pidfd = -1, r;
	pid_t pid = -1;
	struct bh__plan pl = {
		.channel_fd = a->channel_fd, .stdout_fd = a->stdout_fd, .stderr_fd = a->stderr_fd,
		.claims_fd = a->claims_fd > 2 ? a->claims_fd : -1,
		.err_fd = a->stderr_fd, .sync_rd = -1, .sync_wr = -1, .parent_pidfd = -1,
		.parent_pid = getpid(), .exe = BH_SANDBOX_SHIM_PATH, .argv = a->argv,
		.confined = true, .network = p->network,
		/* Root may map any id (and leave setgroups usable); anyone else maps itself. */
		.privileged = geteuid() == 0,
		/* ... or has the setuid helpers map ids from its subordinate ranges. */
		.drop_groups = geteuid() == 0 || (p->uidmap_helper && p->gidmap_helper),
		.v1_tasks = {-1, -1, -1},
		.shim = {.host_path = a->exe, .tree = -1},
		.plugin = {.host_path = a->plugin_path, .tree = -1},
	};
	plan_cpus(&pl, a);
	/* The targets, relative to the new root (the child builds it from its cwd). */
	char inside[PATH_MAX];
	snprintf(pl.shim.target, sizeof(pl.shim.target), "%s", BH_SANDBOX_SHIM_PATH + 1);
	bh_sandbox_plugin_path(p, a->plugin_path, inside, sizeof(inside));
	snprintf(pl.plugin.target, sizeof(pl.plugin.target), "%s", inside + 1);

	if ((r = bh__mounts_prepare_source(&pl.shim, "shim", true, errbuf, errlen)) < 0 ||
	    (r = bh__mounts_prepare_source(&pl.plugin, "plugin", false, errbuf, errlen)) < 0)
		goto out;
	if ((r = bh__cg_create(a->name, p, &cg, errbuf, errlen)) < 0 ||
	    (r = bh__cg_open_v1_tasks(cg, pl.v1_tasks, errbuf, errlen)) < 0)
		goto out;
	enum bh__cg_mode modes[BH__CTL_N] = {BH__CG_NONE, BH__CG_NONE, BH__CG_NONE};
	if (cg)
		memcpy(modes, cg->mode, sizeof(modes));
	bh__rlimits_plan(&pl, p, modes);
	/* 0 leaves a bound out: the kernel's default is half the RAM. */
	char size[32] = "", inodes[40] = "";
	if (p->tmp_bytes)
		snprintf(size, sizeof(size), "size=%" PRIu64 ",", p->tmp_bytes);
	if (p->tmp_inodes)
		snprintf(inodes, sizeof(inodes), "nr_inodes=%" PRIu64 ",", p->tmp_inodes);
	snprintf(pl.tmp_opts, sizeof(pl.tmp_opts), "%s%smode=0700", size, inodes);
	pl.no_caps = cap_init(); /* all three sets empty */
	if (!pl.no_caps) {
		r = -ENOMEM;
		bh__set_err(errbuf, errlen, "cap_init: %s", strerror(ENOMEM));
		goto out;
	}
	if (pipe2(sync, O_CLOEXEC) < 0) {
		r = -errno;
		bh__set_err(errbuf, errlen, "pipe2: %s", strerror(-r));
		goto out;
	}
	pl.sync_rd = sync[0];
	pl.sync_wr = sync[1];
	pl.parent_pidfd = (int)syscall(SYS_pidfd_open, getpid(), 0);
	if (pl.parent_pidfd < 0) {
		r = -errno;
		bh__set_err(errbuf, errlen, "pidfd_open (self): %s", strerror(-r));
		goto out;
	}

	/* Only the user and pid namespaces are made by clone3: the child must be pid 1,
	 * and its id maps are written by us. The mount, ipc, uts and network namespaces
	 * are unshared by the child, which pays for them (the network one alone takes
	 * ~0.45 ms) instead of the daemon's event loop; they belong to its user
	 * namespace all the same. The cgroup namespace comes last, once the child is in
	 * all its cgroups (child.c). */
	uint64_t flags = CLONE_PIDFD | CLONE_NEWUSER | CLONE_NEWPID;
	int cgroup = -1;
	if (cg && cg->v2_fd >= 0) {
		flags |= CLONE_INTO_CGROUP;
		cgroup = cg->v2_fd;
	}
	if ((r = bh__spawner_clone(&pl, flags, cgroup, &pid, &pidfd, &ret->via_spawner, errbuf,
				   errlen)) < 0)
		goto out;

	close_fd(&sync[0]);
	for (int c = 0; c < BH__CTL_N; c++)
		close_fd(&pl.v1_tasks[c]);
	if ((r = bh__userns_write_maps(pid, p, pl.privileged, errbuf, errlen)) < 0)
		goto kill;
	ssize_t w;
	do
		w = write(sync[1], "", 1);
	while (w < 0 && errno == EINTR);
	if (w != 1) {
		r = w < 0 ? -errno : -EIO;
		bh__set_err(errbuf, errlen, "releasing the child: %s", strerror(-r));
		goto kill;
	}
	ret->pid = pid;
	ret->pidfd = pidfd;
	ret->cg = cg;
	cg = NULL;
	r = 0;
	goto out;

kill:
	/* The child blocks on the release pipe, so SIGKILL ends it at once. */
	syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, NULL, 0);
	siginfo_t si;
	while (waitid(P_PIDFD, (id_t)pidfd, &si, WEXITED) < 0 && errno == EINTR)
		;
	close_fd(&pidfd);
out:
	close_fd(&sync[0]);
	close_fd(&sync[1]);
	close_fd(&pl.parent_pidfd);
	for (int c = 0; c < BH__CTL_N; c++)
		close_fd(&pl.v1_tasks[c]);
	close_fd(&pl.shim.tree);
	close_fd(&pl.plugin.tree);
	if (pl.no_caps)
		cap_free(pl.no_caps);
	bh__cg_destroy(cg);
	return r;
}

int bh_sandbox_spawn(const struct bh_spawn_args *a, struct bh_child *ret, char *errbuf,
		     size_t errlen)
{
	if (errlen)
		errbuf[0] = '\0';
	if (!a || !ret || !a->exe || !a->argv || !a->argv[0] || a->channel_fd < 0 ||
	    a->stdout_fd < 0 || a->stderr_fd < 0) {
		bh__set_err(errbuf, errlen, "bh_sandbox_spawn: missing arguments");
		return -EINVAL;
	}
	const struct bh_sandbox_profile *p = a->profile;
	bool confined = p && p->enabled;
	if (confined && (!a->plugin_path || a->exe[0] != '/' || a->plugin_path[0] != '/')) {
		bh__set_err(errbuf, errlen,
			    "bh_sandbox_spawn: the shim and the plugin need absolute paths");
		return -EINVAL;
	}
	int r = bh__check_required(p, errbuf, errlen);
	if (r < 0)
		return r;
	struct bh_child c = {.pid = -1, .pidfd = -1};
	r = confined ? spawn_confined(a, &c, errbuf, errlen) : spawn_plain(a, &c, errbuf, errlen);
	if (r < 0)
		return r;
	bh_sandbox_enforcement(p, &c.enforced);
	*ret = c;
	return 0;
}

/* ---- after the child ---------------------------------------------------------------- */

void bh_child_limit_cause(const struct bh_child *c, const struct bh_sandbox_profile *p,
			  char *buf, size_t len)
{
	if (!len)
		return;
	buf[0] = '\0';
	if (c)
		bh__cg_limit_cause(c->cg, p, buf, len);
}

int bh_child_kill(struct bh_child *c)
{
	if (!c)
		return -EINVAL;
	int r = bh__cg_kill(c->cg);
	if (r == 0)
		return 0;
	if (c->pidfd < 0)
		return -EBADF;
	/* Through the pidfd: never a recycled pid. With a pid namespace, killing its init
	 * ends every process in it. */
	if (syscall(SYS_pidfd_send_signal, c->pidfd, SIGKILL, NULL, 0) < 0)
		return -errno;
	return 0;
}

int bh_child_release(struct bh_child *c)
{
	if (!c)
		return 0;
	if (c->pidfd >= 0)
		close(c->pidfd);
	c->pidfd = -1;
	int r = bh__cg_destroy(c->cg);
	c->cg = NULL;
	return r;
}
