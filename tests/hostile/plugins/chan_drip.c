/* chan_drip: a well-formed 128 KiB message ([2, "$drip", [[128 Ki nils]]]) written on the
 * channel one byte per write(), so that the supervisor receives it in tiny reads. A
 * reader that rescans the incomplete message after every read spends ~n^2/2 on it;
 * the test checks, by the daemon's counters, that scanning stays linear. Complete,
 * it is a notification the supervisor never expects: a protocol violation. */
#define H_NAME "chan_drip"
#define H_CTOR H_CTOR_NONE
#include "hostile.h"
#include "chan.h"

#define DRIP_NILS (1 << 17)

static void h_attack(struct h_out *o, const struct h_args *a)
{
	static const unsigned char head[] = { 0x93, 0x02, 0xa5, '$', 'd', 'r', 'i', 'p', 0x91,
					      0xdd, 0x00, 0x02, 0x00, 0x00 };
	static const unsigned char nil = 0xc0;
	(void)a;
	o->attempted = true;
	for (size_t i = 0; i < sizeof(head) + DRIP_NILS; i++) {
		const unsigned char *b = i < sizeof(head) ? &head[i] : &nil;
		ssize_t n;
		do
			n = write(H_CHANNEL_FD, b, 1);
		while (n < 0 && errno == EINTR);
		if (n < 0) {
			h_blocked(o, "write(fd 3)", errno);
			return;
		}
		o->count++;
	}
	h_note(o, "dripped %lld bytes on the channel, one per write", o->count);
}
