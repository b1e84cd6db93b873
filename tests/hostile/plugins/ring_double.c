/* ring_double: an entry in the answer ring that holds two messages, as if to slip a
 * second one past a check made on the first. */
#define H_NAME "ring_double"
#define H_CTOR H_CTOR_NONE
#include "hostile.h"
#include "ring_table.h"

static void h_attack(struct h_out *o, const struct h_args *a)
{
	static const uint8_t two_nils[] = { 0xc0, 0xc0 };
	(void)a;
	hr_forge_entry(o, sizeof(two_nils), two_nils, sizeof(two_nils), "an entry with two messages");
}
