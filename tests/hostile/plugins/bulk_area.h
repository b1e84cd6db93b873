/* The instance's result area (bulkhead/bulk.h: a head page, then the data), as the
 * plugin finds it mapped in its own address space, and a response forged on the
 * channel that points into it: shared by the bulk_* plugins. The shim closed the
 * area's fd once mapped: the plugin holds only the mapping. */
#ifndef BH_HOSTILE_BULK_AREA_H
#define BH_HOSTILE_BULK_AREA_H

#include "chan.h"

#define HB_HEAD 4096 /* BH_BULK_AREA_HEAD */

struct hb_area {
	uintptr_t start, end; /* the whole mapping: head and data */
};

static H_UNUSED bool hb_find(struct h_out *o, struct hb_area *a)
{
	memset(a, 0, sizeof(*a));
	o->attempted = true;
	if (!h_find_mapping(o, "memfd:bulkhead-result", &a->start, &a->end))
		return false;
	h_note(o, "result area of %lu bytes", (unsigned long)(a->end - a->start));
	return true;
}

/* [1, 0xdeadbeef, nil, reference to len bytes of the result area]. */
static H_UNUSED void hb_area_response(uint8_t *msg, uint32_t len)
{
	static const uint8_t head[] = { 0x94, 0x01, 0xce, 0xde, 0xad, 0xbe, 0xef, 0xc0,
					0xd7, 98,   4,    0,    0,    0 };
	memcpy(msg, head, sizeof(head));
	msg[14] = (uint8_t)(len >> 24);
	msg[15] = (uint8_t)(len >> 16);
	msg[16] = (uint8_t)(len >> 8);
	msg[17] = (uint8_t)len;
}
#define HB_RESPONSE_SIZE 18

#endif
