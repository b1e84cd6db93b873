/* bulkhead sandbox (libbulkhead-sandbox): start a plugin host process confined as
 * a profile says, and tear down what confining it created.
 *
 * The library never logs and never exits the caller. A failure inside the child
 * before exec is written as one line "sandbox: STEP: REASON" to the child's stderr
 * (which the supervisor captures) and the child exits BH_SANDBOX_EXIT_SETUP, or
 * BH_SANDBOX_EXIT_RESOURCE when the step failed for lack of a resource (fds, memory,
 * processes, namespaces, a cgroup removed meanwhile): worth retrying later.
 *
 * A daemon's life with it:
 *   bh_sandbox_host_init()            once at start (detects cgroups, makes the subtree)
 *   bh_sandbox_spawner_start()        right after it, while the daemon is small
 *   bh_sandbox_spawn()                per instance; argv from bh_sandbox_plugin_path(),
 *                                     and for an enabled profile the shim options
 *                                     "--seccomp" plus "--allow-syscall NAME" for each
 *                                     extra_syscalls entry (and "socket" when network)
 *   ... the pidfd says the child exited; reap it (waitid P_PIDFD) ...
 *   bh_child_limit_cause()            why, if a cgroup limit did it
 *   bh_child_release()                removes the instance's cgroups
 *   bh_sandbox_host_done()            at exit (a daemon killed before it leaves its
 *                                     subtree; the next host_init removes it); stops
 *                                     the spawn helper too
 *
 * Confined (profile->enabled), the child runs as uid/gid 1000 inside new user, pid
 * (it is pid 1), mount, ipc, uts, cgroup and (unless network) network namespaces,
 * in a private read-only root holding /usr (and /lib, /lib64, /bin, /sbin as on the
 * host), /etc/ld.so.cache, the shim at BH_SANDBOX_SHIM_PATH, the plugin file (the
 * file only, not its directory) at BH_SANDBOX_PLUGIN_DIR/<basename>, a new /proc
 * (read-only), /dev/{null,zero,urandom} and a private /tmp of tmp_bytes and
 * tmp_inodes; with the user namespace's counters capped (inotify, fanotify, new
 * namespaces); without capabilities, with securebits locked, no_new_privs, an empty
 * environment and fds 0-3 only (4 too: the claim table, when the caller passes one).
 * Outside, it is the profile's host_uid:host_gid (a root daemon, or an unprivileged
 * one given uidmap_helper/gidmap_helper) or the daemon's own ids (an unprivileged
 * daemon, which must be dumpable to write the id maps).
 * The daemon's files are made visible with its own access rights, but the child
 * opens them as its unprivileged id: a root daemon's shim must be executable and
 * its plugins readable by others. The parent-death signal follows the thread that
 * called bh_sandbox_spawn. */
#ifndef BULKHEAD_SANDBOX_H
#define BULKHEAD_SANDBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

#define BH_SANDBOX_EXIT_RESOURCE 125 /* setup failed for lack of a resource: transient */
#define BH_SANDBOX_EXIT_SETUP 126 /* setup before exec failed */
#define BH_SANDBOX_EXIT_EXEC 127  /* execve failed */

/* Where the confined child finds things (inside its private root). */
#define BH_SANDBOX_SHIM_PATH "/bulkhead/bulkhead-shim"
#define BH_SANDBOX_PLUGIN_DIR "/bulkhead/plugin"

/* What to confine. With enabled = false nothing below applies: the child is only
 * given the fixed fd layout, an empty environment, PR_SET_PDEATHSIG and, like every
 * child, a session and process group of its own. */
struct bh_sandbox_profile {
	bool enabled;
	bool network;              /* keep the host network namespace */
	const char *const *extra_syscalls; /* granted by name (seccomp, applied by the shim) */
	size_t n_extra_syscalls;
	uint64_t memory_bytes;     /* 0 = unlimited */
	uint32_t pids_max;         /* 0 = unlimited */
	uint32_t cpu_percent;      /* of one CPU; 0 = unlimited */
	uint64_t nofile;           /* RLIMIT_NOFILE; 0 = inherit */
	uint64_t fsize_bytes;      /* RLIMIT_FSIZE */
	uint64_t tmp_bytes;        /* size of the private /tmp (tmpfs) */
	uint64_t tmp_inodes;       /* files and directories it may hold (tmpfs nr_inodes);
				    * 0 = the kernel's default, half the RAM's pages: no cap */
	bool require_limits;       /* fail the spawn when a limit cannot be enforced */
	uid_t host_uid;            /* unprivileged host id the child runs as (root daemon);
				    * 0 = the default, 65534 (host root is never used).
				    * An unprivileged daemon maps its own ids instead,
				    * unless uidmap_helper is set. */
	gid_t host_gid;            /* likewise */
	/* Unprivileged daemon: absolute paths of the setuid helpers (shadow's newuidmap,
	 * newgidmap) that map host_uid/host_gid from the daemon user's subordinate
	 * ranges (/etc/subuid, /etc/subgid). NULL = map the daemon's own ids. Ignored
	 * by a root daemon, which writes any map itself. */
	const char *uidmap_helper, *gidmap_helper;
};

/* How each limit is enforced on this host for this daemon. Static strings:
 *   memory  "cgroup v2" | "cgroup v1" | BH_SANDBOX_MEMORY_FALLBACK (the caller's part:
 *           the rlimit bounds private writable memory only; see rlimits.c)
 *   pids    "cgroup v2" | "cgroup v1" | "rlimit (RLIMIT_NPROC: per host uid, approximate)"
 *   cpu     "cgroup v2" | "cgroup v1" | "none"
 *           and "unlimited" for any of the three when the profile sets 0
 *   nofile  "rlimit" | "inherited"        fsize  "rlimit" | "unlimited"
 *   tmp     "tmpfs" | "tmpfs (no size cap)"
 * and "none" everywhere for an unconfined child. */
/* Without a memory controller the child gets RLIMIT_DATA (private writable memory;
 * reserved PROT_NONE address space does not count) and the caller is expected to
 * watch what the instance holds (resident memory and memfd pages) and kill it. */
#define BH_SANDBOX_MEMORY_FALLBACK "rlimit (RLIMIT_DATA) + daemon watchdog"

struct bh_enforcement {
	const char *memory, *pids, *cpu, *nofile, *fsize, *tmp;
	const char *namespaces; /* e.g. "user,pid,net,mnt,ipc,uts,cgroup" or "none" */
	const char *seccomp;    /* "allow-list" or "none" */
};

struct bh_spawn_args {
	const char *exe;           /* absolute host path of the shim */
	char *const *argv;         /* NULL-terminated; argv[last-1] is the plugin path as the
				    * child will see it: use bh_sandbox_plugin_path() */
	int channel_fd;            /* becomes fd 3 in the child */
	int stdout_fd, stderr_fd;  /* become fds 1 and 2; stdin is /dev/null */
	int claims_fd;             /* > 2: becomes fd 4 (the claim table); 0: none */
	const char *plugin_path;   /* host path of the .so to make visible */
	const struct bh_sandbox_profile *profile; /* NULL = unconfined */
	const char *name;          /* names per-instance resources, e.g. "echo.3" */
	/* The CPUs the child may run on: a cpu_set_t of cpus_size bytes (at most 128),
	 * which the child sets itself before anything else, so every thread it makes
	 * inherits them; a mask the machine no longer fits is ignored. NULL: where it is
	 * born. */
	const void *cpus;
	size_t cpus_size;
};

struct bh_sandbox_cgroup; /* opaque: the instance's cgroups (v2 leaf and/or v1 dirs) */

struct bh_child {
	pid_t pid;
	int pidfd;                  /* O_CLOEXEC; readable when the child exited */
	struct bh_sandbox_cgroup *cg; /* NULL when no cgroup was used */
	struct bh_enforcement enforced;
	bool via_spawner;           /* cloned by the spawn helper (else by the caller) */
};

/* Host-wide preparation, once per daemon: detect cgroup v2/v1 controllers, create
 * the daemon's cgroup subtree (below the cgroup it runs in). 0 or -errno; on
 * failure the sandbox still works with what could be detected (rlimits). errbuf gets
 * a note on what is degraded (may be empty). */
int bh_sandbox_host_init(char *errbuf, size_t errlen);
/* Remove the daemon's cgroup subtree (all instances released first). */
void bh_sandbox_host_done(void);

/* The spawn helper: a small process forked from the caller, which then makes the
 * clone3 of every bh_sandbox_spawn in its place, so that a large daemon never copies
 * its own address space per instance. The child is still the caller's (CLONE_PARENT):
 * reaped by it through the pidfd, its parent-death signal following it. Start it
 * early, while the caller is small, from the thread that will call bh_sandbox_spawn
 * (after raising its own limits, blocking its signals and joining its cgroup: the
 * helper keeps what the caller had then, and hands it on to every child). 0 (also
 * when it already runs) or -errno with errbuf filled; without a helper, or once it
 * died, bh_sandbox_spawn clones in the caller as before. A dead helper is not
 * restarted. */
int bh_sandbox_spawner_start(char *errbuf, size_t errlen);
/* End the helper and reap it (SIGKILL; the children it made are the caller's and
 * live on). Does nothing without one. */
void bh_sandbox_spawner_stop(void);
/* The helper's pid, or -1 when there is none (never started, stopped, or found
 * dead by a spawn). */
pid_t bh_sandbox_spawner_pid(void);

/* Whether a user namespace, which every sandbox needs, can be created here (forks a
 * child that tries). 0, or -errno with the reason and a hint in why. */
int bh_sandbox_userns_check(char *why, size_t len);

/* Path of the plugin as the child sees it (the host path when unconfined).
 * Static buffer per call: copy it. */
const char *bh_sandbox_plugin_path(const struct bh_sandbox_profile *p, const char *host_path,
				   char *buf, size_t len);

/* What enforcing profile p would use on this host (no side effects). */
void bh_sandbox_enforcement(const struct bh_sandbox_profile *p, struct bh_enforcement *ret);

/* Start the child. 0 and *ret, or -errno with a message in errbuf (nothing left
 * behind). -EOPNOTSUPP when require_limits is set and a limit cannot be enforced. */
int bh_sandbox_spawn(const struct bh_spawn_args *a, struct bh_child *ret, char *errbuf,
		     size_t errlen);

/* After the child exited: why a resource limit killed it, e.g. "out of memory (limit
 * 64 MiB)" or "pids limit reached (64)", else an empty string. Reads the cgroup's
 * counters (an OOM kill; a fork refused at pids.max, which need not have been
 * fatal): meaningful for a child that died of a signal or failed; call before
 * bh_child_release. Limits enforced by rlimits leave no trace: "". */
void bh_child_limit_cause(const struct bh_child *c, const struct bh_sandbox_profile *p,
			  char *buf, size_t len);

/* What the child's cgroup counts now: memory charged (bytes) and CPU time used (ns),
 * each -1 where no cgroup of the child counts it (none in use; a controller enforced
 * otherwise on this host). Reads a file or two, never blocks on I/O. */
struct bh_child_usage {
	int64_t memory_bytes;
	int64_t cpu_ns;
};
void bh_child_usage(const struct bh_child *c, struct bh_child_usage *ret);

/* Kill every process of the child's cgroup (cgroup.kill) or the child itself. */
int bh_child_kill(struct bh_child *c);

/* After the child exited and was reaped: remove its cgroups, close the pidfd.
 * NULL-safe, idempotent. 0, or -EBUSY when a cgroup still held a task (one still
 * exiting): it is removed later, so the child's host id is not free yet. */
int bh_child_release(struct bh_child *c);

/* Install the seccomp allow-list in the calling process (the shim calls it after
 * its own set-up and before dlopen of the plugin), and make the process
 * non-dumpable again (execve reset that). extra: syscall names to allow in addition,
 * unconditionally (a name the list restricts or answers with an errno becomes fully
 * allowed; glibc's setrlimit is "prlimit64"). 0 or -errno; -EINVAL names an unknown
 * syscall via *ret_bad (nothing installed then). The list is in seccomp.c. */
int bh_seccomp_install(const char *const *extra, size_t n_extra, const char **ret_bad);

#ifdef __cplusplus
}
#endif
#endif
