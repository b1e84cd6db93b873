/* output_storm: one endless stderr line (no newline ever), written as fast as the
 * pipe takes it, until the instance is killed. The log rate limit bounds what is
 * logged; the daemon must also bound what it reads: past limits.output_rate held for
 * limits.output_flood_ms the instance is replaced as an output flood. */
#define H_NAME "output_storm"
#define H_CTOR H_CTOR_NONE
#include "hostile.h"

static char block[64 * 1024];

static void h_attack(struct h_out *o, const struct h_args *a)
{
	(void)a;
	memset(block, 'S', sizeof(block));
	o->attempted = true;
	for (;;) {
		ssize_t n = write(2, block, sizeof(block));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			h_note(o, "write(2): %s", h_errname(errno));
			return;
		}
		o->count += n;
	}
}
