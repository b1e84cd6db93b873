/* Waiting for the next call while calls come close together.
 *
 * Sleeping in read() between two calls costs a wake-up when the next one arrives: a
 * context switch, and on a VM whose other CPU went idle, tens of µs before the shim
 * runs again. So a shim whose last wait was short ("hot") first watches the claim
 * table's doorbell, which the supervisor rings after every write of calls, for at
 * most spin_ns, and reads the socket as soon as it rings; the kernel then finds a
 * running process, not a sleeping one. A wait that outlasts the watch, or a doorbell
 * that never rings (nothing came, or a rewritten counter), ends in the blocking read
 * as before: the doorbell only decides when to read, never what. An instance that is
 * idle stops watching after its first long wait, so the CPU spent is at most spin_ns
 * per burst of calls plus the gaps inside a burst.
 *
 * Watching pays only while the supervisor runs on another CPU: a watch ends as soon
 * as the supervisor says it runs on ours (it needs this CPU to write the call), so
 * nothing is watched when everything shares one CPU. The shim says where it runs,
 * so that the supervisor watches for its reply only when it may (claims.h). A call
 * that waits for the answer to its call out waits the same way. */
#define _GNU_SOURCE
#include <sched.h>
#include <time.h>

#include "shim.h"

/* While watching, give the CPU to anything else runnable this often. */
#define HOT_YIELD_NS 10000

static uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* This thread's CPU + 1; 0 when unknown. */
static uint32_t cpu_plus_1(void)
{
	int cpu = sched_getcpu();
	return cpu < 0 ? 0 : (uint32_t)cpu + 1;
}

void shim_hot_init(struct shim *s)
{
	if (!s->use_claims)
		s->spin_ns = 0;
}

void shim_hot_before_read(struct shim *s)
{
	if (s->spin_ns)
		s->seen_posted = bh_bell_read(&s->claims.bell->posted);
}

/* Watch the doorbell for at most spin_ns, while the supervisor is elsewhere, and read
 * the call as soon as it rings. True when bytes were read into b. A ring can be stale:
 * the supervisor rings after its write, so the ring of the call just read may come
 * after the snapshot taken before that read. So a ring only makes a read without
 * waiting; when it finds nothing, the snapshot is renewed (shim_read_ready takes it)
 * and the watch goes on: the next ring follows a write that is there to read. */
static bool watch_bell(struct shim *s, struct bh_buf *b, uint64_t start)
{
	struct bh_claims_bell *bell = s->claims.bell;
	uint64_t yield_at = start + HOT_YIELD_NS;

	for (;;) {
		uint32_t here = cpu_plus_1();
		if (here == 0 || bh_bell_cpu(&bell->supervisor_cpu) == here)
			return false;
		bh_bell_set_cpu(&bell->shim_cpu, here);
		for (int i = 0; i < 32; i++) {
			if (bh_bell_read(&bell->posted) != s->seen_posted) {
				if (shim_read_ready(s, b))
					return true;
				break;
			}
			bh_cpu_relax();
		}
		uint64_t now = mono_ns();
		if (now - start >= s->spin_ns)
			return false;
		if (now >= yield_at) {
			sched_yield();
			yield_at = now + HOT_YIELD_NS;
		}
	}
}

void shim_hot_wait(struct shim *s, struct bh_buf *b)
{
	if (!s->spin_ns) {
		shim_read_more(s, b, 0);
		return;
	}
	struct bh_claims_bell *bell = s->claims.bell;
	uint64_t start = mono_ns();
	if (!(s->hot && watch_bell(s, b, start))) {
		bh_bell_set_cpu(&bell->shim_cpu, 0); /* may sleep in poll */
		shim_read_more(s, b, 0);
		bh_bell_set_cpu(&bell->shim_cpu, cpu_plus_1());
	}
	s->hot = mono_ns() - start <= s->spin_ns;
}
