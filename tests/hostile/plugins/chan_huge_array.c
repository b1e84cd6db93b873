/* chan_huge_array: an array32 header announcing 0xffffffff elements. */
#define H_NAME "chan_huge_array"
#define H_CTOR H_CTOR_NONE
#include "hostile.h"
#include "chan.h"

static void h_attack(struct h_out *o, const struct h_args *a)
{
	static const unsigned char hdr[] = { 0xdd, 0xff, 0xff, 0xff, 0xff };
	(void)a;
	h_chan_write(o, hdr, sizeof(hdr), "an array32 header of 4294967295 elements");
}
