/* noop: the frame with no attack at all, for dry runs of the driver (its constructor
 * only reads /proc/self/status and friends; attack does nothing). */
#define H_NAME "noop"
#define H_CTOR H_CTOR_NONE
#include "hostile.h"

static void h_attack(struct h_out *o, const struct h_args *a)
{
	(void)a;
	h_note(o, "noop");
}
