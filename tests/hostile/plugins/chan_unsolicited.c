/* chan_unsolicited: a request from the child to the supervisor, as if it were a client
 * ([0, 1, "bulkhead.status", []]). Children answer; they never ask. */
#define H_NAME "chan_unsolicited"
#define H_CTOR H_CTOR_NONE
#include "hostile.h"
#include "chan.h"

static void h_attack(struct h_out *o, const struct h_args *a)
{
	static const unsigned char msg[] = { 0x94, 0x00, 0x01, 0xaf, 'b', 'u', 'l', 'k', 'h',
					     'e',  'a',	 'd',  '.',  's', 't', 'a', 't', 'u',
					     's',  0x90 };
	(void)a;
	h_chan_write(o, msg, sizeof(msg), "a request to the supervisor");
}
