/* The instances' answer rings (bulkhead/ring.h), the daemon's side: which rings it
 * looks at itself, and asking the others for a wake-up before it sleeps.
 *
 * A ring is asleep by default: its shim wakes the daemon through the socket with one
 * byte when it puts a message in. A wake-up makes it awake: from then on the daemon
 * takes what it holds before every wait of its loop, and the shim writes without a
 * system call, until the daemon is about to sleep with nothing in it. So a shim that
 * answers calls back to back wakes the daemon once per turn of its loop, not once per
 * answer. A ring whose reply the daemon watches for (loop.h bells) stays awake during
 * the watch: the answer needs no wake-up at all.
 *
 * On one CPU nobody can watch: the daemon and an instance take turns. There, after
 * writing calls to an instance that answered quickly last time, the daemon gives the
 * CPU away once (sched_yield) before it sleeps: the instance, woken by the write onto
 * the daemon's CPU, runs and answers while the daemon is still awake, and neither side
 * makes the wake-up's two system calls (rings.c). When the instance is not on this
 * CPU after all, nothing else is runnable and the yield returns at once: one system
 * call lost. */
#ifndef BH_RINGS_H
#define BH_RINGS_H

#include <stdbool.h>

struct bh_daemon;
struct bh_instance;

/* The daemon looks at inst's ring itself from now on; watched: its reply is watched
 * for in the coming wait (stay awake through it). */
void bh_rings_awake(struct bh_instance *inst, bool watched);
/* Calls were written to inst, which answers quickly and will run on our CPU: before
 * sleeping, give it the CPU once, so that its answer finds us awake. */
void bh_rings_yield(struct bh_instance *inst);
/* Before each wait of the loop, before its writes of calls: take what the awake rings
 * hold. */
void bh_rings_poll(struct bh_daemon *d);
/* Right before the loop sleeps (bh_loop_before_sleep): ask every awake ring for a
 * wake-up, but those watched when `watching`. True when one had a message meanwhile:
 * the loop must not sleep. */
bool bh_rings_sleep(void *daemon, bool watching);
/* inst is dying or freed. */
void bh_rings_forget(struct bh_instance *inst);

#endif
