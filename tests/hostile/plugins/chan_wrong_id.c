/* chan_wrong_id: a well-formed response to a call the supervisor never made
 * ([1, 0xdeadbeef, nil, "forged"]). */
#define H_NAME "chan_wrong_id"
#define H_CTOR H_CTOR_NONE
#include "hostile.h"
#include "chan.h"

static void h_attack(struct h_out *o, const struct h_args *a)
{
	static const unsigned char msg[] = { 0x94, 0x01, 0xce, 0xde, 0xad, 0xbe, 0xef, 0xc0,
					     0xa6, 'f', 'o', 'r', 'g', 'e', 'd' };
	(void)a;
	h_chan_write(o, msg, sizeof(msg), "a response with a wrong message id");
}
