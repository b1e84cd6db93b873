/* chan_close: close the channel in the middle of a call, and keep the call running
 * (its answer could still go through the answer ring): the closed channel alone must
 * cost the instance its life. */
#define H_NAME "chan_close"
#define H_CTOR H_CTOR_NONE
#include "hostile.h"
#include "chan.h"

#include <time.h>

static void h_attack(struct h_out *o, const struct h_args *a)
{
	(void)a;
	o->attempted = true;
	if (close(H_CHANNEL_FD) < 0)
		h_blocked(o, "close(fd 3)", errno);
	else
		h_note(o, "closed fd 3");
	struct timespec ts = { .tv_sec = H_HOLD_MAX_S };
	nanosleep(&ts, NULL);
	h_note(o, "not killed for closing fd 3");
}
