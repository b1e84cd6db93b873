/* mmap_bomb: reserve 1 TiB with MAP_NORESERVE, then touch it page by page. Past four
 * times the limit (args "limit"; 256 MiB without it) it stops: a success. */
#define H_NAME "mmap_bomb"
#define H_CTOR H_CTOR_NONE
#include "hostile.h"

#include <sys/mman.h>

static void h_attack(struct h_out *o, const struct h_args *a)
{
	const size_t len = (size_t)1 << 40;
	long long cap = a->limit > 0 ? 4 * a->limit : 256LL << 20;
	volatile char *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
				MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED)
		return h_blocked(o, "mmap(1 TiB, MAP_NORESERVE)", errno);
	o->attempted = true;
	h_note(o, "mapped 1 TiB");
	for (long long off = 0; off < cap; off += 4096) {
		p[off] = 1;
		o->count = off + 4096;
	}
	h_succeeded(o, "touched %lld MiB", o->count >> 20);
	munmap((void *)p, len);
}
