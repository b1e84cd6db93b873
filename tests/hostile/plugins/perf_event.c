/* perf_event: a software counter on itself (allowed by perf_event_paranoid 2 on the
 * host, so only the seccomp filter can refuse it). */
#define H_NAME "perf_event"
#define H_CTOR H_CTOR_NONE
#include "hostile.h"

#include <linux/perf_event.h>

static void h_attack(struct h_out *o, const struct h_args *a)
{
	struct perf_event_attr attr;
	(void)a;
	memset(&attr, 0, sizeof(attr));
	attr.type = PERF_TYPE_SOFTWARE;
	attr.size = sizeof(attr);
	attr.config = PERF_COUNT_SW_CPU_CLOCK;
	attr.disabled = 1;
	attr.exclude_kernel = 1;
	attr.exclude_hv = 1;
	int fd = (int)syscall(SYS_perf_event_open, &attr, 0, -1, -1, PERF_FLAG_FD_CLOEXEC);
	if (fd < 0)
		return h_blocked(o, "perf_event_open", errno);
	close(fd);
	h_succeeded(o, "perf_event_open gave a counter");
}
