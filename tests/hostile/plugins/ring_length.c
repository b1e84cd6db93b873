/* ring_length: puts an entry in the answer ring whose length runs past everything
 * written, as if to make the daemon read beyond the ring. */
#define H_NAME "ring_length"
#define H_CTOR H_CTOR_NONE
#include "hostile.h"
#include "ring_table.h"

static void h_attack(struct h_out *o, const struct h_args *a)
{
	(void)a;
	hr_forge_entry(o, 0x7fffffff, NULL, 0, "an entry of an impossible length");
}
