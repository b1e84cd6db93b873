/* bulkhead proto: the MessagePack encoder (bh_write_*), on top of msgpack-c's packer.
 *
 * msgpack-c picks the smallest encoding for every value; the only encodings chosen
 * here are the fixed 5-byte uint32 (so it can be patched) and the float widths.
 * Each bh_write_* call is all or nothing: if any byte of it cannot be appended, the
 * buffer is put back to its length before the call and the error becomes sticky. */
#include <errno.h>
#include <string.h>

#include <msgpack/pack.h>

#include "bulkhead/proto.h"
#include "wire.h"

void bh_writer_init(struct bh_writer *w, struct bh_buf *buf)
{
	*w = (struct bh_writer){ .buf = buf };
}

int bh_writer_error(const bh_writer *w)
{
	return w->err;
}

void bh_writer_lend(struct bh_writer *w, const uint8_t *window, size_t len, size_t min)
{
	w->window = window;
	w->window_len = len;
	w->lend_min = min;
}

bool bh_writer_lent(const struct bh_writer *w, size_t *ret_off, size_t *ret_len)
{
	if (w->lent_len == 0 || w->err)
		return false;
	*ret_off = w->lent_off;
	*ret_len = w->lent_len;
	return true;
}

size_t bh_body_header(bool str, size_t len, uint8_t h[5])
{
	if (str && len < 32) {
		h[0] = (uint8_t)(0xa0 | len);
		return 1;
	}
	if (len < 256) {
		h[0] = str ? 0xd9 : 0xc4;
		h[1] = (uint8_t)len;
		return 2;
	}
	if (len < 65536) {
		h[0] = str ? 0xda : 0xc5;
		h[1] = (uint8_t)(len >> 8);
		h[2] = (uint8_t)len;
		return 3;
	}
	h[0] = str ? 0xdb : 0xc6;
	bh__put_be32(h + 1, (uint32_t)len);
	return 5;
}

/* Borrow a str or bin from the window (bh_writer_lend) instead of copying it: true
 * when it was. */
static bool try_lend(bh_writer *w, bool str, const void *body, size_t len)
{
	if (!w->window || w->err || w->buf->len != 0 || w->lent_len != 0 ||
	    len < w->lend_min || len > UINT32_MAX)
		return false;
	uintptr_t lo = (uintptr_t)w->window, at = (uintptr_t)body;
	uint8_t h[5];
	size_t hn = bh_body_header(str, len, h);
	if (at < lo + hn || at - lo > w->window_len || len > w->window_len - (at - lo) ||
	    (w->buf->max && hn + len > w->buf->max))
		return false;
	if (memcmp((const uint8_t *)body - hn, h, hn) != 0)
		return false;
	w->lent_off = at - lo - hn;
	w->lent_len = hn + len;
	return true;
}

/* Before any other write: what was borrowed goes into the buffer. */
static void unlend(bh_writer *w)
{
	if (w->lent_len == 0)
		return;
	size_t len = w->lent_len;
	w->lent_len = 0;
	int r = bh_buf_append(w->buf, w->window + w->lent_off, len);
	if (r < 0 && !w->err)
		w->err = r;
}

/* msgpack-c's write callback: its convention is 0 / non-zero, ours is in w->err. */
static int pack_append(void *data, const char *p, size_t n)
{
	bh_writer *w = data;
	if (w->err)
		return -1;
	int r = bh_buf_append(w->buf, p, n);
	if (r < 0) {
		w->err = r;
		return -1;
	}
	return 0;
}

/* One all-or-nothing write: the packer, and where the buffer ended before it. */
struct pack {
	msgpack_packer pk;
	size_t mark;
};

/* False when the writer has already failed. */
static bool pack_begin(bh_writer *w, struct pack *p)
{
	unlend(w);
	msgpack_packer_init(&p->pk, w, pack_append);
	p->mark = w->buf->len;
	return w->err == 0;
}

static int pack_end(bh_writer *w, const struct pack *p)
{
	if (w->err)
		w->buf->len = p->mark;
	return w->err;
}

static int write_fail(bh_writer *w, int err)
{
	if (!w->err)
		w->err = err;
	return w->err;
}

int bh_write_nil(bh_writer *w)
{
	struct pack pack;
	if (!pack_begin(w, &pack))
		return w->err;
	msgpack_pack_nil(&pack.pk);
	return pack_end(w, &pack);
}

int bh_write_bool(bh_writer *w, bool b)
{
	struct pack pack;
	if (!pack_begin(w, &pack))
		return w->err;
	if (b)
		msgpack_pack_true(&pack.pk);
	else
		msgpack_pack_false(&pack.pk);
	return pack_end(w, &pack);
}

int bh_write_int(bh_writer *w, int64_t i)
{
	struct pack pack;
	if (!pack_begin(w, &pack))
		return w->err;
	msgpack_pack_int64(&pack.pk, i);
	return pack_end(w, &pack);
}

int bh_write_uint(bh_writer *w, uint64_t u)
{
	struct pack pack;
	if (!pack_begin(w, &pack))
		return w->err;
	msgpack_pack_uint64(&pack.pk, u);
	return pack_end(w, &pack);
}

int bh_write_float(bh_writer *w, double f)
{
	struct pack pack;
	if (!pack_begin(w, &pack))
		return w->err;
	msgpack_pack_double(&pack.pk, f);
	return pack_end(w, &pack);
}

int bh_write_float32(bh_writer *w, float f)
{
	struct pack pack;
	if (!pack_begin(w, &pack))
		return w->err;
	msgpack_pack_float(&pack.pk, f);
	return pack_end(w, &pack);
}

/* msgpack-c would truncate a length above UINT32_MAX to 32 bits; refuse it instead. */
int bh_write_str(bh_writer *w, const char *s, size_t len)
{
	struct pack pack;
	if (try_lend(w, true, s, len))
		return 0;
	if (!pack_begin(w, &pack))
		return w->err;
	if (len > UINT32_MAX)
		return write_fail(w, -EMSGSIZE);
	msgpack_pack_str_with_body(&pack.pk, s, len);
	return pack_end(w, &pack);
}

/* A NULL string is written as nil. */
int bh_write_cstr(bh_writer *w, const char *s)
{
	return s ? bh_write_str(w, s, strlen(s)) : bh_write_nil(w);
}

int bh_write_bin(bh_writer *w, const void *p, size_t len)
{
	struct pack pack;
	if (try_lend(w, false, p, len))
		return 0;
	if (!pack_begin(w, &pack))
		return w->err;
	if (len > UINT32_MAX)
		return write_fail(w, -EMSGSIZE);
	msgpack_pack_bin_with_body(&pack.pk, p, len);
	return pack_end(w, &pack);
}

int bh_write_ext(bh_writer *w, int8_t type, const void *p, size_t len)
{
	struct pack pack;
	if (!pack_begin(w, &pack))
		return w->err;
	if (len > UINT32_MAX)
		return write_fail(w, -EMSGSIZE);
	msgpack_pack_ext_with_body(&pack.pk, p, len, type);
	return pack_end(w, &pack);
}

int bh_write_array(bh_writer *w, uint32_t n)
{
	struct pack pack;
	if (!pack_begin(w, &pack))
		return w->err;
	msgpack_pack_array(&pack.pk, n);
	return pack_end(w, &pack);
}

int bh_write_map(bh_writer *w, uint32_t npairs)
{
	struct pack pack;
	if (!pack_begin(w, &pack))
		return w->err;
	msgpack_pack_map(&pack.pk, npairs);
	return pack_end(w, &pack);
}

int bh_write_raw(bh_writer *w, const void *p, size_t len)
{
	unlend(w);
	if (w->err)
		return w->err;
	int r = bh_buf_append(w->buf, p, len);
	return r < 0 ? write_fail(w, r) : 0;
}

int bh_write_u32_fixed(bh_writer *w, uint32_t v, size_t *ret_off)
{
	uint8_t bytes[5];
	unlend(w);
	size_t off = w->buf->len;

	bh_patch_u32(bytes, v);
	int r = bh_write_raw(w, bytes, sizeof bytes);
	if (r < 0)
		return r;
	if (ret_off)
		*ret_off = off;
	return 0;
}

/* `at` is the 0xce byte whose offset bh_write_u32_fixed() returned. */
void bh_patch_u32(uint8_t *at, uint32_t v)
{
	at[0] = 0xce;
	bh__put_be32(at + 1, v);
}

/* Recursion is bounded by BH__DEPTH_CAP (a decoded tree is never deeper); a deeper or
 * otherwise malformed hand-built tree fails with -EINVAL. */
static void write_value_at(bh_writer *w, const bh_value *v, unsigned depth)
{
	switch (v->type) {
	case BH_NIL: bh_write_nil(w); return;
	case BH_BOOL: bh_write_bool(w, v->as.b); return;
	case BH_INT: bh_write_int(w, v->as.i); return;
	case BH_UINT: bh_write_uint(w, v->as.u); return;
	case BH_FLOAT:
		if (v->len == 4)
			bh_write_float32(w, (float)v->as.f);
		else
			bh_write_float(w, v->as.f);
		return;
	case BH_STR: bh_write_str(w, v->as.str, v->len); return;
	case BH_BIN: bh_write_bin(w, v->as.bin, v->len); return;
	case BH_EXT: bh_write_ext(w, v->ext_type, v->as.bin, v->len); return;
	case BH_ARRAY:
	case BH_MAP: {
		uint64_t n = v->type == BH_MAP ? (uint64_t)v->len * 2 : v->len;
		if (depth >= BH__DEPTH_CAP || (n > 0 && !v->as.items)) {
			write_fail(w, -EINVAL);
			return;
		}
		if (v->type == BH_MAP)
			bh_write_map(w, v->len);
		else
			bh_write_array(w, v->len);
		for (uint64_t i = 0; i < n && !w->err; i++)
			write_value_at(w, &v->as.items[i], depth + 1);
		return;
	}
	default:
		write_fail(w, -EINVAL);
		return;
	}
}

int bh_write_value(bh_writer *w, const bh_value *v)
{
	if (w->err)
		return w->err;
	if (!v)
		return write_fail(w, -EINVAL);

	unlend(w); /* before the mark: a failure below keeps what was borrowed */
	size_t mark = w->buf->len;
	write_value_at(w, v, 0);
	if (w->err)
		w->buf->len = mark;
	return w->err;
}
