/* Resource limits set with setrlimit(2): the exact ones (open files, file size, no
 * core dumps) and the fallbacks for a missing cgroup controller, which are only
 * approximations:
 *   memory -> RLIMIT_DATA: private writable mappings and the heap. Address space
 *             reserved PROT_NONE does not count (the Go runtime reserves far more
 *             than the limit at start and dies under RLIMIT_AS), but shared
 *             memory does not count either: memfd pages, whether mapped or only
 *             held by an fd. The caller covers those with a watchdog (see
 *             BH_SANDBOX_MEMORY_FALLBACK); the private /tmp has its own size.
 *   pids   -> RLIMIT_NPROC: counts every process of the child's host uid, across
 *             all instances (and any other process) of that uid; per instance
 *             only with a host uid per instance (the daemon's sandbox_ids).
 *   cpu    -> nothing: RLIMIT_CPU limits CPU time, not bandwidth.
 * And three counters the kernel charges to the user namespace's owner too (host
 * root, for a root daemon): without a cap of its own, one plugin could use up
 * queued signals, POSIX message queue bytes or locked memory for everyone running
 * as that owner. */
#define _GNU_SOURCE
#include <errno.h>
#include <sys/resource.h>

#include "internal.h"

static void add(struct bh__plan *pl, int resource, rlim_t value)
{
	if (pl->n_rl < BH__MAX_RLIMITS)
		pl->rl[pl->n_rl++] = (struct bh__rlimit){resource, value};
}

/* Nobody below the daemon can raise a hard limit (that takes CAP_SYS_RESOURCE in the
 * initial namespace): clamp to the daemon's. */
static void add_at_most(struct bh__plan *pl, int resource, rlim_t value)
{
	struct rlimit cur;
	if (getrlimit(resource, &cur) == 0 && cur.rlim_max != RLIM_INFINITY &&
	    value > cur.rlim_max)
		value = cur.rlim_max;
	add(pl, resource, value);
}

void bh__rlimits_plan(struct bh__plan *pl, const struct bh_sandbox_profile *p,
		      const enum bh__cg_mode mode[BH__CTL_N])
{
	pl->n_rl = 0;
	add(pl, RLIMIT_CORE, 0);
	add_at_most(pl, RLIMIT_SIGPENDING, BH__SIGPENDING_MAX);
	add(pl, RLIMIT_MSGQUEUE, 0);
	add_at_most(pl, RLIMIT_MEMLOCK, BH__MEMLOCK_MAX);
	if (p->nofile)
		add_at_most(pl, RLIMIT_NOFILE, (rlim_t)p->nofile);
	if (p->fsize_bytes)
		add(pl, RLIMIT_FSIZE, (rlim_t)p->fsize_bytes);
	if (p->memory_bytes && mode[BH__CTL_MEMORY] == BH__CG_NONE)
		add(pl, RLIMIT_DATA, (rlim_t)p->memory_bytes);
	if (p->pids_max && mode[BH__CTL_PIDS] == BH__CG_NONE)
		add(pl, RLIMIT_NPROC, (rlim_t)p->pids_max);
}

void bh__rlimits_apply(const struct bh__plan *pl)
{
	for (int i = 0; i < pl->n_rl; i++) {
		struct rlimit rl = {pl->rl[i].value, pl->rl[i].value};
		if (setrlimit(pl->rl[i].resource, &rl) < 0)
			bh__child_die(pl, "setrlimit", errno);
	}
}
