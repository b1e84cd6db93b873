/* chan_huge_str: a response [1, id, nil, str32] whose string announces 4 GiB - 1. */
#define H_NAME "chan_huge_str"
#define H_CTOR H_CTOR_NONE
#include "hostile.h"
#include "chan.h"

static void h_attack(struct h_out *o, const struct h_args *a)
{
	static const unsigned char msg[] = { 0x94, 0x01, 0xce, 0xde, 0xad, 0xbe, 0xef, 0xc0,
					     0xdb, 0xff, 0xff, 0xff, 0xff };
	(void)a;
	h_chan_write(o, msg, sizeof(msg), "a response with a 4 GiB str32 header");
}
