/* Where the daemon and its instances run.
 *
 * A routed call hands the CPU from client to daemon to instance and back. A wake-up
 * through a Unix socket is a synchronous one, which puts the woken reader on its
 * writer's CPU, so left alone the three processes take turns on one CPU while the
 * others idle, and every hand-over is a context switch (README "Where the time of a
 * routed call goes"). With the daemon on a CPU of its own and the instances on the
 * rest, daemon and instance run side by side: the instance's watch for its next call
 * and the daemon's watch for the reply (spin_us) catch each other without a sleep,
 * and only the client's two switches remain.
 *
 * The price: the daemon cannot move away from a CPU something else keeps busy, and
 * the instances share one CPU fewer (on 2 CPUs, all of them share one). Hence it is
 * a setting, off by default. The CPUs divided are those the daemon was given at start
 * (its affinity, a cpuset); with fewer than two it stays shared, and says why. */
#define _GNU_SOURCE
#include "placement.h"

#include <errno.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "log.h"

static struct placement {
	cpu_set_t all;       /* the CPUs the daemon was given at start: what is divided */
	int n_all;           /* 0 when they could not be read */
	int read_err;        /* why not (errno), said when apart is asked for */
	int daemon_cpu;      /* apart: the daemon's CPU; -1 when shared */
	cpu_set_t instances; /* apart: all but daemon_cpu */
	bool was_apart;      /* placed apart at some time: shared instances get `all` */
} place = {.daemon_cpu = -1};

void bh_placement_init(void)
{
	struct placement *p = &place;
	if (sched_getaffinity(0, sizeof(p->all), &p->all) < 0) {
		p->read_err = errno; /* EINVAL: more CPUs than a cpu_set_t holds */
		return;
	}
	p->n_all = CPU_COUNT(&p->all);
}

static int first_cpu(const cpu_set_t *s)
{
	for (int c = 0; c < CPU_SETSIZE; c++)
		if (CPU_ISSET(c, s))
			return c;
	return -1;
}

/* "1-3,5" */
static void format_cpus(const cpu_set_t *s, char *buf, size_t len)
{
	size_t n = 0;
	buf[0] = '\0';
	for (int c = 0; c < CPU_SETSIZE && n < len; c++) {
		if (!CPU_ISSET(c, s))
			continue;
		int end = c;
		while (end + 1 < CPU_SETSIZE && CPU_ISSET(end + 1, s))
			end++;
		int w = end > c ? snprintf(buf + n, len - n, "%s%d-%d", n ? "," : "", c, end)
				: snprintf(buf + n, len - n, "%s%d", n ? "," : "", c);
		n += w > 0 ? (size_t)w : 0;
		c = end;
	}
}

/* Back to shared: the daemon gets every CPU of the start again. */
static void unplace(struct placement *p)
{
	if (p->daemon_cpu < 0)
		return;
	if (sched_setaffinity(0, sizeof(p->all), &p->all) < 0)
		bh_warn("cpu_placement: cannot give the daemon its CPUs back: %s",
			strerror(errno));
	p->daemon_cpu = -1;
	bh_info("cpu_placement: shared (instances started from now on)");
}

void bh_placement_apply(int mode)
{
	struct placement *p = &place;
	if (mode == BH_PLACE_APART && p->n_all < 2) {
		if (p->daemon_cpu < 0 && p->n_all == 0)
			bh_warn("cpu_placement = \"apart\": cannot read the daemon's CPUs (%s); "
				"placement stays shared", strerror(p->read_err));
		else if (p->daemon_cpu < 0)
			bh_warn("cpu_placement = \"apart\" needs 2 CPUs; the daemon may use %d: "
				"placement stays shared", p->n_all);
		mode = BH_PLACE_SHARED;
	}
	if (mode == BH_PLACE_SHARED) {
		unplace(p);
		return;
	}
	int cpu = first_cpu(&p->all);
	cpu_set_t one;
	CPU_ZERO(&one);
	CPU_SET(cpu, &one);
	if (sched_setaffinity(0, sizeof(one), &one) < 0) {
		bh_warn("cpu_placement: cannot pin the daemon to CPU %d: %s; placement stays "
			"shared", cpu, strerror(errno));
		unplace(p);
		return;
	}
	bool was = p->daemon_cpu == cpu;
	p->daemon_cpu = cpu;
	p->was_apart = true;
	p->instances = p->all;
	CPU_CLR(cpu, &p->instances);
	if (!was) {
		char what[160];
		bh_placement_describe(what, sizeof(what));
		bh_info("cpu_placement: %s", what);
	}
}

const void *bh_placement_instance_cpus(size_t *ret_size)
{
	*ret_size = sizeof(place.instances);
	if (place.daemon_cpu >= 0)
		return &place.instances;
	/* Shared after apart: every CPU of the start, not what the process that clones
	 * the instance has now (the daemon, when it clones itself, may still be pinned). */
	return place.was_apart ? &place.all : NULL;
}

bool bh_placement_is_apart(void)
{
	return place.daemon_cpu >= 0;
}

void bh_placement_describe(char *buf, size_t len)
{
	const struct placement *p = &place;
	if (p->daemon_cpu < 0) {
		snprintf(buf, len, "shared");
		return;
	}
	char cpus[128];
	format_cpus(&p->instances, cpus, sizeof(cpus));
	snprintf(buf, len, "apart: daemon on CPU %d, instances on %s", p->daemon_cpu, cpus);
}
