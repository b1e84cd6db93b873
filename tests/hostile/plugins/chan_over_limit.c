/* chan_over_limit: a response whose result is a bin32 announcing 16 MiB + 1 (over
 * limits.max_message), followed by the 16 MiB it announces, written as fast as the
 * supervisor takes it. The supervisor must refuse it on the header: it reads at most
 * one buffer of it (the test counts), not the 16 MiB. */
#define H_NAME "chan_over_limit"
#define H_CTOR H_CTOR_NONE
#include "hostile.h"
#include "chan.h"

static unsigned char chunk[64 * 1024];

static void h_attack(struct h_out *o, const struct h_args *a)
{
	static const unsigned char head[] = { 0x94, 0x01, 0x01, 0xc0,
					      0xc6, 0x01, 0x00, 0x00, 0x01 };
	(void)a;
	h_chan_write(o, head, sizeof(head), "a response announcing a 16 MiB + 1 bin");
	for (long long sent = 0; sent < (16LL << 20);) {
		ssize_t n = write(H_CHANNEL_FD, chunk, sizeof(chunk));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			h_blocked(o, "write(fd 3)", errno);
			return;
		}
		sent += n;
		o->count += n;
	}
	h_note(o, "wrote all %lld bytes", o->count);
}
