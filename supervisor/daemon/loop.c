/* Event loop: epoll + timer heap + deferred frees. See loop.h. */
#include "loop.h"

#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include "bulkhead/claims.h"

#define BATCH 64
/* While watching bells, poll the fds and give the CPU away this often. */
#define BELL_POLL_NS 4000

struct bell {
	_Atomic uint32_t *counter;
	uint32_t seen;
};

struct deferred {
	void (*fn)(void *p);
	void *p;
};

struct bh_loop {
	int epfd;
	bool stop;
	struct bh_timer **heap;
	size_t n_heap, cap_heap;
	struct deferred *deferred;
	size_t n_deferred, cap_deferred;
	void (*before_wait)(void *ctx);
	void *before_wait_ctx;
	bool (*before_sleep)(void *ctx, bool watching);
	void *before_sleep_ctx;
	struct bell bells[BH_LOOP_BELLS];
	size_t n_bells;
	uint64_t bells_until_ns;
	struct bh_loop_bell_stats bell_stats;
};

uint64_t bh_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int bh_loop_new(struct bh_loop **ret)
{
	struct bh_loop *l = calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (l->epfd < 0) {
		int r = -errno;
		free(l);
		return r;
	}
	*ret = l;
	return 0;
}

void bh_loop_free(struct bh_loop *l)
{
	if (!l)
		return;
	for (size_t i = 0; i < l->n_deferred; i++)
		l->deferred[i].fn(l->deferred[i].p);
	free(l->deferred);
	free(l->heap);
	close(l->epfd);
	free(l);
}

int bh_watch_add(struct bh_loop *l, struct bh_watch *w)
{
	struct epoll_event ev = {.events = w->events, .data.ptr = w};
	if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, w->fd, &ev) < 0)
		return -errno;
	return 0;
}

int bh_watch_mod(struct bh_loop *l, struct bh_watch *w, uint32_t events)
{
	if (w->fd < 0 || w->events == events)
		return 0;
	struct epoll_event ev = {.events = events, .data.ptr = w};
	if (epoll_ctl(l->epfd, EPOLL_CTL_MOD, w->fd, &ev) < 0)
		return -errno;
	w->events = events;
	return 0;
}

void bh_watch_close(struct bh_loop *l, struct bh_watch *w)
{
	if (w->fd < 0)
		return;
	epoll_ctl(l->epfd, EPOLL_CTL_DEL, w->fd, NULL);
	close(w->fd);
	w->fd = -1;
}

/* ---- timers: a binary min-heap ordered by when_ns ---- */

void bh_timer_init(struct bh_timer *t, void (*fn)(struct bh_timer *t))
{
	t->when_ns = 0;
	t->heap_index = SIZE_MAX;
	t->fn = fn;
}

static void heap_set(struct bh_loop *l, size_t i, struct bh_timer *t)
{
	l->heap[i] = t;
	t->heap_index = i;
}

static void heap_up(struct bh_loop *l, size_t i)
{
	struct bh_timer *t = l->heap[i];
	while (i > 0) {
		size_t parent = (i - 1) / 2;
		if (l->heap[parent]->when_ns <= t->when_ns)
			break;
		heap_set(l, i, l->heap[parent]);
		i = parent;
	}
	heap_set(l, i, t);
}

static void heap_down(struct bh_loop *l, size_t i)
{
	struct bh_timer *t = l->heap[i];
	for (;;) {
		size_t child = 2 * i + 1;
		if (child >= l->n_heap)
			break;
		if (child + 1 < l->n_heap && l->heap[child + 1]->when_ns < l->heap[child]->when_ns)
			child++;
		if (t->when_ns <= l->heap[child]->when_ns)
			break;
		heap_set(l, i, l->heap[child]);
		i = child;
	}
	heap_set(l, i, t);
}

void bh_timer_disarm(struct bh_loop *l, struct bh_timer *t)
{
	size_t i = t->heap_index;
	if (i == SIZE_MAX)
		return;
	t->heap_index = SIZE_MAX;
	struct bh_timer *last = l->heap[--l->n_heap];
	if (i == l->n_heap)
		return;
	heap_set(l, i, last);
	heap_up(l, i);
	heap_down(l, last->heap_index);
}

int bh_timer_arm(struct bh_loop *l, struct bh_timer *t, uint64_t when_ns)
{
	if (bh_timer_armed(t))
		bh_timer_disarm(l, t);
	if (l->n_heap == l->cap_heap) {
		size_t cap = l->cap_heap ? 2 * l->cap_heap : 64;
		struct bh_timer **h = realloc(l->heap, cap * sizeof(*h));
		if (!h)
			return -ENOMEM;
		l->heap = h;
		l->cap_heap = cap;
	}
	t->when_ns = when_ns;
	heap_set(l, l->n_heap++, t);
	heap_up(l, t->heap_index);
	return 0;
}

static void run_timers(struct bh_loop *l)
{
	uint64_t now = bh_now_ns();
	while (l->n_heap > 0 && l->heap[0]->when_ns <= now) {
		struct bh_timer *t = l->heap[0];
		bh_timer_disarm(l, t);
		t->fn(t);
	}
}

/* ---- deferred frees ---- */

int bh_loop_defer_free(struct bh_loop *l, void (*fn)(void *p), void *p)
{
	if (l->n_deferred == l->cap_deferred) {
		size_t cap = l->cap_deferred ? 2 * l->cap_deferred : 16;
		struct deferred *d = realloc(l->deferred, cap * sizeof(*d));
		if (!d) {
			fn(p);
			return -ENOMEM;
		}
		l->deferred = d;
		l->cap_deferred = cap;
	}
	l->deferred[l->n_deferred++] = (struct deferred){fn, p};
	return 0;
}

static void run_deferred(struct bh_loop *l)
{
	/* A free may defer more frees; keep going until none are left. */
	for (size_t i = 0; i < l->n_deferred; i++)
		l->deferred[i].fn(l->deferred[i].p);
	l->n_deferred = 0;
}

void bh_loop_before_sleep(struct bh_loop *l, bool (*fn)(void *ctx, bool watching), void *ctx)
{
	l->before_sleep = fn;
	l->before_sleep_ctx = ctx;
}

int bh_loop_before_wait(struct bh_loop *l, void (*fn)(void *ctx), void *ctx)
{
	l->before_wait = fn;
	l->before_wait_ctx = ctx;
	return 0;
}

void bh_loop_stop(struct bh_loop *l)
{
	l->stop = true;
}

static int wait_timeout_ms(struct bh_loop *l)
{
	if (l->n_heap == 0)
		return -1;
	uint64_t now = bh_now_ns(), when = l->heap[0]->when_ns;
	if (when <= now)
		return 0;
	/* Round up: waking a little late is fine, waking early spins. */
	uint64_t ms = (when - now + 999999) / 1000000;
	return ms > 60000 ? 60000 : (int)ms;
}

bool bh_loop_watch_bell(struct bh_loop *l, _Atomic uint32_t *bell, uint32_t seen,
			uint64_t until_ns)
{
	if (l->n_bells == BH_LOOP_BELLS)
		return false;
	l->bells[l->n_bells++] = (struct bell){bell, seen};
	if (until_ns > l->bells_until_ns)
		l->bells_until_ns = until_ns;
	return true;
}

static bool bell_rang(const struct bh_loop *l)
{
	for (size_t i = 0; i < l->n_bells; i++)
		if (atomic_load_explicit(l->bells[i].counter, memory_order_acquire) !=
		    l->bells[i].seen)
			return true;
	return false;
}

const struct bh_loop_bell_stats *bh_loop_bell_stats(const struct bh_loop *l)
{
	return &l->bell_stats;
}

/* Watch the bells until one rings, their time is up, or an fd has an event. The fds
 * are polled every BELL_POLL_NS meanwhile, so other traffic waits at most that long,
 * and sched_yield lets a process queued on this CPU run. Timers are late by at most
 * the watch. The number of events found (in events), 0 when the wait is still to be
 * done; *rang when a bell rang. */
static int watch_bells(struct bh_loop *l, struct epoll_event *events, bool *rang)
{
	struct bh_loop_bell_stats *st = &l->bell_stats;
	uint64_t start = bh_now_ns(), now = start;
	int n = 0;

	st->watches++;
	for (;;) {
		n = epoll_wait(l->epfd, events, BATCH, 0);
		if (n != 0) {
			st->other_events += n > 0;
			break;
		}
		uint64_t poll_at = now + BELL_POLL_NS;
		while (!bell_rang(l) && now < poll_at && now < l->bells_until_ns) {
			for (int i = 0; i < 32; i++)
				bh_cpu_relax();
			now = bh_now_ns();
		}
		if (bell_rang(l)) {
			st->rang++;
			*rang = true;
			break;
		}
		if (now >= l->bells_until_ns) {
			st->timed_out++;
			break;
		}
		sched_yield();
	}
	st->watch_ns += bh_now_ns() - start;
	l->n_bells = 0;
	l->bells_until_ns = 0;
	return n;
}

static bool work_before_sleep(struct bh_loop *l, bool watching)
{
	return l->before_sleep && l->before_sleep(l->before_sleep_ctx, watching);
}

/* epoll_wait, after watching the bells if any were set for this wait; without
 * sleeping when there is work already. */
static int wait_events(struct bh_loop *l, struct epoll_event *events)
{
	bool rang = false;
	if (l->n_bells > 0) {
		if (work_before_sleep(l, true)) {
			l->n_bells = 0;
			l->bells_until_ns = 0;
			return epoll_wait(l->epfd, events, BATCH, 0);
		}
		int n = watch_bells(l, events, &rang);
		if (n != 0 || rang)
			return n;
	}
	if (work_before_sleep(l, false))
		return epoll_wait(l->epfd, events, BATCH, 0);
	return epoll_wait(l->epfd, events, BATCH, wait_timeout_ms(l));
}

int bh_loop_run(struct bh_loop *l)
{
	struct epoll_event events[BATCH];
	while (!l->stop) {
		if (l->before_wait)
			l->before_wait(l->before_wait_ctx);
		if (l->stop)
			break;
		int n = wait_events(l, events);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		for (int i = 0; i < n; i++) {
			struct bh_watch *w = events[i].data.ptr;
			if (w->fd >= 0)
				w->fn(w, events[i].events);
		}
		run_timers(l);
		run_deferred(l);
	}
	run_deferred(l);
	return 0;
}
