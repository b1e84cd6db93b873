/* ring_tail: moves the answer ring's write position a megabyte ahead, as if the ring
 * held more than its size. */
#define H_NAME "ring_tail"
#define H_CTOR H_CTOR_NONE
#include "hostile.h"
#include "ring_table.h"

static void h_attack(struct h_out *o, const struct h_args *a)
{
	struct hr_ring r;
	(void)a;
	if (!hr_find(o, &r))
		return;
	hr_publish_and_wait(o, &r, atomic_load(r.tail) + (1u << 20), "a write position out of range");
}
