/* bulkhead proto: the answer ring (bulkhead/ring.h). */
#include <errno.h>
#include <string.h>

#include "bulkhead/ring.h"

#define MASK (BH_RING_DATA - 1)
#define LEN_SIZE 4u

_Static_assert((BH_RING_DATA & MASK) == 0, "the ring's size is a power of two");
_Static_assert(BH_RING_ENTRY_MAX + LEN_SIZE + 7 <= BH_RING_DATA, "an entry fits the ring");

static uint32_t entry_size(uint32_t len)
{
	return (LEN_SIZE + len + 7u) & ~7u;
}

/* Copy n bytes to or from the ring at position pos, wrapping at its end. */
static void copy_in(uint8_t *data, uint32_t pos, const void *p, size_t n)
{
	size_t at = pos & MASK, first = BH_RING_DATA - at < n ? BH_RING_DATA - at : n;
	memcpy(data + at, p, first);
	memcpy(data, (const uint8_t *)p + first, n - first);
}

static void copy_out(void *p, const uint8_t *data, uint32_t pos, size_t n)
{
	size_t at = pos & MASK, first = BH_RING_DATA - at < n ? BH_RING_DATA - at : n;
	memcpy(p, data + at, first);
	memcpy((uint8_t *)p + first, data, n - first);
}

bool bh_ring_put(struct bh_ring_writer *w, const struct iovec *iov, int n, bool *wake)
{
	size_t len = 0;
	for (int i = 0; i < n; i++)
		len += iov[i].iov_len;
	*wake = false;
	if (len == 0 || len > BH_RING_ENTRY_MAX)
		return false;
	/* Someone else wrote our position (a plugin can): the ring is not ours any more,
	 * everything goes on the socket. */
	if (atomic_load_explicit(&w->ctl->tail, memory_order_relaxed) != w->tail)
		return false;
	uint32_t size = entry_size((uint32_t)len);
	uint32_t used = w->tail - atomic_load_explicit(&w->ctl->head, memory_order_acquire);
	if (used > BH_RING_DATA || BH_RING_DATA - used < size)
		return false;

	uint32_t len32 = (uint32_t)len, pos = w->tail + LEN_SIZE;
	copy_in(w->data, w->tail, &len32, LEN_SIZE);
	for (int i = 0; i < n; i++) {
		copy_in(w->data, pos, iov[i].iov_base, iov[i].iov_len);
		pos += (uint32_t)iov[i].iov_len;
	}
	w->tail += size;
	atomic_store_explicit(&w->ctl->tail, w->tail, memory_order_release);
	/* Against bh_ring_sleep: either it sees our tail, or we see its request. */
	atomic_thread_fence(memory_order_seq_cst);
	if (atomic_load_explicit(&w->ctl->wake, memory_order_relaxed))
		*wake = atomic_exchange_explicit(&w->ctl->wake, 0, memory_order_relaxed) != 0;
	return true;
}

int bh_ring_take(struct bh_ring_reader *r, uint8_t *buf, const char **why)
{
	uint32_t avail = atomic_load_explicit(&r->ctl->tail, memory_order_acquire) - r->head;
	if (avail == 0)
		return 0;
	if (avail > BH_RING_DATA || avail % 8) {
		*why = "answer ring: its write position is out of range";
		return -EBADMSG;
	}
	uint32_t len;
	copy_out(&len, r->data, r->head, LEN_SIZE);
	if (len == 0 || len > BH_RING_ENTRY_MAX || entry_size(len) > avail) {
		*why = "answer ring: an entry of an impossible length";
		return -EBADMSG;
	}
	copy_out(buf, r->data, r->head + LEN_SIZE, len);
	r->head += entry_size(len);
	/* Release: the producer reuses the space only after our copy. */
	atomic_store_explicit(&r->ctl->head, r->head, memory_order_release);
	return (int)len;
}

bool bh_ring_pending(const struct bh_ring_reader *r)
{
	return atomic_load_explicit(&r->ctl->tail, memory_order_acquire) != r->head;
}

void bh_ring_stay_awake(struct bh_ring_reader *r)
{
	atomic_store_explicit(&r->ctl->wake, 0, memory_order_relaxed);
}

bool bh_ring_sleep(struct bh_ring_reader *r)
{
	atomic_store_explicit(&r->ctl->wake, 1, memory_order_relaxed);
	atomic_thread_fence(memory_order_seq_cst);
	return atomic_load_explicit(&r->ctl->tail, memory_order_acquire) == r->head;
}
