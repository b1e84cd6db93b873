/* The claim table (bulkhead/claims.h) as a plugin finds it: the shim's shared mapping
 * of the daemon's memfd, "/memfd:bulkhead-claims" in /proc/self/maps. Its layout is
 * written out here the way an attacker would, not taken from the header: a 128-byte
 * doorbell (two counters, the number of entries at 76), the answer ring's 128 bytes of
 * control words, entries of two 64-bit words (id << 32 | state, deadline in
 * CLOCK_MONOTONIC ns), then the ring's 64 KiB of data (ring_table.h), rounded up to
 * whole pages. Shared by the claim_* plugins. */
#ifndef BH_HOSTILE_CLAIM_TABLE_H
#define BH_HOSTILE_CLAIM_TABLE_H

#include <stdatomic.h>

enum { HC_FREE, HC_OFFERED, HC_STARTED, HC_REVOKED, HC_EXPIRED };
enum { HC_ENTRIES_N_AT = 76, HC_ENTRIES_AT = 256, HC_RING_DATA = 64 * 1024 };

struct hc_entry {
	_Atomic uint64_t word;
	_Atomic uint64_t deadline;
};

struct hc_table {
	struct hc_entry *e;
	size_t n;
	uintptr_t start, end; /* the mapping, as /proc/self/maps gives it */
};

static H_UNUSED uint64_t hc_pack(uint32_t id, uint32_t st)
{
	return (uint64_t)id << 32 | st;
}

/* Find the table in /proc/self/maps; false (with a note) when there is none. */
static H_UNUSED bool hc_find(struct h_out *o, struct hc_table *t)
{
	memset(t, 0, sizeof(*t));
	o->attempted = true;
	if (!h_find_mapping(o, "memfd:bulkhead-claims", &t->start, &t->end))
		return false;
	t->e = (struct hc_entry *)(t->start + HC_ENTRIES_AT);
	/* The count the daemon wrote; after a hole punched in the table (claim_sigbus),
	 * everything up to the ring's data. */
	size_t most = (t->end - t->start - HC_ENTRIES_AT - HC_RING_DATA) / sizeof(struct hc_entry);
	t->n = *(const uint32_t *)(t->start + HC_ENTRIES_N_AT);
	if (t->n == 0 || t->n > most)
		t->n = most;
	return true;
}

/* The entry of the call running now: the one STARTED entry (the shim is serial and
 * these plugins make no nested calls). NULL when there is none or several. */
static H_UNUSED struct hc_entry *hc_running(const struct hc_table *t)
{
	struct hc_entry *found = NULL;
	for (size_t i = 0; i < t->n; i++)
		if ((uint32_t)atomic_load(&t->e[i].word) == HC_STARTED) {
			if (found)
				return NULL;
			found = &t->e[i];
		}
	return found;
}

/* The entry and id of the call running now; false (noted) when there is none. */
static H_UNUSED bool hc_own_call(struct h_out *o, struct hc_entry **ret_e, uint32_t *ret_id)
{
	struct hc_table t;
	if (!hc_find(o, &t))
		return false;
	struct hc_entry *e = hc_running(&t);
	o->attempted = true;
	if (!e) {
		h_note(o, "no single STARTED entry in the table");
		return false;
	}
	*ret_e = e;
	*ret_id = (uint32_t)(atomic_load(&e->word) >> 32);
	o->count = *ret_id;
	return true;
}

#endif
