/* bulkhead plugin SDK for C: typed access to a call's arguments.
 *
 * Header-only (static inline over the bh_value_* getters of value.h): nothing here is
 * part of the ABI, a plugin that includes it still links against nothing. Each getter
 * returns 0 with the outputs set, or -1 (outputs untouched) with err filled as
 * BH_E_INVALID_PARAMS and a message that says where and what went wrong:
 *
 *     params[0] (name): want str, got int
 *     params[1] (by): missing, want int
 *     config.max_keys: want int, got str
 *
 * so that a method is a few lines:
 *
 *     const char *name; size_t len;
 *     if (bh_arg_str(args, 0, "name", &name, &len, err) < 0)
 *             return -1;
 *
 * `what` names the argument in the message (may be NULL). Strings and binaries are
 * borrowed from the call's arguments: valid until the callback returns. An optional
 * argument: test bh_value_at(args, i) first. */
#ifndef BULKHEAD_PLUGIN_ARGS_H
#define BULKHEAD_PLUGIN_ARGS_H

#include <errno.h>

#include "bulkhead/plugin.h"

#ifdef __cplusplus
extern "C" {
#endif

/* "nil", "bool", "int", "uint", "float", "str", "bin", "array", "map", "ext"; "?" for
 * anything else. Static storage. */
static inline const char *bh_type_name(const bh_value *v)
{
	static const char *const names[] = { "nil", "bool", "int", "uint", "float",
					     "str", "bin", "array", "map", "ext" };
	return v->type < sizeof(names) / sizeof(names[0]) ? names[v->type] : "?";
}

/* Fails err with invalid_params: v (NULL: missing) is not a `want`; rc is the getter's
 * error (-ERANGE: a number out of range). The place is map_name.key for a map entry,
 * params[i] (what) for an argument (map_name NULL). */
static inline int bh__arg_fail(bh_error *err, const char *map_name, const char *key,
			       uint32_t i, const char *what, const bh_value *v,
			       const char *want, int rc)
{
	const char *why = !v ? "missing, want " : "want ";
	const char *got = !v ? "" : rc == -ERANGE ? ", out of range" : ", got ";
	const char *type = !v || rc == -ERANGE ? "" : bh_type_name(v);

	if (map_name)
		return bh_fail(err, BH_E_INVALID_PARAMS, "%s.%s: %s%s%s%s", map_name, key, why,
			       want, got, type);
	if (what)
		return bh_fail(err, BH_E_INVALID_PARAMS, "params[%u] (%s): %s%s%s%s", i, what,
			       why, want, got, type);
	return bh_fail(err, BH_E_INVALID_PARAMS, "params[%u]: %s%s%s%s", i, why, want, got,
		       type);
}

/* Fails unless args has between min and max elements. */
static inline int bh_args_count(const bh_value *args, uint32_t min, uint32_t max,
				bh_error *err)
{
	uint32_t n = args && args->type == BH_ARRAY ? args->len : 0;

	if (n >= min && n <= max)
		return 0;
	if (min == max)
		return bh_fail(err, BH_E_INVALID_PARAMS, "want %u params, got %u", min, n);
	return bh_fail(err, BH_E_INVALID_PARAMS, "want %u to %u params, got %u", min, max, n);
}

/* Entry key of a map (NULL when map is not a map or has no such key). */
static inline const bh_value *bh__key(const bh_value *map, const char *key)
{
	return map && map->type == BH_MAP ? bh_value_find(map, key) : NULL;
}

static inline int bh__container(const bh_value *v, uint8_t type, const bh_value **ret)
{
	if (v->type != type)
		return -EINVAL;
	*ret = v;
	return 0;
}

#define BH__AT(i, what) NULL, NULL, (i), (what)
#define BH__KEY(map_name, key) (map_name) ? (map_name) : "map", (key), 0, NULL

/* bh_arg_T(args, i, what, ret..., err): params[i] as a T.
 * bh_key_T(map, map_name, key, ret..., err): map[key] as a T; map_name names the map
 * in the message ("config"; NULL: "map").
 * bool; int (int64_t: a uint above INT64_MAX is out of range); uint (uint64_t, not
 * negative); float (any number, as a double); str and bin (pointer and length); array
 * and map (the node, for bh_value_at / bh_value_find and these getters). */
static inline int bh_arg_bool(const bh_value *args, uint32_t i, const char *what,
		bool *ret, bh_error *err)
{
	const bh_value *v = bh_value_at(args, i);
	int rc = v ? bh_value_get_bool(v, ret) : -EINVAL;
	return rc < 0 ? bh__arg_fail(err, BH__AT(i, what), v, "bool", rc) : 0;
}

static inline int bh_key_bool(const bh_value *map, const char *map_name, const char *key,
		bool *ret, bh_error *err)
{
	const bh_value *v = bh__key(map, key);
	int rc = v ? bh_value_get_bool(v, ret) : -EINVAL;
	return rc < 0 ? bh__arg_fail(err, BH__KEY(map_name, key), v, "bool", rc) : 0;
}

static inline int bh_arg_int(const bh_value *args, uint32_t i, const char *what,
		int64_t *ret, bh_error *err)
{
	const bh_value *v = bh_value_at(args, i);
	int rc = v ? bh_value_get_int(v, ret) : -EINVAL;
	return rc < 0 ? bh__arg_fail(err, BH__AT(i, what), v, "int", rc) : 0;
}

static inline int bh_key_int(const bh_value *map, const char *map_name, const char *key,
		int64_t *ret, bh_error *err)
{
	const bh_value *v = bh__key(map, key);
	int rc = v ? bh_value_get_int(v, ret) : -EINVAL;
	return rc < 0 ? bh__arg_fail(err, BH__KEY(map_name, key), v, "int", rc) : 0;
}

static inline int bh_arg_uint(const bh_value *args, uint32_t i, const char *what,
		uint64_t *ret, bh_error *err)
{
	const bh_value *v = bh_value_at(args, i);
	int rc = v ? bh_value_get_uint(v, ret) : -EINVAL;
	return rc < 0 ? bh__arg_fail(err, BH__AT(i, what), v, "uint", rc) : 0;
}

static inline int bh_key_uint(const bh_value *map, const char *map_name, const char *key,
		uint64_t *ret, bh_error *err)
{
	const bh_value *v = bh__key(map, key);
	int rc = v ? bh_value_get_uint(v, ret) : -EINVAL;
	return rc < 0 ? bh__arg_fail(err, BH__KEY(map_name, key), v, "uint", rc) : 0;
}

static inline int bh_arg_float(const bh_value *args, uint32_t i, const char *what,
		double *ret, bh_error *err)
{
	const bh_value *v = bh_value_at(args, i);
	int rc = v ? bh_value_get_float(v, ret) : -EINVAL;
	return rc < 0 ? bh__arg_fail(err, BH__AT(i, what), v, "number", rc) : 0;
}

static inline int bh_key_float(const bh_value *map, const char *map_name, const char *key,
		double *ret, bh_error *err)
{
	const bh_value *v = bh__key(map, key);
	int rc = v ? bh_value_get_float(v, ret) : -EINVAL;
	return rc < 0 ? bh__arg_fail(err, BH__KEY(map_name, key), v, "number", rc) : 0;
}

static inline int bh_arg_str(const bh_value *args, uint32_t i, const char *what,
		const char **ret, size_t *ret_len, bh_error *err)
{
	const bh_value *v = bh_value_at(args, i);
	int rc = v ? bh_value_get_str(v, ret, ret_len) : -EINVAL;
	return rc < 0 ? bh__arg_fail(err, BH__AT(i, what), v, "str", rc) : 0;
}

static inline int bh_key_str(const bh_value *map, const char *map_name, const char *key,
		const char **ret, size_t *ret_len, bh_error *err)
{
	const bh_value *v = bh__key(map, key);
	int rc = v ? bh_value_get_str(v, ret, ret_len) : -EINVAL;
	return rc < 0 ? bh__arg_fail(err, BH__KEY(map_name, key), v, "str", rc) : 0;
}

static inline int bh_arg_bin(const bh_value *args, uint32_t i, const char *what,
		const uint8_t **ret, size_t *ret_len, bh_error *err)
{
	const bh_value *v = bh_value_at(args, i);
	int rc = v ? bh_value_get_bin(v, ret, ret_len) : -EINVAL;
	return rc < 0 ? bh__arg_fail(err, BH__AT(i, what), v, "bin", rc) : 0;
}

static inline int bh_key_bin(const bh_value *map, const char *map_name, const char *key,
		const uint8_t **ret, size_t *ret_len, bh_error *err)
{
	const bh_value *v = bh__key(map, key);
	int rc = v ? bh_value_get_bin(v, ret, ret_len) : -EINVAL;
	return rc < 0 ? bh__arg_fail(err, BH__KEY(map_name, key), v, "bin", rc) : 0;
}

static inline int bh_arg_array(const bh_value *args, uint32_t i, const char *what,
		const bh_value **ret, bh_error *err)
{
	const bh_value *v = bh_value_at(args, i);
	int rc = v ? bh__container(v, BH_ARRAY, ret) : -EINVAL;
	return rc < 0 ? bh__arg_fail(err, BH__AT(i, what), v, "array", rc) : 0;
}

static inline int bh_key_array(const bh_value *map, const char *map_name, const char *key,
		const bh_value **ret, bh_error *err)
{
	const bh_value *v = bh__key(map, key);
	int rc = v ? bh__container(v, BH_ARRAY, ret) : -EINVAL;
	return rc < 0 ? bh__arg_fail(err, BH__KEY(map_name, key), v, "array", rc) : 0;
}

static inline int bh_arg_map(const bh_value *args, uint32_t i, const char *what,
		const bh_value **ret, bh_error *err)
{
	const bh_value *v = bh_value_at(args, i);
	int rc = v ? bh__container(v, BH_MAP, ret) : -EINVAL;
	return rc < 0 ? bh__arg_fail(err, BH__AT(i, what), v, "map", rc) : 0;
}

static inline int bh_key_map(const bh_value *map, const char *map_name, const char *key,
		const bh_value **ret, bh_error *err)
{
	const bh_value *v = bh__key(map, key);
	int rc = v ? bh__container(v, BH_MAP, ret) : -EINVAL;
	return rc < 0 ? bh__arg_fail(err, BH__KEY(map_name, key), v, "map", rc) : 0;
}

#ifdef __cplusplus
}
#endif
#endif
