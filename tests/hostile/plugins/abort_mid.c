/* abort_mid: abort() in the middle of a call. */
#define H_NAME "abort_mid"
#define H_CTOR H_CTOR_NONE
#include "hostile.h"

static void h_attack(struct h_out *o, const struct h_args *a)
{
	(void)o, (void)a;
	abort();
}
