/* bulkhead: the claim table shared by the supervisor and one shim.
 *
 * The channel socket carries calls in order, but a socket cannot say which of the
 * calls it delivered a child has started: a child that dies with several calls in its
 * socket buffer leaves only a guess, and a call waiting behind a long one cannot be
 * taken back. The claim table makes both exact. It is a small memfd the supervisor
 * creates, seals against resizing and maps, and the shim maps on fd BH_CLAIMS_FD. One
 * entry per channel id (index: id & (entries - 1)) holds the id, a state and the
 * call's deadline:
 *
 *   supervisor, before writing a call:  FREE -> OFFERED (id, deadline)
 *   shim, before starting it:           OFFERED -> STARTED, only if the deadline has
 *                                       not passed (else OFFERED -> EXPIRED)
 *   supervisor, to take a call back:    OFFERED -> REVOKED (its deadline passed, its
 *                                       client left, or another instance is idle)
 *   supervisor, on the response:        STARTED -> FREE
 *
 * Each step is one compare-and-swap on the entry's word, so the shim starting a call
 * and the supervisor taking it back can never both succeed: a call runs at most once,
 * never after its deadline, and at a child's death the calls it started are exactly
 * those in STARTED. The shim skips (never answers) a call whose entry is not OFFERED
 * under its id. Ids are the supervisor's and grow by one per call, so a stale message
 * never matches a reused entry.
 *
 * The table lives in the plugin's address space too: a hostile plugin can rewrite it,
 * which lets it misreport only its own calls (the supervisor validates every state it
 * reads and never trusts the table with anything else). What the supervisor learns
 * of an entry it keeps in memory of its own, so that a rewrite cannot take it back:
 * its view moves once, from OFFERED to STARTED, EXPIRED or REVOKED, and stays there
 * until the entry is offered again. A call it has seen started is never taken back,
 * re-dispatched or spared its deadline; whatever it finds in an entry that neither
 * side's protocol writes (REVOKED it did not write, another id, an unknown state) is
 * STARTED: the child touched the call, it may have run.
 *
 * Nesting: a call that calls out (a plugin calling another plugin or its caller) stays
 * STARTED here, and may be re-entered by its own call chain meanwhile: the instance
 * then holds a stack of started calls. Which of them waits on an outgoing call the
 * supervisor knows from its own records (it routes that call), not from this table,
 * which the plugin could forge: the one on top runs, and only it can get its instance
 * killed for its deadline. */
#ifndef BULKHEAD_CLAIMS_H
#define BULKHEAD_CLAIMS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bulkhead/ring.h"

/* The doorbell, before the entries: two counters that let a side expecting traffic
 * watch memory for it instead of sleeping in the kernel, where waking it costs a
 * context switch and, on an idle CPU of a VM, tens of µs. Each side bumps its counter
 * after every write to the channel. Watching pays only while the other side runs on
 * another CPU: on the same one, the watcher holds the CPU the other needs (and a
 * socket wake-up puts a sleeping reader on its writer's CPU). So each side also says
 * where it runs: the supervisor its CPU when it last wrote calls, the shim its CPU
 * while it runs (watching or serving; 0 while it sleeps in read), both + 1. They are hints, never trusted: a
 * side that sees a bump still reads the socket (and may find nothing), a side that
 * sees none in time blocks on the socket as always. A plugin that rewrites them
 * wastes only CPU time the watching side had bounded in advance. */
struct bh_claims_bell {
	_Alignas(64) _Atomic uint32_t posted; /* supervisor: writes of calls */
	_Atomic uint32_t supervisor_cpu;      /* supervisor: its CPU + 1 at its last write */
	_Alignas(64) _Atomic uint32_t answered; /* shim: writes of responses */
	_Atomic uint32_t shim_cpu;            /* shim: its CPU + 1 while it runs, else 0 */
	/* shim: the signal it is dying of, written once, right before it exits with
	 * BH_SHIM_EXIT_SIGNALED (channel.h); 0 while it lives. A hint like the rest. */
	_Atomic uint32_t died_of;
	/* supervisor: the number of entries, written before the shim starts. The table is
	 * rounded up to whole pages, so the size alone does not say. */
	_Atomic uint32_t entries;
};

/* Where the shim finds the table (after the channel, fd 3). */
#define BH_CLAIMS_FD 4

enum bh_claim_state {
	BH_CLAIM_FREE = 0,
	BH_CLAIM_OFFERED = 1,
	BH_CLAIM_STARTED = 2,
	BH_CLAIM_REVOKED = 3,
	BH_CLAIM_EXPIRED = 4,
};

struct bh_claim {
	_Atomic uint64_t word;     /* id << 32 | state */
	_Atomic uint64_t deadline; /* CLOCK_MONOTONIC ns; 0: none */
};

struct bh_claims {
	struct bh_claim *entries;
	uint32_t n;                /* a power of two */
	/* The mapping: the bell, the answer ring's control words (ring.h), the entries,
	 * the ring's data. */
	struct bh_claims_bell *bell;
	struct bh_ring_ctl *ring;
	uint8_t *ring_data;
	/* Supervisor only: per entry, id << 32 | state as the supervisor knows it (OFFERED:
	 * nothing learned yet, ask the table). Private memory, out of the child's reach. */
	uint64_t *known;
};

/* The doorbell. Bump: after a write to the channel (release). Read: acquire. */
static inline void bh_bell_ring(_Atomic uint32_t *counter)
{
	atomic_fetch_add_explicit(counter, 1, memory_order_release);
}

static inline uint32_t bh_bell_read(_Atomic uint32_t *counter)
{
	return atomic_load_explicit(counter, memory_order_acquire);
}

/* In a watch loop: tell the CPU we spin (and, on a VM, the hypervisor). */
static inline void bh_cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ volatile("yield");
#endif
}

/* The CPUs in the doorbell: a side's CPU + 1 (0: none). */
static inline void bh_bell_set_cpu(_Atomic uint32_t *where, uint32_t cpu_plus_1)
{
	atomic_store_explicit(where, cpu_plus_1, memory_order_relaxed);
}

static inline uint32_t bh_bell_cpu(_Atomic uint32_t *where)
{
	return atomic_load_explicit(where, memory_order_relaxed);
}

/* Supervisor: a table of n entries (a power of two, at most 2^20). Fills *ret_fd with
 * a sealed memfd (close-on-exec) to hand to the child and maps it. 0 or -errno. */
int bh_claims_create(struct bh_claims *t, uint32_t n, int *ret_fd);
/* Shim: map the table on fd (checks the seals and the size). 0 or -errno. */
int bh_claims_attach(struct bh_claims *t, int fd);
void bh_claims_unmap(struct bh_claims *t);

/* Supervisor: id is about to be written, to run before deadline_ns (0: no deadline). */
void bh_claim_offer(struct bh_claims *t, uint32_t id, uint64_t deadline_ns);
/* Shim: start id now (now_ns: CLOCK_MONOTONIC). True when it may run; false when it
 * was taken back, its deadline passed, or the entry is not its own. */
bool bh_claim_start(struct bh_claims *t, uint32_t id, uint64_t now_ns);
/* Supervisor: take id back (id is offered, not yet released). Its state before:
 * OFFERED (now REVOKED: it never runs), EXPIRED (it never ran), STARTED (it runs or
 * ran, or the table was rewritten), or REVOKED (taken back already). */
enum bh_claim_state bh_claim_revoke(struct bh_claims *t, uint32_t id);
/* Supervisor: the state of id (offered, not yet released): OFFERED, STARTED, EXPIRED
 * or REVOKED, as for bh_claim_revoke. Records what it learns (in t->known). */
enum bh_claim_state bh_claim_state(const struct bh_claims *t, uint32_t id);
/* Supervisor: id's entry is unused again. */
void bh_claim_release(struct bh_claims *t, uint32_t id);

#endif
