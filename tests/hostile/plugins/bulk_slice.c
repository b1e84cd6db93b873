/* bulk_slice: answers its own call (its id from the claim table) with a result that
 * is a slice of params the call never had in a bulk buffer (its params are inline):
 * as if it could point the daemon at another call's memfd. The daemon must check the
 * slice against the call's own params and refuse it. */
#define H_NAME "bulk_slice"
#define H_CTOR H_CTOR_NONE
#include "hostile.h"
#include "chan.h"
#include "claim_table.h"

static void h_attack(struct h_out *o, const struct h_args *a)
{
	/* [1, id, nil, fixext 16: kind BH_BULK_SLICE (6), passed slot (4), six zero
	 * bytes, off 0, len 1 MiB] */
	uint8_t msg[] = { 0x94, 0x01, 0xce, 0, 0, 0, 0, 0xc0, 0xd8, 98, 6, 4, 0, 0, 0, 0, 0, 0,
			  0, 0, 0, 0, 0x00, 0x10, 0x00, 0x00 };
	struct hc_entry *e;
	uint32_t id;
	(void)a;
	if (!hc_own_call(o, &e, &id))
		return;
	msg[3] = (uint8_t)(id >> 24);
	msg[4] = (uint8_t)(id >> 16);
	msg[5] = (uint8_t)(id >> 8);
	msg[6] = (uint8_t)id;
	h_chan_write(o, msg, sizeof(msg), "a slice of params the call does not have");
}
