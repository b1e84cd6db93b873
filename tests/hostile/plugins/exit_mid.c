/* exit_mid: exit(3) in the middle of a call; the _ctor variant in its constructor. */
#define H_NAME "exit_mid"
#define H_CTOR H_CTOR_NONE
#include "hostile.h"

static void h_attack(struct h_out *o, const struct h_args *a)
{
	(void)o, (void)a;
	exit(3);
}
