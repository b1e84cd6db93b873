/* bulkhead: the answer ring, shared memory from a shim to the supervisor.
 *
 * A shim that answers on its socket makes a system call per answer, and the
 * supervisor one more to read it: at many calls in flight that is most of what a call
 * costs (README, "Where the time of a routed call goes"). So once its plugin is
 * initialised, a shim started with --ring writes each message of at most
 * BH_RING_ENTRY_MAX bytes into this ring, which lies in the claim table's memfd (its
 * control words after the doorbell, its data after the entries: claims.h), and writes
 * to the socket only
 *   - a message that does not fit (too large, or the ring is full), and
 *   - a wake-up, the one byte 0xc0 (a msgpack nil, which is no message of the
 *     protocol), when the supervisor said it sleeps (`wake` set).
 * Messages in the ring come in order, and so do those on the socket, but the two are
 * not ordered with each other: the supervisor handles what the socket brings when it
 * brings it, and what the ring holds before each wait of its loop and at the child's
 * exit. Nothing depends on that order: such messages answer different calls, and a
 * shim's messages that do depend on each other never cross (a call out waits for its
 * answer before its call can go on).
 *
 * Entries: a 32-bit length in the host's byte order, then that many bytes, padded to
 * 8; an entry may wrap around the end of the data. `tail` and `head` count bytes since
 * the start, modulo 2^32.
 *
 * The ring is the child's memory: everything in it is hostile. The supervisor keeps
 * its own read position, never the shared `head`; it checks `tail` and every length
 * against that position and the ring's size, copies each message into memory of its
 * own before it parses it, and treats anything out of range as a protocol violation.
 * A producer that rewrites the ring, or never wakes the supervisor, harms only its
 * own calls. */
#ifndef BULKHEAD_RING_H
#define BULKHEAD_RING_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#define BH_RING_DATA (64u * 1024)       /* a power of two */
#define BH_RING_ENTRY_MAX (16u * 1024)  /* largest message that goes into the ring */
#define BH_RING_WAKE 0xc0               /* the wake-up byte on the socket */

struct bh_ring_ctl {
	_Alignas(64) _Atomic uint32_t tail; /* shim: bytes written */
	_Alignas(64) _Atomic uint32_t head; /* supervisor: bytes consumed */
	_Atomic uint32_t wake;              /* supervisor: 1 while it sleeps */
};

/* The shim's end. */
struct bh_ring_writer {
	struct bh_ring_ctl *ctl;
	uint8_t *data;
	uint32_t tail; /* ours: what we published last */
};

/* The supervisor's end. */
struct bh_ring_reader {
	struct bh_ring_ctl *ctl;
	const uint8_t *data;
	uint32_t head; /* ours, never read back from the ring */
};

/* Shim: put iov[0..n-1] in the ring as one message. True when it went in, with *wake
 * true when the supervisor must be woken (write BH_RING_WAKE to the socket); false
 * when it does not fit, or when the shared write position is not the one we wrote (a
 * plugin rewrote the ring: from then on, nothing goes in): send it on the socket. */
bool bh_ring_put(struct bh_ring_writer *w, const struct iovec *iov, int n, bool *wake);

/* Supervisor: the next message, copied into buf (BH_RING_ENTRY_MAX bytes): its length;
 * 0 when the ring is empty; -EBADMSG with *why when the producer broke the format. */
int bh_ring_take(struct bh_ring_reader *r, uint8_t *buf, const char **why);
/* Supervisor: whether a message waits. */
bool bh_ring_pending(const struct bh_ring_reader *r);
/* Supervisor: we look at the ring ourselves from now on: no wake-ups. */
void bh_ring_stay_awake(struct bh_ring_reader *r);
/* Supervisor: about to sleep. Asks for a wake-up; true when the ring is empty, false
 * when a message came meanwhile (take it; the request stands). */
bool bh_ring_sleep(struct bh_ring_reader *r);

#endif
