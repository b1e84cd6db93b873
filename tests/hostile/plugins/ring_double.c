/* ring_double: an entry in the answer ring that holds two messages, as if to slip a
 * second one past a check made on the first. */
#define H_NAME "ring_double"
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
	at[4] = at[5] = 0xc0;
	hr_publish_and_wait(o, &r, tail + 8, "an entry with two messages");
}
