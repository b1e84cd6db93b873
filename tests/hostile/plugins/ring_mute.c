/* ring_mute: waits until the daemon asks for a wake-up in the answer ring (it sleeps),
 * clears the request and returns: its shim then puts the answer in the ring without
 * waking the daemon. The plugin delays only its own answer: the daemon must still find
 * it, at the latest when the call's deadline comes, and answer with it. */
#define H_NAME "ring_mute"
#define H_CTOR H_CTOR_NONE
#include "hostile.h"
#include "ring_table.h"

static void h_attack(struct h_out *o, const struct h_args *a)
{
	struct hr_ring r;
	(void)a;
	if (!hr_find(o, &r))
		return;
	/* The daemon asks once its watch for this call's reply is over. */
	for (int i = 0; i < 20000 && !atomic_load(r.wake); i++) {
		struct timespec ts = { .tv_nsec = 100000 };
		nanosleep(&ts, NULL);
	}
	if (!atomic_exchange(r.wake, 0)) {
		h_note(o, "the daemon never asked for a wake-up");
		return;
	}
	o->count = 1;
	h_note(o, "cleared the daemon's wake-up request");
}
