/* bulkhead: the value model shared by the wire codec, the plugin ABI and the client SDK.
 *
 * A decoded MessagePack value is a tree of fixed-size nodes. Nodes never own memory:
 * strings, binaries and container items point into storage owned by whoever decoded
 * the message (the shim for a call's arguments, a bh_result for a client reply), and
 * they live exactly as long as that storage. This struct is part of the plugin ABI
 * (BH_PLUGIN_ABI_VERSION): its layout never changes within one ABI version. */
#ifndef BULKHEAD_VALUE_H
#define BULKHEAD_VALUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

enum bh_type {
	BH_NIL = 0,
	BH_BOOL = 1,
	BH_INT = 2,   /* any integer that fits int64_t: as.i */
	BH_UINT = 3,  /* only integers above INT64_MAX: as.u */
	BH_FLOAT = 4, /* as.f; len is the wire width, 4 (float32) or 8 (float64) */
	BH_STR = 5,   /* as.str, len bytes, NOT NUL-terminated, UTF-8 not checked */
	BH_BIN = 6,   /* as.bin, len bytes */
	BH_ARRAY = 7, /* as.items[0 .. len-1] */
	BH_MAP = 8,   /* as.items[2*i] is key i, as.items[2*i+1] its value; len pairs */
	BH_EXT = 9,   /* ext_type, as.bin, len bytes */
};

typedef struct bh_value {
	uint8_t type; /* enum bh_type */
	int8_t ext_type;
	uint16_t reserved; /* zero */
	uint32_t len;
	union {
		bool b;
		int64_t i;
		uint64_t u;
		double f;
		const char *str;
		const uint8_t *bin;
		const struct bh_value *items;
	} as;
} bh_value;

/* Element i of an array, or NULL when v is not an array or i is out of range. */
static inline const bh_value *bh_value_at(const bh_value *v, uint32_t i)
{
	return (v && v->type == BH_ARRAY && i < v->len) ? &v->as.items[i] : NULL;
}

/* Value of the first entry whose key is the string `key`, or NULL. Linear. */
const bh_value *bh_value_find(const bh_value *map, const char *key);

/* Typed getters: 0 and *ret set on success, -EINVAL (ret untouched) when v is NULL or
 * of another type, -ERANGE when an integer does not fit. bh_value_get_int accepts
 * BH_INT and a BH_UINT that fits; bh_value_get_float also accepts integers. */
int bh_value_get_bool(const bh_value *v, bool *ret);
int bh_value_get_int(const bh_value *v, int64_t *ret);
int bh_value_get_uint(const bh_value *v, uint64_t *ret);
int bh_value_get_float(const bh_value *v, double *ret);
/* Borrowed pointer into the decoded message; not NUL-terminated. */
int bh_value_get_str(const bh_value *v, const char **ret, size_t *ret_len);
int bh_value_get_bin(const bh_value *v, const uint8_t **ret, size_t *ret_len);

/* True when v is a string equal to the NUL-terminated s. */
bool bh_value_str_eq(const bh_value *v, const char *s);

/* Deep equality (floats compare by value and width; map order matters). */
bool bh_value_equal(const bh_value *a, const bh_value *b);

/* Encoder. A bh_writer appends MessagePack to a growing buffer with a size ceiling.
 * Errors are sticky: after the first failure (-ENOMEM, or -EMSGSIZE past the
 * ceiling) every call returns that error and writes nothing, so a sequence of writes
 * can be checked once at the end with bh_writer_error(). The caller is responsible
 * for writing well-formed structure (after bh_write_array(w, n), exactly n values). */
typedef struct bh_writer bh_writer;

int bh_write_nil(bh_writer *w);
int bh_write_bool(bh_writer *w, bool b);
int bh_write_int(bh_writer *w, int64_t i);
int bh_write_uint(bh_writer *w, uint64_t u);
int bh_write_float(bh_writer *w, double f);   /* float64 on the wire */
int bh_write_float32(bh_writer *w, float f);  /* float32 on the wire */
int bh_write_str(bh_writer *w, const char *s, size_t len);
int bh_write_cstr(bh_writer *w, const char *s);
int bh_write_bin(bh_writer *w, const void *p, size_t len);
int bh_write_ext(bh_writer *w, int8_t type, const void *p, size_t len);
int bh_write_array(bh_writer *w, uint32_t n);
int bh_write_map(bh_writer *w, uint32_t npairs);
/* Re-encodes a whole decoded tree (floats keep their width). */
int bh_write_value(bh_writer *w, const bh_value *v);
/* 0, or the sticky error. */
int bh_writer_error(const bh_writer *w);

#ifdef __cplusplus
}
#endif
#endif
