/* x32: getpid through the x32 syscall entry (nr | __X32_SYSCALL_BIT), a second ABI
 * that a filter written for x86_64 numbers alone would let through. */
#define H_NAME "x32"
#define H_CTOR H_CTOR_NONE
#include "hostile.h"

#define X32_SYSCALL_BIT 0x40000000L

static void h_attack(struct h_out *o, const struct h_args *a)
{
	(void)a;
	long r = syscall(SYS_getpid | X32_SYSCALL_BIT);
	if (r >= 0) {
		o->count = r;
		h_succeeded(o, "x32 getpid returned %ld", r);
	} else {
		h_blocked(o, "x32 getpid", errno);
	}
}
