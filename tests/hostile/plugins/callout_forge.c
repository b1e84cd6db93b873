/* callout_forge: a call out "in" a call it does not run (its own id with a high bit
 * flipped), written behind the shim's back: the daemon must take it for what it is, a
 * protocol violation, and kill the instance, never route it for a call of another
 * instance or chain. */
#define H_NAME "callout_forge"
#define H_CTOR H_CTOR_NONE
#include "hostile.h"
#include "callout_req.h"
#include "chan.h"
#include "claim_table.h"

static void h_attack(struct h_out *o, const struct h_args *a)
{
	static unsigned char msg[128];
	struct hc_entry *e;
	uint32_t iid;
	(void)a;
	if (!hc_own_call(o, &e, &iid))
		return;
	h_chan_write(o, msg, hc_request(msg, 1, "echo.echo", 4, iid ^ 0x40000000u),
		     "a call out in a call it does not run");
}
