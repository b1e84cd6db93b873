/* The name map (names.h). Linear probing keeps a lookup to one or two cache lines
 * at a load factor of at most 1/2; deleting shifts the entries of the probe run
 * back, so there are no tombstones and a lookup never gets slower over time.
 * Inserted names come from the configuration and admins; looked-up names from any
 * client, which cannot lengthen a probe run by looking up. */
#include "names.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define NAMES_MIN_CAP 16

/* FNV-1a, 64 bits. */
static uint64_t name_hash(const char *key, size_t len)
{
	uint64_t h = 0xcbf29ce484222325ull;
	for (size_t i = 0; i < len; i++) {
		h ^= (unsigned char)key[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

void bh_names_init(struct bh_names *m)
{
	*m = (struct bh_names){0};
}

void bh_names_done(struct bh_names *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->cap; i++)
		free(m->tab[i].key);
	free(m->tab);
	*m = (struct bh_names){0};
}

/* The entry holding key, or the free entry where it would go. cap > 0. */
static struct bh_name_entry *probe(const struct bh_names *m, const char *key, size_t len,
				   uint64_t hash)
{
	size_t mask = m->cap - 1;
	for (size_t i = hash & mask;; i = (i + 1) & mask) {
		struct bh_name_entry *e = &m->tab[i];
		if (!e->key || (e->hash == hash && e->len == len && memcmp(e->key, key, len) == 0))
			return e;
	}
}

static int grow(struct bh_names *m)
{
	size_t cap = m->cap ? m->cap * 2 : NAMES_MIN_CAP;
	struct bh_name_entry *tab = calloc(cap, sizeof(*tab));
	if (!tab)
		return -ENOMEM;
	struct bh_names bigger = {.tab = tab, .cap = cap, .n = m->n};
	for (size_t i = 0; i < m->cap; i++)
		if (m->tab[i].key)
			*probe(&bigger, m->tab[i].key, m->tab[i].len, m->tab[i].hash) = m->tab[i];
	free(m->tab);
	*m = bigger;
	return 0;
}

int bh_names_put(struct bh_names *m, const char *key, size_t len, void *value)
{
	if ((m->n + 1) * 2 > m->cap && grow(m) < 0)
		return -ENOMEM;
	uint64_t hash = name_hash(key, len);
	struct bh_name_entry *e = probe(m, key, len, hash);
	if (e->key)
		return -EEXIST;
	char *copy = malloc(len + 1);
	if (!copy)
		return -ENOMEM;
	memcpy(copy, key, len);
	copy[len] = 0;
	*e = (struct bh_name_entry){.key = copy, .len = len, .hash = hash, .value = value};
	m->n++;
	return 0;
}

void *bh_names_get(const struct bh_names *m, const char *key, size_t len)
{
	if (m->cap == 0)
		return NULL;
	return probe(m, key, len, name_hash(key, len))->value;
}

void *bh_names_del(struct bh_names *m, const char *key, size_t len)
{
	if (m->cap == 0)
		return NULL;
	struct bh_name_entry *e = probe(m, key, len, name_hash(key, len));
	if (!e->key)
		return NULL;
	void *value = e->value;
	free(e->key);
	/* Backward shift: move up each later entry of the run that may sit in the hole
	 * (its home is not cyclically within (hole, its place]). */
	size_t mask = m->cap - 1, hole = (size_t)(e - m->tab);
	for (size_t i = (hole + 1) & mask; m->tab[i].key; i = (i + 1) & mask) {
		size_t home = m->tab[i].hash & mask;
		bool stays = hole < i ? hole < home && home <= i : hole < home || home <= i;
		if (stays)
			continue;
		m->tab[hole] = m->tab[i];
		hole = i;
	}
	m->tab[hole] = (struct bh_name_entry){0};
	m->n--;
	return value;
}
