/* chan_garbage: bytes that are not MessagePack (0xc1 is never valid) on the channel,
 * in the middle of a call; the _ctor variant before the shim's $hello. */
#define H_NAME "chan_garbage"
#define H_CTOR H_CTOR_NONE
#include "hostile.h"
#include "chan.h"

static void h_attack(struct h_out *o, const struct h_args *a)
{
	static const char garbage[] = "\xc1\xc1 this is not msgpack \xc1";
	(void)a;
	h_chan_write(o, garbage, sizeof(garbage) - 1, "garbage");
}
