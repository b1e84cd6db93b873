/* Unit tests: the answer ring (bulkhead/ring.h). Messages in order across the end of
 * the data and across 2^32, a full ring, the wake-up handshake (also between two
 * threads that would hang on a lost wake-up), and a producer that lies: every
 * impossible position or length is refused, and the reader never trusts the shared
 * head. */
#define _GNU_SOURCE
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bulkhead/ring.h"

struct ring {
	struct bh_ring_ctl *ctl;
	uint8_t *data;
	struct bh_ring_writer w;
	struct bh_ring_reader r;
	uint8_t msg[BH_RING_ENTRY_MAX];
	const char *why;
};

static struct ring *ring_new(uint32_t start)
{
	struct ring *g = calloc(1, sizeof(*g));
	ck_assert_ptr_nonnull(g);
	size_t size = sizeof(struct bh_ring_ctl) + BH_RING_DATA;
	g->ctl = aligned_alloc(64, size);
	ck_assert_ptr_nonnull(g->ctl);
	memset(g->ctl, 0, size);
	g->data = (uint8_t *)(g->ctl + 1);
	atomic_store(&g->ctl->tail, start);
	atomic_store(&g->ctl->head, start);
	g->w = (struct bh_ring_writer){ .ctl = g->ctl, .data = g->data, .tail = start };
	g->r = (struct bh_ring_reader){ .ctl = g->ctl, .data = g->data, .head = start };
	return g;
}

static void ring_free(struct ring *g)
{
	free(g->ctl);
	free(g);
}

/* A message of len bytes whose content says which it is. */
static void fill(uint8_t *p, size_t len, uint32_t seq)
{
	for (size_t i = 0; i < len; i++)
		p[i] = (uint8_t)(seq * 31 + i);
}

static bool put(struct ring *g, size_t len, uint32_t seq)
{
	static uint8_t a[BH_RING_ENTRY_MAX + 8], b[BH_RING_ENTRY_MAX + 8];
	size_t half = len / 3;
	uint8_t whole[BH_RING_ENTRY_MAX + 8];
	fill(whole, len, seq);
	memcpy(a, whole, half);
	memcpy(b, whole + half, len - half);
	struct iovec iov[2] = { { a, half }, { b, len - half } };
	bool wake;
	return bh_ring_put(&g->w, iov, 2, &wake);
}

static void take_expect(struct ring *g, size_t len, uint32_t seq)
{
	uint8_t want[BH_RING_ENTRY_MAX];
	ck_assert_int_eq(bh_ring_take(&g->r, g->msg, &g->why), (int)len);
	fill(want, len, seq);
	ck_assert_mem_eq(g->msg, want, len);
}

START_TEST(in_order_across_the_end)
{
	/* Starting near the end of the data and below 2^32: entries wrap both. */
	struct ring *g = ring_new(UINT32_MAX - BH_RING_DATA / 2 - 7);
	g->w.tail = g->r.head = (g->w.tail + 7) & ~7u;
	atomic_store(&g->ctl->tail, g->w.tail);
	uint32_t seq = 0, seen = 0;
	for (int round = 0; round < 40; round++) {
		size_t len = 1 + (size_t)(round * 977) % BH_RING_ENTRY_MAX;
		ck_assert(put(g, len, seq++));
		if (round % 3 == 2) /* the reader lags behind */
			while (seen < seq) {
				size_t l = 1 + (size_t)(seen * 977) % BH_RING_ENTRY_MAX;
				take_expect(g, l, seen++);
			}
	}
	while (seen < seq) {
		size_t l = 1 + (size_t)(seen * 977) % BH_RING_ENTRY_MAX;
		take_expect(g, l, seen++);
	}
	ck_assert_int_eq(bh_ring_take(&g->r, g->msg, &g->why), 0);
	ck_assert(g->r.head < 1u << 20); /* the positions went past 2^32 */
	ring_free(g);
}
END_TEST

START_TEST(full_and_too_large)
{
	struct ring *g = ring_new(0);
	uint8_t big[BH_RING_ENTRY_MAX + 1];
	struct iovec iov = { big, sizeof(big) }, none = { big, 0 };
	bool wake;
	ck_assert(!bh_ring_put(&g->w, &iov, 1, &wake)); /* over the entry maximum */
	ck_assert(!bh_ring_put(&g->w, &none, 1, &wake)); /* empty */
	int n = 0;
	while (put(g, BH_RING_ENTRY_MAX, (uint32_t)n))
		n++;
	ck_assert_int_eq(n, BH_RING_DATA / (BH_RING_ENTRY_MAX + 8));
	ck_assert(put(g, 1000, 99) || BH_RING_DATA % (BH_RING_ENTRY_MAX + 8) < 1008);
	take_expect(g, BH_RING_ENTRY_MAX, 0);
	ck_assert(put(g, BH_RING_ENTRY_MAX, 100)); /* room again */
	ring_free(g);
}
END_TEST

START_TEST(wake_handshake)
{
	struct ring *g = ring_new(0);
	uint8_t m[8] = { 1 };
	struct iovec iov = { m, sizeof(m) };
	bool wake;
	/* Awake: no wake-ups. */
	ck_assert(bh_ring_put(&g->w, &iov, 1, &wake));
	ck_assert(!wake);
	ck_assert(!bh_ring_sleep(&g->r)); /* something is there: no sleep */
	ck_assert_int_eq(bh_ring_take(&g->r, g->msg, &g->why), 8);
	ck_assert(bh_ring_sleep(&g->r));
	/* Asleep: the first message wakes, the next ones do not. */
	ck_assert(bh_ring_put(&g->w, &iov, 1, &wake));
	ck_assert(wake);
	ck_assert(bh_ring_put(&g->w, &iov, 1, &wake));
	ck_assert(!wake);
	/* A message that does not fit wakes nobody: it goes on the socket. */
	ck_assert(bh_ring_sleep(&g->r) == false);
	uint8_t big[BH_RING_ENTRY_MAX + 1];
	struct iovec biov = { big, sizeof(big) };
	ck_assert(!bh_ring_put(&g->w, &biov, 1, &wake));
	ck_assert(!wake);
	bh_ring_stay_awake(&g->r);
	ck_assert(bh_ring_put(&g->w, &iov, 1, &wake));
	ck_assert(!wake);
	ring_free(g);
}
END_TEST

/* Between two threads, a wake-up lost would hang the reader (the test's timeout). */
#define THREAD_MESSAGES 200000

struct pair {
	struct ring *g;
	int pipe[2];
	uint64_t wakes;
};

static void *producer(void *arg)
{
	struct pair *p = arg;
	for (uint32_t seq = 0; seq < THREAD_MESSAGES; seq++) {
		struct iovec iov = { &seq, sizeof(seq) };
		bool wake;
		while (!bh_ring_put(&p->g->w, &iov, 1, &wake))
			sched_yield(); /* full: the reader frees it */
		if (wake) {
			char b = 1;
			ck_assert_int_eq(write(p->pipe[1], &b, 1), 1);
			p->wakes++;
		}
	}
	return NULL;
}

START_TEST(wake_between_threads)
{
	struct pair p = { .g = ring_new(0) };
	pthread_t t;
	ck_assert_int_eq(pipe(p.pipe), 0);
	(void)bh_ring_sleep(&p.g->r);
	ck_assert_int_eq(pthread_create(&t, NULL, producer, &p), 0);
	uint32_t next = 0;
	uint64_t asked = 1, sleeps = 0; /* the sleep before the thread started */
	while (next < THREAD_MESSAGES) {
		int n = bh_ring_take(&p.g->r, p.g->msg, &p.g->why);
		ck_assert_int_ge(n, 0);
		if (n > 0) {
			uint32_t seq;
			ck_assert_int_eq(n, sizeof(seq));
			memcpy(&seq, p.g->msg, sizeof(seq));
			ck_assert_uint_eq(seq, next);
			next++;
			continue;
		}
		asked++;
		if (bh_ring_sleep(&p.g->r)) {
			char b;
			ck_assert_int_eq(read(p.pipe[0], &b, 1), 1);
			sleeps++;
		}
		bh_ring_stay_awake(&p.g->r);
	}
	pthread_join(t, NULL);
	/* Every sleep was woken; a wake-up only answers a request (one that found a
	 * message meanwhile may still get one: harmless). */
	ck_assert_uint_ge(p.wakes, sleeps);
	ck_assert_uint_le(p.wakes, asked);
	close(p.pipe[0]);
	close(p.pipe[1]);
	ring_free(p.g);
}
END_TEST

/* ---- a producer that lies ---- */

static void expect_refused(struct ring *g, const char *why)
{
	g->why = NULL;
	ck_assert_int_eq(bh_ring_take(&g->r, g->msg, &g->why), -EBADMSG);
	ck_assert_ptr_nonnull(g->why);
	ck_assert_str_eq(g->why, why);
}

static void set_len(struct ring *g, uint32_t at, uint32_t len)
{
	memcpy(g->data + (at & (BH_RING_DATA - 1)), &len, sizeof(len));
}

START_TEST(hostile_positions)
{
	struct ring *g = ring_new(0);
	const char *range = "answer ring: its write position is out of range";
	atomic_store(&g->ctl->tail, BH_RING_DATA + 8); /* more than the ring holds */
	expect_refused(g, range);
	atomic_store(&g->ctl->tail, UINT32_MAX - 7); /* behind the reader */
	expect_refused(g, range);
	atomic_store(&g->ctl->tail, 12); /* not on an entry's boundary */
	expect_refused(g, range);
	ck_assert_uint_eq(g->r.head, 0); /* nothing was consumed */
	ring_free(g);
}
END_TEST

START_TEST(hostile_lengths)
{
	struct ring *g = ring_new(0);
	const char *bad = "answer ring: an entry of an impossible length";
	atomic_store(&g->ctl->tail, 64);
	set_len(g, 0, 0);
	expect_refused(g, bad);
	set_len(g, 0, BH_RING_ENTRY_MAX + 1);
	expect_refused(g, bad);
	set_len(g, 0, 61); /* 4 + 61 padded is 72: past the tail */
	expect_refused(g, bad);
	set_len(g, 0, 0xffffffffu); /* would overflow the padding */
	expect_refused(g, bad);
	set_len(g, 0, 60); /* exactly up to the tail: taken */
	ck_assert_int_eq(bh_ring_take(&g->r, g->msg, &g->why), 60);
	ring_free(g);
}
END_TEST

/* A plugin that moves the write position takes the ring from its shim for good. */
START_TEST(rewritten_tail_ends_the_ring)
{
	struct ring *g = ring_new(0);
	ck_assert(put(g, 100, 1));
	atomic_store(&g->ctl->tail, 0);
	ck_assert(!put(g, 100, 2));
	atomic_store(&g->ctl->tail, 4096);
	ck_assert(!put(g, 100, 3));
	ring_free(g);
}
END_TEST

START_TEST(shared_head_is_not_trusted)
{
	struct ring *g = ring_new(0);
	ck_assert(put(g, 100, 1));
	ck_assert(put(g, 200, 2));
	take_expect(g, 100, 1);
	atomic_store(&g->ctl->head, 12345); /* the child rewrites the reader's position */
	take_expect(g, 200, 2);
	ck_assert_int_eq(bh_ring_take(&g->r, g->msg, &g->why), 0);
	ck_assert_uint_eq(atomic_load(&g->ctl->head), g->r.head); /* published again */
	ring_free(g);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("ring");
	TCase *tc = tcase_create("ring");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, in_order_across_the_end);
	tcase_add_test(tc, full_and_too_large);
	tcase_add_test(tc, wake_handshake);
	tcase_add_test(tc, wake_between_threads);
	tcase_add_test(tc, hostile_positions);
	tcase_add_test(tc, hostile_lengths);
	tcase_add_test(tc, rewritten_tail_ends_the_ring);
	tcase_add_test(tc, shared_head_is_not_trusted);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
