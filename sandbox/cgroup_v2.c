/* cgroup v2 interface files of an instance leaf. */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>

#include "internal.h"

/* CFS period for cpu.max / cpu.cfs_period_us: the kernel's default, 100 ms. */
#define CPU_PERIOD_US 100000

int bh__cg2_write_limits(int dirfd, const struct bh_sandbox_profile *p,
			 const enum bh__cg_mode mode[BH__CTL_N], const char **ret_file)
{
	char v[48];
	int r;

	if (mode[BH__CTL_MEMORY] == BH__CG_V2 && p->memory_bytes) {
		snprintf(v, sizeof(v), "%" PRIu64, p->memory_bytes);
		if ((r = bh__cg_write_at(dirfd, *ret_file = "memory.max", v)) < 0)
			return r;
		/* No swap: a plugin over its limit is killed, not paged out. The file only
		 * exists with swap accounting; without it there is no swap to limit. */
		r = bh__cg_write_at(dirfd, *ret_file = "memory.swap.max", "0");
		if (r < 0 && r != -ENOENT)
			return r;
		/* An OOM kill takes the whole instance, not one thread's process. */
		r = bh__cg_write_at(dirfd, *ret_file = "memory.oom.group", "1");
		if (r < 0 && r != -ENOENT)
			return r;
	}
	if (mode[BH__CTL_PIDS] == BH__CG_V2 && p->pids_max) {
		snprintf(v, sizeof(v), "%" PRIu32, p->pids_max);
		if ((r = bh__cg_write_at(dirfd, *ret_file = "pids.max", v)) < 0)
			return r;
	}
	if (mode[BH__CTL_CPU] == BH__CG_V2 && p->cpu_percent) {
		/* cpu_percent of one CPU per period; above 100 means several CPUs. */
		snprintf(v, sizeof(v), "%" PRIu64 " %d",
			 (uint64_t)p->cpu_percent * CPU_PERIOD_US / 100, CPU_PERIOD_US);
		if ((r = bh__cg_write_at(dirfd, *ret_file = "cpu.max", v)) < 0)
			return r;
	}
	return 0;
}

bool bh__cg2_oom_killed(int dirfd)
{
	return bh__cg_read_key(dirfd, "memory.events", "oom_kill") > 0;
}

bool bh__cg2_pids_max_hit(int dirfd)
{
	return bh__cg_read_key(dirfd, "pids.events", "max") > 0;
}
