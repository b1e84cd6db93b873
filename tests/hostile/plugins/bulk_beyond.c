/* bulk_beyond: a response whose result is a reference to one byte more than the
 * result area holds. The daemon must refuse it on the reference, before reading. */
#define H_NAME "bulk_beyond"
#define H_CTOR H_CTOR_NONE
#include "hostile.h"
#include "bulk_area.h"

static void h_attack(struct h_out *o, const struct h_args *a)
{
	struct hb_area area;
	uint8_t msg[HB_RESPONSE_SIZE];
	(void)a;
	if (!hb_find(o, &area))
		return;
	hb_area_response(msg, (uint32_t)(area.end - area.start - HB_HEAD + 1));
	h_chan_write(o, msg, sizeof(msg), "a response beyond the result area");
}
