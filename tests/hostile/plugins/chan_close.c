/* chan_close: close the channel in the middle of a call and return normally. */
#define H_NAME "chan_close"
#define H_CTOR H_CTOR_NONE
#include "hostile.h"
#include "chan.h"

static void h_attack(struct h_out *o, const struct h_args *a)
{
	(void)a;
	o->attempted = true;
	if (close(H_CHANNEL_FD) < 0)
		h_blocked(o, "close(fd 3)", errno);
	else
		h_note(o, "closed fd 3");
}
