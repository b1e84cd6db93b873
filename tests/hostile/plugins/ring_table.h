/* The answer ring (bulkhead/ring.h) as a plugin finds it: the last 64 KiB + 128 bytes
 * of the claim table's mapping, which is whole pages ("/memfd:bulkhead-claims" in /proc/self/maps). Written
 * out the way an attacker would: 128 bytes of control words (the write position at 0,
 * the reader's position at 64, the wake request at 68), then 64 KiB of entries, each
 * a 32-bit length and the message, padded to 8. Shared by the ring_* plugins, which
 * forge an entry behind the shim's back, wake the daemon with the byte 0xc0 on the
 * channel, and wait to be killed (a call of theirs that returned would let the shim
 * overwrite the forgery with its own answer). */
#ifndef BH_HOSTILE_RING_TABLE_H
#define BH_HOSTILE_RING_TABLE_H

#include <stdatomic.h>

#include "chan.h"

enum { HR_CTL_SIZE = 128, HR_DATA_SIZE = 64 * 1024 };

struct hr_ring {
	_Atomic uint32_t *tail;
	uint8_t *data;
};

static H_UNUSED bool hr_find(struct h_out *o, struct hr_ring *r)
{
	uintptr_t start, end;
	o->attempted = true;
	if (!h_find_mapping(o, "memfd:bulkhead-claims", &start, &end))
		return false;
	r->tail = (_Atomic uint32_t *)(end - HR_DATA_SIZE - HR_CTL_SIZE);
	r->data = (uint8_t *)(end - HR_DATA_SIZE);
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

#endif
