/* ring_garbage: a well-framed entry in the answer ring that holds only the start of a
 * message (an array of two with one element), as if the rest were to follow. The
 * daemon must take an entry as a whole message or not at all. */
#define H_NAME "ring_garbage"
#define H_CTOR H_CTOR_NONE
#include "hostile.h"
#include "ring_table.h"

static void h_attack(struct h_out *o, const struct h_args *a)
{
	static const uint8_t part[] = { 0x92, 0x01 };
	(void)a;
	hr_forge_entry(o, sizeof(part), part, sizeof(part), "an entry with part of a message");
}
