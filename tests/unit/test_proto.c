/* Unit tests of libbulkhead-proto: errors, values, the writer, bh_scan, bh_decode, the
 * RPC envelope and the error map, with msgpack-c's own unpacker as an oracle and a
 * deterministic fuzz loop.
 *
 * Inputs under test are copied to the very end of an exact-size heap block (exact()),
 * so that AddressSanitizer or valgrind catch any read past len. */
#include <check.h>
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <msgpack.h>

#include "bulkhead/proto.h"

/* Byte string literal and its length, without the terminating NUL. */
#define BYTES(s) (const uint8_t *)(s), (sizeof(s) - 1)
/* A literal as a table's {bytes, len} pair. */
#define LIT(s) (s), (sizeof(s) - 1)
/* Append already encoded bytes given as a literal. */
#define RAW(w, s) bh_write_raw((w), (s), sizeof(s) - 1)

static uint8_t *exact(const void *p, size_t n)
{
	uint8_t *q = malloc(n);
	ck_assert(q != NULL || n == 0);
	if (n > 0)
		memcpy(q, p, n);
	return q;
}

/* A bh_buf with its writer. Lives on the caller's stack; never moved. */
struct out {
	struct bh_buf buf;
	struct bh_writer w;
};

static void out_init(struct out *o, size_t max)
{
	bh_buf_init(&o->buf, max);
	bh_writer_init(&o->w, &o->buf);
}

static void out_done(struct out *o)
{
	bh_buf_done(&o->buf);
}

/* splitmix64: deterministic, seedable, good enough to drive generators. */
static uint64_t rnd(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static uint32_t rnd_below(uint64_t *state, uint32_t n)
{
	return n ? (uint32_t)(rnd(state) % n) : 0;
}

static size_t count_nodes(const bh_value *v)
{
	size_t n = 1;
	if (v->type == BH_ARRAY || v->type == BH_MAP) {
		uint64_t kids = v->type == BH_MAP ? (uint64_t)v->len * 2 : v->len;
		for (uint64_t i = 0; i < kids; i++)
			n += count_nodes(&v->as.items[i]);
	}
	return n;
}

static unsigned tree_depth(const bh_value *v)
{
	unsigned deepest = 0;
	if (v->type != BH_ARRAY && v->type != BH_MAP)
		return 0;
	uint64_t kids = v->type == BH_MAP ? (uint64_t)v->len * 2 : v->len;
	for (uint64_t i = 0; i < kids; i++) {
		unsigned d = tree_depth(&v->as.items[i]);
		if (d > deepest)
			deepest = d;
	}
	return deepest + 1;
}

/* ---- msgpack-c as an oracle ---- */

static bool same_float(double a, double b)
{
	return (isnan(a) && isnan(b)) || (a == b && signbit(a) == signbit(b));
}

static bool same_as_msgpack(const bh_value *v, const msgpack_object *o)
{
	switch (o->type) {
	case MSGPACK_OBJECT_NIL:
		return v->type == BH_NIL;
	case MSGPACK_OBJECT_BOOLEAN:
		return v->type == BH_BOOL && v->as.b == o->via.boolean;
	case MSGPACK_OBJECT_POSITIVE_INTEGER:
		if (o->via.u64 > INT64_MAX)
			return v->type == BH_UINT && v->as.u == o->via.u64;
		return v->type == BH_INT && v->as.i == (int64_t)o->via.u64;
	case MSGPACK_OBJECT_NEGATIVE_INTEGER:
		return v->type == BH_INT && v->as.i == o->via.i64;
	case MSGPACK_OBJECT_FLOAT32:
		return v->type == BH_FLOAT && v->len == 4 && same_float(v->as.f, o->via.f64);
	case MSGPACK_OBJECT_FLOAT64:
		return v->type == BH_FLOAT && v->len == 8 && same_float(v->as.f, o->via.f64);
	case MSGPACK_OBJECT_STR:
		return v->type == BH_STR && v->len == o->via.str.size &&
		       (v->len == 0 || memcmp(v->as.str, o->via.str.ptr, v->len) == 0);
	case MSGPACK_OBJECT_BIN:
		return v->type == BH_BIN && v->len == o->via.bin.size &&
		       (v->len == 0 || memcmp(v->as.bin, o->via.bin.ptr, v->len) == 0);
	case MSGPACK_OBJECT_EXT:
		return v->type == BH_EXT && v->ext_type == o->via.ext.type &&
		       v->len == o->via.ext.size &&
		       (v->len == 0 || memcmp(v->as.bin, o->via.ext.ptr, v->len) == 0);
	case MSGPACK_OBJECT_ARRAY:
		if (v->type != BH_ARRAY || v->len != o->via.array.size)
			return false;
		for (uint32_t i = 0; i < v->len; i++)
			if (!same_as_msgpack(&v->as.items[i], &o->via.array.ptr[i]))
				return false;
		return true;
	case MSGPACK_OBJECT_MAP:
		if (v->type != BH_MAP || v->len != o->via.map.size)
			return false;
		for (uint32_t i = 0; i < v->len; i++)
			if (!same_as_msgpack(&v->as.items[2 * i], &o->via.map.ptr[i].key) ||
			    !same_as_msgpack(&v->as.items[2 * i + 1], &o->via.map.ptr[i].val))
				return false;
		return true;
	}
	return false;
}

/* msgpack-c reads the same object, of the same size, as the same tree. */
static void check_oracle(const uint8_t *p, size_t len, size_t size, const bh_value *v)
{
	msgpack_unpacked u;
	size_t off = 0;
	msgpack_unpacked_init(&u);
	ck_assert_int_eq(msgpack_unpack_next(&u, (const char *)p, len, &off),
			 MSGPACK_UNPACK_SUCCESS);
	ck_assert_uint_eq(off, size);
	ck_assert_msg(same_as_msgpack(v, &u.data), "bh_decode and msgpack-c disagree");
	msgpack_unpacked_destroy(&u);
}

/* ---- one decoded object, cross-checked ---- */

struct dec {
	uint8_t *bytes;
	size_t len;
	struct bh_arena arena;
	struct bh_scan scan;
	const bh_value *v;
};

/* bytes must be exactly one valid object. Checks the scan against the decode, the node
 * count against the tree, msgpack-c's reading, and that bh_write_value gives back the
 * same tree (and, for canonical input, the same bytes). */
static const bh_value *dec_ok(struct dec *d, const void *bytes, size_t len, bool canonical)
{
	size_t used = 0;

	d->bytes = exact(bytes, len);
	d->len = len;
	bh_arena_init(&d->arena);
	ck_assert_int_eq(bh_scan(d->bytes, len, NULL, &d->scan), 0);
	ck_assert_uint_eq(d->scan.size, len);
	ck_assert_int_eq(bh_decode(d->bytes, len, NULL, &d->arena, &d->v, &used), 0);
	ck_assert_uint_eq(used, len);
	ck_assert_ptr_eq(d->v, d->arena.nodes);
	ck_assert_uint_eq(d->arena.cap, d->scan.nodes); /* sized exactly, by the scan */
	ck_assert_uint_eq(count_nodes(d->v), d->scan.nodes);
	if (tree_depth(d->v) < 30) /* msgpack-c's own stack holds 32 levels */
		check_oracle(d->bytes, len, len, d->v);

	struct out o;
	out_init(&o, 0);
	ck_assert_int_eq(bh_write_value(&o.w, d->v), 0);
	if (canonical) {
		ck_assert_uint_eq(o.buf.len, len);
		ck_assert_mem_eq(o.buf.data, bytes, len);
	}
	struct dec again = { .bytes = exact(o.buf.data, o.buf.len) };
	bh_arena_init(&again.arena);
	ck_assert_int_eq(bh_decode(again.bytes, o.buf.len, NULL, &again.arena, &again.v, NULL), 0);
	ck_assert(bh_value_equal(d->v, again.v));
	bh_arena_done(&again.arena);
	free(again.bytes);
	out_done(&o);
	return d->v;
}

static void dec_done(struct dec *d)
{
	bh_arena_done(&d->arena);
	free(d->bytes);
}

/* Encode with the writer, then dec_ok() the result. */
#define ENCODE_AND_DECODE(d, o, call)                                   \
	do {                                                            \
		out_init(&(o), 0);                                      \
		ck_assert_int_eq((call), 0);                            \
		dec_ok(&(d), (o).buf.data, (o).buf.len, true);          \
	} while (0)

static int scan_exact(const void *p, size_t n, const struct bh_limits *lim, struct bh_scan *ret)
{
	uint8_t *q = exact(p, n);
	int r = bh_scan(q, n, lim, ret);
	free(q);
	return r;
}

/* ======== error.h ======== */

START_TEST(test_code_names)
{
	static const char *const names[] = {
		"ok", "unknown_plugin", "unknown_method", "bad_request", "invalid_params",
		"timeout", "plugin_crashed", "plugin_error", "overloaded", "unavailable",
		"too_large", "permission_denied", "shutting_down", "internal", "protocol",
		"limit", "conflict", "swap_failed", "chain_too_deep",
	};
	for (int32_t code = 0; code < (int32_t)(sizeof names / sizeof names[0]); code++) {
		ck_assert_str_eq(bh_code_name(code), names[code]);
		ck_assert_int_eq(bh_code_from_name(names[code]), code);
	}
	ck_assert_str_eq(bh_code_name(BH_E_CHAIN_TOO_DEEP + 1), "unknown");
	ck_assert_str_eq(bh_code_name(999), "unknown");
	ck_assert_str_eq(bh_code_name(-1), "unknown");
	ck_assert_str_eq(bh_code_name(INT32_MIN), "unknown");
	ck_assert_str_eq(bh_code_name(1000), "application");
	ck_assert_str_eq(bh_code_name(INT32_MAX), "application");
	ck_assert_int_eq(bh_code_from_name("unknown"), -1);
	ck_assert_int_eq(bh_code_from_name("application"), -1);
	ck_assert_int_eq(bh_code_from_name("Timeout"), -1);
	ck_assert_int_eq(bh_code_from_name(""), -1);
	ck_assert_int_eq(bh_code_from_name(NULL), -1);
}
END_TEST

START_TEST(test_fail)
{
	bh_error err = { 0 };
	char big[2000];

	ck_assert_int_eq(bh_fail(&err, BH_E_INVALID_PARAMS, "want %d args, got %s", 2, "three"), -1);
	ck_assert_int_eq(err.code, BH_E_INVALID_PARAMS);
	ck_assert_str_eq(err.message, "want 2 args, got three");

	memset(big, 'x', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	ck_assert_int_eq(bh_fail(&err, 1234, "%s", big), -1);
	ck_assert_int_eq(err.code, 1234);
	ck_assert_uint_eq(strlen(err.message), BH_ERROR_MESSAGE_MAX - 1);

	ck_assert_int_eq(bh_fail(NULL, BH_E_INTERNAL, "nobody listens"), -1);
}
END_TEST

/* ======== value.h getters and equality ======== */

START_TEST(test_getters)
{
	bh_value vi = { .type = BH_INT, .as.i = -5 };
	bh_value vu = { .type = BH_UINT, .as.u = UINT64_MAX };
	bh_value vsmall = { .type = BH_UINT, .as.u = 7 };
	bh_value vf = { .type = BH_FLOAT, .len = 8, .as.f = 2.5 };
	bh_value vb = { .type = BH_BOOL, .as.b = true };
	bh_value vs = { .type = BH_STR, .len = 3, .as.str = "abcdef" };
	static const uint8_t raw[] = { 1, 2 };
	bh_value vbin = { .type = BH_BIN, .len = 2, .as.bin = raw };
	int64_t i = 42;
	uint64_t u = 42;
	double f = 0;
	bool b = false;
	const char *s = NULL;
	const uint8_t *bin = NULL;
	size_t n = 0;

	ck_assert_int_eq(bh_value_get_int(&vi, &i), 0);
	ck_assert_int_eq(i, -5);
	ck_assert_int_eq(bh_value_get_int(&vsmall, &i), 0);
	ck_assert_int_eq(i, 7);
	i = 42;
	ck_assert_int_eq(bh_value_get_int(&vu, &i), -ERANGE);
	ck_assert_int_eq(i, 42);
	ck_assert_int_eq(bh_value_get_int(&vf, &i), -EINVAL);
	ck_assert_int_eq(bh_value_get_int(NULL, &i), -EINVAL);
	ck_assert_int_eq(i, 42);

	ck_assert_int_eq(bh_value_get_uint(&vu, &u), 0);
	ck_assert_uint_eq(u, UINT64_MAX);
	u = 42;
	ck_assert_int_eq(bh_value_get_uint(&vi, &u), -ERANGE);
	ck_assert_uint_eq(u, 42);
	ck_assert_int_eq(bh_value_get_uint(&vs, &u), -EINVAL);

	ck_assert_int_eq(bh_value_get_float(&vf, &f), 0);
	ck_assert(f == 2.5);
	ck_assert_int_eq(bh_value_get_float(&vi, &f), 0);
	ck_assert(f == -5.0);
	ck_assert_int_eq(bh_value_get_float(&vu, &f), 0);
	ck_assert(f == 18446744073709551616.0);
	ck_assert_int_eq(bh_value_get_float(&vb, &f), -EINVAL);

	ck_assert_int_eq(bh_value_get_bool(&vb, &b), 0);
	ck_assert(b);
	ck_assert_int_eq(bh_value_get_bool(&vi, &b), -EINVAL);

	ck_assert_int_eq(bh_value_get_str(&vs, &s, &n), 0);
	ck_assert_uint_eq(n, 3);
	ck_assert_mem_eq(s, "abc", 3);
	ck_assert_int_eq(bh_value_get_str(&vbin, &s, &n), -EINVAL);
	ck_assert_int_eq(bh_value_get_bin(&vbin, &bin, &n), 0);
	ck_assert_ptr_eq(bin, raw);
	ck_assert_uint_eq(n, 2);
	ck_assert_int_eq(bh_value_get_bin(&vs, &bin, &n), -EINVAL);

	ck_assert(bh_value_str_eq(&vs, "abc"));
	ck_assert(!bh_value_str_eq(&vs, "abcd"));
	ck_assert(!bh_value_str_eq(&vs, "ab"));
	ck_assert(!bh_value_str_eq(&vbin, "\x01\x02"));
	ck_assert(!bh_value_str_eq(NULL, "abc"));
	ck_assert_ptr_null(bh_value_at(&vs, 0));
}
END_TEST

START_TEST(test_find)
{
	/* {"a": 1, "bb": 2, 3: "x", "bb": 4, "": nil} */
	struct dec d;
	const bh_value *m = dec_ok(&d, BYTES("\x85\xa1" "a" "\x01\xa2" "bb" "\x02\x03\xa1" "x"
					      "\xa2" "bb" "\x04\xa0\xc0"), true);
	ck_assert_int_eq(m->type, BH_MAP);
	ck_assert_uint_eq(m->len, 5);
	ck_assert_int_eq(bh_value_find(m, "a")->as.i, 1);
	ck_assert_int_eq(bh_value_find(m, "bb")->as.i, 2); /* the first one */
	ck_assert_int_eq(bh_value_find(m, "")->type, BH_NIL);
	ck_assert_ptr_null(bh_value_find(m, "b"));
	ck_assert_ptr_null(bh_value_find(m, "x"));
	ck_assert_ptr_null(bh_value_find(bh_value_find(m, "a"), "a"));
	ck_assert_ptr_null(bh_value_find(NULL, "a"));
	ck_assert_ptr_null(bh_value_at(m, 0));
	dec_done(&d);
}
END_TEST

START_TEST(test_equal)
{
	bh_value i5 = { .type = BH_INT, .as.i = 5 };
	bh_value u5 = { .type = BH_UINT, .as.u = 5 };
	bh_value im1 = { .type = BH_INT, .as.i = -1 };
	bh_value umax = { .type = BH_UINT, .as.u = UINT64_MAX };
	bh_value f4 = { .type = BH_FLOAT, .len = 4, .as.f = 1.5 };
	bh_value f8 = { .type = BH_FLOAT, .len = 8, .as.f = 1.5 };
	bh_value nan8 = { .type = BH_FLOAT, .len = 8, .as.f = NAN };
	bh_value z = { .type = BH_FLOAT, .len = 8, .as.f = 0.0 };
	bh_value nz = { .type = BH_FLOAT, .len = 8, .as.f = -0.0 };
	bh_value s1 = { .type = BH_STR, .len = 2, .as.str = "ab" };
	bh_value s2 = { .type = BH_STR, .len = 2, .as.str = "abc" };
	bh_value b1 = { .type = BH_BIN, .len = 2, .as.bin = (const uint8_t *)"ab" };
	bh_value e1 = { .type = BH_EXT, .ext_type = 1, .len = 2, .as.bin = (const uint8_t *)"ab" };
	bh_value e2 = { .type = BH_EXT, .ext_type = 2, .len = 2, .as.bin = (const uint8_t *)"ab" };
	bh_value kv1[] = { s1, i5, b1, f8 };
	bh_value kv2[] = { b1, f8, s1, i5 };
	bh_value m1 = { .type = BH_MAP, .len = 2, .as.items = kv1 };
	bh_value m2 = { .type = BH_MAP, .len = 2, .as.items = kv2 };
	bh_value m1b = { .type = BH_MAP, .len = 2, .as.items = kv1 };
	bh_value a1 = { .type = BH_ARRAY, .len = 2, .as.items = kv1 };

	ck_assert(bh_value_equal(&i5, &u5));
	ck_assert(bh_value_equal(&u5, &i5));
	ck_assert(!bh_value_equal(&im1, &umax));
	ck_assert(!bh_value_equal(&i5, &f8));
	ck_assert(!bh_value_equal(&f4, &f8)); /* width counts */
	ck_assert(bh_value_equal(&nan8, &nan8));
	ck_assert(bh_value_equal(&z, &nz)); /* by value */
	ck_assert(bh_value_equal(&s1, &s2));
	ck_assert(!bh_value_equal(&s1, &b1));
	ck_assert(!bh_value_equal(&e1, &e2));
	ck_assert(bh_value_equal(&m1, &m1b));
	ck_assert(!bh_value_equal(&m1, &m2)); /* map order matters */
	ck_assert(!bh_value_equal(&m1, &a1));
	ck_assert(bh_value_equal(NULL, NULL));
	ck_assert(!bh_value_equal(&i5, NULL));
}
END_TEST

/* ======== writer and round trips ======== */

static const struct {
	int64_t i;
	uint8_t first;
	size_t size;
} int_cases[] = {
	{ 0, 0x00, 1 },
	{ 1, 0x01, 1 },
	{ 127, 0x7f, 1 },
	{ 128, 0xcc, 2 },
	{ 255, 0xcc, 2 },
	{ 256, 0xcd, 3 },
	{ 65535, 0xcd, 3 },
	{ 65536, 0xce, 5 },
	{ UINT32_MAX, 0xce, 5 },
	{ (int64_t)1 << 32, 0xcf, 9 },
	{ INT64_MAX, 0xcf, 9 },
	{ -1, 0xff, 1 },
	{ -32, 0xe0, 1 },
	{ -33, 0xd0, 2 },
	{ -128, 0xd0, 2 },
	{ -129, 0xd1, 3 },
	{ -32768, 0xd1, 3 },
	{ -32769, 0xd2, 5 },
	{ INT32_MIN, 0xd2, 5 },
	{ (int64_t)INT32_MIN - 1, 0xd3, 9 },
	{ INT64_MIN, 0xd3, 9 },
};

START_TEST(test_int_roundtrip)
{
	struct out o;
	struct dec d;

	ENCODE_AND_DECODE(d, o, bh_write_int(&o.w, int_cases[_i].i));
	ck_assert_uint_eq(o.buf.len, int_cases[_i].size);
	ck_assert_uint_eq(o.buf.data[0], int_cases[_i].first);
	ck_assert_int_eq(d.v->type, BH_INT);
	ck_assert_int_eq(d.v->as.i, int_cases[_i].i);
	ck_assert_uint_eq(d.scan.nodes, 1);
	dec_done(&d);
	out_done(&o);
}
END_TEST

START_TEST(test_uint_roundtrip)
{
	static const struct {
		uint64_t u;
		uint8_t first;
		int type;
	} cases[] = {
		{ 0, 0x00, BH_INT },
		{ 200, 0xcc, BH_INT },
		{ UINT32_MAX, 0xce, BH_INT },
		{ (uint64_t)1 << 32, 0xcf, BH_INT },
		{ INT64_MAX, 0xcf, BH_INT },
		{ (uint64_t)INT64_MAX + 1, 0xcf, BH_UINT },
		{ UINT64_MAX, 0xcf, BH_UINT },
	};
	for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
		struct out o;
		struct dec d;
		uint64_t u = 0;
		ENCODE_AND_DECODE(d, o, bh_write_uint(&o.w, cases[k].u));
		ck_assert_uint_eq(o.buf.data[0], cases[k].first);
		ck_assert_int_eq(d.v->type, cases[k].type);
		ck_assert_int_eq(bh_value_get_uint(d.v, &u), 0);
		ck_assert_uint_eq(u, cases[k].u);
		dec_done(&d);
		out_done(&o);
	}
}
END_TEST

START_TEST(test_nil_bool_roundtrip)
{
	struct out o;
	struct dec d;

	ENCODE_AND_DECODE(d, o, bh_write_nil(&o.w));
	ck_assert_uint_eq(o.buf.data[0], 0xc0);
	ck_assert_int_eq(d.v->type, BH_NIL);
	dec_done(&d);
	out_done(&o);

	ENCODE_AND_DECODE(d, o, bh_write_bool(&o.w, true));
	ck_assert_uint_eq(o.buf.data[0], 0xc3);
	ck_assert(d.v->type == BH_BOOL && d.v->as.b);
	dec_done(&d);
	out_done(&o);

	ENCODE_AND_DECODE(d, o, bh_write_bool(&o.w, false));
	ck_assert_uint_eq(o.buf.data[0], 0xc2);
	ck_assert(d.v->type == BH_BOOL && !d.v->as.b);
	dec_done(&d);
	out_done(&o);
}
END_TEST

START_TEST(test_float_roundtrip)
{
	static const double f64[] = { 0.0, -0.0, 0.1, -2.5, DBL_MAX, -DBL_MAX, DBL_MIN,
				      4.9406564584124654e-324, INFINITY, -INFINITY, NAN };
	static const float f32[] = { 0.0f, -0.0f, 1.5f, -0.1f, FLT_MAX, FLT_MIN, 1.4e-45f,
				     INFINITY, -INFINITY, NAN };

	for (size_t k = 0; k < sizeof f64 / sizeof f64[0]; k++) {
		struct out o;
		struct dec d;
		ENCODE_AND_DECODE(d, o, bh_write_float(&o.w, f64[k]));
		ck_assert_uint_eq(o.buf.len, 9);
		ck_assert_uint_eq(o.buf.data[0], 0xcb);
		ck_assert_int_eq(d.v->type, BH_FLOAT);
		ck_assert_uint_eq(d.v->len, 8);
		ck_assert(same_float(d.v->as.f, f64[k]));
		dec_done(&d);
		out_done(&o);
	}
	for (size_t k = 0; k < sizeof f32 / sizeof f32[0]; k++) {
		struct out o;
		struct dec d;
		ENCODE_AND_DECODE(d, o, bh_write_float32(&o.w, f32[k]));
		ck_assert_uint_eq(o.buf.len, 5);
		ck_assert_uint_eq(o.buf.data[0], 0xca);
		ck_assert_int_eq(d.v->type, BH_FLOAT);
		ck_assert_uint_eq(d.v->len, 4);
		ck_assert(same_float(d.v->as.f, (double)f32[k]));
		dec_done(&d);
		out_done(&o);
	}
}
END_TEST

static const struct {
	uint32_t len;
	uint8_t first;
	uint8_t head;
} str_cases[] = {
	{ 0, 0xa0, 1 },	     { 1, 0xa1, 1 },	    { 31, 0xbf, 1 },
	{ 32, 0xd9, 2 },     { 255, 0xd9, 2 },	    { 256, 0xda, 3 },
	{ 65535, 0xda, 3 },  { 65536, 0xdb, 5 },    { 100000, 0xdb, 5 },
};

static uint8_t *pattern(size_t len, unsigned seed)
{
	uint8_t *p = malloc(len + 1);
	ck_assert_ptr_nonnull(p);
	for (size_t i = 0; i < len; i++)
		p[i] = (uint8_t)(i * 7 + seed);
	return p;
}

START_TEST(test_str_roundtrip)
{
	uint32_t len = str_cases[_i].len;
	uint8_t *text = pattern(len, 1);
	struct out o;
	struct dec d;

	ENCODE_AND_DECODE(d, o, bh_write_str(&o.w, (const char *)text, len));
	ck_assert_uint_eq(o.buf.len, str_cases[_i].head + len);
	ck_assert_uint_eq(o.buf.data[0], str_cases[_i].first);
	ck_assert_int_eq(d.v->type, BH_STR);
	ck_assert_uint_eq(d.v->len, len);
	/* zero copy: the string is the input's own bytes */
	ck_assert_ptr_eq(d.v->as.str, (const char *)d.bytes + str_cases[_i].head);
	ck_assert_mem_eq(d.v->as.str, text, len);
	dec_done(&d);
	out_done(&o);
	free(text);
}
END_TEST

START_TEST(test_bin_roundtrip)
{
	static const struct {
		uint32_t len;
		uint8_t first;
		uint8_t head;
	} cases[] = {
		{ 0, 0xc4, 2 },	    { 1, 0xc4, 2 },	 { 255, 0xc4, 2 },   { 256, 0xc5, 3 },
		{ 65535, 0xc5, 3 }, { 65536, 0xc6, 5 },
	};
	for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
		uint8_t *data = pattern(cases[k].len, 3);
		struct out o;
		struct dec d;
		ENCODE_AND_DECODE(d, o, bh_write_bin(&o.w, data, cases[k].len));
		ck_assert_uint_eq(o.buf.len, cases[k].head + cases[k].len);
		ck_assert_uint_eq(o.buf.data[0], cases[k].first);
		ck_assert_int_eq(d.v->type, BH_BIN);
		ck_assert_uint_eq(d.v->len, cases[k].len);
		ck_assert_ptr_eq(d.v->as.bin, d.bytes + cases[k].head);
		ck_assert_mem_eq(d.v->as.bin, data, cases[k].len);
		dec_done(&d);
		out_done(&o);
		free(data);
	}
}
END_TEST

static const struct {
	uint32_t len;
	uint8_t first;
	uint8_t head;
} ext_cases[] = {
	{ 1, 0xd4, 2 },	    { 2, 0xd5, 2 },	 { 4, 0xd6, 2 },     { 8, 0xd7, 2 },
	{ 16, 0xd8, 2 },    { 0, 0xc7, 3 },	 { 3, 0xc7, 3 },     { 5, 0xc7, 3 },
	{ 17, 0xc7, 3 },    { 255, 0xc7, 3 },	 { 256, 0xc8, 4 },   { 65535, 0xc8, 4 },
	{ 65536, 0xc9, 6 },
};

START_TEST(test_ext_roundtrip)
{
	static const int8_t types[] = { -128, -1, 0, 5, 127 };
	int8_t type = types[_i % 5];
	uint32_t len = ext_cases[_i].len;
	uint8_t *data = pattern(len, 5);
	struct out o;
	struct dec d;

	ENCODE_AND_DECODE(d, o, bh_write_ext(&o.w, type, data, len));
	ck_assert_uint_eq(o.buf.len, ext_cases[_i].head + len);
	ck_assert_uint_eq(o.buf.data[0], ext_cases[_i].first);
	ck_assert_int_eq(d.v->type, BH_EXT);
	ck_assert_int_eq(d.v->ext_type, type);
	ck_assert_uint_eq(d.v->len, len);
	ck_assert_ptr_eq(d.v->as.bin, d.bytes + ext_cases[_i].head);
	ck_assert_mem_eq(d.v->as.bin, data, len);
	dec_done(&d);
	out_done(&o);
	free(data);
}
END_TEST

START_TEST(test_array_roundtrip)
{
	static const struct {
		uint32_t n;
		uint8_t first;
	} cases[] = {
		{ 0, 0x90 }, { 1, 0x91 }, { 15, 0x9f }, { 16, 0xdc }, { 65535, 0xdc }, { 65536, 0xdd },
	};
	for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
		uint32_t n = cases[k].n;
		struct out o;
		struct dec d;
		out_init(&o, 0);
		bh_write_array(&o.w, n);
		for (uint32_t i = 0; i < n; i++)
			bh_write_int(&o.w, (int64_t)i - 100);
		ck_assert_int_eq(bh_writer_error(&o.w), 0);
		dec_ok(&d, o.buf.data, o.buf.len, true);
		ck_assert_uint_eq(o.buf.data[0], cases[k].first);
		ck_assert_int_eq(d.v->type, BH_ARRAY);
		ck_assert_uint_eq(d.v->len, n);
		ck_assert_uint_eq(d.scan.nodes, (size_t)n + 1);
		for (uint32_t i = 0; i < n; i++)
			ck_assert_int_eq(bh_value_at(d.v, i)->as.i, (int64_t)i - 100);
		ck_assert_ptr_null(bh_value_at(d.v, n));
		dec_done(&d);
		out_done(&o);
	}
}
END_TEST

START_TEST(test_map_roundtrip)
{
	static const struct {
		uint32_t n;
		uint8_t first;
	} cases[] = {
		{ 0, 0x80 }, { 1, 0x81 }, { 15, 0x8f }, { 16, 0xde }, { 65535, 0xde }, { 65536, 0xdf },
	};
	for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
		uint32_t n = cases[k].n;
		struct out o;
		struct dec d;
		out_init(&o, 0);
		bh_write_map(&o.w, n);
		for (uint32_t i = 0; i < n; i++) {
			bh_write_uint(&o.w, i);
			bh_write_bool(&o.w, i % 3 == 0);
		}
		ck_assert_int_eq(bh_writer_error(&o.w), 0);
		dec_ok(&d, o.buf.data, o.buf.len, true);
		ck_assert_uint_eq(o.buf.data[0], cases[k].first);
		ck_assert_int_eq(d.v->type, BH_MAP);
		ck_assert_uint_eq(d.v->len, n);
		ck_assert_uint_eq(d.scan.nodes, 2 * (size_t)n + 1);
		for (uint32_t i = 0; i < n; i++) {
			ck_assert_int_eq(d.v->as.items[2 * i].as.i, i);
			ck_assert_int_eq(d.v->as.items[2 * i + 1].as.b, i % 3 == 0);
		}
		dec_done(&d);
		out_done(&o);
	}
}
END_TEST

/* [nil, true, {"a": [1, [2, [3, {}]]], "b": bin}, -1.5f, ext(7, "xyz"), "tail"] */
static void write_nested(bh_writer *w)
{
	bh_write_array(w, 6);
	bh_write_nil(w);
	bh_write_bool(w, true);
	bh_write_map(w, 2);
	bh_write_cstr(w, "a");
	bh_write_array(w, 2);
	bh_write_int(w, 1);
	bh_write_array(w, 2);
	bh_write_int(w, 2);
	bh_write_array(w, 2);
	bh_write_int(w, 3);
	bh_write_map(w, 0);
	bh_write_cstr(w, "b");
	bh_write_bin(w, "\x00\x01", 2);
	bh_write_float32(w, -1.5f);
	bh_write_ext(w, 7, "xyz", 3);
	bh_write_cstr(w, "tail");
}

START_TEST(test_nested_roundtrip)
{
	struct out o;
	struct dec d;

	out_init(&o, 0);
	write_nested(&o.w);
	ck_assert_int_eq(bh_writer_error(&o.w), 0);
	const bh_value *v = dec_ok(&d, o.buf.data, o.buf.len, true);

	ck_assert_uint_eq(d.scan.nodes, 17);
	ck_assert_int_eq(bh_value_at(v, 0)->type, BH_NIL);
	const bh_value *m = bh_value_at(v, 2);
	const bh_value *a = bh_value_find(m, "a");
	ck_assert_int_eq(bh_value_at(a, 0)->as.i, 1);
	const bh_value *inner = bh_value_at(bh_value_at(bh_value_at(a, 1), 1), 1);
	ck_assert_int_eq(inner->type, BH_MAP);
	ck_assert_uint_eq(inner->len, 0);
	ck_assert_uint_eq(bh_value_find(m, "b")->len, 2);
	ck_assert_uint_eq(bh_value_at(v, 3)->len, 4);
	ck_assert(bh_value_at(v, 3)->as.f == -1.5);
	ck_assert_int_eq(bh_value_at(v, 4)->ext_type, 7);
	ck_assert(bh_value_str_eq(bh_value_at(v, 5), "tail"));
	ck_assert_uint_eq(tree_depth(v), 6);
	dec_done(&d);
	out_done(&o);
}
END_TEST

/* Non-canonical encodings decode to the canonical values. */
START_TEST(test_noncanonical)
{
	static const struct {
		const char *bytes;
		size_t len;
		int64_t i;
	} ints[] = {
		{ LIT("\xd0\x05"), 5 },
		{ LIT("\xd1\x00\x05"), 5 },
		{ LIT("\xd3\x00\x00\x00\x00\x00\x00\x00\x05"), 5 },
		{ LIT("\xcf\x00\x00\x00\x00\x00\x00\x00\x05"), 5 },
		{ LIT("\xcc\x00"), 0 },
		{ LIT("\xd2\xff\xff\xff\xff"), -1 },
	};
	for (size_t k = 0; k < sizeof ints / sizeof ints[0]; k++) {
		struct dec d;
		dec_ok(&d, ints[k].bytes, ints[k].len, false);
		ck_assert_int_eq(d.v->type, BH_INT);
		ck_assert_int_eq(d.v->as.i, ints[k].i);
		dec_done(&d);
	}

	/* str32 "abc", bin32, array32 of [map16 {1: nil}], ext32 */
	struct dec d;
	const bh_value *v = dec_ok(&d, BYTES("\x94\xdb\x00\x00\x00\x03" "abc"
					      "\xc6\x00\x00\x00\x01\x09"
					      "\xdd\x00\x00\x00\x01\xde\x00\x01\x01\xc0"
					      "\xc9\x00\x00\x00\x02\xfe\x01\x02"), false);
	ck_assert(bh_value_str_eq(bh_value_at(v, 0), "abc"));
	ck_assert_uint_eq(bh_value_at(v, 1)->len, 1);
	ck_assert_int_eq(bh_value_at(v, 2)->type, BH_ARRAY);
	ck_assert_int_eq(bh_value_at(bh_value_at(v, 2), 0)->type, BH_MAP);
	ck_assert_int_eq(bh_value_at(v, 3)->ext_type, -2);
	ck_assert_uint_eq(bh_value_at(v, 3)->len, 2);
	dec_done(&d);
}
END_TEST

/* Bytes produced by msgpack-c directly, compared with msgpack-c's own unpacker. */
static void pack_random(msgpack_packer *pk, uint64_t *rs, unsigned depth)
{
	static const int64_t ints[] = { 0, 1, 127, 128, 255, 256, 65535, 65536, UINT32_MAX,
					(int64_t)1 << 32, INT64_MAX, -1, -32, -33, -128, -129,
					-32768, -32769, INT32_MIN, INT64_MIN };
	uint32_t kind = rnd_below(rs, depth < 4 ? 12 : 9);
	char bytes[300];
	uint32_t len = rnd_below(rs, 4) == 0 ? rnd_below(rs, 300) : rnd_below(rs, 40);

	for (uint32_t i = 0; i < len; i++)
		bytes[i] = (char)rnd(rs);
	switch (kind) {
	case 0: msgpack_pack_nil(pk); break;
	case 1: rnd_below(rs, 2) ? msgpack_pack_true(pk) : msgpack_pack_false(pk); break;
	case 2: msgpack_pack_int64(pk, ints[rnd_below(rs, sizeof ints / sizeof ints[0])]); break;
	case 3: msgpack_pack_uint64(pk, rnd(rs) >> rnd_below(rs, 64)); break;
	case 4: msgpack_pack_int64(pk, (int64_t)rnd(rs) >> rnd_below(rs, 64)); break;
	case 5: msgpack_pack_double(pk, (double)(int64_t)rnd(rs) / 1e6); break;
	case 6: msgpack_pack_float(pk, (float)(int32_t)rnd(rs) / 1e3f); break;
	case 7: msgpack_pack_str_with_body(pk, bytes, len); break;
	case 8:
		if (rnd_below(rs, 2))
			msgpack_pack_bin_with_body(pk, bytes, len);
		else
			msgpack_pack_ext_with_body(pk, bytes, len, (int8_t)rnd(rs));
		break;
	case 9:
	case 10: {
		uint32_t n = rnd_below(rs, 20);
		msgpack_pack_array(pk, n);
		for (uint32_t i = 0; i < n; i++)
			pack_random(pk, rs, depth + 1);
		break;
	}
	default: {
		uint32_t n = rnd_below(rs, 10);
		msgpack_pack_map(pk, n);
		for (uint32_t i = 0; i < 2 * n; i++)
			pack_random(pk, rs, depth + 1);
		break;
	}
	}
}

START_TEST(test_msgpack_c_oracle)
{
	uint64_t rs = 0x5eed;
	for (int iter = 0; iter < 2000; iter++) {
		msgpack_sbuffer sb;
		msgpack_packer pk;
		struct dec d;
		msgpack_sbuffer_init(&sb);
		msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
		pack_random(&pk, &rs, 0);
		/* dec_ok() compares with msgpack_unpack_next() and re-encodes byte for byte */
		dec_ok(&d, sb.data, sb.size, true);
		dec_done(&d);
		msgpack_sbuffer_destroy(&sb);
	}
}
END_TEST

/* A writer that may borrow (bh_writer_lend): a large str or bin of the window, right
 * after its header, is remembered instead of copied while nothing else is written;
 * any other write copies it first, so the bytes are always the same. */
START_TEST(test_writer_lend)
{
	enum { BIG = 70000 };
	struct out src, o;
	out_init(&src, 0);
	bh_write_array(&src.w, 3);
	bh_write_bin(&src.w, NULL, 0);
	for (int k = 0; k < 2; k++) {
		uint8_t *body = malloc(BIG);
		ck_assert_ptr_nonnull(body);
		memset(body, 'a' + k, BIG);
		if (k == 0)
			bh_write_bin(&src.w, body, BIG);
		else
			bh_write_str(&src.w, (const char *)body, BIG);
		free(body);
	}
	ck_assert_int_eq(bh_writer_error(&src.w), 0);
	const uint8_t *win = src.buf.data;
	const size_t bin_at = 1 + 2, str_at = bin_at + 5 + BIG; /* fixarray, empty bin */

	/* The bin, borrowed whole: nothing in the buffer. */
	out_init(&o, 0);
	bh_writer_lend(&o.w, win, src.buf.len, 65536);
	ck_assert_int_eq(bh_write_bin(&o.w, win + bin_at + 5, BIG), 0);
	size_t off = 0, len = 0;
	ck_assert(bh_writer_lent(&o.w, &off, &len));
	ck_assert_uint_eq(off, bin_at);
	ck_assert_uint_eq(len, 5 + BIG);
	ck_assert_uint_eq(o.buf.len, 0);
	/* A second value: the first is copied in before it. */
	ck_assert_int_eq(bh_write_nil(&o.w), 0);
	ck_assert(!bh_writer_lent(&o.w, &off, &len));
	ck_assert_uint_eq(o.buf.len, 5 + BIG + 1);
	ck_assert_mem_eq(o.buf.data, win + bin_at, 5 + BIG);
	ck_assert_uint_eq(o.buf.data[5 + BIG], 0xc0);
	out_done(&o);

	/* The str, through bh_write_value of the decoded tree. */
	struct bh_arena arena;
	const bh_value *v;
	bh_arena_init(&arena);
	struct bh_limits lim;
	bh_limits_default(&lim);
	ck_assert_int_eq(bh_decode(win, src.buf.len, &lim, &arena, &v, NULL), 0);
	out_init(&o, 0);
	bh_writer_lend(&o.w, win, src.buf.len, 65536);
	ck_assert_int_eq(bh_write_value(&o.w, bh_value_at(v, 2)), 0);
	ck_assert(bh_writer_lent(&o.w, &off, &len));
	ck_assert_uint_eq(off, str_at);
	ck_assert_uint_eq(len, 5 + BIG);
	/* bh_write_raw copies it too. */
	ck_assert_int_eq(RAW(&o.w, "\x01"), 0);
	ck_assert_uint_eq(o.buf.len, 5 + BIG + 1);
	ck_assert_mem_eq(o.buf.data, win + str_at, 5 + BIG);
	out_done(&o);

	/* Not borrowed: under the minimum, after another value, a body that is not right
	 * after its header, outside the window, or past the buffer's ceiling (which then
	 * refuses it as ever). */
	out_init(&o, 0);
	bh_writer_lend(&o.w, win, src.buf.len, BIG + 1);
	bh_write_bin(&o.w, win + bin_at + 5, BIG);
	ck_assert(!bh_writer_lent(&o.w, &off, &len));
	ck_assert_uint_eq(o.buf.len, 5 + BIG);
	out_done(&o);
	out_init(&o, 0);
	bh_writer_lend(&o.w, win, src.buf.len, 65536);
	bh_write_nil(&o.w);
	bh_write_bin(&o.w, win + bin_at + 5, BIG);
	ck_assert(!bh_writer_lent(&o.w, &off, &len));
	out_done(&o);
	out_init(&o, 0);
	bh_writer_lend(&o.w, win, src.buf.len, 65536);
	bh_write_bin(&o.w, win + bin_at + 6, BIG - 1);
	ck_assert(!bh_writer_lent(&o.w, &off, &len));
	out_done(&o);
	out_init(&o, 0);
	bh_writer_lend(&o.w, win, src.buf.len - 1, 65536);
	bh_write_str(&o.w, (const char *)win + str_at + 5, BIG);
	ck_assert(!bh_writer_lent(&o.w, &off, &len));
	out_done(&o);
	out_init(&o, BIG);
	bh_writer_lend(&o.w, win, src.buf.len, 65536);
	ck_assert_int_eq(bh_write_bin(&o.w, win + bin_at + 5, BIG), -EMSGSIZE);
	ck_assert(!bh_writer_lent(&o.w, &off, &len));
	out_done(&o);

	bh_arena_done(&arena);
	out_done(&src);
}
END_TEST

START_TEST(test_writer_sticky)
{
	struct out o;
	out_init(&o, 10);

	ck_assert_int_eq(bh_write_str(&o.w, "12345678", 8), 0); /* 9 bytes */
	ck_assert_int_eq(bh_write_int(&o.w, 1), 0);		/* 10: exactly the ceiling */
	ck_assert_uint_eq(o.buf.len, 10);
	ck_assert_int_eq(bh_write_nil(&o.w), -EMSGSIZE);
	ck_assert_uint_eq(o.buf.len, 10);
	ck_assert_int_eq(bh_writer_error(&o.w), -EMSGSIZE);

	/* sticky: even a write that would fit now fails and writes nothing */
	bh_buf_consume(&o.buf, 10);
	ck_assert_int_eq(bh_write_nil(&o.w), -EMSGSIZE);
	ck_assert_int_eq(bh_write_raw(&o.w, "\xc0", 1), -EMSGSIZE);
	ck_assert_int_eq(bh_write_array(&o.w, 1), -EMSGSIZE);
	ck_assert_uint_eq(o.buf.len, 0);
	out_done(&o);

	/* a value that does not fit leaves nothing of itself behind */
	out_init(&o, 10);
	ck_assert_int_eq(bh_write_int(&o.w, 7), 0);
	ck_assert_int_eq(bh_write_str(&o.w, "0123456789", 10), -EMSGSIZE);
	ck_assert_uint_eq(o.buf.len, 1);
	out_done(&o);

	out_init(&o, 0);
	ck_assert_int_eq(bh_write_str(&o.w, "x", (size_t)UINT32_MAX + 1), -EMSGSIZE);
	ck_assert_uint_eq(o.buf.len, 0);
	out_done(&o);

	/* a failed bh_write_value writes nothing at all */
	bh_value items[] = { { .type = BH_INT, .as.i = 1 }, { .type = 99 } };
	bh_value bad = { .type = BH_ARRAY, .len = 2, .as.items = items };
	out_init(&o, 0);
	ck_assert_int_eq(bh_write_value(&o.w, &bad), -EINVAL);
	ck_assert_uint_eq(o.buf.len, 0);
	out_done(&o);
}
END_TEST

START_TEST(test_u32_fixed)
{
	struct out o;
	size_t off = 99;
	struct dec d;

	out_init(&o, 0);
	bh_write_array(&o.w, 2);
	ck_assert_int_eq(bh_write_u32_fixed(&o.w, 1, &off), 0);
	ck_assert_uint_eq(off, 1);
	ck_assert_int_eq(bh_write_u32_fixed(&o.w, 0, NULL), 0);
	ck_assert_uint_eq(o.buf.len, 11);
	ck_assert_mem_eq(o.buf.data, "\x92\xce\x00\x00\x00\x01\xce\x00\x00\x00\x00", 11);

	bh_patch_u32(o.buf.data + off, 0xdeadbeef);
	ck_assert_mem_eq(o.buf.data + off, "\xce\xde\xad\xbe\xef", 5);
	dec_ok(&d, o.buf.data, o.buf.len, false);
	ck_assert_int_eq(bh_value_at(d.v, 0)->as.i, 0xdeadbeef);
	ck_assert_int_eq(bh_value_at(d.v, 1)->as.i, 0);
	dec_done(&d);

	/* fails whole and sticky past the ceiling, *ret_off untouched */
	o.buf.max = o.buf.len + 4;
	off = 99;
	ck_assert_int_eq(bh_write_u32_fixed(&o.w, 5, &off), -EMSGSIZE);
	ck_assert_uint_eq(off, 99);
	ck_assert_uint_eq(o.buf.len, 11);
	out_done(&o);
}
END_TEST

START_TEST(test_buf)
{
	struct bh_buf b;

	bh_buf_init(&b, 0);
	ck_assert_int_eq(bh_buf_reserve(&b, SIZE_MAX), -ENOMEM);
	ck_assert_int_eq(bh_buf_append(&b, "abcdef", 6), 0);
	ck_assert_int_eq(bh_buf_append(&b, NULL, 0), 0);
	bh_buf_consume(&b, 2);
	ck_assert_uint_eq(b.len, 4);
	ck_assert_mem_eq(b.data, "cdef", 4);
	bh_buf_consume(&b, 100);
	ck_assert_uint_eq(b.len, 0);

	ck_assert_int_eq(bh_buf_reserve(&b, 100000), 0);
	ck_assert_uint_ge(b.cap, 100000);
	bh_buf_shrink(&b, 4096);
	ck_assert_uint_eq(b.cap, 4096);
	ck_assert_int_eq(bh_buf_append(&b, "xy", 2), 0);
	bh_buf_shrink(&b, 0); /* not empty: keeps its memory */
	ck_assert_uint_eq(b.cap, 4096);
	bh_buf_consume(&b, 2);
	bh_buf_shrink(&b, 0);
	ck_assert_uint_eq(b.cap, 0);
	ck_assert_ptr_null(b.data);
	bh_buf_done(&b);

	bh_buf_init(&b, 8);
	ck_assert_int_eq(bh_buf_append(&b, "12345678", 8), 0);
	ck_assert_int_eq(bh_buf_append(&b, "9", 1), -EMSGSIZE);
	ck_assert_int_eq(bh_buf_reserve(&b, SIZE_MAX), -EMSGSIZE);
	ck_assert_uint_le(b.cap, 8);
	bh_buf_done(&b);
	bh_buf_done(NULL);
}
END_TEST

/* ======== bh_scan / bh_decode on hostile input ======== */

/* Every type and width, several non-canonical, in about 200 bytes. */
static void write_kitchen_sink(struct out *o)
{
	bh_writer *w = &o->w;
	bh_write_array(w, 25);
	bh_write_nil(w);
	bh_write_bool(w, false);
	bh_write_int(w, -1);
	bh_write_int(w, 200);
	bh_write_int(w, -200);
	bh_write_int(w, 60000);
	bh_write_int(w, -60000);
	bh_write_int(w, INT64_MIN);
	bh_write_uint(w, UINT64_MAX);
	bh_write_float32(w, 3.25f);
	bh_write_float(w, -1e300);
	bh_write_str(w, "fix", 3);
	bh_write_str(w, "a string of thirty-two bytes....", 32);
	RAW(w, "\xda\x00\x02" "hi" "\xdb\x00\x00\x00\x01" "!"); /* str16, str32 */
	bh_write_bin(w, "\x01\x02\x03", 3);
	RAW(w, "\xc5\x00\x01\x07" "\xc6\x00\x00\x00\x00"); /* bin16, bin32 */
	bh_write_map(w, 2);
	bh_write_cstr(w, "k");
	bh_write_array(w, 0);
	bh_write_int(w, 1);
	bh_write_nil(w);
	RAW(w, "\xdc\x00\x01\xde\x00\x00"); /* [{}] as array16, map16 */
	RAW(w, "\xdd\x00\x00\x00\x01\xdf\x00\x00\x00\x01\xc0\xc0"); /* array32, map32 */
	bh_write_ext(w, 1, "a", 1);
	bh_write_ext(w, 2, "0123456789abcdef", 16);
	RAW(w, "\xc8\x00\x01\x05z" "\xc9\x00\x00\x00\x02\x06zz"); /* ext16, ext32 */
	ck_assert_int_eq(bh_writer_error(w), 0);
}

START_TEST(test_truncated_prefixes)
{
	struct out o;
	struct dec d;
	struct bh_limits lim;

	out_init(&o, 0);
	write_kitchen_sink(&o);
	dec_ok(&d, o.buf.data, o.buf.len, false);
	ck_assert_uint_eq(d.v->len, 25);
	dec_done(&d);

	bh_limits_default(&lim);
	for (size_t n = 0; n < o.buf.len; n++) {
		uint8_t *p = exact(o.buf.data, n);
		struct bh_scan s = { 123, 456 };
		struct bh_arena arena;
		const bh_value *v = NULL;
		size_t used = 77;
		struct bh_rpc rpc;
		bh_error err;

		bh_arena_init(&arena);
		ck_assert_int_eq(bh_scan(p, n, &lim, &s), -EAGAIN);
		ck_assert_uint_eq(s.size, 123); /* untouched */
		ck_assert_int_eq(bh_decode(p, n, &lim, &arena, &v, &used), -EAGAIN);
		ck_assert_ptr_null(v);
		ck_assert_uint_eq(used, 77);
		ck_assert_ptr_null(arena.nodes); /* nothing allocated */
		ck_assert_int_eq(bh_rpc_parse(p, n, &rpc, NULL), -EPROTO);
		ck_assert_int_eq(bh_error_decode(p, n, &err), -EPROTO);
		bh_arena_done(&arena);
		free(p);
	}
	out_done(&o);
}
END_TEST

START_TEST(test_trailing_bytes)
{
	struct bh_scan s;
	struct bh_arena arena;
	const bh_value *v;
	size_t used;
	uint8_t *p = exact(BYTES("\x92\x01\xa1" "x" "\xc1\xc1\xff\x00"));

	ck_assert_int_eq(bh_scan(p, 8, NULL, &s), 0);
	ck_assert_uint_eq(s.size, 4);
	ck_assert_uint_eq(s.nodes, 3);
	bh_arena_init(&arena);
	ck_assert_int_eq(bh_decode(p, 8, NULL, &arena, &v, &used), 0);
	ck_assert_uint_eq(used, 4);
	ck_assert(bh_value_str_eq(bh_value_at(v, 1), "x"));
	bh_arena_done(&arena);
	free(p);

	/* A whole scalar followed by anything at all. */
	ck_assert_int_eq(scan_exact(BYTES("\x05\xdd\xff\xff\xff\xff"), NULL, &s), 0);
	ck_assert_uint_eq(s.size, 1);
}
END_TEST

START_TEST(test_c1)
{
	struct bh_scan s;
	struct bh_limits lim;

	bh_limits_default(&lim);
	ck_assert_int_eq(scan_exact(BYTES("\xc1"), &lim, &s), -EBADMSG);
	ck_assert_int_eq(scan_exact(BYTES("\x92\x01\xc1"), &lim, &s), -EBADMSG);
	ck_assert_int_eq(scan_exact(BYTES("\x81\xc1\x01"), &lim, &s), -EBADMSG);
	ck_assert_int_eq(scan_exact(BYTES("\x81\x01\xc1"), &lim, &s), -EBADMSG);
	/* a bad byte inside a str payload is just data */
	ck_assert_int_eq(scan_exact(BYTES("\xa1\xc1"), &lim, &s), 0);
}
END_TEST

START_TEST(test_huge_headers)
{
	static const struct {
		const char *bytes;
		size_t len;
		int err_default; /* with default limits */
		int err_wide;	 /* max_items and max_bytes at UINT32_MAX */
	} cases[] = {
		{ LIT("\xdd\xff\xff\xff\xff"), -E2BIG, -E2BIG }, /* array32 */
		{ LIT("\xdf\xff\xff\xff\xff"), -E2BIG, -E2BIG }, /* map32 */
		{ LIT("\xdf\x80\x00\x00\x00"), -E2BIG, -E2BIG }, /* map32, 2^31 pairs */
		{ LIT("\xdb\xff\xff\xff\xff"), -EMSGSIZE, -EMSGSIZE }, /* str32 ~4 GiB */
		{ LIT("\xc6\xff\xff\xff\xff"), -EMSGSIZE, -EMSGSIZE }, /* bin32 */
		{ LIT("\xc9\xff\xff\xff\xff\x01"), -EMSGSIZE, -EMSGSIZE }, /* ext32 */
		{ LIT("\xdc\xff\xff"), -EAGAIN, -EAGAIN }, /* 64 Ki fit in 16 MiB */
		{ LIT("\x91\xdd\x00\x10\x00\x00"), -EAGAIN, -EAGAIN }, /* 1 Mi items: allowed */
		{ LIT("\x91\xdd\x00\x10\x00\x01"), -E2BIG, -EAGAIN }, /* 1 Mi + 1 */
		{ LIT("\xdd\x01\x00\x00\x00"), -E2BIG, -E2BIG }, /* 16 Mi elements */
		{ LIT("\xdd\x00\xff\xff\xfb"), -E2BIG, -EAGAIN }, /* 16 Mi - 5: just fits */
		{ LIT("\xdd\x00\xff\xff\xfc"), -E2BIG, -E2BIG }, /* 16 Mi - 4: one too many */
	};
	struct bh_limits lim, wide;

	bh_limits_default(&lim);
	wide = lim;
	wide.max_items = UINT32_MAX;
	wide.max_bytes = UINT32_MAX;
	for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
		uint8_t *p = exact(cases[k].bytes, cases[k].len);
		struct bh_scan s;
		struct bh_arena arena;
		const bh_value *v;

		ck_assert_msg(bh_scan(p, cases[k].len, &lim, &s) == cases[k].err_default,
			      "case %zu", k);
		ck_assert_msg(bh_scan(p, cases[k].len, &wide, &s) == cases[k].err_wide,
			      "case %zu (wide)", k);
		bh_arena_init(&arena);
		ck_assert_int_eq(bh_decode(p, cases[k].len, &wide, &arena, &v, NULL),
				 cases[k].err_wide);
		ck_assert_ptr_null(arena.nodes);
		ck_assert_uint_eq(arena.cap, 0);
		bh_arena_done(&arena);
		free(p);
	}
}
END_TEST

/* A header that declares more than max_message could hold fails on the header alone. */
START_TEST(test_declared_too_big)
{
	struct bh_limits lim;
	struct bh_scan s;

	bh_limits_default(&lim);
	lim.max_message = 100;
	ck_assert_int_eq(scan_exact(BYTES("\xda\x03\xe8"), &lim, &s), -EMSGSIZE); /* str16 1000 */
	ck_assert_int_eq(scan_exact(BYTES("\xda\x00\x61"), &lim, &s), -EAGAIN);  /* 97 + 3 */
	ck_assert_int_eq(scan_exact(BYTES("\xda\x00\x62"), &lim, &s), -EMSGSIZE); /* 98 + 3 */
	ck_assert_int_eq(scan_exact(BYTES("\xdc\x00\xc8"), &lim, &s), -E2BIG);   /* 200 elems */
	ck_assert_int_eq(scan_exact(BYTES("\xdc\x00\x61"), &lim, &s), -EAGAIN);  /* 97 + 3 */
	ck_assert_int_eq(scan_exact(BYTES("\xdc\x00\x62"), &lim, &s), -E2BIG);   /* 98 + 3 */
	/* values still owed by open containers count: [str of 97, x, y] cannot fit */
	ck_assert_int_eq(scan_exact(BYTES("\x93\xd9\x61"), &lim, &s), -EMSGSIZE);
	ck_assert_int_eq(scan_exact(BYTES("\x93\xd9\x5f"), &lim, &s), -EAGAIN);
	ck_assert_int_eq(scan_exact(BYTES("\x92\x91\xdc\x00\x5f"), &lim, &s), -E2BIG);
	ck_assert_int_eq(scan_exact(BYTES("\x92\x91\xdc\x00\x5e"), &lim, &s), -EAGAIN);

	/* incomplete, but max_message bytes are already there: too big, not "read more" */
	lim.max_message = 3;
	ck_assert_int_eq(scan_exact(BYTES("\x91\xcd\x01"), &lim, &s), -EMSGSIZE);
	ck_assert_int_eq(scan_exact(BYTES("\x91\xcd\x01\x02"), &lim, &s), -EMSGSIZE);
	ck_assert_int_eq(scan_exact(BYTES("\x93\x01\x02"), &lim, &s), -E2BIG);
	ck_assert_int_eq(scan_exact(BYTES("\x92\x01\x02"), &lim, &s), 0);
	ck_assert_int_eq(scan_exact(BYTES("\x92\x01"), &lim, &s), -EAGAIN);
	ck_assert_int_eq(scan_exact(BYTES("\xcd\x01"), &lim, &s), -EAGAIN);
	ck_assert_int_eq(scan_exact(BYTES("\xce\x01\x02"), &lim, &s), -EMSGSIZE);
}
END_TEST

static uint8_t *nest(size_t depth, uint8_t opener, size_t *ret_len)
{
	size_t len = depth * (opener == 0x81 ? 2 : 1) + 1;
	uint8_t *p = malloc(len);
	size_t at = 0;
	ck_assert_ptr_nonnull(p);
	for (size_t i = 0; i < depth; i++) {
		p[at++] = opener;
		if (opener == 0x81)
			p[at++] = 0x00; /* key 0 */
	}
	p[at++] = 0xc0;
	*ret_len = len;
	return p;
}

START_TEST(test_depth)
{
	static const uint8_t openers[] = { 0x91, 0x81 };
	struct bh_limits lim;
	struct bh_scan s;
	struct bh_arena arena;
	const bh_value *v;
	size_t len;

	bh_limits_default(&lim);
	bh_arena_init(&arena);
	for (size_t k = 0; k < 2; k++) {
		uint8_t *p = nest(64, openers[k], &len);
		ck_assert_int_eq(bh_scan(p, len, &lim, &s), 0);
		ck_assert_uint_eq(s.size, len);
		ck_assert_int_eq(bh_decode(p, len, &lim, &arena, &v, NULL), 0);
		ck_assert_uint_eq(tree_depth(v), 64);
		free(p);

		p = nest(65, openers[k], &len);
		ck_assert_int_eq(bh_scan(p, len, &lim, &s), -ELOOP);
		ck_assert_int_eq(bh_decode(p, len, &lim, &arena, &v, NULL), -ELOOP);
		free(p);
	}

	/* an empty container one level too deep counts too */
	lim.max_depth = 2;
	ck_assert_int_eq(scan_exact(BYTES("\x91\x91\x90"), &lim, &s), -ELOOP);
	ck_assert_int_eq(scan_exact(BYTES("\x91\x80"), &lim, &s), 0);
	ck_assert_int_eq(scan_exact(BYTES("\x92\x91\x90\x90"), &lim, &s), -ELOOP);
	ck_assert_int_eq(scan_exact(BYTES("\x92\x91\x01\x90"), &lim, &s), 0);
	lim.max_depth = 0;
	ck_assert_int_eq(scan_exact(BYTES("\x05"), &lim, &s), 0);
	ck_assert_int_eq(scan_exact(BYTES("\x90"), &lim, &s), -ELOOP);

	/* 100000 levels: no recursion, no stack overflow, whatever max_depth says */
	uint8_t *deep = nest(100000, 0x91, &len);
	bh_limits_default(&lim);
	ck_assert_int_eq(bh_scan(deep, len, &lim, &s), -ELOOP);
	ck_assert_int_eq(bh_decode(deep, len, &lim, &arena, &v, NULL), -ELOOP);
	lim.max_depth = UINT32_MAX;
	ck_assert_int_eq(bh_scan(deep, len, &lim, &s), -ELOOP);
	ck_assert_int_eq(bh_scan(deep, 50000, &lim, &s), -ELOOP);
	/* a prefix too shallow to have hit any limit is just incomplete */
	ck_assert_int_eq(bh_scan(deep, 60, NULL, &s), -EAGAIN);
	free(deep);

	/* an oversized max_depth is held to the readers' fixed stack of 512 */
	uint8_t *p = nest(512, 0x91, &len);
	ck_assert_int_eq(bh_decode(p, len, &lim, &arena, &v, NULL), 0);
	ck_assert_uint_eq(tree_depth(v), 512);
	free(p);
	p = nest(513, 0x91, &len);
	ck_assert_int_eq(bh_scan(p, len, &lim, &s), -ELOOP);
	free(p);
	bh_arena_done(&arena);
}
END_TEST

START_TEST(test_limit_boundaries)
{
	struct bh_limits lim;
	struct bh_scan s;
	struct out o;

	/* max_message: a message of exactly that size passes, one byte more fails */
	bh_limits_default(&lim);
	lim.max_message = 10;
	ck_assert_int_eq(scan_exact(BYTES("\xd9\x08" "12345678"), &lim, &s), 0);
	ck_assert_uint_eq(s.size, 10);
	ck_assert_int_eq(scan_exact(BYTES("\xd9\x09" "123456789"), &lim, &s), -EMSGSIZE);
	ck_assert_int_eq(scan_exact(BYTES("\x99\x01\x02\x03\x04\x05\x06\x07\x08\x09"), &lim, &s), 0);
	ck_assert_int_eq(scan_exact(BYTES("\x9a\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a"), &lim, &s),
			 -E2BIG);
	ck_assert_int_eq(scan_exact(BYTES("\x92\xcf\x00\x00\x00\x00\x00\x00\x00\x01\x02"), &lim, &s),
			 -EMSGSIZE);

	/* max_items, arrays and maps */
	bh_limits_default(&lim);
	lim.max_items = 3;
	ck_assert_int_eq(scan_exact(BYTES("\x93\x01\x02\x03"), &lim, &s), 0);
	ck_assert_int_eq(scan_exact(BYTES("\x94\x01\x02\x03\x04"), &lim, &s), -E2BIG);
	ck_assert_int_eq(scan_exact(BYTES("\x94"), &lim, &s), -E2BIG);
	ck_assert_int_eq(scan_exact(BYTES("\x83\x01\x01\x02\x02\x03\x03"), &lim, &s), 0);
	ck_assert_int_eq(scan_exact(BYTES("\x84\x01\x01\x02\x02\x03\x03\x04\x04"), &lim, &s), -E2BIG);
	ck_assert_int_eq(scan_exact(BYTES("\x91\x94"), &lim, &s), -E2BIG);

	/* max_bytes, str / bin / ext / fixext */
	bh_limits_default(&lim);
	lim.max_bytes = 4;
	ck_assert_int_eq(scan_exact(BYTES("\xa4" "abcd"), &lim, &s), 0);
	ck_assert_int_eq(scan_exact(BYTES("\xa5" "abcde"), &lim, &s), -EMSGSIZE);
	ck_assert_int_eq(scan_exact(BYTES("\xa5"), &lim, &s), -EMSGSIZE);
	ck_assert_int_eq(scan_exact(BYTES("\xc4\x04" "abcd"), &lim, &s), 0);
	ck_assert_int_eq(scan_exact(BYTES("\xc4\x05" "abcde"), &lim, &s), -EMSGSIZE);
	ck_assert_int_eq(scan_exact(BYTES("\xd6\x01" "abcd"), &lim, &s), 0);
	ck_assert_int_eq(scan_exact(BYTES("\xd7\x01" "abcdefgh"), &lim, &s), -EMSGSIZE);
	ck_assert_int_eq(scan_exact(BYTES("\xc7\x04\x01" "abcd"), &lim, &s), 0);
	ck_assert_int_eq(scan_exact(BYTES("\xc7\x05\x01" "abcde"), &lim, &s), -EMSGSIZE);

	/* the defaults, at the boundary: 1 Mi items */
	bh_limits_default(&lim);
	ck_assert_uint_eq(lim.max_message, 16u << 20);
	ck_assert_uint_eq(lim.max_depth, 64);
	ck_assert_uint_eq(lim.max_items, 1u << 20);
	ck_assert_uint_eq(lim.max_bytes, 16u << 20);
	out_init(&o, 0);
	bh_write_array(&o.w, 1u << 20);
	for (uint32_t i = 0; i < 1u << 20; i++)
		bh_write_nil(&o.w);
	ck_assert_int_eq(scan_exact(o.buf.data, o.buf.len, &lim, &s), 0);
	ck_assert_uint_eq(s.nodes, (1u << 20) + 1);
	out_done(&o);
	out_init(&o, 0);
	bh_write_array(&o.w, (1u << 20) + 1);
	for (uint32_t i = 0; i < (1u << 20) + 1; i++)
		bh_write_nil(&o.w);
	ck_assert_int_eq(scan_exact(o.buf.data, o.buf.len, &lim, &s), -E2BIG);
	out_done(&o);
}
END_TEST

/* ======== bh_scanner: the scan resumed across reads ======== */

/* Feed p[0..n-1] to a scanner as the prefixes of lengths cut[0], cut[1], ..., n, each
 * copied to an exact block of its own (the bytes move between feeds, as a reader's
 * buffer does), until it stops asking for more. */
static int feed_cuts(struct bh_scanner *sc, const uint8_t *p, size_t n, const size_t *cut,
		     size_t n_cut, const struct bh_limits *lim, struct bh_scan *ret)
{
	int r = -EAGAIN;
	for (size_t k = 0; k <= n_cut && r == -EAGAIN; k++) {
		size_t len = k < n_cut ? cut[k] : n;
		uint8_t *q = exact(p, len);
		r = bh_scanner_feed(sc, q, len, lim, ret);
		free(q);
	}
	return r;
}

/* Split anywhere, byte by byte or in two, the kitchen sink scans as it does whole, and
 * byte by byte the scanner looks at each byte a bounded number of times. */
START_TEST(test_scanner_splits)
{
	struct out o;
	struct bh_scan whole, s;
	struct bh_scanner sc;

	out_init(&o, 0);
	write_kitchen_sink(&o);
	const size_t n = o.buf.len;
	ck_assert_int_eq(bh_scan(o.buf.data, n, NULL, &whole), 0);

	size_t *every = malloc(n * sizeof(*every));
	for (size_t i = 0; i < n; i++)
		every[i] = i;
	bh_scanner_init(&sc);
	ck_assert_int_eq(feed_cuts(&sc, o.buf.data, n, every, n, NULL, &s), 0);
	ck_assert_uint_eq(s.size, whole.size);
	ck_assert_uint_eq(s.nodes, whole.nodes);
	/* A header split over reads is read again: at most 9 bytes per read. */
	ck_assert_uint_le(sc.work, 10 * n);

	for (size_t cut = 0; cut < n; cut++) {
		bh_scanner_init(&sc);
		ck_assert_int_eq(feed_cuts(&sc, o.buf.data, n, &cut, 1, NULL, &s), 0);
		ck_assert_uint_eq(s.size, whole.size);
		ck_assert_uint_eq(s.nodes, whole.nodes);
	}
	free(every);
	out_done(&o);
}
END_TEST

/* Two messages back to back: the scanner is ready for the second after the first. */
START_TEST(test_scanner_next_message)
{
	struct bh_scanner sc;
	struct bh_scan s;
	uint8_t *p = exact(BYTES("\x92\x01\xa2" "ab" "\x91\xc0"));

	bh_scanner_init(&sc);
	ck_assert_int_eq(bh_scanner_feed(&sc, p, 3, NULL, &s), -EAGAIN);
	ck_assert_int_eq(bh_scanner_feed(&sc, p, 7, NULL, &s), 0);
	ck_assert_uint_eq(s.size, 5);
	ck_assert_uint_eq(s.nodes, 3);
	ck_assert_int_eq(bh_scanner_feed(&sc, p + 5, 1, NULL, &s), -EAGAIN);
	ck_assert_int_eq(bh_scanner_feed(&sc, p + 5, 2, NULL, &s), 0);
	ck_assert_uint_eq(s.size, 2);
	ck_assert_uint_eq(s.nodes, 2);
	free(p);
}
END_TEST

/* Limits are the message's from its first byte to its last; an error sticks. */
START_TEST(test_scanner_limits_and_errors)
{
	struct bh_scanner sc;
	struct bh_scan s;
	struct bh_limits small;
	uint8_t *p = exact(BYTES("\x95\x01\x02\x03\x04\x05"));

	bh_limits_default(&small);
	small.max_items = 4;
	bh_scanner_init(&sc);
	ck_assert_int_eq(bh_scanner_feed(&sc, p, 0, &small, &s), -EAGAIN);
	ck_assert_int_eq(bh_scanner_feed(&sc, p, 6, NULL, &s), -E2BIG);
	ck_assert_int_eq(bh_scanner_feed(&sc, p, 6, NULL, &s), -E2BIG); /* sticky */
	bh_scanner_init(&sc);
	ck_assert_int_eq(bh_scanner_feed(&sc, p, 6, NULL, &s), 0);
	free(p);

	/* Fed byte by byte, a header that declares too much fails on its last byte. */
	static const struct {
		const char *bytes;
		size_t len;
		int err;
	} cases[] = {
		{ LIT("\x94\x00\x01\xa1" "x" "\xdb\x01\x00\x00\x00"), -EMSGSIZE }, /* str32 16 MiB */
		{ LIT("\x94\x00\x01\xa1" "x" "\xc6\x01\x00\x00\x01"), -EMSGSIZE }, /* bin32 */
		{ LIT("\x94\x00\x01\xa1" "x" "\xdd\x01\x00\x00\x00"), -E2BIG },    /* array32 */
		{ LIT("\x94\x00\x01\xa1" "x" "\xdc\x00\x10\xc1"), -EBADMSG },
	};
	for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
		bh_scanner_init(&sc);
		int r = -EAGAIN;
		size_t len = 0;
		while (r == -EAGAIN && len < cases[k].len) {
			len++;
			uint8_t *q = exact(cases[k].bytes, len);
			r = bh_scanner_feed(&sc, q, len, NULL, &s);
			free(q);
		}
		ck_assert_msg(r == cases[k].err, "case %zu: %d", k, r);
		ck_assert_msg(len == cases[k].len, "case %zu failed after %zu bytes", k, len);
	}

	/* A message that grows past max_message value by value fails once it passes it,
	 * not when a ceiling of the caller's buffer is hit. */
	bh_limits_default(&small);
	small.max_message = 1000;
	struct out o;
	out_init(&o, 0);
	bh_write_array(&o.w, 100);
	for (int i = 0; i < 100; i++)
		bh_write_str(&o.w, "0123456789abcdef", 16);
	bh_scanner_init(&sc);
	size_t len = 0;
	int r = -EAGAIN;
	while (r == -EAGAIN && len < o.buf.len)
		r = bh_scanner_feed(&sc, o.buf.data, ++len, &small, &s);
	ck_assert_int_eq(r, -EMSGSIZE);
	ck_assert_uint_le(len, 1000);
	out_done(&o);
}
END_TEST

/* The reader's case: a 64 KiB request dripped through a socket one byte per read.
 * The scanner's work stays a small multiple of the bytes received, where scanning
 * each read's buffer from the start would cost about n^2/2. */
START_TEST(test_scanner_drip_socket)
{
	struct out o;
	out_init(&o, 0);
	bh_write_array(&o.w, 4);
	bh_write_uint(&o.w, 0);
	bh_write_uint(&o.w, 7);
	bh_write_cstr(&o.w, "p.m");
	bh_write_array(&o.w, 3);
	bh_write_array(&o.w, 30000); /* nils: one header per byte */
	for (int i = 0; i < 30000; i++)
		bh_write_nil(&o.w);
	bh_write_array(&o.w, 2000); /* small strings and ints */
	for (int i = 0; i < 2000; i++) {
		if (i % 2)
			bh_write_str(&o.w, "0123456789abcdefghijklmnopqrstu", 31);
		else
			bh_write_int(&o.w, -100000 - i);
	}
	bh_write_bin(&o.w, NULL, 0);
	ck_assert_int_eq(bh_writer_error(&o.w), 0);
	const size_t n = o.buf.len;

	int sv[2];
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	struct bh_buf in;
	struct bh_scanner sc;
	struct bh_scan s;
	bh_buf_init(&in, 0);
	bh_scanner_init(&sc);
	int r = -EAGAIN;
	uint64_t received = 0;
	for (size_t i = 0; i < n; i++) {
		ck_assert_int_eq(send(sv[0], o.buf.data + i, 1, 0), 1);
		ck_assert_int_eq(bh_buf_reserve(&in, 4096), 0);
		ssize_t got = recv(sv[1], in.data + in.len, in.cap - in.len, 0);
		ck_assert_int_eq(got, 1);
		in.len += (size_t)got;
		received += (uint64_t)got;
		r = bh_scanner_feed(&sc, in.data, in.len, NULL, &s);
		if (i + 1 < n)
			ck_assert_int_eq(r, -EAGAIN);
	}
	ck_assert_int_eq(r, 0);
	ck_assert_uint_eq(s.size, n);
	ck_assert_uint_eq(received, n);
	ck_assert_msg(sc.work <= 3 * received, "scanned %llu bytes for %llu received",
		      (unsigned long long)sc.work, (unsigned long long)received);
	ck_assert_int_eq(bh_rpc_parse(in.data, s.size, &(struct bh_rpc){ 0 }, NULL), 0);
	close(sv[0]);
	close(sv[1]);
	bh_buf_done(&in);
	out_done(&o);
}
END_TEST

START_TEST(test_arena_reuse)
{
	struct bh_arena arena;
	const bh_value *v;
	struct out big, small;
	uint8_t *pb, *ps;

	out_init(&big, 0);
	bh_write_array(&big.w, 1000);
	for (int i = 0; i < 1000; i++)
		bh_write_int(&big.w, i);
	out_init(&small, 0);
	write_nested(&small.w);
	pb = exact(big.buf.data, big.buf.len);
	ps = exact(small.buf.data, small.buf.len);

	bh_arena_init(&arena);
	ck_assert_int_eq(bh_decode(ps, small.buf.len, NULL, &arena, &v, NULL), 0);
	ck_assert_uint_eq(arena.cap, 17);
	ck_assert_int_eq(bh_decode(pb, big.buf.len, NULL, &arena, &v, NULL), 0);
	ck_assert_uint_eq(arena.cap, 1001);
	ck_assert_int_eq(bh_value_at(v, 999)->as.i, 999);
	bh_value *nodes = arena.nodes;
	ck_assert_int_eq(bh_decode(ps, small.buf.len, NULL, &arena, &v, NULL), 0);
	ck_assert_ptr_eq(arena.nodes, nodes); /* reused, not reallocated */
	ck_assert_uint_eq(arena.cap, 1001);
	ck_assert(bh_value_str_eq(bh_value_at(v, 5), "tail"));
	bh_arena_done(&arena);
	ck_assert_ptr_null(arena.nodes);
	bh_arena_done(&arena);
	bh_arena_done(NULL);

	free(pb);
	free(ps);
	out_done(&big);
	out_done(&small);
}
END_TEST

START_TEST(test_strerror)
{
	static const int errs[] = { EAGAIN, EMSGSIZE, ELOOP, E2BIG, EBADMSG, ENOMEM, EPROTO };
	for (size_t k = 0; k < sizeof errs / sizeof errs[0]; k++) {
		const char *s = bh_proto_strerror(-errs[k]);
		ck_assert_ptr_nonnull(s);
		ck_assert_str_ne(s, bh_proto_strerror(-12345));
		for (size_t j = 0; j < k; j++)
			ck_assert_str_ne(s, bh_proto_strerror(-errs[j]));
	}
}
END_TEST

/* ======== RPC envelope ======== */

START_TEST(test_rpc_request)
{
	struct out params, o;
	struct bh_rpc rpc;
	const char *why = "unset";
	uint32_t msgid = 0;

	out_init(&params, 0);
	bh_write_array(&params.w, 2);
	bh_write_int(&params.w, 1);
	bh_write_cstr(&params.w, "two");
	out_init(&o, 0);
	ck_assert_int_eq(bh_rpc_write_request(&o.w, 7, "calc.sum", 8, params.buf.data,
					      params.buf.len), 0);
	uint8_t *p = exact(o.buf.data, o.buf.len);

	ck_assert_int_eq(bh_rpc_parse(p, o.buf.len, &rpc, &why), 0);
	ck_assert_ptr_null(why);
	ck_assert_int_eq(rpc.type, BH_RPC_REQUEST);
	ck_assert_uint_eq(rpc.msgid, 7);
	ck_assert_uint_eq(rpc.method_len, 8);
	ck_assert_mem_eq(rpc.method, "calc.sum", 8);
	ck_assert(rpc.method > (const char *)p && rpc.method < (const char *)p + o.buf.len);
	ck_assert_uint_eq(rpc.params_len, params.buf.len);
	ck_assert_mem_eq(rpc.params, params.buf.data, params.buf.len);
	ck_assert_ptr_null(rpc.options);
	ck_assert_ptr_null(rpc.error);
	ck_assert_ptr_null(rpc.result);
	ck_assert_int_eq(bh_rpc_request_msgid(p, o.buf.len, &msgid), 0);
	ck_assert_uint_eq(msgid, 7);
	free(p);

	/* the largest msgid, no params given, and the options extension */
	bh_buf_consume(&o.buf, o.buf.len);
	ck_assert_int_eq(bh_rpc_write_request(&o.w, UINT32_MAX, "m", 1, NULL, 0), 0);
	ck_assert_mem_eq(o.buf.data, "\x94\x00\xce\xff\xff\xff\xff\xa1m\x90", 10);
	o.buf.data[0] = 0x95;
	bh_write_map(&o.w, 1);
	bh_write_cstr(&o.w, "deadline_ms");
	bh_write_int(&o.w, 250);
	p = exact(o.buf.data, o.buf.len);
	ck_assert_int_eq(bh_rpc_parse(p, o.buf.len, &rpc, NULL), 0);
	ck_assert_uint_eq(rpc.msgid, UINT32_MAX);
	ck_assert_ptr_eq(rpc.params, p + 9);
	ck_assert_uint_eq(rpc.params_len, 1);
	ck_assert_ptr_eq(rpc.options, p + 10);
	ck_assert_uint_eq(rpc.options_len, o.buf.len - 10);
	free(p);

	/* msgid in a non-canonical encoding still counts */
	p = exact(BYTES("\x94\x00\xd0\x05\xa1m\x90"));
	ck_assert_int_eq(bh_rpc_parse(p, 7, &rpc, NULL), 0);
	ck_assert_uint_eq(rpc.msgid, 5);
	free(p);
	p = exact(BYTES("\x94\x00\xcf\x00\x00\x00\x00\xff\xff\xff\xff\xa1m\x90"));
	ck_assert_int_eq(bh_rpc_parse(p, 14, &rpc, NULL), 0);
	ck_assert_uint_eq(rpc.msgid, UINT32_MAX);
	free(p);

	out_done(&o);
	out_done(&params);
}
END_TEST

START_TEST(test_rpc_response_notify)
{
	struct out o;
	struct bh_rpc rpc;
	bh_error err;

	out_init(&o, 0);
	ck_assert_int_eq(bh_rpc_write_result(&o.w, 9, (const uint8_t *)"\x81\xa1x\x01", 4), 0);
	uint8_t *p = exact(o.buf.data, o.buf.len);
	ck_assert_int_eq(bh_rpc_parse(p, o.buf.len, &rpc, NULL), 0);
	ck_assert_int_eq(rpc.type, BH_RPC_RESPONSE);
	ck_assert_uint_eq(rpc.msgid, 9);
	ck_assert_uint_eq(rpc.error_len, 1);
	ck_assert_uint_eq(rpc.error[0], 0xc0);
	ck_assert_uint_eq(rpc.result_len, 4);
	ck_assert_mem_eq(rpc.result, "\x81\xa1x\x01", 4);
	ck_assert_ptr_null(rpc.method);
	ck_assert_ptr_null(rpc.params);
	ck_assert_int_eq(bh_error_decode(rpc.error, rpc.error_len, &err), 0);
	ck_assert_int_eq(err.code, BH_OK);
	free(p);

	bh_buf_consume(&o.buf, o.buf.len);
	ck_assert_int_eq(bh_rpc_write_result(&o.w, 10, NULL, 0), 0);
	ck_assert_mem_eq(o.buf.data, "\x94\x01\x0a\xc0\xc0", 5);

	bh_buf_consume(&o.buf, o.buf.len);
	ck_assert_int_eq(bh_rpc_write_error(&o.w, 11, BH_E_TIMEOUT, "too slow"), 0);
	p = exact(o.buf.data, o.buf.len);
	ck_assert_int_eq(bh_rpc_parse(p, o.buf.len, &rpc, NULL), 0);
	ck_assert_uint_eq(rpc.msgid, 11);
	ck_assert_uint_eq(rpc.result_len, 1);
	ck_assert_int_eq(bh_error_decode(rpc.error, rpc.error_len, &err), 1);
	ck_assert_int_eq(err.code, BH_E_TIMEOUT);
	ck_assert_str_eq(err.message, "too slow");
	free(p);

	bh_buf_consume(&o.buf, o.buf.len);
	ck_assert_int_eq(bh_rpc_write_notify(&o.w, "log", 3, (const uint8_t *)"\x91\xc3", 2), 0);
	p = exact(o.buf.data, o.buf.len);
	ck_assert_int_eq(bh_rpc_parse(p, o.buf.len, &rpc, NULL), 0);
	ck_assert_int_eq(rpc.type, BH_RPC_NOTIFY);
	ck_assert_uint_eq(rpc.msgid, 0);
	ck_assert_mem_eq(rpc.method, "log", 3);
	ck_assert_mem_eq(rpc.params, "\x91\xc3", 2);
	free(p);
	out_done(&o);
}
END_TEST

START_TEST(test_rpc_error_notify)
{
	struct out o;
	struct dec d;
	struct bh_rpc rpc;
	uint32_t id = 5;

	out_init(&o, 0);
	ck_assert_int_eq(bh_rpc_write_error_notify(&o.w, "bulkhead.error", 14, BH_E_BAD_REQUEST,
						   "garbage"), 0);
	const bh_value *v = dec_ok(&d, o.buf.data, o.buf.len, true);
	ck_assert_uint_eq(v->len, 3);
	ck_assert_int_eq(bh_value_at(v, 0)->as.i, BH_RPC_NOTIFY);
	ck_assert(bh_value_str_eq(bh_value_at(v, 1), "bulkhead.error"));
	const bh_value *params = bh_value_at(v, 2);
	ck_assert_int_eq(params->type, BH_ARRAY);
	ck_assert_uint_eq(params->len, 1);
	const bh_value *m = bh_value_at(params, 0);
	ck_assert_int_eq(bh_value_find(m, "code")->as.i, BH_E_BAD_REQUEST);
	ck_assert(bh_value_str_eq(bh_value_find(m, "name"), "bad_request"));
	ck_assert(bh_value_str_eq(bh_value_find(m, "message"), "garbage"));
	ck_assert_int_eq(bh_rpc_parse(d.bytes, d.len, &rpc, NULL), 0);
	ck_assert_int_eq(rpc.type, BH_RPC_NOTIFY);
	ck_assert_int_eq(bh_rpc_request_msgid(d.bytes, d.len, &id), -EPROTO);
	ck_assert_uint_eq(id, 5);
	dec_done(&d);
	out_done(&o);

	/* written whole or not at all */
	out_init(&o, 24);
	ck_assert_int_eq(bh_rpc_write_error_notify(&o.w, "bulkhead.error", 14, BH_E_INTERNAL,
						   "a message longer than the room"), -EMSGSIZE);
	ck_assert_uint_eq(o.buf.len, 0);
	out_done(&o);
}
END_TEST

START_TEST(test_rpc_bad_shapes)
{
	static const struct {
		const char *bytes;
		size_t len;
		const char *why;
	} cases[] = {
#define CASE(lit, why) { lit, sizeof(lit) - 1, why }
		CASE("\xc0", "message is not an array"),
		CASE("", "message is not an array"),
		CASE("\x81\x00\x00", "message is not an array"),
		CASE("\xa4" "abcd", "message is not an array"),
		CASE("\x92\x00\x01", "message is not an array of 3 to 5 elements"),
		CASE("\x96\x00\x01\xa1m\x90\x80\xc0", "message is not an array of 3 to 5 elements"),
		CASE("\x90", "message is not an array of 3 to 5 elements"),
		CASE("\x93\x03\xa1m\x90", "message type is not 0, 1 or 2"),
		CASE("\x93\xff\xa1m\x90", "message type is not 0, 1 or 2"),
		CASE("\x93\xa1x\xa1m\x90", "message type is not 0, 1 or 2"),
		CASE("\x93\xc0\xa1m\x90", "message type is not 0, 1 or 2"),
		CASE("\x93\xcb\x00\x00\x00\x00\x00\x00\x00\x00\xa1m\x90",
		     "message type is not 0, 1 or 2"),
		CASE("\x93\x00\x01\xa1m", "request is not an array of 4 or 5 elements"),
		CASE("\x95\x01\x01\xc0\xc0\xc0", "response is not an array of 4 elements"),
		CASE("\x93\x01\x01\xc0", "response is not an array of 4 elements"),
		CASE("\x94\x02\xa1m\x90\xc0", "notification is not an array of 3 elements"),
		CASE("\x94\x00\xff\xa1m\x90", "request msgid is not a uint32"),
		CASE("\x94\x00\xd0\x80\xa1m\x90", "request msgid is not a uint32"),
		CASE("\x94\x00\xcf\x00\x00\x00\x01\x00\x00\x00\x00\xa1m\x90",
		     "request msgid is not a uint32"),
		CASE("\x94\x00\xcf\xff\xff\xff\xff\xff\xff\xff\xff\xa1m\x90",
		     "request msgid is not a uint32"),
		CASE("\x94\x00\xa1" "1" "\xa1m\x90", "request msgid is not a uint32"),
		CASE("\x94\x00\xc0\xa1m\x90", "request msgid is not a uint32"),
		CASE("\x94\x00\xca\x3f\x80\x00\x00\xa1m\x90", "request msgid is not a uint32"),
		CASE("\x94\x01\xc0\xc0\xc0", "response msgid is not a uint32"),
		CASE("\x94\x01\xce\xff\xff\xff\xff\xc0\xc0", NULL), /* fine: control */
		CASE("\x94\x01\xcf\x00\x00\x00\x01\x00\x00\x00\x00\xc0\xc0",
		     "response msgid is not a uint32"),
		CASE("\x94\x00\x01\x05\x90", "request method is not a string"),
		CASE("\x94\x00\x01\xc4\x01m\x90", "request method is not a string"),
		CASE("\x94\x00\x01\x91\xa1m\x90", "request method is not a string"),
		CASE("\x94\x00\x01\xa1m\x80", "params is not an array"),
		CASE("\x94\x00\x01\xa1m\xc0", "params is not an array"),
		CASE("\x95\x00\x01\xa1m\x90\x90", "options is not a map"),
		CASE("\x95\x00\x01\xa1m\x90\xc0", "options is not a map"),
		CASE("\x93\x02\x05\x90", "notification method is not a string"),
		CASE("\x93\x02\xa1m\xa1x", "params is not an array"),
		CASE("\x93\x02\xa1m\x90\xc0", "trailing bytes after the message"),
		CASE("\x94\x00\x01\xa5" "ab", "malformed message"),
		CASE("\x94\x00\x01\xa1m\x91\xc1", "malformed message"),
		CASE("\x94\x00\x01\xa1m\x92\x90", "malformed message"),
		CASE("\x94\x00\x01\xa1m\xdd\xff\xff\xff\xff", "malformed message"),
		CASE("\x93\x02", "malformed message"),
#undef CASE
	};
	for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
		uint8_t *p = exact(cases[k].bytes, cases[k].len);
		struct bh_rpc rpc, sentinel;
		const char *why = "unset";
		memset(&rpc, 0xa5, sizeof rpc);
		memcpy(&sentinel, &rpc, sizeof rpc);

		int r = bh_rpc_parse(p, cases[k].len, &rpc, &why);
		if (!cases[k].why) {
			ck_assert_msg(r == 0, "case %zu: %s", k, why);
		} else {
			ck_assert_msg(r == -EPROTO, "case %zu accepted", k);
			ck_assert_msg(strcmp(why, cases[k].why) == 0, "case %zu: got \"%s\"", k, why);
			ck_assert_msg(memcmp(&rpc, &sentinel, sizeof rpc) == 0,
				      "case %zu wrote *ret", k);
			ck_assert_int_eq(bh_rpc_parse(p, cases[k].len, &rpc, NULL), -EPROTO);
		}
		free(p);
	}
}
END_TEST

START_TEST(test_rpc_request_msgid)
{
	static const struct {
		const char *bytes;
		size_t len;
		int r;
		uint32_t id;
	} cases[] = {
		{ LIT("\x94\x00\x2a\x05\x90"), 0, 42 }, /* method is bad, msgid is fine */
		{ LIT("\x95\x00\x07\xa1m\x90\xa1m"), 0, 7 }, /* options are bad */
		{ LIT("\x94\x00\xce\xff\xff\xff\xff"), 0, UINT32_MAX }, /* the rest need not be there */
		/* no request: nothing to answer */
		{ LIT("\x92\x00\x2a"), -EPROTO, 0 },
		{ LIT("\x93\x00\x2a\xa1m"), -EPROTO, 0 },
		{ LIT("\x96\x00\x01\xa1m\x90\x80\xc0"), -EPROTO, 0 },
		{ LIT("\x94\x01\x07\xc0\xc0"), -EPROTO, 0 },      /* a response */
		{ LIT("\x94\x02\x07\xa1m\x90"), -EPROTO, 0 },
		{ LIT("\x94\x07\x05\xa1m\x90"), -EPROTO, 0 },
		{ LIT("\x94\xa1x\x05\xa1m\x90"), -EPROTO, 0 },
		{ LIT("\x9f\xa1x\xce\xff\xff\xff\xff"), -EPROTO, 0 },
		{ LIT("\x92\x91\x90\x07"), -EPROTO, 0 },
		{ LIT("\x91\x00"), -EPROTO, 0 },
		{ LIT("\xc0"), -EPROTO, 0 },
		{ LIT(""), -EPROTO, 0 },
		{ LIT("\x94\x00\xff\xa1m\x90"), -EPROTO, 0 },
		{ LIT("\x94\x00\xc0\xa1m\x90"), -EPROTO, 0 },
		{ LIT("\x94\x00\xcf\x00\x00\x00\x01\x00\x00\x00\x00"), -EPROTO, 0 },
		{ LIT("\x94\x00"), -EPROTO, 0 },
		{ LIT("\x94\xda\xff\xff"), -EPROTO, 0 },
		{ LIT("\x94\xc1\x01"), -EPROTO, 0 },
	};
	for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
		uint8_t *p = exact(cases[k].bytes, cases[k].len);
		uint32_t id = 12345;
		ck_assert_msg(bh_rpc_request_msgid(p, cases[k].len, &id) == cases[k].r, "case %zu", k);
		ck_assert_uint_eq(id, cases[k].r == 0 ? cases[k].id : 12345);
		free(p);
	}
}
END_TEST

START_TEST(test_rpc_write_atomic)
{
	struct out o;
	char method[65];

	memset(method, 'm', sizeof method - 1);
	method[sizeof method - 1] = '\0';
	out_init(&o, 40);
	ck_assert_int_eq(bh_write_raw(&o.w, "\x93\x02\xa1x\x90", 5), 0);
	/* this message does not fit: none of it may stay in the stream */
	ck_assert_int_eq(bh_rpc_write_request(&o.w, 1, method, strlen(method), NULL, 0), -EMSGSIZE);
	ck_assert_uint_eq(o.buf.len, 5);
	ck_assert_int_eq(bh_rpc_write_notify(&o.w, "x", 1, NULL, 0), -EMSGSIZE);
	ck_assert_int_eq(bh_rpc_write_result(&o.w, 1, NULL, 0), -EMSGSIZE);
	ck_assert_int_eq(bh_rpc_write_error(&o.w, 1, 1, "x"), -EMSGSIZE);
	ck_assert_int_eq(bh_write_error_map(&o.w, 1, "x"), -EMSGSIZE);
	ck_assert_uint_eq(o.buf.len, 5);
	out_done(&o);

	out_init(&o, 40);
	ck_assert_int_eq(bh_rpc_write_error(&o.w, 1, BH_E_INTERNAL, method), -EMSGSIZE);
	ck_assert_uint_eq(o.buf.len, 0);
	out_done(&o);
}
END_TEST

/* ======== error map ======== */

static int decode_error_bytes(const void *bytes, size_t len, bh_error *err)
{
	uint8_t *p = exact(bytes, len);
	int r = bh_error_decode(p, len, err);
	free(p);
	return r;
}

START_TEST(test_error_map)
{
	static const int32_t codes[] = { BH_E_UNKNOWN_PLUGIN, BH_E_PLUGIN_ERROR, BH_E_CONFLICT,
					 500, 1000, 123456, INT32_MAX };
	char long_msg[1000];
	struct out o;
	bh_error err;

	for (size_t k = 0; k < sizeof codes / sizeof codes[0]; k++) {
		out_init(&o, 0);
		ck_assert_int_eq(bh_write_error_map(&o.w, codes[k], "it broke"), 0);
		ck_assert_int_eq(decode_error_bytes(o.buf.data, o.buf.len, &err), 1);
		ck_assert_int_eq(err.code, codes[k]);
		ck_assert_str_eq(err.message, "it broke");
		out_done(&o);
	}

	/* a message longer than bh_error holds is cut, still terminated */
	memset(long_msg, 'z', sizeof long_msg - 1);
	long_msg[sizeof long_msg - 1] = '\0';
	out_init(&o, 0);
	ck_assert_int_eq(bh_write_error_map(&o.w, BH_E_INTERNAL, long_msg), 0);
	ck_assert_int_eq(decode_error_bytes(o.buf.data, o.buf.len, &err), 1);
	ck_assert_uint_eq(strlen(err.message), BH_ERROR_MESSAGE_MAX - 1);
	out_done(&o);

	/* optional "data", unknown keys and key order are fine; no message: the name */
	ck_assert_int_eq(decode_error_bytes(BYTES("\x84\xa4" "data" "\x92\x01\x02\xa7" "message"
						  "\xa2" "hi" "\x01\x02\xa4" "code" "\x04"), &err), 1);
	ck_assert_int_eq(err.code, BH_E_INVALID_PARAMS);
	ck_assert_str_eq(err.message, "hi");
	ck_assert_int_eq(decode_error_bytes(BYTES("\x81\xa4" "code" "\x05"), &err), 1);
	ck_assert_int_eq(err.code, BH_E_TIMEOUT);
	ck_assert_str_eq(err.message, "timeout");
	ck_assert_int_eq(decode_error_bytes(BYTES("\x81\xa4" "code" "\xcd\x04\xd2"), &err), 1);
	ck_assert_int_eq(err.code, 1234);
	ck_assert_str_eq(err.message, "application");

	/* nil: no error */
	memset(&err, 0x5a, sizeof err);
	ck_assert_int_eq(decode_error_bytes(BYTES("\xc0"), &err), 0);
	ck_assert_int_eq(err.code, BH_OK);
}
END_TEST

/* The text form, Neovim's [type, message]: what a client gets unless it asks for maps,
 * read back exactly by bh_error_decode. */
START_TEST(test_error_text)
{
	static const struct {
		int32_t code;
		int type;
		const char *text;
	} cases[] = {
		{ BH_E_UNKNOWN_PLUGIN, 1, "unknown_plugin (1): it broke" },
		{ BH_E_INVALID_PARAMS, 1, "invalid_params (4): it broke" },
		{ BH_E_TIMEOUT, 0, "timeout (5): it broke" },
		{ BH_E_PLUGIN_ERROR, 0, "plugin_error (7): it broke" },
		{ 1000, 0, "application (1000): it broke" },
		{ INT32_MAX, 0, "application (2147483647): it broke" },
	};
	struct out o;
	bh_error err;
	for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
		out_init(&o, 0);
		ck_assert_int_eq(bh_write_error_text(&o.w, cases[k].code, "it broke"), 0);
		struct dec d;
		const bh_value *v = dec_ok(&d, o.buf.data, o.buf.len, true);
		ck_assert_int_eq(v->type, BH_ARRAY);
		ck_assert_uint_eq(v->len, 2);
		ck_assert_int_eq(v->as.items[0].as.i, cases[k].type);
		ck_assert(bh_value_str_eq(&v->as.items[1], cases[k].text));
		dec_done(&d);
		ck_assert_int_eq(decode_error_bytes(o.buf.data, o.buf.len, &err), 1);
		ck_assert_int_eq(err.code, cases[k].code);
		ck_assert_str_eq(err.message, "it broke");
		out_done(&o);
	}
	/* a message that looks like a prefix itself stays as it was */
	out_init(&o, 0);
	ck_assert_int_eq(bh_write_error_text(&o.w, BH_E_PLUGIN_ERROR, "timeout (5): x"), 0);
	ck_assert_int_eq(decode_error_bytes(o.buf.data, o.buf.len, &err), 1);
	ck_assert_int_eq(err.code, BH_E_PLUGIN_ERROR);
	ck_assert_str_eq(err.message, "timeout (5): x");
	out_done(&o);
	/* the longest message survives the prefix */
	char long_msg[BH_ERROR_MESSAGE_MAX];
	memset(long_msg, 'z', sizeof long_msg - 1);
	long_msg[sizeof long_msg - 1] = '\0';
	out_init(&o, 0);
	ck_assert_int_eq(bh_write_error_text(&o.w, BH_E_INTERNAL, long_msg), 0);
	ck_assert_int_eq(decode_error_bytes(o.buf.data, o.buf.len, &err), 1);
	ck_assert_int_eq(err.code, BH_E_INTERNAL);
	ck_assert_str_eq(err.message, long_msg);
	out_done(&o);
	/* a whole response in each form */
	out_init(&o, 0);
	ck_assert_int_eq(bh_rpc_write_error_as(&o.w, 7, BH_E_TIMEOUT, "slow", false), 0);
	ck_assert_int_eq(o.buf.len, 24);
	ck_assert(memcmp(o.buf.data, "\x94\x01\x07\x92\x00\xb1" "timeout (5): slow" "\xc0",
			 o.buf.len) == 0);
	out_done(&o);
}
END_TEST

START_TEST(test_error_foreign)
{
	static const struct {
		const char *bytes;
		size_t len;
		const char *message;
	} cases[] = {
#define CASE(lit, msg) { lit, sizeof(lit) - 1, msg }
		CASE("\xa4" "boom", "boom"),
		CASE("\x92\x00\xae" "Invalid method", "Invalid method"), /* Neovim */
		CASE("\x92\x01\xaf" "timeout (7): no", "timeout (7): no"), /* not our prefix */
		CASE("\x92\x00\xab" "zzz (5): no", "zzz (5): no"),
		CASE("\x92\x00\xa9" "timeout (", "timeout ("),
		CASE("\x92\xa1" "x" "\xa1" "y", "[\"x\", \"y\"]"), /* no type */
		CASE("\x93\x00\xa1" "x" "\xc0", "[0, \"x\", nil]"),
		CASE("\x81\xa7" "message" "\xa1" "x", "{\"message\": \"x\"}"),	/* no code */
		CASE("\x82\xa4" "code" "\xa1" "x" "\xa7" "message" "\xa1" "y",
		     "{\"code\": \"x\", \"message\": \"y\"}"),
		CASE("\x81\xa4" "code" "\x00", "{\"code\": 0}"),
		CASE("\x81\xa4" "code" "\xff", "{\"code\": -1}"),
		CASE("\x81\xa4" "code" "\xce\x80\x00\x00\x00", "{\"code\": 2147483648}"),
		CASE("\x82\xa4" "code" "\x01\xa7" "message" "\x05", "{\"code\": 1, \"message\": 5}"),
		CASE("\x2a", "42"),
		CASE("\xc3", "true"),
		CASE("\xcb\x3f\xf8\x00\x00\x00\x00\x00\x00", "1.5"),
		CASE("\xcf\xff\xff\xff\xff\xff\xff\xff\xff", "18446744073709551615"),
		CASE("\xc4\x03" "abc", "<3 bytes>"),
		CASE("\xd4\x05\x00", "<ext 5, 1 bytes>"),
		CASE("\x93\xc0\x80\x90", "[nil, {}, []]"),
		CASE("\x91\x91\x91\x91\x91\x91\x01", "[[[[[...]]]]]"),
		CASE("\x81\x81\x01\x02\x81\x03\x04", "{{1: 2}: {3: 4}}"),
#undef CASE
	};
	bh_error err;

	for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
		memset(&err, 0, sizeof err);
		ck_assert_msg(decode_error_bytes(cases[k].bytes, cases[k].len, &err) == 1,
			      "case %zu", k);
		ck_assert_int_eq(err.code, BH_E_PLUGIN_ERROR);
		ck_assert_msg(strcmp(err.message, cases[k].message) == 0, "case %zu: got '%s'", k,
			      err.message);
	}

	/* a huge foreign error renders to a bounded, terminated message */
	struct out o;
	out_init(&o, 0);
	bh_write_array(&o.w, 10000);
	for (int i = 0; i < 10000; i++)
		bh_write_cstr(&o.w, "element");
	memset(&err, 0x5a, sizeof err);
	ck_assert_int_eq(decode_error_bytes(o.buf.data, o.buf.len, &err), 1);
	ck_assert_uint_eq(strlen(err.message), BH_ERROR_MESSAGE_MAX - 1);
	ck_assert(strncmp(err.message, "[\"element\", \"element\"", 21) == 0);
	out_done(&o);
}
END_TEST

START_TEST(test_error_malformed)
{
	static const struct {
		const char *bytes;
		size_t len;
	} cases[] = {
#define CASE(lit) { lit, sizeof(lit) - 1 }
		CASE(""),
		CASE("\xc1"),
		CASE("\xa4" "bo"),
		CASE("\xc0\xc0"), /* trailing bytes */
		CASE("\x81\xa4" "code"),
		CASE("\x81\xa4" "code" "\x05\x00"),
		CASE("\x92\x00\xc1"),
		CASE("\xdd\xff\xff\xff\xff"),
#undef CASE
	};
	for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
		bh_error err = { .code = 77 };
		ck_assert_msg(decode_error_bytes(cases[k].bytes, cases[k].len, &err) == -EPROTO,
			      "case %zu", k);
		ck_assert_int_eq(err.code, 77);
	}
}
END_TEST

/* ======== fuzz ======== */

/* Valid messages to mutate. */
static void fuzz_corpus(struct out *corpus, size_t n)
{
	for (size_t k = 0; k < n; k++)
		out_init(&corpus[k], 0);
	bh_rpc_write_request(&corpus[0].w, 1, "plugin.method", 13, BYTES("\x92\x01\xa1x"));
	bh_rpc_write_result(&corpus[1].w, 2, BYTES("\x82\xa1" "a\x90\xa1" "b\xc4\x01\x00"));
	bh_rpc_write_error(&corpus[2].w, 3, BH_E_TIMEOUT, "deadline passed");
	bh_rpc_write_notify(&corpus[3].w, "$hello", 6, BYTES("\x93\x01\x02\xa1p"));
	write_kitchen_sink(&corpus[4]);
	write_nested(&corpus[5].w);
	/* [0, 10, "m.x", [[[], {}, 0.0]], {"dl": 256}] */
	RAW(&corpus[6].w, "\x95\x00\x0a\xa3" "m.x" "\x91\x93\x90\x80\xcb\x00\x00\x00\x00"
			  "\x00\x00\x00\x00\x81\xa2" "dl" "\xcd\x01\x00");
	/* [1, 5, [0, "bad"], nil], Neovim's error shape */
	RAW(&corpus[7].w, "\x94\x01\x05\x92\x00\xa3" "bad" "\xc0");
}

START_TEST(test_fuzz)
{
	static const uint8_t interesting[] = {
		0x00, 0x01, 0x7f, 0x80, 0x81, 0x8f, 0x90, 0x91, 0x9f, 0xa0, 0xa1, 0xbf, 0xc0,
		0xc1, 0xc2, 0xc4, 0xc5, 0xc6, 0xc7, 0xc8, 0xc9, 0xca, 0xcb, 0xcc, 0xcd, 0xce,
		0xcf, 0xd0, 0xd3, 0xd4, 0xd8, 0xd9, 0xda, 0xdb, 0xdc, 0xdd, 0xde, 0xdf, 0xe0, 0xff,
	};
	enum { NCORPUS = 8, MAXLEN = 512 };
	/* Fewer under valgrind (BH_FUZZ_ITERATIONS), which is ~50x slower. */
	const char *env = getenv("BH_FUZZ_ITERATIONS");
	const int ITERATIONS = env && atoi(env) >= 1000 ? atoi(env) : 200000;
	struct out corpus[NCORPUS];
	struct bh_arena arena, again;
	uint8_t scratch[MAXLEN];
	uint64_t rs = 20240601;
	size_t accepted = 0, parsed = 0;

	fuzz_corpus(corpus, NCORPUS);
	bh_arena_init(&arena);
	bh_arena_init(&again);

	for (int iter = 0; iter < ITERATIONS; iter++) {
		size_t n;
		if (rnd_below(&rs, 4) == 0) {
			n = rnd_below(&rs, 48);
			for (size_t i = 0; i < n; i++)
				scratch[i] = rnd_below(&rs, 2) ? interesting[rnd_below(&rs, sizeof interesting)]
							       : (uint8_t)rnd(&rs);
		} else {
			const struct bh_buf *src = &corpus[rnd_below(&rs, NCORPUS)].buf;
			n = src->len;
			memcpy(scratch, src->data, n);
			for (uint32_t m = rnd_below(&rs, 4) + 1; m > 0; m--) {
				uint32_t at = rnd_below(&rs, (uint32_t)n + 1);
				switch (rnd_below(&rs, 5)) {
				case 0:
					if (at < n)
						scratch[at] = (uint8_t)rnd(&rs);
					break;
				case 1:
					if (at < n)
						scratch[at] = interesting[rnd_below(&rs, sizeof interesting)];
					break;
				case 2:
					n = at; /* truncate */
					break;
				case 3:
					if (n < MAXLEN) { /* insert */
						memmove(scratch + at + 1, scratch + at, n - at);
						scratch[at] = interesting[rnd_below(&rs, sizeof interesting)];
						n++;
					}
					break;
				default:
					if (at < n) { /* delete */
						memmove(scratch + at, scratch + at + 1, n - at - 1);
						n--;
					}
					break;
				}
			}
		}

		struct bh_limits lim;
		bh_limits_default(&lim);
		if (rnd_below(&rs, 3) == 0) {
			lim.max_message = rnd_below(&rs, 64) + 1;
			lim.max_depth = rnd_below(&rs, 6);
			lim.max_items = rnd_below(&rs, 8);
			lim.max_bytes = rnd_below(&rs, 20);
		}

		uint8_t *p = exact(scratch, n);
		struct bh_scan s;
		const bh_value *v = NULL;
		size_t used = 0;
		int rs_scan = bh_scan(p, n, &lim, &s);
		int rs_dec = bh_decode(p, n, &lim, &arena, &v, &used);
		ck_assert_int_eq(rs_scan, rs_dec);

		/* The same bytes in up to four pieces through a scanner: the same verdict. */
		size_t cuts[4], n_cuts = rnd_below(&rs, 5);
		for (size_t k = 0; k < n_cuts; k++)
			cuts[k] = n ? rnd_below(&rs, (uint32_t)n) : 0;
		for (size_t k = 1; k < n_cuts; k++) /* ascending */
			for (size_t j = k; j > 0 && cuts[j - 1] > cuts[j]; j--) {
				size_t t = cuts[j];
				cuts[j] = cuts[j - 1];
				cuts[j - 1] = t;
			}
		struct bh_scanner sc;
		struct bh_scan cs;
		bh_scanner_init(&sc);
		ck_assert_int_eq(feed_cuts(&sc, scratch, n, cuts, n_cuts, &lim, &cs), rs_scan);
		if (rs_scan == 0) {
			ck_assert_uint_eq(cs.size, s.size);
			ck_assert_uint_eq(cs.nodes, s.nodes);
		}

		if (rs_scan == 0) {
			accepted++;
			ck_assert_uint_le(s.size, n);
			ck_assert_uint_le(s.size, lim.max_message);
			ck_assert_uint_eq(used, s.size);
			ck_assert_uint_eq(count_nodes(v), s.nodes);
			ck_assert_uint_le(tree_depth(v), lim.max_depth);
			if (tree_depth(v) < 30)
				check_oracle(p, n, s.size, v);

			/* canonical re-encoding decodes to an equal tree */
			struct out o;
			const bh_value *v2;
			out_init(&o, 0);
			ck_assert_int_eq(bh_write_value(&o.w, v), 0);
			ck_assert_uint_le(o.buf.len, s.size);
			uint8_t *q = exact(o.buf.data, o.buf.len);
			ck_assert_int_eq(bh_decode(q, o.buf.len, &lim, &again, &v2, NULL), 0);
			ck_assert(bh_value_equal(v, v2));
			free(q);
			out_done(&o);

			struct bh_rpc rpc;
			if (bh_rpc_parse(p, s.size, &rpc, NULL) == 0) {
				struct bh_scan ps;
				parsed++;
				ck_assert_int_eq(v->type, BH_ARRAY);
				if (rpc.params) {
					ck_assert_int_eq(bh_scan(rpc.params, rpc.params_len, NULL, &ps), 0);
					ck_assert_uint_eq(ps.size, rpc.params_len);
				}
				if (rpc.error) {
					bh_error err;
					int r = bh_error_decode(rpc.error, rpc.error_len, &err);
					ck_assert(r == 0 || r == 1);
					ck_assert_uint_lt(strlen(err.message), BH_ERROR_MESSAGE_MAX);
				}
			}
		} else {
			ck_assert(rs_scan == -EAGAIN || rs_scan == -EMSGSIZE || rs_scan == -ELOOP ||
				  rs_scan == -E2BIG || rs_scan == -EBADMSG);
			ck_assert(rs_scan != -EAGAIN || n < lim.max_message);
		}

		/* whatever the bytes, these only read within them */
		struct bh_rpc rpc;
		uint32_t id;
		bh_error err;
		(void)bh_rpc_parse(p, n, &rpc, NULL);
		(void)bh_rpc_request_msgid(p, n, &id);
		if (bh_error_decode(p, n, &err) > 0)
			ck_assert_uint_lt(strlen(err.message), BH_ERROR_MESSAGE_MAX);
		free(p);
	}
	/* the loop must have exercised the accepting paths, not only the errors */
	ck_assert_uint_gt(accepted, ITERATIONS / 10);
	ck_assert_uint_gt(parsed, ITERATIONS / 100);

	bh_arena_done(&arena);
	bh_arena_done(&again);
	for (size_t k = 0; k < NCORPUS; k++)
		out_done(&corpus[k]);
}
END_TEST

static Suite *proto_suite(void)
{
	Suite *s = suite_create("proto");
	TCase *tc;

	tc = tcase_create("error");
	tcase_add_test(tc, test_code_names);
	tcase_add_test(tc, test_fail);
	suite_add_tcase(s, tc);

	tc = tcase_create("value");
	tcase_add_test(tc, test_getters);
	tcase_add_test(tc, test_find);
	tcase_add_test(tc, test_equal);
	suite_add_tcase(s, tc);

	tc = tcase_create("writer");
	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, test_int_roundtrip, 0, sizeof int_cases / sizeof int_cases[0]);
	tcase_add_test(tc, test_uint_roundtrip);
	tcase_add_test(tc, test_nil_bool_roundtrip);
	tcase_add_test(tc, test_float_roundtrip);
	tcase_add_loop_test(tc, test_str_roundtrip, 0, sizeof str_cases / sizeof str_cases[0]);
	tcase_add_test(tc, test_bin_roundtrip);
	tcase_add_loop_test(tc, test_ext_roundtrip, 0, sizeof ext_cases / sizeof ext_cases[0]);
	tcase_add_test(tc, test_array_roundtrip);
	tcase_add_test(tc, test_map_roundtrip);
	tcase_add_test(tc, test_nested_roundtrip);
	tcase_add_test(tc, test_noncanonical);
	tcase_add_test(tc, test_msgpack_c_oracle);
	tcase_add_test(tc, test_writer_sticky);
	tcase_add_test(tc, test_writer_lend);
	tcase_add_test(tc, test_u32_fixed);
	tcase_add_test(tc, test_buf);
	suite_add_tcase(s, tc);

	tc = tcase_create("scan");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_truncated_prefixes);
	tcase_add_test(tc, test_trailing_bytes);
	tcase_add_test(tc, test_c1);
	tcase_add_test(tc, test_huge_headers);
	tcase_add_test(tc, test_declared_too_big);
	tcase_add_test(tc, test_depth);
	tcase_add_test(tc, test_limit_boundaries);
	tcase_add_test(tc, test_arena_reuse);
	tcase_add_test(tc, test_scanner_splits);
	tcase_add_test(tc, test_scanner_next_message);
	tcase_add_test(tc, test_scanner_limits_and_errors);
	tcase_add_test(tc, test_scanner_drip_socket);
	tcase_add_test(tc, test_strerror);
	suite_add_tcase(s, tc);

	tc = tcase_create("rpc");
	tcase_add_test(tc, test_rpc_request);
	tcase_add_test(tc, test_rpc_response_notify);
	tcase_add_test(tc, test_rpc_error_notify);
	tcase_add_test(tc, test_rpc_bad_shapes);
	tcase_add_test(tc, test_rpc_request_msgid);
	tcase_add_test(tc, test_rpc_write_atomic);
	tcase_add_test(tc, test_error_map);
	tcase_add_test(tc, test_error_text);
	tcase_add_test(tc, test_error_foreign);
	tcase_add_test(tc, test_error_malformed);
	suite_add_tcase(s, tc);

	tc = tcase_create("fuzz");
	tcase_set_timeout(tc, 600);
	tcase_add_test(tc, test_fuzz);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(proto_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
