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
	static char maps[65536];
	memset(a, 0, sizeof(*a));
	o->attempted = true;
	ssize_t n = h_read_file("/proc/self/maps", maps, sizeof(maps));
	if (n < 0) {
		h_blocked(o, "/proc/self/maps", (int)-n);
		return false;
	}
	for (char *line = maps; *line;) {
		char *nl = strchr(line, '\n');
		if (nl)
			*nl = 0;
		unsigned long s, e;
		if (strstr(line, "memfd:bulkhead-result") && sscanf(line, "%lx-%lx", &s, &e) == 2) {
			a->start = s;
			a->end = e;
			h_note(o, "result area of %lu bytes", e - s);
			return true;
		}
		if (!nl)
			break;
		line = nl + 1;
	}
	h_note(o, "no result area mapped");
	return false;
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
