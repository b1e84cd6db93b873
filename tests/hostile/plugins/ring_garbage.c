/* ring_garbage: a well-framed entry in the answer ring that holds only the start of a
 * message (an array of two with one element), as if the rest were to follow. The
 * daemon must take an entry as a whole message or not at all. */
#define H_NAME "ring_garbage"
#define H_CTOR H_CTOR_NONE
#include "hostile.h"
#include "ring_table.h"

static void h_attack(struct h_out *o, const struct h_args *a)
{
	struct hr_ring r;
	(void)a;
	if (!hr_find(o, &r))
		return;
	uint32_t tail = atomic_load(r.tail), len = 2;
	uint8_t *at = r.data + (tail & (HR_DATA_SIZE - 1));
	memcpy(at, &len, sizeof(len));
	at[4] = 0x92;
	at[5] = 0x01;
	hr_publish_and_wait(o, &r, tail + 8, "an entry with part of a message");
}
