/* thread_bomb: create threads until the pids limit says no (threads count as tasks
 * against pids.max; fork is refused outright, so this is what meets the limit).
 * The threads wait on a flag and are all joined before the call returns. */
#define H_NAME "thread_bomb"
#define H_CTOR H_CTOR_INPROC
#include "hostile.h"

#include <pthread.h>

#define MAX_THREADS 600

static pthread_t threads[MAX_THREADS];
static volatile int done;

static void *waiter(void *arg)
{
	(void)arg;
	struct timespec ts = { .tv_nsec = 1000000 };
	while (!done)
		nanosleep(&ts, NULL);
	return NULL;
}

static void h_attack(struct h_out *o, const struct h_args *a)
{
	pthread_attr_t attr;
	int n = 0;
	(void)a;
	done = 0;
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, 64 * 1024);
	for (; n < MAX_THREADS; n++) {
		int e = pthread_create(&threads[n], &attr, waiter, NULL);
		if (e) {
			h_blocked(o, "pthread_create", e);
			break;
		}
	}
	pthread_attr_destroy(&attr);
	o->attempted = true;
	o->count = n;
	if (n == MAX_THREADS)
		h_succeeded(o, "created %d threads", n);
	else
		h_note(o, "%d threads created before that", n);
	done = 1;
	for (int i = 0; i < n; i++)
		pthread_join(threads[i], NULL);
}
