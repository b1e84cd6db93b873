/* The private root: a small tmpfs holding only what loading a plugin needs.
 *
 *   /usr                    host /usr, read-only (recursive bind)
 *   /lib /lib64 /bin /sbin  symlinks as on the host (merged /usr), else read-only binds
 *   /etc/ld.so.cache        read-only bind
 *   /bulkhead/bulkhead-shim the shim, read-only
 *   /bulkhead/plugin/NAME   the plugin file, read-only
 *   /dev/{null,zero,urandom} binds of the host's nodes, nosuid, noexec
 *   /proc                   a new proc of the child's pid namespace, read-only
 *   /tmp                    a private tmpfs of tmp_bytes, nosuid, nodev, noexec
 * The root itself ends read-only, nosuid, nodev, noexec; the old root is detached.
 *
 * Files of the daemon (shim, plugin) come as detached mount trees: a root daemon
 * makes them with open_tree(OPEN_TREE_CLONE) before clone, with its own access
 * rights (binding an fd opened by the parent would fail in the child's new mount
 * namespace: a bind source must belong to the caller's namespace, a detached tree
 * belongs to none). An unprivileged daemon may not clone mounts; its child does it,
 * as the daemon's own kernel uid, before anything hides the host paths. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "internal.h"

/* Where the new root is assembled before pivot_root: any directory of the host
 * works, since the tmpfs mounted on it is only seen in the child's namespace. */
#define STAGE "/tmp"
#define ROOT_OPTS "size=64k,nr_inodes=64,mode=0755"

#define RO_ATTRS (MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV)

/* A detached read-only clone of path: the tree fd, or -errno. */
static int clone_ro(const char *path)
{
	int t = open_tree(AT_FDCWD, path, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
	if (t < 0)
		return -errno;
	struct mount_attr a = {.attr_set = RO_ATTRS};
	if (mount_setattr(t, "", AT_EMPTY_PATH, &a, sizeof(a)) < 0) {
		int r = -errno;
		close(t);
		return r;
	}
	return t;
}

int bh__mounts_prepare_source(struct bh__source *s, const char *what, bool exec,
			      char *errbuf, size_t errlen)
{
	struct stat st;
	s->tree = -1;
	if (stat(s->host_path, &st) < 0) {
		int r = -errno;
		snprintf(errbuf, errlen, "%s %s: %s", what, s->host_path, strerror(-r));
		return r;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(errbuf, errlen, "%s %s: not a regular file", what, s->host_path);
		return -EINVAL;
	}
	int t = clone_ro(s->host_path);
	if (t == -EPERM) {
		/* Not allowed to clone mounts: the child will, with the daemon's own uid,
		 * which must reach the file. */
		if (access(s->host_path, exec ? X_OK : R_OK) < 0) {
			int r = -errno;
			snprintf(errbuf, errlen, "%s %s: %s", what, s->host_path, strerror(-r));
			return r;
		}
		return 0;
	}
	if (t < 0) {
		snprintf(errbuf, errlen, "%s %s: open_tree: %s", what, s->host_path, strerror(-t));
		return t;
	}
	/* The child, mapped to an unprivileged host id, opens the file through the
	 * bind by its own permission bits: it must be world-readable (the plugin) or
	 * world-executable (the shim), which a root daemon might not notice. */
	mode_t need = exec ? S_IXOTH : S_IROTH;
	if (!(st.st_mode & need)) {
		close(t);
		snprintf(errbuf, errlen, "%s %s: not %s by others (mode %04o), so not by the "
			 "sandbox's unprivileged uid", what, s->host_path,
			 exec ? "executable" : "readable", (unsigned)(st.st_mode & 07777));
		return -EACCES;
	}
	s->tree = t;
	return 0;
}

/* ---- the child's part ------------------------------------------------------------ */

static void xmkdir(const struct bh__plan *pl, const char *path)
{
	if (mkdir(path, 0755) < 0)
		bh__child_die(pl, path, errno);
}

/* An empty regular file to bind a file onto. */
static void xmkfile(const struct bh__plan *pl, const char *path)
{
	if (mknod(path, S_IFREG | 0644, 0) < 0)
		bh__child_die(pl, path, errno);
}

static void set_attrs(const struct bh__plan *pl, const char *path, unsigned flags, uint64_t set)
{
	struct mount_attr a = {.attr_set = set};
	if (mount_setattr(AT_FDCWD, path, flags, &a, sizeof(a)) < 0)
		bh__child_die(pl, path, errno);
}

/* Bind host path src onto dst (relative to the new root, which is the cwd), then
 * apply attrs. rec: with the mounts below src (a non-recursive bind of a directory
 * with locked submounts is refused in a user namespace). */
static void bind(const struct bh__plan *pl, const char *src, const char *dst, bool rec,
		 uint64_t attrs)
{
	if (mount(src, dst, NULL, MS_BIND | (rec ? MS_REC : 0), NULL) < 0)
		bh__child_die(pl, src, errno);
	set_attrs(pl, dst, rec ? AT_RECURSIVE : 0, attrs);
}

/* /lib, /lib64, /bin, /sbin: a symlink where the host has one (Debian's merged
 * /usr), a read-only bind where it has a directory, nothing where it has neither. */
static void system_dir(const struct bh__plan *pl, const char *host, const char *rel)
{
	char target[PATH_MAX];
	ssize_t n = readlink(host, target, sizeof(target) - 1);
	if (n > 0) {
		target[n] = '\0';
		if (symlink(target, rel) < 0)
			bh__child_die(pl, rel, errno);
		return;
	}
	if (errno == ENOENT)
		return;
	if (errno != EINVAL) /* EINVAL: not a symlink */
		bh__child_die(pl, host, errno);
	struct stat st;
	if (stat(host, &st) < 0 || !S_ISDIR(st.st_mode))
		return;
	xmkdir(pl, rel);
	bind(pl, host, rel, true, RO_ATTRS);
}

static void place_source(const struct bh__plan *pl, int tree, const char *target)
{
	xmkfile(pl, target);
	if (move_mount(tree, "", AT_FDCWD, target, MOVE_MOUNT_F_EMPTY_PATH) < 0)
		bh__child_die(pl, target, errno);
}

/* Order: (1) make every mount private, so nothing here propagates to the host and
 * pivot_root is allowed; (2) clone the daemon's files still reachable by host path,
 * before the staging tmpfs may hide them (a plugin under /tmp); (3) build the tree
 * on the staging tmpfs, /proc while the host's proc is still mounted (the kernel
 * only allows a new proc in a user namespace where a full one is visible); (4) make
 * the root read-only, pivot into it and detach the old root. */
void bh__mounts_build_root(const struct bh__plan *pl)
{
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		bh__child_die(pl, "make mounts private", errno);

	int shim = pl->shim.tree, plugin = pl->plugin.tree;
	if (shim < 0 && (shim = clone_ro(pl->shim.host_path)) < 0)
		bh__child_die(pl, pl->shim.host_path, -shim);
	if (plugin < 0 && (plugin = clone_ro(pl->plugin.host_path)) < 0)
		bh__child_die(pl, pl->plugin.host_path, -plugin);

	if (mount("tmpfs", STAGE, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, ROOT_OPTS) < 0)
		bh__child_die(pl, "tmpfs root", errno);
	if (chdir(STAGE) < 0)
		bh__child_die(pl, "chdir to the new root", errno);

	xmkdir(pl, "usr");
	bind(pl, "/usr", "usr", true, RO_ATTRS);
	system_dir(pl, "/lib", "lib");
	system_dir(pl, "/lib64", "lib64");
	system_dir(pl, "/bin", "bin");
	system_dir(pl, "/sbin", "sbin");

	xmkdir(pl, "etc");
	if (access("/etc/ld.so.cache", F_OK) == 0) {
		xmkfile(pl, "etc/ld.so.cache");
		bind(pl, "/etc/ld.so.cache", "etc/ld.so.cache", false, RO_ATTRS);
	}

	xmkdir(pl, "bulkhead");
	xmkdir(pl, "bulkhead/plugin");
	place_source(pl, shim, pl->shim.target);
	place_source(pl, plugin, pl->plugin.target);

	/* Device nodes need a mount without nodev; read-only still lets them be written
	 * (a device write is not a change to the file system). */
	xmkdir(pl, "dev");
	static const char *const devs[][2] = {
		{"/dev/null", "dev/null"}, {"/dev/zero", "dev/zero"}, {"/dev/urandom", "dev/urandom"}};
	for (size_t i = 0; i < sizeof(devs) / sizeof(devs[0]); i++) {
		xmkfile(pl, devs[i][1]);
		bind(pl, devs[i][0], devs[i][1], false,
		     MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC);
	}

	/* /proc: read-only once the namespace's counters are capped through it (nsjail
	 * does the same): nothing under it is the plugin's to write, and a writable one
	 * is a large interface (/proc/self/mem, oom_score_adj, sysctls it might own). */
	xmkdir(pl, "proc");
	if (mount("proc", "proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
		bh__child_die(pl, "mount /proc", errno);
	bh__userns_cap_counters(pl, "proc/sys/user");
	set_attrs(pl, "proc", 0, RO_ATTRS | MOUNT_ATTR_NOEXEC);

	xmkdir(pl, "tmp");
	if (mount("tmpfs", "tmp", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, pl->tmp_opts) < 0)
		bh__child_die(pl, "mount /tmp", errno);

	set_attrs(pl, ".", 0, MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV |
				      MOUNT_ATTR_NOEXEC);
	/* pivot_root(".", "."): the old root ends up stacked on the new one, and
	 * detaching "." removes it: no directory for it is needed. */
	if (syscall(SYS_pivot_root, ".", ".") < 0)
		bh__child_die(pl, "pivot_root", errno);
	if (umount2(".", MNT_DETACH) < 0)
		bh__child_die(pl, "detach the old root", errno);
	if (chdir("/") < 0)
		bh__child_die(pl, "chdir /", errno);
}
