/* bulkhead proto: reading decoded values (getters, lookup, equality). */
#include <errno.h>
#include <math.h>
#include <string.h>

#include "bulkhead/value.h"
#include "wire.h"

int bh_value_get_bool(const bh_value *v, bool *ret)
{
	if (!v || v->type != BH_BOOL)
		return -EINVAL;
	*ret = v->as.b;
	return 0;
}

int bh_value_get_int(const bh_value *v, int64_t *ret)
{
	if (!v)
		return -EINVAL;
	if (v->type == BH_INT) {
		*ret = v->as.i;
		return 0;
	}
	if (v->type == BH_UINT) {
		if (v->as.u > INT64_MAX)
			return -ERANGE;
		*ret = (int64_t)v->as.u;
		return 0;
	}
	return -EINVAL;
}

int bh_value_get_uint(const bh_value *v, uint64_t *ret)
{
	if (!v)
		return -EINVAL;
	if (v->type == BH_UINT) {
		*ret = v->as.u;
		return 0;
	}
	if (v->type == BH_INT) {
		if (v->as.i < 0)
			return -ERANGE;
		*ret = (uint64_t)v->as.i;
		return 0;
	}
	return -EINVAL;
}

int bh_value_get_float(const bh_value *v, double *ret)
{
	if (!v)
		return -EINVAL;
	switch (v->type) {
	case BH_FLOAT: *ret = v->as.f; return 0;
	case BH_INT: *ret = (double)v->as.i; return 0;
	case BH_UINT: *ret = (double)v->as.u; return 0;
	default: return -EINVAL;
	}
}

int bh_value_get_str(const bh_value *v, const char **ret, size_t *ret_len)
{
	if (!v || v->type != BH_STR)
		return -EINVAL;
	*ret = v->as.str;
	if (ret_len)
		*ret_len = v->len;
	return 0;
}

int bh_value_get_bin(const bh_value *v, const uint8_t **ret, size_t *ret_len)
{
	if (!v || v->type != BH_BIN)
		return -EINVAL;
	*ret = v->as.bin;
	if (ret_len)
		*ret_len = v->len;
	return 0;
}

bool bh_value_str_eq(const bh_value *v, const char *s)
{
	if (!v || !s || v->type != BH_STR)
		return false;
	size_t n = strlen(s);
	return n == v->len && (n == 0 || memcmp(v->as.str, s, n) == 0);
}

const bh_value *bh_value_find(const bh_value *map, const char *key)
{
	if (!map || !key || map->type != BH_MAP)
		return NULL;
	for (uint32_t i = 0; i < map->len; i++)
		if (bh_value_str_eq(&map->as.items[2 * i], key))
			return &map->as.items[2 * i + 1];
	return NULL;
}

/* Integers compare by mathematical value, whichever of BH_INT / BH_UINT holds them. */
static bool int_equal(const bh_value *a, const bh_value *b)
{
	if (a->type == b->type)
		return a->as.u == b->as.u;
	const bh_value *s = a->type == BH_INT ? a : b;
	const bh_value *u = a->type == BH_INT ? b : a;
	return s->as.i >= 0 && (uint64_t)s->as.i == u->as.u;
}

static bool bytes_equal(const void *a, const void *b, uint32_t len)
{
	return len == 0 || memcmp(a, b, len) == 0;
}

/* Recursion is bounded by BH__DEPTH_CAP: a decoded tree is never deeper, and a
 * hand-built one that is compares unequal rather than exhausting the stack. */
static bool equal_at(const bh_value *a, const bh_value *b, unsigned depth)
{
	bool a_int = a->type == BH_INT || a->type == BH_UINT;
	bool b_int = b->type == BH_INT || b->type == BH_UINT;
	if (a_int || b_int)
		return a_int && b_int && int_equal(a, b);
	if (a->type != b->type)
		return false;

	switch (a->type) {
	case BH_NIL:
		return true;
	case BH_BOOL:
		return a->as.b == b->as.b;
	case BH_FLOAT:
		/* By value, so 0.0 == -0.0; but a NaN equals a NaN, so that a tree
		 * equals its own round trip. */
		return a->len == b->len &&
		       (a->as.f == b->as.f || (isnan(a->as.f) && isnan(b->as.f)));
	case BH_STR:
		return a->len == b->len && bytes_equal(a->as.str, b->as.str, a->len);
	case BH_BIN:
		return a->len == b->len && bytes_equal(a->as.bin, b->as.bin, a->len);
	case BH_EXT:
		return a->ext_type == b->ext_type && a->len == b->len &&
		       bytes_equal(a->as.bin, b->as.bin, a->len);
	case BH_ARRAY:
	case BH_MAP: {
		if (a->len != b->len || depth >= BH__DEPTH_CAP)
			return false;
		uint64_t n = a->type == BH_MAP ? (uint64_t)a->len * 2 : a->len;
		for (uint64_t i = 0; i < n; i++)
			if (!equal_at(&a->as.items[i], &b->as.items[i], depth + 1))
				return false;
		return true;
	}
	default:
		return false;
	}
}

bool bh_value_equal(const bh_value *a, const bh_value *b)
{
	if (!a || !b)
		return a == b;
	return equal_at(a, b, 0);
}
