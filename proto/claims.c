/* bulkhead proto: the claim table (bulkhead/claims.h). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
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

static int map(struct bh_claims *t, int fd, uint32_t n)
{
	void *p = mmap(NULL, (size_t)n * sizeof(struct bh_claim), PROT_READ | PROT_WRITE,
		       MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		return -errno;
	t->entries = p;
	t->n = n;
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
	if (ftruncate(fd, (off_t)n * (off_t)sizeof(struct bh_claim)) < 0 ||
	    fcntl(fd, F_ADD_SEALS, CLAIMS_SEALS) < 0)
		r = -errno;
	if (r == 0)
		r = map(t, fd, n);
	if (r < 0) {
		close(fd);
		return r;
	}
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
	uint64_t n = (uint64_t)st.st_size / sizeof(struct bh_claim);
	if (n == 0 || n > CLAIMS_MAX || (n & (n - 1)) ||
	    (uint64_t)st.st_size != n * sizeof(struct bh_claim))
		return -EBADF;
	return map(t, fd, (uint32_t)n);
}

void bh_claims_unmap(struct bh_claims *t)
{
	if (t->entries)
		munmap(t->entries, (size_t)t->n * sizeof(struct bh_claim));
	*t = (struct bh_claims){0};
}

void bh_claim_offer(struct bh_claims *t, uint32_t id, uint64_t deadline_ns)
{
	struct bh_claim *e = entry(t, id);
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

static enum bh_claim_state state_of(uint64_t word, uint32_t id)
{
	if ((uint32_t)(word >> 32) != id)
		return BH_CLAIM_FREE;
	uint32_t st = (uint32_t)word;
	return st <= BH_CLAIM_WAITING ? (enum bh_claim_state)st : BH_CLAIM_FREE;
}

enum bh_claim_state bh_claim_revoke(struct bh_claims *t, uint32_t id)
{
	struct bh_claim *e = entry(t, id);
	uint64_t offered = pack(id, BH_CLAIM_OFFERED);
	if (atomic_compare_exchange_strong(&e->word, &offered, pack(id, BH_CLAIM_REVOKED)))
		return BH_CLAIM_OFFERED;
	return state_of(offered, id); /* the failed exchange loaded the word */
}

enum bh_claim_state bh_claim_state(const struct bh_claims *t, uint32_t id)
{
	return state_of(atomic_load_explicit(&entry(t, id)->word, memory_order_acquire), id);
}

void bh_claim_release(struct bh_claims *t, uint32_t id)
{
	atomic_store_explicit(&entry(t, id)->word, pack(id, BH_CLAIM_FREE), memory_order_release);
}
