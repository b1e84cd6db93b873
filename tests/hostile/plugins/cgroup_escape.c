/* cgroup_escape: move itself to a root cgroup (out of its limits), or raise its own
 * pids / memory limit through cgroupfs. */
#define H_NAME "cgroup_escape"
#define H_CTOR H_CTOR_INPROC
#include "hostile.h"

static void write_to(struct h_out *o, const char *path, const char *val)
{
	o->count++;
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0) {
		if (!o->err)
			h_blocked(o, path, errno);
		else
			h_note(o, "%s: %s", path, h_errname(errno));
		return;
	}
	if (write(fd, val, strlen(val)) >= 0)
		h_succeeded(o, "wrote \"%s\" to %s", val, path);
	else
		h_note(o, "write %s: %s", path, h_errname(errno));
	close(fd);
}

static void h_attack(struct h_out *o, const struct h_args *a)
{
	static const char *const procs[] = {
		"/sys/fs/cgroup/cgroup.procs",	      "/sys/fs/cgroup/pids/cgroup.procs",
		"/sys/fs/cgroup/memory/cgroup.procs", "/sys/fs/cgroup/cpu/cgroup.procs",
		"/sys/fs/cgroup/unified/cgroup.procs",
	};
	char pid[24], cg[512], path[700];
	(void)a;
	snprintf(pid, sizeof(pid), "%d", getpid());
	for (size_t i = 0; i < sizeof(procs) / sizeof(procs[0]); i++)
		write_to(o, procs[i], pid);
	/* Its own cgroups, as /proc/self/cgroup names them: raise the limits. */
	if (h_read_file("/proc/self/cgroup", cg, sizeof(cg)) > 0) {
		char *save = NULL;
		for (char *l = strtok_r(cg, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
			char *c1 = strchr(l, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
			if (!c2)
				continue;
			*c2 = 0;
			const char *own = strcmp(c2 + 1, "/") == 0 ? "" : c2 + 1;
			if (strcmp(c1 + 1, "pids") == 0) {
				snprintf(path, sizeof(path), "/sys/fs/cgroup/pids%s/pids.max", own);
				write_to(o, path, "max");
			} else if (strcmp(c1 + 1, "memory") == 0) {
				snprintf(path, sizeof(path),
					 "/sys/fs/cgroup/memory%s/memory.limit_in_bytes", own);
				write_to(o, path, "-1");
			} else if (c1[1] == 0) {
				snprintf(path, sizeof(path), "/sys/fs/cgroup%s/pids.max", own);
				write_to(o, path, "max");
			}
		}
	}
}
