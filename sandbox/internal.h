/* libbulkhead-sandbox internals: shared between the parent side (spawn.c, cgroup*.c)
 * and the child side (enforce.c and the phase files it calls).
 *
 * Everything the child needs is computed by the parent before clone3 into one
 * struct bh__plan, so that the child between clone and exec only issues system
 * calls: no allocation, no stdio, no locks (the child of a raw clone3 inherits
 * whatever lock another thread of the parent held). */
#ifndef BH_SANDBOX_INTERNAL_H
#define BH_SANDBOX_INTERNAL_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/capability.h>
#include <sys/resource.h>
#include <sys/types.h>

#include "bulkhead/sandbox.h"

/* Ids inside the user namespace: the plugin runs as 1000:1000 and nothing else is
 * mapped (no root inside). */
#define BH__INSIDE_UID 1000
#define BH__INSIDE_GID 1000
/* The unprivileged host id a root daemon maps it to when the profile says 0. */
#define BH__DEFAULT_HOST_ID 65534

/* What one instance may hold of the per-user counters its user namespace's owner
 * is charged for (userns.c, bh__userns_cap_counters). The seccomp filter refuses
 * inotify and fanotify anyway; these bound a profile that grants them by name. */
#define BH__NS_MAX_INOTIFY_INSTANCES "8"
#define BH__NS_MAX_INOTIFY_WATCHES "1024"

/* ---- cgroups (cgroup.c, cgroup_v1.c, cgroup_v2.c) ------------------------------ */

enum bh__ctl { BH__CTL_MEMORY, BH__CTL_PIDS, BH__CTL_CPU, BH__CTL_N };
enum bh__cg_mode { BH__CG_NONE, BH__CG_V1, BH__CG_V2 };

extern const char *const bh__ctl_names[BH__CTL_N];

/* One instance's cgroups. */
struct bh_sandbox_cgroup {
	char name[NAME_MAX + 1];    /* leaf directory name in every hierarchy */
	int v2_fd;                  /* the v2 leaf (O_DIRECTORY), -1 without one */
	bool v1[BH__CTL_N];         /* a v1 leaf exists under that controller's base */
	enum bh__cg_mode mode[BH__CTL_N]; /* what enforces each controller's limit */
	struct bh_sandbox_cgroup *next_straggler;
};

/* How the host enforces each controller (after bh_sandbox_host_init; BH__CG_NONE
 * before it). ret_why gets a static/host-owned reason when it is not cgroup. */
enum bh__cg_mode bh__cg_host_mode(enum bh__ctl c, const char **ret_why);
/* Create the instance's leaves and write the profile's limits. 0 and *ret (NULL
 * when no cgroup is in use at all), or -errno with errbuf filled. */
int bh__cg_create(const char *name, const struct bh_sandbox_profile *p,
		  struct bh_sandbox_cgroup **ret, char *errbuf, size_t errlen);
/* Open the "tasks" file of each v1 leaf for writing, for the child to join them
 * (the v2 leaf is joined by clone3). fds[c] = -1 where there is none. 0 or -errno
 * with errbuf filled (nothing left open). */
int bh__cg_open_v1_tasks(const struct bh_sandbox_cgroup *cg, int fds[BH__CTL_N], char *errbuf,
			 size_t errlen);
/* Remove the leaves (killing stragglers once) and free cg; NULL-safe. 0, or -EBUSY
 * when a leaf still held a task and is left to be retried later. */
int bh__cg_destroy(struct bh_sandbox_cgroup *cg);
/* cgroup.kill of the v2 leaf: 0, -ENOTSUP without one, or -errno. */
int bh__cg_kill(const struct bh_sandbox_cgroup *cg);
void bh__cg_limit_cause(const struct bh_sandbox_cgroup *cg, const struct bh_sandbox_profile *p,
			char *buf, size_t len);

/* cgroup_v2.c / cgroup_v1.c: the per-version file writes and reads. dirfd is the
 * leaf. 0 or -errno; *ret_file names the file that failed. */
int bh__cg2_write_limits(int dirfd, const struct bh_sandbox_profile *p,
			 const enum bh__cg_mode mode[BH__CTL_N], const char **ret_file);
bool bh__cg2_oom_killed(int dirfd);
bool bh__cg2_pids_max_hit(int dirfd);
int bh__cg1_write_limit(int dirfd, enum bh__ctl c, const struct bh_sandbox_profile *p,
			const char **ret_file);
bool bh__cg1_oom_killed(int dirfd);
bool bh__cg1_pids_max_hit(int dirfd);

/* v1 memory has swap accounting (memory.memsw.*). */
bool bh__cg_memsw(void);

/* Small file helpers on cgroupfs (cgroup.c). */
int bh__cg_write_at(int dirfd, const char *file, const char *text);
/* Value of "key N" in a flat keyed file, or -errno. */
int64_t bh__cg_read_key(int dirfd, const char *file, const char *key);
/* A file holding one number, or -errno. */
int64_t bh__cg_read_num(int dirfd, const char *file);

/* ---- the child's plan ------------------------------------------------------------ */

/* A file made visible in the private root. tree is a detached mount (open_tree
 * OPEN_TREE_CLONE, already read-only) made by the parent when it may (a root
 * daemon: its own access rights, no matter what the mapped child could reach), else
 * -1 and the child clones host_path itself (an unprivileged daemon: the child has
 * the daemon's own kernel uid, so it reaches exactly what the daemon reaches). */
struct bh__source {
	const char *host_path;
	int tree;
	char target[PATH_MAX];      /* path inside the private root, relative: "bulkhead/..." */
};

#define BH__MAX_RLIMITS 9
/* Queued signals and locked memory a sandboxed process may have (see rlimits.c). */
#define BH__SIGPENDING_MAX 256
#define BH__MEMLOCK_MAX (64 * 1024)

struct bh__rlimit {
	int resource;
	rlim_t value;               /* soft = hard */
};

struct bh__plan {
	/* fds, numbered as in the parent */
	int channel_fd, stdout_fd, stderr_fd;
	int claims_fd;              /* or -1 */
	int err_fd;                 /* where setup failures are reported: the stderr pipe */
	int sync_rd, sync_wr;       /* the release pipe */
	int parent_pidfd;           /* readable once the parent has exited */
	int v1_tasks[BH__CTL_N];    /* the v1 leaves' "tasks", opened by the parent, or -1 */
	pid_t parent_pid;           /* unconfined: getppid() must still say this */
	const char *exe;            /* the path execve gets */
	char *const *argv;

	bool confined;
	bool network;               /* keep the host network namespace */
	bool privileged;            /* a root parent: writes any id map, clones mounts */
	bool drop_groups;           /* gid_map written by root or newgidmap: setgroups works */

	struct bh__source shim, plugin;
	char tmp_opts[96];          /* mount options of the private /tmp */

	struct bh__rlimit rl[BH__MAX_RLIMITS];
	int n_rl;

	cap_t no_caps;              /* an empty capability state, made by the parent */

	/* The CPUs the child runs on, set by the child itself before anything else
	 * (bh_spawn_args.cpus): cpus_size bytes of a cpu_set_t, 0 = where it is born. */
	uint64_t cpus[16];
	uint32_t cpus_size;
};

/* ---- child side: every function either returns or ends the child through
 * bh__child_die. None allocates. */

_Noreturn void bh__child_die(const struct bh__plan *pl, const char *step, int err);
_Noreturn void bh__child_run(const struct bh__plan *pl);

void bh__child_wait_release(const struct bh__plan *pl);       /* child.c */
void bh__child_join_v1(const struct bh__plan *pl);            /* child.c */
void bh__child_set_deathsig(const struct bh__plan *pl);        /* caps.c */
void bh__userns_become(const struct bh__plan *pl);             /* userns.c */
/* sysdir: the namespace's /proc/sys/user, relative to the cwd */
void bh__userns_cap_counters(const struct bh__plan *pl, const char *sysdir); /* userns.c */
void bh__mounts_build_root(const struct bh__plan *pl);         /* mounts.c */
void bh__net_loopback_up(const struct bh__plan *pl);           /* netns.c */
void bh__rlimits_apply(const struct bh__plan *pl);             /* rlimits.c */
void bh__caps_drop_all(const struct bh__plan *pl);             /* caps.c */
void bh__child_setup_fds(const struct bh__plan *pl);           /* spawn.c */

/* enforce.c: -EOPNOTSUPP with errbuf naming the limit when require_limits is set
 * and a configured limit would not be enforced exactly. */
int bh__check_required(const struct bh_sandbox_profile *p, char *errbuf, size_t errlen);

/* ---- parent side ------------------------------------------------------------------ */

/* userns.c: write the child's setgroups / uid_map / gid_map. 0 or -errno. */
int bh__userns_write_maps(pid_t pid, const struct bh_sandbox_profile *p, bool privileged,
			  char *errbuf, size_t errlen);
/* mounts.c: the detached read-only tree of a file (see struct bh__source). 0, or
 * -errno with errbuf filled; EPERM (not allowed to clone mounts) leaves tree at -1. */
int bh__mounts_prepare_source(struct bh__source *s, const char *what, bool exec,
			      char *errbuf, size_t errlen);
/* rlimits.c: the list the child applies, from the profile and the cgroup modes. */
void bh__rlimits_plan(struct bh__plan *pl, const struct bh_sandbox_profile *p,
		      const enum bh__cg_mode mode[BH__CTL_N]);

/* ---- the spawn helper (spawner.c) ------------------------------------------------ */

/* The wire between the daemon and its spawn helper (SOCK_SEQPACKET, one message
 * each way per spawn). Both ends are the same build, so the layout is the
 * compiler's; the helper checks every size, count and string all the same.
 *
 * A request is struct bh__spawn_req, then exe, the shim's host path, the plugin's
 * host path ("" for none) and argv[0..argc), each NUL-terminated, nothing after;
 * with the fds of the plan attached (SCM_RIGHTS) in the order of enum bh__spawn_fd,
 * bit f of fds saying whether the fd of role f is there. The reply is struct
 * bh__spawn_reply: the pid (> 0) with the pidfd attached, or -errno (-EPROTO: a
 * request refused) with nothing attached. */
enum bh__spawn_fd {
	BH__SF_CHANNEL, BH__SF_STDOUT, BH__SF_STDERR, BH__SF_CLAIMS, BH__SF_ERR,
	BH__SF_SYNC_RD, BH__SF_SYNC_WR, BH__SF_PARENT, BH__SF_V1_MEMORY, BH__SF_V1_PIDS,
	BH__SF_V1_CPU, BH__SF_SHIM_TREE, BH__SF_PLUGIN_TREE, BH__SF_CGROUP, BH__SF_N
};
_Static_assert(BH__SF_V1_CPU - BH__SF_V1_MEMORY + 1 == BH__CTL_N, "a v1 tasks fd per controller");
/* Every request has these; a confined one the release pipe too. */
#define BH__SF_NEEDED                                                                     \
	(1u << BH__SF_CHANNEL | 1u << BH__SF_STDOUT | 1u << BH__SF_STDERR | 1u << BH__SF_ERR)
#define BH__SF_CONFINED_NEEDED (1u << BH__SF_SYNC_RD | 1u << BH__SF_SYNC_WR)

enum { BH__SR_CONFINED = 1, BH__SR_NETWORK = 2, BH__SR_PRIVILEGED = 4,
       BH__SR_DROP_GROUPS = 8, BH__SR_ALL = 15 };

/* What a request may ask clone3 for (<linux/sched.h>); the helper adds CLONE_PARENT. */
#define BH__SPAWN_CLONE_FLAGS (CLONE_PIDFD | CLONE_NEWUSER | CLONE_NEWPID | CLONE_INTO_CGROUP)

/* Far above what an instance needs: its argv is the shim's options and one
 * "--allow-syscall NAME" per granted system call. */
#define BH__SPAWN_ARGS_MAX 2048
#define BH__SPAWN_STRINGS_MAX (64 * 1024)

struct bh__spawn_req {
	uint64_t clone_flags;
	uint32_t fds;               /* bit f: the fd of role f is attached */
	uint32_t bits;              /* BH__SR_* */
	int32_t parent_pid;
	uint32_t argc;
	uint32_t n_rl;
	struct bh__rlimit rl[BH__MAX_RLIMITS];
	char tmp_opts[sizeof(((struct bh__plan *)0)->tmp_opts)];
	char shim_target[PATH_MAX], plugin_target[PATH_MAX];
	uint32_t cpus_size;
	uint64_t cpus[sizeof(((struct bh__plan *)0)->cpus) / sizeof(uint64_t)];
};

struct bh__spawn_reply {
	int32_t pid;
};

/* clone3 with flags (and the cgroup fd when CLONE_INTO_CGROUP), the child running
 * bh__child_run(pl): by the spawn helper when there is one, else by the caller
 * itself. 0 with the pid, the pidfd (O_CLOEXEC) and who cloned; or -errno with
 * errbuf filled (-EAGAIN: the helper died while it had the request). */
int bh__spawner_clone(const struct bh__plan *pl, uint64_t flags, int cgroup, pid_t *ret_pid,
		      int *ret_pidfd, bool *ret_via_helper, char *errbuf, size_t errlen);
/* The daemon's end of the helper's socket, or -1 (for tests). */
int bh__spawner_fd(void);

void bh__set_err(char *errbuf, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
