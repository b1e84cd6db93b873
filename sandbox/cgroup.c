/* cgroups: which hierarchy enforces each limit on this host, the daemon's subtree,
 * and one leaf per instance.
 *
 * Detection is per controller (memory, pids, cpu). cgroup v2 is preferred: a
 * controller counts as available there when it is listed in the daemon's own
 * cgroup.controllers and can be enabled for the daemon's children. Otherwise the
 * v1 hierarchy of that controller is used when the daemon can create a directory
 * below its own v1 cgroup. Otherwise the limit falls back to an rlimit (memory,
 * pids: approximations) or to nothing (cpu).
 *
 * Layout, always below the cgroups the daemon already is in:
 *   v2: <own>/bulkhead-<daemon pid>/<instance>   (even without v2 controllers, as
 *       on hybrid hosts: clone3(CLONE_INTO_CGROUP) places the child atomically and
 *       cgroup.kill ends the whole instance)
 *   v1: <controller root><own v1 path>/bulkhead-<daemon pid>/<instance>
 * On a pure v2 host whose daemon cgroup has processes, the daemon moves itself into
 * <own>/supervisor first: the "no internal processes" rule forbids enabling
 * controllers in <own>/cgroup.subtree_control otherwise.
 *
 * The host state below is the one piece of process-wide state of this library: the
 * API (bh_sandbox_host_init / _done) is per daemon process, not per context. */
#define _GNU_SOURCE
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <sys/random.h>
#include <time.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

const char *const bh__ctl_names[BH__CTL_N] = {"memory", "pids", "cpu"};

#define STRAGGLERS_MAX 64

static struct {
	bool ready;
	pid_t pid;                      /* the daemon's pid at init */
	char base[48];                  /* the subtree: bulkhead-<pid>-<random>; the random
					 * part keeps daemons in different pid namespaces
					 * sharing one cgroup apart */
	/* v2 */
	char v2_own[PATH_MAX];          /* the daemon's v2 cgroup directory */
	int v2_base_fd;                 /* <own>/bulkhead-<pid>, -1 */
	bool v2_kill;                   /* cgroup.kill exists */
	bool v2_moved;                  /* the daemon moved itself into <own>/supervisor */
	bool v2_we_enabled[BH__CTL_N];  /* enabled by us in <own>/cgroup.subtree_control */
	/* v1, per controller */
	char v1_base[BH__CTL_N][PATH_MAX];
	int v1_fd[BH__CTL_N];           /* the base directory, -1 */
	int v1_alias[BH__CTL_N];        /* co-mounted with an earlier controller: its index */
	bool v1_memsw;                  /* memory.memsw.limit_in_bytes exists (swap accounting) */
	enum bh__cg_mode mode[BH__CTL_N];
	char why[BH__CTL_N][256];       /* why a controller is not on cgroup v2 */
	struct bh_sandbox_cgroup *stragglers; /* leaves whose rmdir failed; retried */
	unsigned n_stragglers;
} host = {
	.v2_base_fd = -1,
	.v1_fd = {-1, -1, -1},
	.v1_alias = {-1, -1, -1},
};

/* ---- small file helpers ---------------------------------------------------------- */

int bh__cg_write_at(int dirfd, const char *file, const char *text)
{
	int fd = openat(dirfd, file, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	size_t len = strlen(text);
	ssize_t w;
	do
		w = write(fd, text, len);
	while (w < 0 && errno == EINTR);
	int r = w < 0 ? -errno : (size_t)w == len ? 0 : -EIO;
	close(fd);
	return r;
}

/* Read a small cgroupfs file (they are all below a page) into buf, NUL-terminated. */
static int read_at(int dirfd, const char *file, char *buf, size_t len)
{
	int fd = openat(dirfd, file, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ssize_t n;
	do
		n = read(fd, buf, len - 1);
	while (n < 0 && errno == EINTR);
	int r = n < 0 ? -errno : 0;
	close(fd);
	if (r == 0)
		buf[n] = '\0';
	return r;
}

int64_t bh__cg_read_key(int dirfd, const char *file, const char *key)
{
	char buf[4096];
	int r = read_at(dirfd, file, buf, sizeof(buf));
	if (r < 0)
		return r;
	size_t klen = strlen(key);
	for (char *line = buf; line && *line; line = strchr(line, '\n'), line = line ? line + 1 : NULL) {
		if (strncmp(line, key, klen) == 0 && line[klen] == ' ')
			return (int64_t)strtoll(line + klen + 1, NULL, 10);
	}
	return -ENOENT;
}

int64_t bh__cg_read_num(int dirfd, const char *file)
{
	char buf[64];
	int r = read_at(dirfd, file, buf, sizeof(buf));
	if (r < 0)
		return r;
	char *end;
	long long v = strtoll(buf, &end, 10);
	return end == buf ? -EINVAL : (int64_t)v;
}

/* Is word (whitespace- or comma-separated) in list? */
static bool has_word(const char *list, const char *word)
{
	size_t wl = strlen(word);
	for (const char *p = list; *p;) {
		while (*p == ' ' || *p == ',' || *p == '\n')
			p++;
		size_t n = strcspn(p, " ,\n");
		if (n == wl && strncmp(p, word, wl) == 0)
			return true;
		p += n;
	}
	return false;
}

/* ---- where things are: /proc/self/cgroup and /proc/self/mountinfo ---------------- */

/* The daemon's path in the hierarchy: ctl NULL for v2 ("0::/path"), else the v1
 * line listing ctl ("4:memory:/path", "2:cpu,cpuacct:/path"). */
static int own_cgroup(const char *ctl, char *buf, size_t len)
{
	FILE *f = fopen("/proc/self/cgroup", "re");
	if (!f)
		return -errno;
	char *line = NULL;
	size_t cap = 0;
	int r = -ENOENT;
	while (getline(&line, &cap, f) > 0) {
		line[strcspn(line, "\n")] = '\0';
		char *c1 = strchr(line, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
		if (!c2)
			continue;
		*c1 = *c2 = '\0'; /* line: hierarchy id, c1 + 1: its controllers */
		bool match = ctl ? has_word(c1 + 1, ctl) : strcmp(line, "0") == 0 && c1[1] == '\0';
		if (match) {
			r = snprintf(buf, len, "%s", c2 + 1) < (int)len ? 0 : -ENAMETOOLONG;
			break;
		}
	}
	free(line);
	fclose(f);
	return r;
}

/* mountinfo escapes blanks and backslashes as \ooo. */
static void unescape(char *s)
{
	char *o = s;
	for (char *i = s; *i; i++) {
		if (i[0] == '\\' && isdigit((unsigned char)i[1]) && isdigit((unsigned char)i[2]) &&
		    isdigit((unsigned char)i[3])) {
			*o++ = (char)((i[1] - '0') * 64 + (i[2] - '0') * 8 + (i[3] - '0'));
			i += 3;
		} else {
			*o++ = *i;
		}
	}
	*o = '\0';
}

/* The mount of fstype ("cgroup2", or "cgroup" with ctl among its super options):
 * mount point and the mount's root within the hierarchy. */
static int find_mount(const char *fstype, const char *ctl, char *mnt, size_t mlen, char *root,
		      size_t rlen)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	if (!f)
		return -errno;
	char *line = NULL;
	size_t cap = 0;
	int r = -ENOENT;
	while (getline(&line, &cap, f) > 0) {
		/* id parent maj:min root mountpoint opts [optional...] - fstype source superopts */
		char *field[6] = {0}, *save = NULL, *tok = strtok_r(line, " \n", &save);
		int n = 0;
		for (; tok && n < 6; tok = strtok_r(NULL, " \n", &save))
			field[n++] = tok;
		while (tok && strcmp(tok, "-") != 0)
			tok = strtok_r(NULL, " \n", &save);
		char *type = strtok_r(NULL, " \n", &save);
		(void)strtok_r(NULL, " \n", &save);
		char *super = strtok_r(NULL, " \n", &save);
		if (n < 5 || !type || strcmp(type, fstype) != 0)
			continue;
		if (ctl && (!super || !has_word(super, ctl)))
			continue;
		unescape(field[3]);
		unescape(field[4]);
		if (snprintf(mnt, mlen, "%s", field[4]) >= (int)mlen ||
		    snprintf(root, rlen, "%s", field[3]) >= (int)rlen) {
			r = -ENAMETOOLONG;
			break;
		}
		r = 0;
		break;
	}
	free(line);
	fclose(f);
	return r;
}

/* mount point + the daemon's path relative to the mount's root. */
static int cgroup_dir(char *out, size_t len, const char *mnt, const char *mroot, const char *own)
{
	size_t rl = strlen(mroot);
	const char *rel = own;
	if (strcmp(mroot, "/") != 0 && strncmp(own, mroot, rl) == 0 &&
	    (own[rl] == '/' || own[rl] == '\0'))
		rel = own + rl;
	if (strcmp(rel, "/") == 0)
		rel = "";
	return snprintf(out, len, "%s%s", mnt, rel) < (int)len ? 0 : -ENAMETOOLONG;
}

/* ---- host set-up ------------------------------------------------------------------ */

/* ---- the daemon's subtree: created under a lock, swept only when provably dead ------ */

/* Each daemon holds an exclusive flock on its own subtree directory for its whole
 * life (the lock goes with its last fd, so also when it is killed). The pid in a
 * subtree's name proves nothing: a daemon in another pid namespace sharing this
 * cgroup looks dead from here. A lock that can be taken does prove it. */

/* Create <parent>/<name> and lock it. A sweeper can take the lock of the brand-new,
 * not yet locked directory and remove it: retry when the name no longer points at
 * the directory we locked. Returns the locked directory fd, or -errno. */
static int create_locked(int parentfd, const char *name)
{
	for (int attempt = 0; attempt < 8; attempt++) {
		if (mkdirat(parentfd, name, 0755) < 0 && errno != EEXIST)
			return -errno;
		int fd = openat(parentfd, name, O_DIRECTORY | O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			if (errno == ENOENT)
				continue;
			return -errno;
		}
		struct stat locked, named;
		if (flock(fd, LOCK_EX) == 0 && fstat(fd, &locked) == 0 &&
		    fstatat(parentfd, name, &named, 0) == 0 && locked.st_ino == named.st_ino)
			return fd;
		close(fd);
	}
	return -EAGAIN;
}

/* A daemon that died without bh_sandbox_host_done (killed, crashed) left its
 * bulkhead-<pid>-<nonce> subtree behind. Remove those whose lock can be taken, with
 * rmdir only: a leaf that still holds processes stays (and keeps its base), and
 * nothing is killed. */
static void sweep_stale(const char *dir)
{
	DIR *d = opendir(dir);
	if (!d)
		return;
	struct dirent *e;
	while ((e = readdir(d))) {
		int pid, n = 0;
		unsigned nonce;
		if (sscanf(e->d_name, "bulkhead-%d-%x%n", &pid, &nonce, &n) != 2 ||
		    e->d_name[n] != '\0' || pid <= 0 || strcmp(e->d_name, host.base) == 0)
			continue;
		int bfd = openat(dirfd(d), e->d_name, O_DIRECTORY | O_RDONLY | O_CLOEXEC);
		if (bfd < 0)
			continue;
		if (flock(bfd, LOCK_EX | LOCK_NB) < 0) { /* its daemon is alive */
			close(bfd);
			continue;
		}
		DIR *b = fdopendir(bfd);
		if (!b) {
			close(bfd);
			continue;
		}
		struct dirent *l;
		while ((l = readdir(b)))
			if (l->d_type == DT_DIR && l->d_name[0] != '.')
				unlinkat(bfd, l->d_name, AT_REMOVEDIR);
		unlinkat(dirfd(d), e->d_name, AT_REMOVEDIR);
		closedir(b); /* drops the lock after the rmdir */
	}
	closedir(d);
}

static void set_why(enum bh__ctl c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_why(enum bh__ctl c, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(host.why[c], sizeof(host.why[c]), fmt, ap);
	va_end(ap);
}

/* "; <text>" after what set_why said. */
static void add_why(enum bh__ctl c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void add_why(enum bh__ctl c, const char *fmt, ...)
{
	char more[sizeof(host.why[c])];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(more, sizeof(more), fmt, ap);
	va_end(ap);
	size_t used = strlen(host.why[c]);
	snprintf(host.why[c] + used, sizeof(host.why[c]) - used, "%s%s", used ? "; " : "", more);
}

static int write_pid(const char *dir, pid_t pid)
{
	int dfd = open(dir, O_DIRECTORY | O_RDONLY | O_CLOEXEC);
	if (dfd < 0)
		return -errno;
	char s[24];
	snprintf(s, sizeof(s), "%d", (int)pid);
	int r = bh__cg_write_at(dfd, "cgroup.procs", s);
	close(dfd);
	return r;
}

/* Enable controller c for the children of dirfd. */
static int enable(int dirfd, enum bh__ctl c)
{
	char s[16];
	snprintf(s, sizeof(s), "+%s", bh__ctl_names[c]);
	return bh__cg_write_at(dirfd, "cgroup.subtree_control", s);
}

/* Move the daemon out of its own cgroup into <own>/supervisor so that <own> may
 * enable controllers for its children (no internal processes on cgroup v2). */
static int move_to_supervisor(void)
{
	char dir[PATH_MAX];
	if (snprintf(dir, sizeof(dir), "%s/supervisor", host.v2_own) >= (int)sizeof(dir))
		return -ENAMETOOLONG;
	if (mkdir(dir, 0755) < 0 && errno != EEXIST)
		return -errno;
	int r = write_pid(dir, getpid());
	if (r < 0) {
		rmdir(dir);
		return r;
	}
	host.v2_moved = true;
	return 0;
}

static void move_back(void)
{
	if (!host.v2_moved)
		return;
	int own = open(host.v2_own, O_DIRECTORY | O_RDONLY | O_CLOEXEC);
	if (own >= 0) {
		/* Only a cgroup without controllers for its children may hold processes. */
		for (int c = 0; c < BH__CTL_N; c++) {
			if (host.v2_we_enabled[c]) {
				char s[16];
				snprintf(s, sizeof(s), "-%s", bh__ctl_names[c]);
				if (bh__cg_write_at(own, "cgroup.subtree_control", s) == 0)
					host.v2_we_enabled[c] = false;
			}
		}
		close(own);
	}
	if (write_pid(host.v2_own, getpid()) == 0) {
		char dir[PATH_MAX];
		snprintf(dir, sizeof(dir), "%s/supervisor", host.v2_own);
		rmdir(dir);
		host.v2_moved = false;
	}
}

static void v2_setup(void)
{
	char mnt[PATH_MAX], mroot[PATH_MAX], own[PATH_MAX];
	int r = find_mount("cgroup2", NULL, mnt, sizeof(mnt), mroot, sizeof(mroot));
	if (r < 0) {
		for (int c = 0; c < BH__CTL_N; c++)
			set_why(c, "no cgroup2 mount");
		return;
	}
	if ((r = own_cgroup(NULL, own, sizeof(own))) < 0 ||
	    (r = cgroup_dir(host.v2_own, sizeof(host.v2_own), mnt, mroot, own)) < 0) {
		for (int c = 0; c < BH__CTL_N; c++)
			set_why(c, "cgroup v2: the daemon's cgroup: %s", strerror(-r));
		return;
	}
	sweep_stale(host.v2_own);
	int ownfd = open(host.v2_own, O_DIRECTORY | O_RDONLY | O_CLOEXEC);
	if (ownfd < 0) {
		r = -errno;
		for (int c = 0; c < BH__CTL_N; c++)
			set_why(c, "cgroup v2 %s: %s", host.v2_own, strerror(-r));
		return;
	}
	char avail[512] = "", sub[512] = "";
	read_at(ownfd, "cgroup.controllers", avail, sizeof(avail));
	read_at(ownfd, "cgroup.subtree_control", sub, sizeof(sub));
	bool want[BH__CTL_N] = {false};
	for (int c = 0; c < BH__CTL_N; c++) {
		want[c] = has_word(avail, bh__ctl_names[c]);
		if (!want[c]) {
			set_why(c, "cgroup v2 (%s) has no %s controller", host.v2_own,
				bh__ctl_names[c]);
			continue;
		}
		if (has_word(sub, bh__ctl_names[c]))
			continue;
		r = enable(ownfd, c);
		if (r == -EBUSY && !host.v2_moved && move_to_supervisor() == 0)
			r = enable(ownfd, c);
		if (r < 0) {
			want[c] = false;
			set_why(c, "cgroup v2: cannot enable %s below %s: %s%s", bh__ctl_names[c],
				host.v2_own, strerror(-r),
				r == -EBUSY ? " (other processes share the daemon's cgroup)" : "");
		} else {
			host.v2_we_enabled[c] = true;
		}
	}
	bool any = want[0] || want[1] || want[2];
	if (host.v2_moved && !any)
		move_back();

	const char *base = host.base;
	r = create_locked(ownfd, base);
	close(ownfd);
	if (r < 0) {
		for (int c = 0; c < BH__CTL_N; c++)
			if (want[c])
				set_why(c, "cgroup v2: mkdir %s/%s: %s", host.v2_own, base, strerror(-r));
		move_back();
		return;
	}
	host.v2_base_fd = r;
	host.v2_kill = faccessat(host.v2_base_fd, "cgroup.kill", F_OK, 0) == 0;
	for (int c = 0; c < BH__CTL_N; c++) {
		if (!want[c])
			continue;
		r = enable(host.v2_base_fd, c);
		if (r < 0)
			set_why(c, "cgroup v2: cannot enable %s in %s/%s: %s", bh__ctl_names[c],
				host.v2_own, base, strerror(-r));
		else
			host.mode[c] = BH__CG_V2;
	}
}

static void v1_setup(enum bh__ctl c)
{
	char mnt[PATH_MAX], mroot[PATH_MAX], own[PATH_MAX], dir[PATH_MAX];
	const char *name = bh__ctl_names[c];
	int r = find_mount("cgroup", name, mnt, sizeof(mnt), mroot, sizeof(mroot));
	if (r < 0) {
		add_why(c, "no cgroup v1 %s hierarchy", name);
		return;
	}
	if ((r = own_cgroup(name, own, sizeof(own))) < 0 ||
	    (r = cgroup_dir(dir, sizeof(dir), mnt, mroot, own)) < 0 ||
	    snprintf(host.v1_base[c], sizeof(host.v1_base[c]), "%s/%s", dir, host.base) >=
		    (int)sizeof(host.v1_base[c])) {
		add_why(c, "cgroup v1 %s: %s", name, strerror(r < 0 ? -r : ENAMETOOLONG));
		host.v1_base[c][0] = '\0';
		return;
	}
	sweep_stale(dir);
	for (int d = 0; d < (int)c; d++) {
		if (host.v1_fd[d] >= 0 && strcmp(host.v1_base[d], host.v1_base[c]) == 0) {
			host.v1_alias[c] = d; /* co-mounted: one directory serves both */
			host.mode[c] = BH__CG_V1;
			return;
		}
	}
	int parent = open(dir, O_DIRECTORY | O_RDONLY | O_CLOEXEC);
	r = parent < 0 ? -errno : create_locked(parent, host.base);
	if (parent >= 0)
		close(parent);
	if (r < 0) {
		add_why(c, "cgroup v1: mkdir %s: %s", host.v1_base[c], strerror(-r));
		host.v1_base[c][0] = '\0';
		return;
	}
	host.v1_fd[c] = r;
	if (c == BH__CTL_MEMORY)
		host.v1_memsw = faccessat(host.v1_fd[c], "memory.memsw.limit_in_bytes", F_OK, 0) == 0;
	host.mode[c] = BH__CG_V1;
}

int bh_sandbox_host_init(char *errbuf, size_t errlen)
{
	if (errlen)
		errbuf[0] = '\0';
	if (host.ready)
		return 0;
	host.pid = getpid();
	uint32_t nonce = 0;
	if (getrandom(&nonce, sizeof(nonce), GRND_NONBLOCK) != sizeof(nonce))
		nonce = (uint32_t)time(NULL) ^ (uint32_t)(uintptr_t)&nonce;
	snprintf(host.base, sizeof(host.base), "bulkhead-%d-%08x", (int)host.pid, nonce);
	v2_setup();
	for (int c = 0; c < BH__CTL_N; c++)
		if (host.mode[c] != BH__CG_V2)
			v1_setup(c);
	host.ready = true;

	/* The note: one clause per controller that is not on cgroup v2. */
	size_t used = 0;
	for (int c = 0; c < BH__CTL_N && errlen; c++) {
		if (host.mode[c] == BH__CG_V2)
			continue;
		const char *how = host.mode[c] == BH__CG_V1 ? "cgroup v1"
				  : c == BH__CTL_CPU	    ? "not enforced"
							    : "rlimit fallback";
		int n = snprintf(errbuf + used, errlen - used, "%s%s: %s (%s)", used ? "; " : "",
				 bh__ctl_names[c], how, host.why[c]);
		if (n < 0 || (size_t)n >= errlen - used)
			break;
		used += (size_t)n;
	}
	return 0;
}

/* ---- instance leaves --------------------------------------------------------------- */

enum bh__cg_mode bh__cg_host_mode(enum bh__ctl c, const char **ret_why)
{
	if (ret_why)
		*ret_why = host.ready ? host.why[c] : "bh_sandbox_host_init was not called";
	return host.mode[c];
}

static int v1_dirfd(enum bh__ctl c)
{
	return host.v1_alias[c] >= 0 ? host.v1_fd[host.v1_alias[c]] : host.v1_fd[c];
}

static int leaf_fd(int basefd, const char *name)
{
	return openat(basefd, name, O_DIRECTORY | O_RDONLY | O_CLOEXEC);
}

/* rmdir every leaf of cg: 0, or -EBUSY (or another error) if one remains. */
static int remove_leaves(struct bh_sandbox_cgroup *cg)
{
	int r = 0;
	if (cg->v2_fd >= 0) {
		if (unlinkat(host.v2_base_fd, cg->name, AT_REMOVEDIR) == 0 || errno == ENOENT) {
			close(cg->v2_fd);
			cg->v2_fd = -1;
		} else {
			r = -errno;
		}
	}
	for (int c = 0; c < BH__CTL_N; c++) {
		if (!cg->v1[c])
			continue;
		if (host.v1_alias[c] >= 0 || unlinkat(v1_dirfd(c), cg->name, AT_REMOVEDIR) == 0 ||
		    errno == ENOENT)
			cg->v1[c] = false;
		else if (r == 0)
			r = -errno;
	}
	return r;
}

/* Whatever still runs in the leaves: cgroup.kill on v2, else SIGKILL to each pid
 * listed in the v1 leaves (our pid namespace numbers them). */
static void kill_leaves(const struct bh_sandbox_cgroup *cg)
{
	if (cg->v2_fd >= 0 && host.v2_kill && bh__cg_write_at(cg->v2_fd, "cgroup.kill", "1") == 0)
		return;
	for (int c = 0; c < BH__CTL_N; c++) {
		if (!cg->v1[c] || host.v1_alias[c] >= 0)
			continue;
		char path[NAME_MAX + 16], buf[4096];
		snprintf(path, sizeof(path), "%s/cgroup.procs", cg->name);
		if (read_at(v1_dirfd(c), path, buf, sizeof(buf)) < 0)
			continue;
		for (char *p = buf; *p;) {
			char *end;
			long pid = strtol(p, &end, 10);
			if (end == p)
				break;
			if (pid > 0)
				kill((pid_t)pid, SIGKILL);
			p = end;
		}
	}
}

static void free_cg(struct bh_sandbox_cgroup *cg)
{
	if (cg->v2_fd >= 0)
		close(cg->v2_fd);
	free(cg);
}

/* Leaves that could not be removed before: try again (no waiting, no loop). */
static void retry_stragglers(void)
{
	struct bh_sandbox_cgroup **pp = &host.stragglers;
	while (*pp) {
		struct bh_sandbox_cgroup *cg = *pp;
		if (remove_leaves(cg) == 0) {
			*pp = cg->next_straggler;
			host.n_stragglers--;
			free_cg(cg);
		} else {
			kill_leaves(cg);
			pp = &cg->next_straggler;
		}
	}
}

int bh__cg_destroy(struct bh_sandbox_cgroup *cg)
{
	if (!cg)
		return 0;
	if (host.stragglers)
		retry_stragglers();
	if (remove_leaves(cg) == 0) {
		free_cg(cg);
		return 0;
	}
	/* Normally the leaves are empty: the instance was reaped, and a pid namespace
	 * dies with its init. Something left (a v1 task still exiting): kill it and try
	 * once more; a leaf that still resists is retried later, never waited for. */
	kill_leaves(cg);
	if (remove_leaves(cg) == 0) {
		free_cg(cg);
		return 0;
	}
	if (host.n_stragglers < STRAGGLERS_MAX) {
		cg->next_straggler = host.stragglers;
		host.stragglers = cg;
		host.n_stragglers++;
	} else {
		free_cg(cg); /* the directory stays behind; host_done reports nothing either */
	}
	return -EBUSY;
}

static bool valid_leaf_name(const char *name)
{
	size_t n = name ? strlen(name) : 0;
	return n > 0 && n <= NAME_MAX - 1 && !strchr(name, '/') && strcmp(name, ".") != 0 &&
	       strcmp(name, "..") != 0 && strncmp(name, "cgroup.", 7) != 0;
}

/* The profile's limit for controller c, 0 when it has none. */
static uint64_t limit_of(const struct bh_sandbox_profile *p, enum bh__ctl c)
{
	return c == BH__CTL_MEMORY ? p->memory_bytes : c == BH__CTL_PIDS ? p->pids_max : p->cpu_percent;
}

int bh__cg_create(const char *name, const struct bh_sandbox_profile *p,
		  struct bh_sandbox_cgroup **ret, char *errbuf, size_t errlen)
{
	*ret = NULL;
	/* v1 leaves only where there is a limit to enforce; the v2 leaf always (when the
	 * host has one): it places the child atomically and kills the whole instance. */
	bool any_v1 = false;
	for (int c = 0; c < BH__CTL_N; c++)
		any_v1 |= host.mode[c] == BH__CG_V1 && limit_of(p, c) != 0;
	if (host.v2_base_fd < 0 && !any_v1)
		return 0;
	if (!valid_leaf_name(name)) {
		snprintf(errbuf, errlen, "instance name \"%s\" cannot name a cgroup", name ? name : "");
		return -EINVAL;
	}
	struct bh_sandbox_cgroup *cg = calloc(1, sizeof(*cg));
	if (!cg) {
		snprintf(errbuf, errlen, "out of memory");
		return -ENOMEM;
	}
	snprintf(cg->name, sizeof(cg->name), "%s", name);
	cg->v2_fd = -1;
	const char *file = NULL;
	int r = 0;

	if (host.v2_base_fd >= 0) {
		if (mkdirat(host.v2_base_fd, name, 0755) < 0) {
			r = -errno;
			snprintf(errbuf, errlen, "cgroup v2 leaf %s/%s/%s: %s", host.v2_own,
				 host.base, name, strerror(-r));
			goto fail;
		}
		cg->v2_fd = leaf_fd(host.v2_base_fd, name);
		if (cg->v2_fd < 0) {
			r = -errno;
			unlinkat(host.v2_base_fd, name, AT_REMOVEDIR);
			snprintf(errbuf, errlen, "cgroup v2 leaf %s: %s", name, strerror(-r));
			goto fail;
		}
	}
	for (int c = 0; c < BH__CTL_N; c++) {
		cg->mode[c] = limit_of(p, c) ? host.mode[c] : BH__CG_NONE;
		if (cg->mode[c] != BH__CG_V1 || host.v1_alias[c] >= 0)
			continue;
		if (mkdirat(host.v1_fd[c], name, 0755) < 0) {
			r = -errno;
			snprintf(errbuf, errlen, "cgroup v1 leaf %s/%s: %s", host.v1_base[c], name,
				 strerror(-r));
			goto fail;
		}
		cg->v1[c] = true;
	}
	for (int c = 0; c < BH__CTL_N; c++) {
		if (host.v1_alias[c] >= 0 && cg->mode[c] == BH__CG_V1 && !cg->v1[host.v1_alias[c]]) {
			/* co-mounted with a controller that has no limit: its leaf is ours */
			int a = host.v1_alias[c];
			if (mkdirat(host.v1_fd[a], name, 0755) < 0) {
				r = -errno;
				snprintf(errbuf, errlen, "cgroup v1 leaf %s/%s: %s", host.v1_base[a],
					 name, strerror(-r));
				goto fail;
			}
			cg->v1[a] = true;
		}
		if (host.v1_alias[c] >= 0)
			cg->v1[c] = cg->v1[host.v1_alias[c]];
	}

	if (cg->v2_fd >= 0 && (r = bh__cg2_write_limits(cg->v2_fd, p, cg->mode, &file)) < 0) {
		snprintf(errbuf, errlen, "cgroup v2 %s/%s: %s", name, file, strerror(-r));
		goto fail;
	}
	for (int c = 0; c < BH__CTL_N; c++) {
		if (cg->mode[c] != BH__CG_V1)
			continue;
		int fd = leaf_fd(v1_dirfd(c), name);
		if (fd < 0) {
			r = -errno;
			file = ".";
		} else {
			r = bh__cg1_write_limit(fd, c, p, &file);
			close(fd);
		}
		if (r < 0) {
			snprintf(errbuf, errlen, "cgroup v1 %s/%s/%s: %s", host.v1_base[c], name, file,
				 strerror(-r));
			goto fail;
		}
	}
	*ret = cg;
	return 0;
fail:
	remove_leaves(cg);
	free_cg(cg);
	return r;
}

int bh__cg_open_v1_tasks(const struct bh_sandbox_cgroup *cg, int fds[BH__CTL_N], char *errbuf,
			 size_t errlen)
{
	for (int c = 0; c < BH__CTL_N; c++)
		fds[c] = -1;
	if (!cg)
		return 0;
	char path[NAME_MAX + 16];
	snprintf(path, sizeof(path), "%s/tasks", cg->name);
	for (int c = 0; c < BH__CTL_N; c++) {
		if (!cg->v1[c] || host.v1_alias[c] >= 0)
			continue;
		fds[c] = openat(v1_dirfd(c), path, O_WRONLY | O_CLOEXEC);
		if (fds[c] < 0) {
			int r = -errno;
			snprintf(errbuf, errlen, "cgroup v1 %s/%s: %s", host.v1_base[c], path,
				 strerror(-r));
			for (int d = 0; d < c; d++)
				if (fds[d] >= 0)
					close(fds[d]);
			for (int d = 0; d < BH__CTL_N; d++)
				fds[d] = -1;
			return r;
		}
	}
	return 0;
}

int bh__cg_kill(const struct bh_sandbox_cgroup *cg)
{
	if (!cg || cg->v2_fd < 0 || !host.v2_kill)
		return -ENOTSUP;
	return bh__cg_write_at(cg->v2_fd, "cgroup.kill", "1");
}

static void format_bytes(char *buf, size_t len, uint64_t b)
{
	static const char *const unit[] = {"GiB", "MiB", "KiB"};
	for (int i = 0; i < 3; i++) {
		uint64_t u = UINT64_C(1) << (30 - 10 * i);
		if (b >= u && b % u == 0) {
			snprintf(buf, len, "%" PRIu64 " %s", b / u, unit[i]);
			return;
		}
	}
	snprintf(buf, len, "%" PRIu64 " bytes", b);
}

void bh__cg_limit_cause(const struct bh_sandbox_cgroup *cg, const struct bh_sandbox_profile *p,
			char *buf, size_t len)
{
	if (!cg || !p)
		return;
	bool oom = false, pids = false;
	if (cg->mode[BH__CTL_MEMORY] == BH__CG_V2 && cg->v2_fd >= 0) {
		oom = bh__cg2_oom_killed(cg->v2_fd);
	} else if (cg->mode[BH__CTL_MEMORY] == BH__CG_V1 && cg->v1[BH__CTL_MEMORY]) {
		int fd = leaf_fd(v1_dirfd(BH__CTL_MEMORY), cg->name);
		if (fd >= 0) {
			oom = bh__cg1_oom_killed(fd);
			close(fd);
		}
	}
	if (cg->mode[BH__CTL_PIDS] == BH__CG_V2 && cg->v2_fd >= 0) {
		pids = bh__cg2_pids_max_hit(cg->v2_fd);
	} else if (cg->mode[BH__CTL_PIDS] == BH__CG_V1 && cg->v1[BH__CTL_PIDS]) {
		int fd = leaf_fd(v1_dirfd(BH__CTL_PIDS), cg->name);
		if (fd >= 0) {
			pids = bh__cg1_pids_max_hit(fd);
			close(fd);
		}
	}
	char mem[32];
	format_bytes(mem, sizeof(mem), p->memory_bytes);
	if (oom && pids)
		snprintf(buf, len, "out of memory (limit %s); pids limit reached (%" PRIu32 ")", mem,
			 p->pids_max);
	else if (oom)
		snprintf(buf, len, "out of memory (limit %s)", mem);
	else if (pids)
		snprintf(buf, len, "pids limit reached (%" PRIu32 ")", p->pids_max);
}

void bh_child_usage(const struct bh_child *c, struct bh_child_usage *ret)
{
	ret->memory_bytes = ret->cpu_ns = -1;
	const struct bh_sandbox_cgroup *cg = c ? c->cg : NULL;
	if (!cg)
		return;
	if (cg->v2_fd >= 0) {
		/* cpu.stat is in every v2 cgroup, with or without the cpu controller. */
		int64_t us = bh__cg_read_key(cg->v2_fd, "cpu.stat", "usage_usec");
		if (us >= 0)
			ret->cpu_ns = us * 1000;
	}
	if (cg->mode[BH__CTL_MEMORY] == BH__CG_V2 && cg->v2_fd >= 0) {
		ret->memory_bytes = bh__cg_read_num(cg->v2_fd, "memory.current");
	} else if (cg->mode[BH__CTL_MEMORY] == BH__CG_V1 && cg->v1[BH__CTL_MEMORY]) {
		int fd = leaf_fd(v1_dirfd(BH__CTL_MEMORY), cg->name);
		if (fd >= 0) {
			ret->memory_bytes = bh__cg_read_num(fd, "memory.usage_in_bytes");
			close(fd);
		}
	}
	if (ret->memory_bytes < 0)
		ret->memory_bytes = -1;
}

void bh_sandbox_host_done(void)
{
	bh_sandbox_spawner_stop(); /* out of the supervisor cgroup before move_back */
	if (!host.ready)
		return;
	retry_stragglers();
	const char *base = host.base;
	if (host.v2_base_fd >= 0) {
		close(host.v2_base_fd);
		host.v2_base_fd = -1;
		int own = open(host.v2_own, O_DIRECTORY | O_RDONLY | O_CLOEXEC);
		if (own >= 0) {
			unlinkat(own, base, AT_REMOVEDIR);
			close(own);
		}
	}
	move_back();
	for (int c = 0; c < BH__CTL_N; c++) {
		if (host.v1_fd[c] >= 0) {
			close(host.v1_fd[c]);
			rmdir(host.v1_base[c]);
		}
		host.v1_fd[c] = -1;
		host.v1_alias[c] = -1;
		host.v1_base[c][0] = '\0';
		host.mode[c] = BH__CG_NONE;
		host.why[c][0] = '\0';
		host.v2_we_enabled[c] = false;
	}
	/* Leaves that never went away are forgotten (their directories remain). */
	while (host.stragglers) {
		struct bh_sandbox_cgroup *cg = host.stragglers;
		host.stragglers = cg->next_straggler;
		free_cg(cg);
	}
	host.n_stragglers = 0;
	host.v2_kill = false;
	host.ready = false;
}

bool bh__cg_memsw(void)
{
	return host.v1_memsw;
}
