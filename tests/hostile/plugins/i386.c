/* i386: getpid through the 32-bit entry (int $0x80, i386 number 20) from a 64-bit
 * process: the filter must check the architecture, not only the number. */
#define H_NAME "i386"
#define H_CTOR H_CTOR_NONE
#include "hostile.h"

static void h_attack(struct h_out *o, const struct h_args *a)
{
	long r = 20; /* __NR_getpid on i386 */
	(void)a;
	__asm__ volatile("int $0x80" : "+a"(r) : : "memory", "r8", "r9", "r10", "r11");
	if (r >= 0) {
		o->count = r;
		h_succeeded(o, "int $0x80 getpid returned %ld", r);
	} else {
		h_blocked(o, "int $0x80 getpid", (int)-r);
	}
}
