/* claim_chaos: a thread that keeps rewriting the whole claim table while the test
 * pipelines calls: every entry gets, at random, each state under its own id (claiming
 * calls it was never handed, out of order, or taking them back), a foreign id, a
 * deadline in the past, zeros; now and then it also answers, on the channel, a call
 * it sees offered (a response the daemon did not ask for yet). The daemon must give
 * every client call exactly one response and keep serving the sibling. The thread
 * starts with the first `attack` call of each instance; `attack` then returns at once. */
#define H_NAME "claim_chaos"
#define H_CTOR H_CTOR_NONE
#include "hostile.h"
#include "chan.h"
#include "claim_table.h"

#include <pthread.h>

static struct hc_table table;
static atomic_bool running;

static uint64_t next_rand(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* [1, id, nil, "forged"]: a whole response in one write. */
static void answer(uint32_t id)
{
	unsigned char msg[] = { 0x94, 0x01, 0xce, 0, 0, 0, 0, 0xc0, 0xa6, 'f', 'o', 'r', 'g', 'e', 'd' };
	msg[3] = (unsigned char)(id >> 24);
	msg[4] = (unsigned char)(id >> 16);
	msg[5] = (unsigned char)(id >> 8);
	msg[6] = (unsigned char)id;
	ssize_t n = write(H_CHANNEL_FD, msg, sizeof(msg));
	(void)n;
}

static void *scribble(void *arg)
{
	uint64_t s = 0x9e3779b97f4a7c15ull ^ (uint64_t)getpid();
	struct timespec pause = { .tv_nsec = 200000 };
	(void)arg;
	for (;;) {
		for (size_t i = 0; i < table.n; i++) {
			struct hc_entry *e = &table.e[i];
			uint64_t w = atomic_load(&e->word);
			uint32_t id = (uint32_t)(w >> 32);
			uint64_t r = next_rand(&s);
			switch (r % 16) {
			case 0: atomic_store(&e->word, hc_pack(id, HC_STARTED)); break;
			case 1: atomic_store(&e->word, hc_pack(id, HC_EXPIRED)); break;
			case 2: atomic_store(&e->word, hc_pack(id, HC_REVOKED)); break;
			case 3: atomic_store(&e->word, hc_pack(id, HC_OFFERED)); break;
			case 4: atomic_store(&e->word, hc_pack(id, HC_FREE)); break;
			case 5: atomic_store(&e->word, r >> 8); break;
			case 6: atomic_store(&e->word, hc_pack(id + (uint32_t)table.n, HC_STARTED)); break;
			case 7: atomic_store(&e->deadline, 1); break;
			case 8:
				if ((uint32_t)w == HC_OFFERED && r % 64 < 8)
					answer(id);
				break;
			default: break;
			}
		}
		nanosleep(&pause, NULL);
	}
	return NULL;
}

static void h_attack(struct h_out *o, const struct h_args *a)
{
	pthread_t th;
	(void)a;
	o->attempted = true;
	if (atomic_exchange(&running, true)) {
		h_note(o, "scribbling");
		return;
	}
	if (!hc_find(o, &table)) {
		atomic_store(&running, false);
		return;
	}
	int e = pthread_create(&th, NULL, scribble, NULL);
	if (e) {
		atomic_store(&running, false);
		h_blocked(o, "pthread_create", e);
		return;
	}
	pthread_detach(th);
	o->count = (long long)table.n;
	h_note(o, "scribbling over %zu entries", table.n);
}
