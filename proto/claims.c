/* bulkhead proto: the claim table (bulkhead/claims.h). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bulkhead/claims.h"

#define CLAIMS_MAX (UINT32_C(1) << 20)
/* What the shim insists on: nobody can resize the table under the supervisor's
 * mapping (a SIGBUS there would take the daemon down). */
#define CLAIMS_SEALS (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL)

static uint64_t pack(uint32_t id, enum bh_claim_state st)
{
	return (uint64_t)id << 32 | (uint64_t)st;
}

static struct bh_claim *entry(const struct bh_claims *t, uint32_t id)
{
	return &t->entries[id & (t->n - 1)];
}

/* The bell, the answer ring's control words (ring.h), the entries, then the ring's
 * data, rounded up to whole pages so that the mapping is the file. The first answers
 * land on the first page with the rest (1.8 KiB of data there with 128 entries, none
 * from 256 up): an instance that served a few calls has one page of its table in
 * memory, one page resident in the daemon's mapping (1000 such instances: 4 MiB); a
 * busy one goes round all of it. */
static size_t table_size(uint32_t n)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	size_t need = sizeof(struct bh_claims_bell) + sizeof(struct bh_ring_ctl) +
		      (size_t)n * sizeof(struct bh_claim) + BH_RING_DATA;
	return (need + page - 1) / page * page;
}

static int map(struct bh_claims *t, int fd, uint32_t n)
{
	void *p = mmap(NULL, table_size(n), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		return -errno;
	/* A supervisor holds one table per instance and forks every new instance: each
	 * mapping a child inherits is one more area to copy per fork. No child needs it
	 * (the shim maps the fd it is given). */
	(void)madvise(p, table_size(n), MADV_DONTFORK);
	t->bell = p;
	t->ring = (struct bh_ring_ctl *)(t->bell + 1);
	t->entries = (struct bh_claim *)(t->ring + 1);
	t->n = n;
	t->ring_data = (uint8_t *)(t->entries + n);
	return 0;
}

int bh_claims_create(struct bh_claims *t, uint32_t n, int *ret_fd)
{
	*t = (struct bh_claims){0};
	if (n == 0 || n > CLAIMS_MAX || (n & (n - 1)))
		return -EINVAL;
	int fd = memfd_create("bulkhead-claims", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0)
		return -errno;
	int r = 0;
	uint64_t *mine = calloc(n, sizeof(*mine));
	if (!mine)
		r = -ENOMEM;
	else if (ftruncate(fd, (off_t)table_size(n)) < 0 ||
		 fcntl(fd, F_ADD_SEALS, CLAIMS_SEALS) < 0)
		r = -errno;
	if (r == 0)
		r = map(t, fd, n);
	if (r == 0)
		atomic_store_explicit(&t->bell->entries, n, memory_order_relaxed);
	if (r < 0) {
		free(mine);
		close(fd);
		return r;
	}
	t->known = mine;
	*ret_fd = fd;
	return 0;
}

int bh_claims_attach(struct bh_claims *t, int fd)
{
	struct stat st;
	*t = (struct bh_claims){0};
	int seals = fcntl(fd, F_GET_SEALS);
	if (seals < 0)
		return -errno;
	if ((seals & CLAIMS_SEALS) != CLAIMS_SEALS || fstat(fd, &st) < 0)
		return -EBADF;
	if ((uint64_t)st.st_size < table_size(1) || (uint64_t)st.st_size > table_size(CLAIMS_MAX))
		return -EBADF;
	/* Its number of entries, from the bell: the supervisor wrote it before we ran. */
	void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		return -errno;
	uint32_t n = atomic_load_explicit(&((struct bh_claims_bell *)p)->entries,
					  memory_order_relaxed);
	munmap(p, (size_t)st.st_size);
	if (n == 0 || n > CLAIMS_MAX || (n & (n - 1)) || (uint64_t)st.st_size != table_size(n))
		return -EBADF;
	return map(t, fd, n);
}

void bh_claims_unmap(struct bh_claims *t)
{
	if (t->bell)
		munmap(t->bell, table_size(t->n));
	free(t->known);
	*t = (struct bh_claims){0};
}

/* What the supervisor knows of id; OFFERED: nothing yet. */
static enum bh_claim_state known_of(const struct bh_claims *t, uint32_t id)
{
	uint64_t k = t->known[id & (t->n - 1)];
	return (uint32_t)(k >> 32) == id ? (enum bh_claim_state)(uint32_t)k : BH_CLAIM_OFFERED;
}

static enum bh_claim_state remember(const struct bh_claims *t, uint32_t id,
				    enum bh_claim_state st)
{
	t->known[id & (t->n - 1)] = pack(id, st);
	return st;
}

/* What a word read from the table says of id, recorded unless it still reads OFFERED.
 * Only the shim's two moves are believed; anything else is a rewrite by the child. */
static enum bh_claim_state learn(const struct bh_claims *t, uint32_t id, uint64_t word)
{
	if (word == pack(id, BH_CLAIM_OFFERED))
		return BH_CLAIM_OFFERED;
	if (word == pack(id, BH_CLAIM_EXPIRED))
		return remember(t, id, BH_CLAIM_EXPIRED);
	return remember(t, id, BH_CLAIM_STARTED);
}

void bh_claim_offer(struct bh_claims *t, uint32_t id, uint64_t deadline_ns)
{
	struct bh_claim *e = entry(t, id);
	remember(t, id, BH_CLAIM_OFFERED);
	atomic_store_explicit(&e->deadline, deadline_ns, memory_order_relaxed);
	/* Release: a shim that sees the offer sees its deadline. */
	atomic_store_explicit(&e->word, pack(id, BH_CLAIM_OFFERED), memory_order_release);
}

bool bh_claim_start(struct bh_claims *t, uint32_t id, uint64_t now_ns)
{
	struct bh_claim *e = entry(t, id);
	uint64_t offered = pack(id, BH_CLAIM_OFFERED);
	if (atomic_load_explicit(&e->word, memory_order_acquire) != offered)
		return false;
	uint64_t deadline = atomic_load_explicit(&e->deadline, memory_order_relaxed);
	enum bh_claim_state to = deadline && now_ns >= deadline ? BH_CLAIM_EXPIRED
								: BH_CLAIM_STARTED;
	return atomic_compare_exchange_strong(&e->word, &offered, pack(id, to)) &&
	       to == BH_CLAIM_STARTED;
}

enum bh_claim_state bh_claim_revoke(struct bh_claims *t, uint32_t id)
{
	enum bh_claim_state st = known_of(t, id);
	if (st != BH_CLAIM_OFFERED)
		return st;
	struct bh_claim *e = entry(t, id);
	uint64_t word = pack(id, BH_CLAIM_OFFERED);
	if (atomic_compare_exchange_strong(&e->word, &word, pack(id, BH_CLAIM_REVOKED))) {
		remember(t, id, BH_CLAIM_REVOKED);
		return BH_CLAIM_OFFERED;
	}
	return learn(t, id, word); /* the failed exchange loaded the word */
}

enum bh_claim_state bh_claim_state(const struct bh_claims *t, uint32_t id)
{
	enum bh_claim_state st = known_of(t, id);
	if (st != BH_CLAIM_OFFERED)
		return st;
	return learn(t, id, atomic_load_explicit(&entry(t, id)->word, memory_order_acquire));
}

void bh_claim_release(struct bh_claims *t, uint32_t id)
{
	remember(t, id, BH_CLAIM_FREE);
	atomic_store_explicit(&entry(t, id)->word, pack(id, BH_CLAIM_FREE), memory_order_release);
}
