/* A map from names to pointers: an open-addressing hash table (linear probing,
 * deletion by backward shift, at most half full), so that finding a plugin by
 * name costs the same with one plugin loaded or thousands. Keys are copied. */
#ifndef BH_NAMES_H
#define BH_NAMES_H

#include <stddef.h>
#include <stdint.h>

struct bh_name_entry {
	char *key;   /* owned; NULL: a free entry */
	size_t len;
	uint64_t hash;
	void *value;
};

struct bh_names {
	struct bh_name_entry *tab; /* cap entries, cap a power of two (or 0) */
	size_t cap, n;
};

void bh_names_init(struct bh_names *m);
/* Frees the table and the copied keys, never the values. Accepts a zeroed map. */
void bh_names_done(struct bh_names *m);
/* Add key (len bytes, a copy is kept) -> value (not NULL). 0, -EEXIST when the key
 * is there already (the map is unchanged), -ENOMEM. */
int bh_names_put(struct bh_names *m, const char *key, size_t len, void *value);
/* The value of key, or NULL. */
void *bh_names_get(const struct bh_names *m, const char *key, size_t len);
/* Remove key; returns its value, or NULL when it was not there. */
void *bh_names_del(struct bh_names *m, const char *key, size_t len);

#endif
