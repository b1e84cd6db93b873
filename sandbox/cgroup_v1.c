/* cgroup v1 interface files of an instance leaf, one hierarchy per controller. */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>

#include "internal.h"

#define CPU_PERIOD_US 100000

int bh__cg1_write_limit(int dirfd, enum bh__ctl c, const struct bh_sandbox_profile *p,
			const char **ret_file)
{
	char v[32];
	int r;

	switch (c) {
	case BH__CTL_MEMORY:
		if (!p->memory_bytes)
			return 0;
		snprintf(v, sizeof(v), "%" PRIu64, p->memory_bytes);
		if ((r = bh__cg_write_at(dirfd, *ret_file = "memory.limit_in_bytes", v)) < 0)
			return r;
		/* memory+swap capped at the same value: no swap. Written after
		 * limit_in_bytes, which it may never be below. */
		if (bh__cg_memsw())
			return bh__cg_write_at(dirfd, *ret_file = "memory.memsw.limit_in_bytes", v);
		return 0;
	case BH__CTL_PIDS:
		if (!p->pids_max)
			return 0;
		snprintf(v, sizeof(v), "%" PRIu32, p->pids_max);
		return bh__cg_write_at(dirfd, *ret_file = "pids.max", v);
	case BH__CTL_CPU:
		if (!p->cpu_percent)
			return 0;
		snprintf(v, sizeof(v), "%d", CPU_PERIOD_US);
		if ((r = bh__cg_write_at(dirfd, *ret_file = "cpu.cfs_period_us", v)) < 0)
			return r;
		snprintf(v, sizeof(v), "%" PRIu64, (uint64_t)p->cpu_percent * CPU_PERIOD_US / 100);
		return bh__cg_write_at(dirfd, *ret_file = "cpu.cfs_quota_us", v);
	default:
		return -EINVAL;
	}
}

bool bh__cg1_oom_killed(int dirfd)
{
	/* memory.oom_control has "oom_kill N" since Linux 4.13; before, failcnt only says
	 * that the limit was hit, which is the best there is. */
	int64_t n = bh__cg_read_key(dirfd, "memory.oom_control", "oom_kill");
	if (n == -ENOENT)
		n = bh__cg_read_num(dirfd, "memory.failcnt");
	return n > 0;
}

bool bh__cg1_pids_max_hit(int dirfd)
{
	return bh__cg_read_key(dirfd, "pids.events", "max") > 0;
}
