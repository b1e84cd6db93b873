/* bulkhead sandbox (libbulkhead-sandbox): start a plugin host process, confined as a
 * profile says. The library never logs and never exits the caller; a failure inside
 * the child before exec is written as one line "sandbox: STEP: REASON" to the child's
 * stderr (which the supervisor captures) and the child exits BH_SANDBOX_EXIT_SETUP. */
#ifndef BULKHEAD_SANDBOX_H
#define BULKHEAD_SANDBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

#define BH_SANDBOX_EXIT_SETUP 126 /* setup before exec failed */
#define BH_SANDBOX_EXIT_EXEC 127  /* execve failed */

/* What to confine; NULL profile = run unconfined. */
struct bh_sandbox_profile {
	bool enabled;
	bool network;              /* keep the host network namespace */
	const char *const *extra_syscalls;
	size_t n_extra_syscalls;
	uint64_t memory_bytes;     /* 0 = unlimited */
	uint32_t pids_max;         /* 0 = unlimited */
	uint32_t cpu_percent;      /* 0 = unlimited */
	uint64_t nofile;           /* 0 = inherit */
	uint64_t fsize_bytes;      /* 0 = unlimited */
	uint64_t tmp_bytes;
	bool require_limits;
};

struct bh_spawn_args {
	const char *exe;           /* absolute path of the program (the shim) */
	char *const *argv;         /* NULL-terminated */
	int channel_fd;            /* becomes fd 3 in the child */
	int stdout_fd, stderr_fd;  /* become fds 1 and 2; stdin is /dev/null */
	const char *plugin_path;   /* the .so the child will load (made visible to it) */
	const struct bh_sandbox_profile *profile; /* NULL or !enabled: unconfined */
	const char *name;          /* for naming per-instance resources, e.g. "echo.3" */
};

struct bh_child {
	pid_t pid;
	int pidfd;                 /* O_CLOEXEC; readable when the child exited */
};

/* Start the child. 0 and *ret, or -errno (nothing left behind). The child gets: the
 * three fds above and nothing else, an empty environment, PR_SET_PDEATHSIG(SIGKILL),
 * default signal dispositions and an empty signal mask. */
int bh_sandbox_spawn(const struct bh_spawn_args *a, struct bh_child *ret);

/* Release what bh_sandbox_spawn created for a child that has exited and been reaped
 * (closes the pidfd). NULL-safe. */
void bh_child_release(struct bh_child *c);

#ifdef __cplusplus
}
#endif
#endif
