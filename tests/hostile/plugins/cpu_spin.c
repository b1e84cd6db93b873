/* cpu_spin: spin in eight threads and the calling one, forever. The call must time
 * out, the instance be killed and replaced, and the machine stay responsive. */
#define H_NAME "cpu_spin"
#define H_CTOR H_CTOR_NONE
#include "hostile.h"

#include <pthread.h>

static void *spin(void *arg)
{
	(void)arg;
	for (;;)
		__asm__ volatile("" ::: "memory");
	return NULL;
}

static void h_attack(struct h_out *o, const struct h_args *a)
{
	pthread_t t;
	(void)a;
	o->attempted = true;
	for (int i = 0; i < 8; i++)
		if (pthread_create(&t, NULL, spin, NULL) == 0)
			o->count++;
	spin(NULL);
}
