/* cpu_limit: burn CPU in four threads and the calling one for 500 ms of wall time,
 * and measure the CPU time it got: count = 1000 * cpu / wall. Unlimited on two CPUs
 * that is about 2000; with cpu_percent 50 about 500. It succeeds when it got more
 * than 1.5 times its share (args "limit" = the percentage). */
#define H_NAME "cpu_limit"
#define H_CTOR H_CTOR_INPROC
#include "hostile.h"

#include <pthread.h>

#define BURNERS 4
#define WINDOW_NS 500000000LL

static volatile int stop;

static long long ns(clockid_t c)
{
	struct timespec ts;
	clock_gettime(c, &ts);
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void *burn(void *arg)
{
	(void)arg;
	while (!stop)
		__asm__ volatile("" ::: "memory");
	return NULL;
}

static void h_attack(struct h_out *o, const struct h_args *a)
{
	pthread_t t[BURNERS];
	int n = 0;
	stop = 0;
	long long w0 = ns(CLOCK_MONOTONIC), c0 = ns(CLOCK_PROCESS_CPUTIME_ID);
	for (int i = 0; i < BURNERS; i++)
		if (pthread_create(&t[n], NULL, burn, NULL) == 0)
			n++;
	while (ns(CLOCK_MONOTONIC) - w0 < WINDOW_NS)
		__asm__ volatile("" ::: "memory");
	stop = 1;
	for (int i = 0; i < n; i++)
		pthread_join(t[i], NULL);
	long long wall = ns(CLOCK_MONOTONIC) - w0, cpu = ns(CLOCK_PROCESS_CPUTIME_ID) - c0;
	o->attempted = true;
	o->count = wall > 0 ? cpu * 1000 / wall : 0;
	o->extra = n + 1;
	h_note(o, "%d threads got %lld ms of CPU in %lld ms", n + 1, cpu / 1000000,
	       wall / 1000000);
	if (a->limit > 0 && o->count * 100 > a->limit * 1000 * 3 / 2)
		h_succeeded(o, "%lld/1000 of a CPU, over 1.5 x %lld%%", o->count, a->limit);
}
