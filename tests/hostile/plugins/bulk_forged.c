/* bulk_forged: a small result sent through the result area whose value is itself a
 * reference to a client memfd (what the daemon writes to a memfd client): sent inline
 * to such a client, it would take the fd of another response. The daemon must refuse
 * an area result under the threshold, and any result that is a bulk reference. */
#define H_NAME "bulk_forged"
#define H_CTOR H_CTOR_NONE
#include "hostile.h"
#include "bulk_area.h"

static void h_attack(struct h_out *o, const struct h_args *a)
{
	/* [0xd7, 98, kind BH_BULK_MEMFD (5), slot 0, 0, 0, len 1 MiB] */
	static const uint8_t forged[10] = { 0xd7, 98, 5, 0, 0, 0, 0x00, 0x10, 0x00, 0x00 };
	struct hb_area area;
	uint8_t msg[HB_RESPONSE_SIZE];
	(void)a;
	if (!hb_find(o, &area))
		return;
	memcpy((void *)(area.start + HB_HEAD), forged, sizeof(forged));
	hb_area_response(msg, (uint32_t)sizeof(forged));
	h_chan_write(o, msg, sizeof(msg), "a forged client memfd reference as a result");
}
