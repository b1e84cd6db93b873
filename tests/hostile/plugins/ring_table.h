/* The answer ring (bulkhead/ring.h) as a plugin finds it in the claim table's mapping
 * ("/memfd:bulkhead-claims" in /proc/self/maps, whole pages). Written out the way an
 * attacker would: its control words after the 128-byte doorbell (the write position
 * at 128, the reader's position at 192, the wake request at 196), its 64 KiB of data
 * right after the claim entries (their number at 76, 16 bytes each from 256): entries
 * of a 32-bit length and the message, padded to 8.
 * Shared by the ring_* plugins. Those that forge an entry behind the shim's back wake
 * the daemon with the byte 0xc0 on the channel and wait to be killed (a call of theirs
 * that returned would let the shim overwrite the forgery with its own answer). */
#ifndef BH_HOSTILE_RING_TABLE_H
#define BH_HOSTILE_RING_TABLE_H

#include <stdatomic.h>

#include "chan.h"

enum { HR_TAIL_AT = 128, HR_WAKE_AT = 196, HR_ENTRIES_N_AT = 76, HR_ENTRIES_AT = 256,
       HR_DATA_SIZE = 64 * 1024 };

struct hr_ring {
	_Atomic uint32_t *tail, *wake;
	uint8_t *data;
};

static H_UNUSED bool hr_find(struct h_out *o, struct hr_ring *r)
{
	uintptr_t start, end;
	o->attempted = true;
	if (!h_find_mapping(o, "memfd:bulkhead-claims", &start, &end))
		return false;
	r->tail = (_Atomic uint32_t *)(start + HR_TAIL_AT);
	r->wake = (_Atomic uint32_t *)(start + HR_WAKE_AT);
	uint32_t n = *(const uint32_t *)(start + HR_ENTRIES_N_AT);
	r->data = (uint8_t *)(start + HR_ENTRIES_AT + (uintptr_t)n * 16);
	if (r->data + HR_DATA_SIZE > (uint8_t *)end) {
		h_note(o, "the table holds %u entries and no ring after them", n);
		return false;
	}
	return true;
}

/* Publish tail, wake the daemon, and wait for the SIGKILL that must follow. */
static H_UNUSED void hr_publish_and_wait(struct h_out *o, const struct hr_ring *r,
					 uint32_t tail, const char *what)
{
	static const uint8_t wake = 0xc0;
	atomic_store(r->tail, tail);
	h_chan_write(o, &wake, 1, what);
	struct timespec ts = { .tv_sec = H_HOLD_MAX_S };
	nanosleep(&ts, NULL);
	h_note(o, "not killed for %s", what);
}

/* Put one forged entry at the write position, behind the shim's back: a length field
 * (whatever it claims) and n bytes after it; publish it, wake the daemon, and wait. */
static H_UNUSED void hr_forge_entry(struct h_out *o, uint32_t len, const void *body, size_t n,
				    const char *what)
{
	struct hr_ring r;
	if (!hr_find(o, &r))
		return;
	uint32_t tail = atomic_load(r.tail);
	uint8_t *at = r.data + (tail & (HR_DATA_SIZE - 1));
	memcpy(at, &len, sizeof(len));
	if (n)
		memcpy(at + sizeof(len), body, n);
	hr_publish_and_wait(o, &r, tail + (((uint32_t)(sizeof(len) + n) + 7u) & ~7u), what);
}

#endif
