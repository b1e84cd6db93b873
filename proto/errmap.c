/* bulkhead proto: the error element of a response, written and read.
 *
 * bulkhead writes one of two forms:
 *   - text (what a connection gets unless it asks for the map): Neovim's
 *     [type, "NAME (CODE): MESSAGE"], type 1 ("validation") when the request itself
 *     was at fault (unknown_plugin, unknown_method, bad_request, invalid_params), else
 *     0 ("exception"). Neovim and pynvim show it as text; any msgpack-rpc library can
 *     print it; the prefix keeps the code, and bh_error_decode reads it back exactly.
 *   - map: {"code": int, "name": str, "message": str} (error.h), for clients that
 *     asked for it (bulkhead.hello {"errors": "map"}).
 * Peers that are not bulkhead send whatever their library sends: a string, Neovim's
 * [type, message], a map of their own. A string message is taken as the text of a
 * plugin_error, anything else is rendered into one, so the caller still sees what
 * the peer said. */
#include <errno.h>
#include <stdbool.h>
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

/* Neovim's error types (nvim/api/private/defs.h: kErrorTypeException, ...Validation). */
#define NVIM_EXCEPTION 0
#define NVIM_VALIDATION 1

int bh_write_error_text(bh_writer *w, int32_t code, const char *message)
{
	if (w->err)
		return w->err;
	bool request_fault = code == BH_E_UNKNOWN_PLUGIN || code == BH_E_UNKNOWN_METHOD ||
			     code == BH_E_BAD_REQUEST || code == BH_E_INVALID_PARAMS;
	char text[BH_ERROR_MESSAGE_MAX + 48];
	snprintf(text, sizeof text, "%s (%d): %s", bh_code_name(code), (int)code,
		 message ? message : "");
	size_t mark = w->buf->len;
	bh_write_array(w, 2);
	bh_write_uint(w, request_fault ? NVIM_VALIDATION : NVIM_EXCEPTION);
	bh_write_cstr(w, text);
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

/* "NAME (CODE): " at the start of s, NAME the name of CODE: the text form's prefix
 * (bh_write_error_text). Its length and the code, or 0 when s does not start so. */
static size_t text_prefix(const char *s, size_t n, int32_t *ret_code)
{
	const char *open = memchr(s, '(', n);
	if (!open || open == s || open[-1] != ' ')
		return 0;
	size_t name_len = (size_t)(open - 1 - s);
	int64_t code = 0;
	size_t at = (size_t)(open - s) + 1, digits = 0;
	for (; at < n && s[at] >= '0' && s[at] <= '9' && digits < 10; at++, digits++)
		code = code * 10 + (s[at] - '0');
	if (!digits || code < 1 || code > INT32_MAX || n - at < 3 || memcmp(s + at, "): ", 3))
		return 0;
	const char *name = bh_code_name((int32_t)code);
	if (strlen(name) != name_len || memcmp(s, name, name_len) != 0)
		return 0;
	*ret_code = (int32_t)code;
	return at + 3;
}

/* 1 and *ret when the array at raw is [type, message] (Neovim's form, and
 * bulkhead's text form), 0 when it is not, or -EAGAIN/-EBADMSG. */
static int read_error_pair(const uint8_t *raw, size_t len, bh_error *ret)
{
	struct bh__head arr, type, msg;
	int r = bh__head_read(raw, len, &arr);
	if (r < 0)
		return r;
	if (arr.n != 2)
		return 0;
	size_t pos = arr.size;
	r = bh__next(raw, len, &pos, &type);
	if (r < 0)
		return r;
	size_t msg_at = pos;
	r = bh__next(raw, len, &pos, &msg);
	if (r < 0)
		return r;
	if ((type.type != BH_INT && type.type != BH_UINT) || msg.type != BH_STR)
		return 0;
	const char *s = (const char *)raw + msg_at + msg.size;
	int32_t code = BH_E_PLUGIN_ERROR;
	size_t skip = text_prefix(s, msg.n, &code);
	ret->code = code;
	struct text t = { .s = ret->message, .cap = sizeof ret->message };
	t.s[0] = '\0';
	text_put(&t, s + skip, msg.n - skip);
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
	if (h.type == BH_MAP || h.type == BH_ARRAY) {
		int r = h.type == BH_MAP ? read_error_map(raw, len, &err)
					 : read_error_pair(raw, len, &err);
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
