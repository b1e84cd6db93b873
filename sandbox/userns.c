/* The user namespace: who the child is inside (1000:1000, nothing else mapped, no
 * root) and outside (an unprivileged host id: never host root).
 *
 * The parent writes the maps (a child cannot map ids it does not hold); the child,
 * once released, switches to the mapped ids itself. A root daemon writes any map;
 * an unprivileged one maps its own ids, or the ids it was given from its
 * subordinate ranges through the setuid helpers newuidmap/newgidmap. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/securebits.h>

#include "internal.h"

static int write_proc(pid_t pid, const char *file, const char *text, char *errbuf, size_t errlen)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, file);
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	int r = 0;
	if (fd < 0) {
		r = -errno;
	} else {
		size_t len = strlen(text);
		ssize_t w;
		do
			w = write(fd, text, len);
		while (w < 0 && errno == EINTR);
		if (w < 0)
			r = -errno;
		else if ((size_t)w != len)
			r = -EIO;
		close(fd);
	}
	if (r < 0)
		snprintf(errbuf, errlen, "writing \"%.*s\" to %s: %s", (int)strcspn(text, "\n"), text,
			 path, strerror(-r));
	return r;
}

/* Run `helper PID 1000 ID 1` (newuidmap / newgidmap), which checks ID against
 * /etc/subuid or /etc/subgid for our user and writes the map. Its complaint, if any,
 * ends up in errbuf. The helper is quick (no I/O beyond two small files), so the
 * caller waits for it. */
static int run_helper(const char *helper, pid_t pid, unsigned id, char *errbuf, size_t errlen)
{
	char spid[16], sinside[16], sid[16];
	snprintf(spid, sizeof(spid), "%d", (int)pid);
	snprintf(sinside, sizeof(sinside), "%d", BH__INSIDE_UID);
	snprintf(sid, sizeof(sid), "%u", id);
	char *const argv[] = {(char *)helper, spid, sinside, sid, "1", NULL};
	char *const envp[] = {NULL};
	int out[2];
	if (pipe2(out, O_CLOEXEC) < 0) {
		int r = -errno;
		snprintf(errbuf, errlen, "%s: pipe2: %s", helper, strerror(-r));
		return r;
	}
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, out[1], 1);
	posix_spawn_file_actions_adddup2(&fa, out[1], 2);
	pid_t h;
	int r = -posix_spawn(&h, helper, &fa, NULL, argv, envp);
	posix_spawn_file_actions_destroy(&fa);
	close(out[1]);
	if (r < 0) {
		close(out[0]);
		snprintf(errbuf, errlen, "running %s: %s", helper, strerror(-r));
		return r;
	}
	char said[256];
	size_t n = 0;
	for (;;) {
		ssize_t k = read(out[0], said + n, sizeof(said) - 1 - n);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			break;
		n += (size_t)k;
		if (n == sizeof(said) - 1) /* enough to explain; the pipe closes on exit */
			break;
	}
	close(out[0]);
	said[n] = 0;
	said[strcspn(said, "\n")] = 0;
	int st;
	while (waitpid(h, &st, 0) < 0) {
		if (errno != EINTR) {
			r = -errno;
			snprintf(errbuf, errlen, "waiting for %s: %s", helper, strerror(-r));
			return r;
		}
	}
	if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
		return 0;
	snprintf(errbuf, errlen, "%s %s %s %s 1 failed (%s %d)%s%s", helper, spid, sinside, sid,
		 WIFEXITED(st) ? "exit status" : "signal", WIFEXITED(st) ? WEXITSTATUS(st)
									: WTERMSIG(st),
		 said[0] ? ": " : "", said);
	return -EPERM;
}

int bh__userns_write_maps(pid_t pid, const struct bh_sandbox_profile *p, bool privileged,
			  char *errbuf, size_t errlen)
{
	uid_t uid;
	gid_t gid;
	int r;

	if (!privileged && p->uidmap_helper && p->gidmap_helper) {
		/* The helpers leave setgroups allowed: the child drops its groups. */
		if ((r = run_helper(p->uidmap_helper, pid, (unsigned)p->host_uid, errbuf,
				    errlen)) < 0)
			return r;
		return run_helper(p->gidmap_helper, pid, (unsigned)p->host_gid, errbuf, errlen);
	}
	if (privileged) {
		/* 0 means "the default": the host root id is never handed out. */
		uid = p->host_uid ? p->host_uid : BH__DEFAULT_HOST_ID;
		gid = p->host_gid ? p->host_gid : BH__DEFAULT_HOST_ID;
	} else {
		/* An unprivileged daemon can only map itself, and only after giving up
		 * setgroups(2) for the namespace (which would let the child drop a
		 * supplementary group used to deny it access). */
		uid = geteuid();
		gid = getegid();
		if ((r = write_proc(pid, "setgroups", "deny", errbuf, errlen)) < 0)
			goto hint;
	}
	char map[64];
	snprintf(map, sizeof(map), "%d %u 1\n", BH__INSIDE_UID, (unsigned)uid);
	if ((r = write_proc(pid, "uid_map", map, errbuf, errlen)) < 0)
		goto hint;
	snprintf(map, sizeof(map), "%d %u 1\n", BH__INSIDE_GID, (unsigned)gid);
	r = write_proc(pid, "gid_map", map, errbuf, errlen);
hint:
	/* A process that changed its uid is not dumpable, and the /proc files of its
	 * children then belong to root. */
	if (r == -EACCES && !privileged && errlen) {
		size_t n = strlen(errbuf);
		snprintf(errbuf + n, errlen > n ? errlen - n : 0,
			 " (is the daemon dumpable? see PR_SET_DUMPABLE)");
	}
	return r;
}

/* Become 1000:1000 inside, keeping the namespace's capabilities for the mounts that
 * follow (SECBIT_NO_SETUID_FIXUP: the uid change must not clear them; they are all
 * dropped explicitly in caps.c). The ids change before the private root is built
 * because files can only be created on it by a mapped fsuid.
 *
 * Raw system calls, not glibc's set*id: after a raw clone3 of a multi-threaded
 * parent, glibc would try to broadcast the change to threads that do not exist in
 * the child. setgroups(0) drops the daemon's supplementary groups; it is only
 * allowed when the map was written by a privileged writer (a root daemon, or
 * newgidmap for an unprivileged one), which leaves setgroups enabled.
 * An unprivileged daemon's child keeps the daemon's supplementary groups, which the
 * namespace shows as the overflow gid. */
void bh__userns_become(const struct bh__plan *pl)
{
	if (prctl(PR_SET_SECUREBITS, SECBIT_NO_SETUID_FIXUP, 0, 0, 0) < 0)
		bh__child_die(pl, "securebits (SECBIT_NO_SETUID_FIXUP)", errno);
	if (pl->drop_groups && syscall(SYS_setgroups, 0, NULL) < 0)
		bh__child_die(pl, "setgroups", errno);
	if (syscall(SYS_setresgid, BH__INSIDE_GID, BH__INSIDE_GID, BH__INSIDE_GID) < 0)
		bh__child_die(pl, "setresgid", errno);
	if (syscall(SYS_setresuid, BH__INSIDE_UID, BH__INSIDE_UID, BH__INSIDE_UID) < 0)
		bh__child_die(pl, "setresuid", errno);
	/* A credential change clears the parent-death signal. */
	bh__child_set_deathsig(pl);
}

/* The counters the kernel keeps per user namespace (/proc/sys/user): every
 * inotify instance and watch, fanotify group and mark, and namespace the child's
 * processes create is charged to the child's namespace and to every namespace
 * above it, as the uid that owns the one below: a root daemon's instances are all
 * charged to host root, whose limits (fs.inotify.max_user_instances = 128 by
 * default) the daemon's own plugin_dir watch needs too. Capped here, in the child's
 * own namespace, so that one instance holds at most a few of the owner's share even
 * where the seccomp filter lets the call through (a syscall granted by name, a
 * profile without the filter). Namespaces: none beyond the ones the child already
 * made (the limit only refuses new ones). A file the kernel does not have (older
 * kernels lack fanotify's and time namespaces') is skipped.
 *
 * Written through the new /proc before it becomes read-only: the writer needs
 * CAP_SYS_RESOURCE in the namespace, which the child holds until caps.c. */
static const struct {
	const char *file, *value;
} ns_limits[] = {
	{"max_inotify_instances", BH__NS_MAX_INOTIFY_INSTANCES},
	{"max_inotify_watches", BH__NS_MAX_INOTIFY_WATCHES},
	{"max_fanotify_groups", BH__NS_MAX_INOTIFY_INSTANCES},
	{"max_fanotify_marks", BH__NS_MAX_INOTIFY_WATCHES},
	{"max_user_namespaces", "0"},
	{"max_pid_namespaces", "0"},
	{"max_net_namespaces", "0"},
	{"max_mnt_namespaces", "0"},
	{"max_ipc_namespaces", "0"},
	{"max_uts_namespaces", "0"},
	{"max_cgroup_namespaces", "0"},
	{"max_time_namespaces", "0"},
};

void bh__userns_cap_counters(const struct bh__plan *pl, const char *sysdir)
{
	for (size_t i = 0; i < sizeof(ns_limits) / sizeof(ns_limits[0]); i++) {
		char path[128];
		int n = snprintf(path, sizeof(path), "%s/%s", sysdir, ns_limits[i].file);
		if (n < 0 || (size_t)n >= sizeof(path))
			bh__child_die(pl, ns_limits[i].file, ENAMETOOLONG);
		int fd = open(path, O_WRONLY | O_CLOEXEC);
		if (fd < 0 && errno == ENOENT)
			continue;
		if (fd < 0)
			bh__child_die(pl, path, errno);
		size_t len = strlen(ns_limits[i].value);
		ssize_t w;
		do
			w = write(fd, ns_limits[i].value, len);
		while (w < 0 && errno == EINTR);
		int err = w < 0 ? errno : (size_t)w != len ? EIO : 0;
		close(fd);
		if (err)
			bh__child_die(pl, path, err);
	}
}
