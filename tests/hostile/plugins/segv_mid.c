/* segv_mid: a write through a bad pointer in the middle of a call; the _ctor variant
 * in its constructor. */
#define H_NAME "segv_mid"
#define H_CTOR H_CTOR_NONE
#include "hostile.h"

static void h_attack(struct h_out *o, const struct h_args *a)
{
	(void)o, (void)a;
	/* Read through a volatile so the compiler cannot see the constant address. */
	static volatile uintptr_t bad = 8;
	*(volatile int *)bad = 1;
}
