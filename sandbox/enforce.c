/* What enforces each limit of a profile on this host, and the require_limits check.
 * The strings are static and end up in `bulkhead status`. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"

#define E_CG2 "cgroup v2"
#define E_CG1 "cgroup v1"
#define E_NONE "none"
#define E_UNLIMITED "unlimited"
#define E_MEM_RLIMIT BH_SANDBOX_MEMORY_FALLBACK
#define E_PIDS_RLIMIT "rlimit (RLIMIT_NPROC: per host uid, approximate)"

static const char *cg_name(enum bh__cg_mode m)
{
	return m == BH__CG_V2 ? E_CG2 : m == BH__CG_V1 ? E_CG1 : NULL;
}

void bh_sandbox_enforcement(const struct bh_sandbox_profile *p, struct bh_enforcement *ret)
{
	if (!p || !p->enabled) {
		*ret = (struct bh_enforcement){
			.memory = E_NONE, .pids = E_NONE, .cpu = E_NONE, .nofile = E_NONE,
			.fsize = E_NONE, .tmp = E_NONE, .namespaces = E_NONE, .seccomp = E_NONE,
		};
		return;
	}
	const char *m = cg_name(bh__cg_host_mode(BH__CTL_MEMORY, NULL));
	const char *pi = cg_name(bh__cg_host_mode(BH__CTL_PIDS, NULL));
	const char *c = cg_name(bh__cg_host_mode(BH__CTL_CPU, NULL));
	ret->memory = !p->memory_bytes ? E_UNLIMITED : m ? m : E_MEM_RLIMIT;
	ret->pids = !p->pids_max ? E_UNLIMITED : pi ? pi : E_PIDS_RLIMIT;
	ret->cpu = !p->cpu_percent ? E_UNLIMITED : c ? c : E_NONE;
	ret->nofile = p->nofile ? "rlimit" : "inherited";
	ret->fsize = p->fsize_bytes ? "rlimit" : E_UNLIMITED;
	ret->tmp = p->tmp_bytes ? "tmpfs" : "tmpfs (no size cap)";
	ret->namespaces = p->network ? "user,pid,mnt,ipc,uts,cgroup"
				     : "user,pid,net,mnt,ipc,uts,cgroup";
	/* Applied by the shim (--seccomp), which the daemon passes with an enabled profile. */
	ret->seccomp = "allow-list";
}

/* require_limits: every configured limit must be enforced exactly: by a cgroup
 * (memory, pids, cpu), an rlimit that means what it says (nofile, fsize), tmpfs. */
int bh__check_required(const struct bh_sandbox_profile *p, char *errbuf, size_t errlen)
{
	if (!p || !p->require_limits)
		return 0;
	if (!p->enabled) {
		if (p->memory_bytes || p->pids_max || p->cpu_percent || p->nofile ||
		    p->fsize_bytes || p->tmp_bytes) {
			snprintf(errbuf, errlen, "require_limits: the sandbox is disabled, so no "
				 "limit can be enforced");
			return -EOPNOTSUPP;
		}
		return 0;
	}
	const struct {
		enum bh__ctl ctl;
		bool set;
	} need[] = {
		{BH__CTL_MEMORY, p->memory_bytes != 0},
		{BH__CTL_PIDS, p->pids_max != 0},
		{BH__CTL_CPU, p->cpu_percent != 0},
	};
	for (size_t i = 0; i < sizeof(need) / sizeof(need[0]); i++) {
		const char *why;
		if (!need[i].set || bh__cg_host_mode(need[i].ctl, &why) != BH__CG_NONE)
			continue;
		const char *name = bh__ctl_names[need[i].ctl];
		snprintf(errbuf, errlen, "require_limits: %s: no %s controller on cgroup v2 or v1 "
			 "(%s); it would be %s", name, name, why[0] ? why : "not detected",
			 need[i].ctl == BH__CTL_MEMORY ? "approximated with RLIMIT_DATA and a watchdog"
			 : need[i].ctl == BH__CTL_PIDS ? "approximated with RLIMIT_NPROC"
						       : "unenforced");
		return -EOPNOTSUPP;
	}
	return 0;
}
