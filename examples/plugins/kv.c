/* kv: a bounded, stateful key-value store that keeps its state across a hot swap.
 *
 *   set(key: str, value: any)    nil
 *   get(key: str)                the value, nil when absent
 *   del(key: str)                true when the key existed
 *   keys()                       array of the keys, sorted bytewise
 *   count()                      number of keys
 *   incr(key: str, by: int = 1)  the new integer value (an absent key counts as 0)
 *
 * Config (all optional): max_keys (default 10000), max_bytes (memory for values,
 * default 64 MiB). One value is at most 1 MiB, one key at most 1 KiB.
 * Snapshot (state_version 1): a map key -> value.
 *
 * Argument trees live only as long as the call, so values are deep-copied into
 * storage of our own: one allocation per value, nodes first, then the bytes. */
#include <stdlib.h>
#include <string.h>

#include <bulkhead/plugin_args.h>

#define KV_MAX_KEYS 10000
#define KV_MAX_KEYS_LIMIT 1000000
#define KV_MAX_BYTES ((int64_t)64 << 20)
#define KV_MAX_KEY 1024
#define KV_MAX_VALUE ((size_t)1 << 20)
#define KV_STATE_VERSION 1

struct kv_entry {
	char *key;
	size_t key_len;
	bh_value *value; /* root of a copied tree, in one allocation of `size` bytes */
	size_t size;
};

struct kv {
	struct kv_entry *e; /* sorted by key */
	size_t n, cap;
	size_t max_keys;
	size_t bytes, max_bytes; /* sum of entry sizes and key lengths */
};

/* --- copying a value tree ------------------------------------------------------ */

static void tree_measure(const bh_value *v, size_t *nodes, size_t *bytes)
{
	(*nodes)++;
	switch (v->type) {
	case BH_STR:
	case BH_BIN:
	case BH_EXT:
		*bytes += v->len;
		break;
	case BH_ARRAY:
	case BH_MAP: {
		size_t n = v->type == BH_MAP ? 2 * (size_t)v->len : v->len;
		for (size_t i = 0; i < n; i++)
			tree_measure(&v->as.items[i], nodes, bytes);
		break;
	}
	default:
		break;
	}
}

struct cursor {
	bh_value *node; /* next free node */
	uint8_t *byte;  /* next free byte */
};

static void tree_copy(const bh_value *v, bh_value *dst, struct cursor *c)
{
	*dst = *v;
	switch (v->type) {
	case BH_STR:
	case BH_BIN:
	case BH_EXT:
		if (v->len > 0)
			memcpy(c->byte, v->as.bin, v->len);
		dst->as.bin = c->byte;
		c->byte += v->len;
		break;
	case BH_ARRAY:
	case BH_MAP: {
		size_t n = v->type == BH_MAP ? 2 * (size_t)v->len : v->len;
		bh_value *items = c->node;
		c->node += n;
		for (size_t i = 0; i < n; i++)
			tree_copy(&v->as.items[i], &items[i], c);
		dst->as.items = items;
		break;
	}
	default:
		break;
	}
}

/* A private copy of v; 0, or fails err. */
static int value_dup(const bh_value *v, bh_value **ret, size_t *ret_size, bh_error *err)
{
	size_t nodes = 0, bytes = 0;

	tree_measure(v, &nodes, &bytes);
	size_t size = nodes * sizeof(bh_value) + bytes;
	if (size > KV_MAX_VALUE)
		return bh_fail(err, BH_E_INVALID_PARAMS,
			       "value takes %zu bytes, the limit is %zu", size, KV_MAX_VALUE);
	bh_value *root = malloc(size);
	if (!root)
		return bh_fail(err, BH_E_PLUGIN_ERROR, "out of memory");
	struct cursor c = { .node = root + 1, .byte = (uint8_t *)(root + nodes) };
	tree_copy(v, root, &c);
	*ret = root;
	*ret_size = size;
	return 0;
}

/* --- the sorted table ------------------------------------------------------------ */

static int key_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
	int c = memcmp(a, b, alen < blen ? alen : blen);

	return c != 0 ? c : (alen > blen) - (alen < blen);
}

/* Index of key, or of where it would go; *found says which. */
static size_t kv_search(const struct kv *kv, const char *key, size_t len, bool *found)
{
	size_t lo = 0, hi = kv->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = key_cmp(kv->e[mid].key, kv->e[mid].key_len, key, len);
		if (c == 0) {
			*found = true;
			return mid;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = false;
	return lo;
}

static void entry_free(struct kv_entry *e)
{
	free(e->key);
	free(e->value);
}

static void kv_clear(struct kv *kv)
{
	for (size_t i = 0; i < kv->n; i++)
		entry_free(&kv->e[i]);
	free(kv->e);
	kv->e = NULL;
	kv->n = kv->cap = 0;
	kv->bytes = 0;
}

/* Store a copy of value under key, replacing an older value. 0, or fails err and
 * leaves the store as it was. */
static int kv_put(struct kv *kv, const char *key, size_t key_len, const bh_value *value,
		  bh_error *err)
{
	bool found;
	size_t i = kv_search(kv, key, key_len, &found);
	bh_value *copy = NULL;
	size_t size = 0;

	if (!found && kv->n >= kv->max_keys)
		return bh_fail(err, BH_E_INVALID_PARAMS, "the store is full (%zu keys)",
			       kv->max_keys);
	if (value_dup(value, &copy, &size, err) < 0)
		return -1;
	size_t old = found ? kv->e[i].size : 0;
	size_t extra = found ? 0 : key_len;
	if (kv->bytes - old + size + extra > kv->max_bytes) {
		free(copy);
		return bh_fail(err, BH_E_INVALID_PARAMS,
			       "the store would exceed its %zu bytes of memory", kv->max_bytes);
	}
	if (found) {
		free(kv->e[i].value);
		kv->e[i].value = copy;
		kv->e[i].size = size;
		kv->bytes = kv->bytes - old + size;
		return 0;
	}
	if (kv->n == kv->cap) {
		size_t cap = kv->cap ? 2 * kv->cap : 16;
		struct kv_entry *e = realloc(kv->e, cap * sizeof(*e));
		if (!e) {
			free(copy);
			return bh_fail(err, BH_E_PLUGIN_ERROR, "out of memory");
		}
		kv->e = e;
		kv->cap = cap;
	}
	char *k = malloc(key_len + 1);
	if (!k) {
		free(copy);
		return bh_fail(err, BH_E_PLUGIN_ERROR, "out of memory");
	}
	memcpy(k, key, key_len);
	k[key_len] = '\0';
	memmove(&kv->e[i + 1], &kv->e[i], (kv->n - i) * sizeof(*kv->e));
	kv->e[i] = (struct kv_entry){ .key = k, .key_len = key_len, .value = copy, .size = size };
	kv->n++;
	kv->bytes += size + key_len;
	return 0;
}

/* The key argument args[i]: 0, or fails err. */
static int arg_key(const bh_value *args, uint32_t i, const char **key, size_t *len,
		   bh_error *err)
{
	if (bh_arg_str(args, i, "key", key, len, err) < 0)
		return -1;
	if (*len > KV_MAX_KEY)
		return bh_fail(err, BH_E_INVALID_PARAMS, "key of %zu bytes, the limit is %d",
			       *len, KV_MAX_KEY);
	return 0;
}

/* --- methods ---------------------------------------------------------------------- */

static int m_set(void *state, const bh_value *args, bh_writer *out, bh_error *err)
{
	const char *key;
	size_t len;

	if (bh_args_count(args, 2, 2, err) < 0 || arg_key(args, 0, &key, &len, err) < 0 ||
	    kv_put(state, key, len, bh_value_at(args, 1), err) < 0)
		return -1;
	return bh_write_nil(out);
}

static int m_get(void *state, const bh_value *args, bh_writer *out, bh_error *err)
{
	struct kv *kv = state;
	const char *key;
	size_t len;
	bool found;

	if (arg_key(args, 0, &key, &len, err) < 0)
		return -1;
	size_t i = kv_search(kv, key, len, &found);
	return found ? bh_write_value(out, kv->e[i].value) : bh_write_nil(out);
}

static int m_del(void *state, const bh_value *args, bh_writer *out, bh_error *err)
{
	struct kv *kv = state;
	const char *key;
	size_t len;
	bool found;

	if (arg_key(args, 0, &key, &len, err) < 0)
		return -1;
	size_t i = kv_search(kv, key, len, &found);
	if (found) {
		kv->bytes -= kv->e[i].size + kv->e[i].key_len;
		entry_free(&kv->e[i]);
		memmove(&kv->e[i], &kv->e[i + 1], (kv->n - i - 1) * sizeof(*kv->e));
		kv->n--;
	}
	return bh_write_bool(out, found);
}

static int m_keys(void *state, const bh_value *args, bh_writer *out, bh_error *err)
{
	(void)args, (void)err;
	struct kv *kv = state;

	bh_write_array(out, (uint32_t)kv->n);
	for (size_t i = 0; i < kv->n; i++)
		bh_write_str(out, kv->e[i].key, kv->e[i].key_len);
	return bh_writer_error(out);
}

static int m_count(void *state, const bh_value *args, bh_writer *out, bh_error *err)
{
	(void)args, (void)err;
	return bh_write_uint(out, ((struct kv *)state)->n);
}

static int m_incr(void *state, const bh_value *args, bh_writer *out, bh_error *err)
{
	struct kv *kv = state;
	const char *key;
	size_t len;
	bool found;
	int64_t by = 1, cur = 0;

	if (arg_key(args, 0, &key, &len, err) < 0)
		return -1;
	if (bh_value_at(args, 1) && bh_arg_int(args, 1, "by", &by, err) < 0)
		return -1;
	size_t i = kv_search(kv, key, len, &found);
	if (found && bh_value_get_int(kv->e[i].value, &cur) < 0)
		return bh_fail(err, BH_E_INVALID_PARAMS, "the value of %s is not an integer",
			       kv->e[i].key);
	if (__builtin_add_overflow(cur, by, &cur))
		return bh_fail(err, BH_E_INVALID_PARAMS, "incr overflows a 64-bit integer");
	bh_value v = { .type = BH_INT, .as.i = cur };
	if (kv_put(kv, key, len, &v, err) < 0)
		return -1;
	return bh_write_int(out, cur);
}

/* --- lifecycle and state handoff -------------------------------------------------- */

static int kv_init(const bh_value *config, void **ret_state, bh_error *err)
{
	int64_t max_keys = KV_MAX_KEYS, max_bytes = KV_MAX_BYTES;
	const bh_value *v;

	if ((v = bh_value_find(config, "max_keys")) &&
	    (bh_value_get_int(v, &max_keys) < 0 || max_keys < 1 || max_keys > KV_MAX_KEYS_LIMIT))
		return bh_fail(err, BH_E_INVALID_PARAMS, "config.max_keys: an integer 1..%d",
			       KV_MAX_KEYS_LIMIT);
	if ((v = bh_value_find(config, "max_bytes")) &&
	    (bh_value_get_int(v, &max_bytes) < 0 || max_bytes < 1))
		return bh_fail(err, BH_E_INVALID_PARAMS, "config.max_bytes: a positive integer");
	struct kv *kv = calloc(1, sizeof(*kv));
	if (!kv)
		return bh_fail(err, BH_E_PLUGIN_ERROR, "out of memory");
	kv->max_keys = (size_t)max_keys;
	kv->max_bytes = (size_t)max_bytes;
	*ret_state = kv;
	return 0;
}

static void kv_shutdown(void *state)
{
	struct kv *kv = state;

	if (kv)
		kv_clear(kv);
	free(kv);
}

static int kv_snapshot(void *state, bh_writer *out, bh_error *err)
{
	(void)err;
	struct kv *kv = state;

	bh_write_map(out, (uint32_t)kv->n);
	for (size_t i = 0; i < kv->n; i++) {
		bh_write_str(out, kv->e[i].key, kv->e[i].key_len);
		bh_write_value(out, kv->e[i].value);
	}
	return bh_writer_error(out);
}

/* All or nothing: the blob is loaded into a fresh store that replaces ours only
 * when every entry was accepted. */
static int kv_restore(void *state, uint32_t version, const bh_value *blob, bh_error *err)
{
	struct kv *kv = state;
	struct kv next = { .max_keys = kv->max_keys, .max_bytes = kv->max_bytes };

	if (version != KV_STATE_VERSION)
		return bh_fail(err, BH_E_PLUGIN_ERROR, "state version %u, this kv reads %d",
			       version, KV_STATE_VERSION);
	if (!blob || blob->type != BH_MAP)
		return bh_fail(err, BH_E_PLUGIN_ERROR, "state: want a map of key -> value");
	for (uint32_t i = 0; i < blob->len; i++) {
		const bh_value *k = &blob->as.items[2 * i];
		if (k->type != BH_STR || k->len > KV_MAX_KEY) {
			kv_clear(&next);
			return bh_fail(err, BH_E_PLUGIN_ERROR, "state: entry %u has a bad key", i);
		}
		if (kv_put(&next, k->as.str, k->len, &blob->as.items[2 * i + 1], err) < 0) {
			kv_clear(&next);
			return -1;
		}
	}
	kv_clear(kv);
	*kv = next;
	return 0;
}

static const struct bh_method methods[] = {
	{ "set", m_set },     { "get", m_get },     { "del", m_del },
	{ "keys", m_keys },   { "count", m_count }, { "incr", m_incr },
};

BH_PLUGIN_DEFINE = {
	BH_PLUGIN_HEADER,
	.name = "kv",
	.version = "1.0.0",
	.init = kv_init,
	.shutdown = kv_shutdown,
	.methods = methods,
	.n_methods = sizeof(methods) / sizeof(methods[0]),
	.state_version = KV_STATE_VERSION,
	.snapshot = kv_snapshot,
	.restore = kv_restore,
};
