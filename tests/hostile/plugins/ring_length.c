/* ring_length: puts an entry in the answer ring whose length runs past everything
 * written, as if to make the daemon read beyond the ring. */
#define H_NAME "ring_length"
#define H_CTOR H_CTOR_NONE
#include "hostile.h"
#include "ring_table.h"

static void h_attack(struct h_out *o, const struct h_args *a)
{
	struct hr_ring r;
	(void)a;
	if (!hr_find(o, &r))
		return;
	uint32_t tail = atomic_load(r.tail), len = 0x7fffffff;
	memcpy(r.data + (tail & (HR_DATA_SIZE - 1)), &len, sizeof(len));
	hr_publish_and_wait(o, &r, tail + 8, "an entry of an impossible length");
}
