/* bulkhead proto: the error element of a response, written and read.
 *
 * bulkhead writes {"code": int, "name": str, "message": str} (error.h). Peers that are
 * not bulkhead send whatever their library sends: a string, Neovim's [type, message],
 * a map of their own. Those are rendered into the message of a plugin_error, so the
 * caller still sees what the peer said. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "bulkhead/proto.h"
#include "wire.h"

/* Containers deeper than this render as [...] / {...}; it also bounds the recursion. */
#define RENDER_DEPTH 4

int bh_write_error_map(bh_writer *w, int32_t code, const char *message)
{
	if (w->err)
		return w->err;
	size_t mark = w->buf->len;
	bh_write_map(w, 3);
	bh_write_cstr(w, "code");
	bh_write_int(w, code);
	bh_write_cstr(w, "name");
	bh_write_cstr(w, bh_code_name(code));
	bh_write_cstr(w, "message");
	bh_write_cstr(w, message ? message : "");
	if (w->err)
		w->buf->len = mark;
	return w->err;
}

/* A NUL-terminated string that silently stops growing at its capacity. */
struct text {
	char *s;
	size_t cap; /* including the NUL */
	size_t len;
};

static bool text_full(const struct text *t)
{
	return t->len + 1 >= t->cap;
}

static void text_put(struct text *t, const void *p, size_t n)
{
	size_t room = t->cap - 1 - t->len;
	if (n > room)
		n = room;
	memcpy(t->s + t->len, p, n);
	t->len += n;
	t->s[t->len] = '\0';
}

static void text_str(struct text *t, const char *s)
{
	text_put(t, s, strlen(s));
}

__attribute__((format(printf, 2, 3)))
static void text_printf(struct text *t, const char *fmt, ...)
{
	char tmp[64];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
	va_end(ap);
	if (n > 0)
		text_put(t, tmp, (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

/* Render the value at p (len bytes available) into t; *ret_size gets its size. A
 * string at the top is given raw, deeper ones quoted. Returns 0 or -EAGAIN/-EBADMSG. */
static int render(struct text *t, const uint8_t *p, size_t len, unsigned depth,
		  size_t *ret_size)
{
	struct bh__head h;
	size_t size = 0;
	int r = bh__next(p, len, &size, &h);
	if (r < 0)
		return r;
	*ret_size = size;
	if (text_full(t))
		return 0;

	const uint8_t *body = p + h.size;
	switch (h.type) {
	case BH_NIL: text_str(t, "nil"); break;
	case BH_BOOL: text_str(t, h.as.b ? "true" : "false"); break;
	case BH_INT: text_printf(t, "%" PRId64, h.as.i); break;
	case BH_UINT: text_printf(t, "%" PRIu64, h.as.u); break;
	case BH_FLOAT: text_printf(t, "%g", h.as.f); break;
	case BH_BIN: text_printf(t, "<%" PRIu32 " bytes>", h.n); break;
	case BH_EXT: text_printf(t, "<ext %d, %" PRIu32 " bytes>", h.ext_type, h.n); break;
	case BH_STR:
		if (depth > 0)
			text_str(t, "\"");
		text_put(t, body, h.n);
		if (depth > 0)
			text_str(t, "\"");
		break;
	case BH_ARRAY:
	case BH_MAP: {
		bool map = h.type == BH_MAP;
		if (depth >= RENDER_DEPTH) {
			text_str(t, map ? "{...}" : "[...]");
			break;
		}
		text_str(t, map ? "{" : "[");
		size_t at = h.size;
		uint64_t children = bh__head_children(&h);
		for (uint64_t i = 0; i < children && !text_full(t); i++) {
			if (i > 0)
				text_str(t, map && i % 2 ? ": " : ", ");
			size_t child;
			r = render(t, p + at, size - at, depth + 1, &child);
			if (r < 0)
				return r;
			at += child;
		}
		text_str(t, map ? "}" : "]");
		break;
	}
	}
	return 0;
}

static bool key_is(const uint8_t *raw, size_t at, const struct bh__head *k, const char *name)
{
	size_t n = strlen(name);
	return k->type == BH_STR && k->n == n && memcmp(raw + at + k->size, name, n) == 0;
}

/* 1 and *ret when the map at raw is a bulkhead error map, 0 when it is not, or
 * -EAGAIN/-EBADMSG. A code outside 1..INT32_MAX is not ours either. */
static int read_error_map(const uint8_t *raw, size_t len, bh_error *ret)
{
	struct bh__head map, k, v;
	int r = bh__head_read(raw, len, &map);
	if (r < 0)
		return r;

	int64_t code = -1;
	const char *msg = NULL;
	uint32_t msg_len = 0;
	size_t pos = map.size;
	for (uint32_t i = 0; i < map.n; i++) {
		size_t key_at = pos;
		r = bh__next(raw, len, &pos, &k);
		if (r < 0)
			return r;
		size_t val_at = pos;
		r = bh__next(raw, len, &pos, &v);
		if (r < 0)
			return r;

		if (key_is(raw, key_at, &k, "code")) {
			if (v.type != BH_INT || v.as.i < 1 || v.as.i > INT32_MAX)
				return 0;
			code = v.as.i;
		} else if (key_is(raw, key_at, &k, "message")) {
			if (v.type != BH_STR)
				return 0;
			msg = (const char *)raw + val_at + v.size;
			msg_len = v.n;
		}
		/* "name" repeats the code, "data" is for the caller; both are optional. */
	}
	if (code < 0)
		return 0;

	ret->code = (int32_t)code;
	struct text t = { .s = ret->message, .cap = sizeof ret->message };
	t.s[0] = '\0';
	if (msg)
		text_put(&t, msg, msg_len);
	else
		text_str(&t, bh_code_name(ret->code));
	return 1;
}

int bh_error_decode(const uint8_t *raw, size_t len, bh_error *ret)
{
	struct bh__head h;
	size_t size = 0;
	bh_error err = { 0 };

	if (!raw || bh__next(raw, len, &size, &h) < 0 || size != len)
		return -EPROTO;

	if (h.type == BH_NIL) {
		*ret = (bh_error){ .code = BH_OK };
		return 0;
	}
	if (h.type == BH_MAP) {
		int r = read_error_map(raw, len, &err);
		if (r < 0)
			return -EPROTO;
		if (r > 0) {
			*ret = err;
			return 1;
		}
	}

	/* Somebody else's error: keep what they said. */
	err.code = BH_E_PLUGIN_ERROR;
	struct text t = { .s = err.message, .cap = sizeof err.message };
	if (render(&t, raw, len, 0, &size) < 0)
		return -EPROTO;
	*ret = err;
	return 1;
}
