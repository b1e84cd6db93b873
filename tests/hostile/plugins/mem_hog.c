/* mem_hog: map and touch memory 1 MiB at a time until killed. Past four times the
 * limit (args "limit"; 256 MiB without it) it stops: a success. */
#define H_NAME "mem_hog"
#define H_CTOR H_CTOR_NONE
#include "hostile.h"

#include <sys/mman.h>

#define CHUNK (1 << 20)
#define MAX_CHUNKS 4096

static void *chunks[MAX_CHUNKS];

static void h_attack(struct h_out *o, const struct h_args *a)
{
	long long cap = a->limit > 0 ? 4 * a->limit : 256LL << 20;
	int n = 0;
	o->attempted = true;
	for (; n < MAX_CHUNKS && (long long)n * CHUNK < cap; n++) {
		void *p = mmap(NULL, CHUNK, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
			       -1, 0);
		if (p == MAP_FAILED) {
			h_blocked(o, "mmap", errno);
			break;
		}
		memset(p, 0x5a, CHUNK);
		chunks[n] = p;
		o->count += CHUNK;
	}
	if (o->count >= cap)
		h_succeeded(o, "touched %lld MiB", o->count >> 20);
	for (int i = 0; i < n; i++)
		munmap(chunks[i], CHUNK);
}
