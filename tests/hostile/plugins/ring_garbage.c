/* ring_garbage: a well-framed entry in the answer ring whose bytes are no MessagePack
 * (0xc1), then one that holds two messages. The daemon must parse its own copy and
 * refuse the first. */
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
	uint32_t tail = atomic_load(r.tail), len = 4;
	uint8_t *at = r.data + (tail & (HR_DATA_SIZE - 1));
	memcpy(at, &len, sizeof(len));
	memset(at + 4, 0xc1, 4);
	len = 2;
	memcpy(at + 8, &len, sizeof(len));
	at[12] = at[13] = 0xc0;
	hr_publish_and_wait(o, &r, tail + 16, "an entry that is not MessagePack");
}
