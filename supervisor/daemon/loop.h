/* The daemon's one event loop: epoll for fds, a min-heap of CLOCK_MONOTONIC
 * deadlines for timers, and a list of callbacks run before each wait (flushing output
 * gathered during the iteration, so a batch of pipelined calls costs one write).
 *
 * Objects that own watches are never freed while an epoll batch is being dispatched:
 * they are handed to bh_loop_defer_free() and freed after the batch, so a callback
 * can tear down any object, including ones with events still pending in the batch
 * (those watches were closed: their fd is -1 and they are skipped). */
#ifndef BH_LOOP_H
#define BH_LOOP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdatomic.h>
#include <stdint.h>

struct bh_loop;

struct bh_watch {
	int fd; /* -1 once removed */
	uint32_t events;
	void (*fn)(struct bh_watch *w, uint32_t events);
};

struct bh_timer {
	uint64_t when_ns; /* CLOCK_MONOTONIC */
	size_t heap_index; /* SIZE_MAX when not armed */
	void (*fn)(struct bh_timer *t);
};

uint64_t bh_now_ns(void);
static inline uint64_t bh_ms_to_ns(uint64_t ms)
{
	return ms * 1000000ull;
}

int bh_loop_new(struct bh_loop **ret);
void bh_loop_free(struct bh_loop *l);

/* Register w (fd, events, fn set by the caller). 0 or -errno. */
int bh_watch_add(struct bh_loop *l, struct bh_watch *w);
/* Change the event mask; a no-op when unchanged. 0 or -errno. */
int bh_watch_mod(struct bh_loop *l, struct bh_watch *w, uint32_t events);
/* Unregister and close the fd; safe on a removed watch. */
void bh_watch_close(struct bh_loop *l, struct bh_watch *w);

void bh_timer_init(struct bh_timer *t, void (*fn)(struct bh_timer *t));
/* (Re)arm t at an absolute CLOCK_MONOTONIC time. 0 or -ENOMEM. */
int bh_timer_arm(struct bh_loop *l, struct bh_timer *t, uint64_t when_ns);
void bh_timer_disarm(struct bh_loop *l, struct bh_timer *t);
static inline bool bh_timer_armed(const struct bh_timer *t)
{
	return t->heap_index != SIZE_MAX;
}

/* Free p with fn after the current epoll batch. 0 or -ENOMEM (then fn runs now). */
int bh_loop_defer_free(struct bh_loop *l, void (*fn)(void *p), void *p);

/* Callback run before every wait; registered once. 0 or -ENOMEM. */
int bh_loop_before_wait(struct bh_loop *l, void (*fn)(void *ctx), void *ctx);

/* Right before the loop sleeps: fn(ctx, watching) arranges to be woken for what it
 * looks at itself (rings.h), and says whether something came meanwhile (then the loop
 * does not sleep). watching: the loop is about to watch bells, not to sleep yet; it
 * calls fn again before it sleeps. Registered once. */
void bh_loop_before_sleep(struct bh_loop *l, bool (*fn)(void *ctx, bool watching), void *ctx);

/* Before the next wait, watch *bell (a shared counter, e.g. a shim's doorbell) until
 * it differs from `seen` or until_ns, polling the fds meanwhile, instead of sleeping
 * at once: a reply due within microseconds then finds the daemon running, not asleep
 * (waking it costs a context switch and, on an idle CPU of a VM, tens of µs). A bell
 * that rings ends the wait without events: the next turn of the loop finds the reply
 * (before_wait). At most BH_LOOP_BELLS bells per wait (false: this one is not
 * watched); the watch is cleared after each wait. */
#define BH_LOOP_BELLS 8
/* What the watches did, for status: how they ended, and the time spent in them (CPU
 * time: the loop spins while it watches). */
struct bh_loop_bell_stats {
	uint64_t watches, rang, other_events, timed_out;
	uint64_t watch_ns;
};
const struct bh_loop_bell_stats *bh_loop_bell_stats(const struct bh_loop *l);
bool bh_loop_watch_bell(struct bh_loop *l, _Atomic uint32_t *bell, uint32_t seen,
			uint64_t until_ns);
/* Run until bh_loop_stop. 0, or -errno if epoll fails. */
int bh_loop_run(struct bh_loop *l);
void bh_loop_stop(struct bh_loop *l);

#endif
