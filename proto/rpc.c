/* bulkhead proto: the MessagePack-RPC envelope, parsed in place and written.
 *
 *     request       [0, msgid, method, params]
 *                   [0, msgid, method, params, options]
 *     response      [1, msgid, error, result]
 *     notification  [2, method, params]
 *
 * A message is a request when it is an array of 4 or 5 elements whose first is 0 and
 * whose second is a uint32: only then is there a msgid to answer, even when the rest
 * of the envelope is wrong (bh_rpc_request_msgid). Nothing else is ever answered.
 *
 * bh_rpc_parse() is on the daemon's hot path: it builds no tree and allocates nothing,
 * it reads each element's header and skips over its body to find the next one. */
#include <errno.h>
#include <string.h>

#include "bulkhead/bulk.h"
#include "bulkhead/proto.h"
#include "wire.h"

/* One element of the envelope: its header and the bytes it spans. */
struct elem {
	struct bh__head h;
	const uint8_t *start;
	size_t size;
};

/* Read the element at *pos and move *pos past it. */
static int next_elem(const uint8_t *msg, size_t len, size_t *pos, struct elem *ret)
{
	struct elem e = { .start = msg + *pos };
	size_t at = *pos;
	int r = bh__next(msg, len, pos, &e.h);
	if (r < 0)
		return r;
	e.size = *pos - at;
	*ret = e;
	return 0;
}

static bool elem_is_u32(const struct elem *e)
{
	return e->h.type == BH_INT && e->h.as.i >= 0 && e->h.as.i <= UINT32_MAX;
}

/* A request's params: an array, or (bulk: the channel only) a bulk reference. */
static bool params_ok(const struct elem *e, bool bulk)
{
	return e->h.type == BH_ARRAY ||
	       (bulk && e->h.type == BH_EXT && e->h.ext_type == BH_EXT_BULK);
}

static int rpc_parse(const uint8_t *msg, size_t len, bool bulk, struct bh_rpc *ret,
		     const char **ret_why)
{
	struct bh_rpc rpc = { 0 };
	struct elem envelope = { 0 }, type = { 0 }, msgid = { 0 }, method = { 0 };
	struct elem params = { 0 }, options = { 0 }, error = { 0 }, result = { 0 };
	const char *why;
	size_t pos = 0;

/* On failure, say what was wrong and stop; NEXT reads the next element. */
#define REQUIRE(cond, text)     \
	do {                    \
		if (!(cond)) {  \
			why = text; \
			goto fail;  \
		}               \
	} while (0)
#define NEXT(e) REQUIRE(next_elem(msg, len, &pos, &(e)) == 0, "malformed message")

	REQUIRE(bh__head_read(msg, len, &envelope.h) == 0 && envelope.h.type == BH_ARRAY,
		"message is not an array");
	pos = envelope.h.size;
	REQUIRE(envelope.h.n >= 3 && envelope.h.n <= 5, "message is not an array of 3 to 5 elements");

	NEXT(type);
	REQUIRE(type.h.type == BH_INT && type.h.as.i >= 0 && type.h.as.i <= BH_RPC_NOTIFY,
		"message type is not 0, 1 or 2");
	rpc.type = (int)type.h.as.i;

	switch (rpc.type) {
	case BH_RPC_REQUEST:
		REQUIRE(envelope.h.n == 4 || envelope.h.n == 5,
			"request is not an array of 4 or 5 elements");
		NEXT(msgid);
		REQUIRE(elem_is_u32(&msgid), "request msgid is not a uint32");
		NEXT(method);
		REQUIRE(method.h.type == BH_STR, "request method is not a string");
		NEXT(params);
		REQUIRE(params_ok(&params, bulk), "params is not an array");
		if (envelope.h.n == 5) {
			NEXT(options);
			REQUIRE(options.h.type == BH_MAP, "options is not a map");
			rpc.options = options.start;
			rpc.options_len = options.size;
		}
		break;
	case BH_RPC_RESPONSE:
		REQUIRE(envelope.h.n == 4, "response is not an array of 4 elements");
		NEXT(msgid);
		REQUIRE(elem_is_u32(&msgid), "response msgid is not a uint32");
		NEXT(error);
		NEXT(result);
		rpc.error = error.start;
		rpc.error_len = error.size;
		rpc.result = result.start;
		rpc.result_len = result.size;
		break;
	default: /* BH_RPC_NOTIFY */
		REQUIRE(envelope.h.n == 3, "notification is not an array of 3 elements");
		NEXT(method);
		REQUIRE(method.h.type == BH_STR, "notification method is not a string");
		NEXT(params);
		REQUIRE(params.h.type == BH_ARRAY, "params is not an array");
		break;
	}
	REQUIRE(pos == len, "trailing bytes after the message");
#undef REQUIRE
#undef NEXT

	if (rpc.type != BH_RPC_NOTIFY)
		rpc.msgid = (uint32_t)msgid.h.as.i;
	if (rpc.type != BH_RPC_RESPONSE) {
		rpc.method = (const char *)method.start + method.h.size;
		rpc.method_len = method.h.n;
		rpc.params = params.start;
		rpc.params_len = params.size;
	}
	*ret = rpc;
	if (ret_why)
		*ret_why = NULL;
	return 0;

fail:
	if (ret_why)
		*ret_why = why;
	return -EPROTO;
}

int bh_rpc_parse(const uint8_t *msg, size_t len, struct bh_rpc *ret, const char **ret_why)
{
	return rpc_parse(msg, len, false, ret, ret_why);
}

int bh_rpc_parse_bulk(const uint8_t *msg, size_t len, struct bh_rpc *ret, const char **ret_why)
{
	return rpc_parse(msg, len, true, ret, ret_why);
}

int bh_rpc_request_msgid(const uint8_t *msg, size_t len, uint32_t *ret)
{
	struct bh__head h;
	struct elem type, msgid;
	size_t pos;

	if (bh__head_read(msg, len, &h) < 0 || h.type != BH_ARRAY || h.n < 4 || h.n > 5)
		return -EPROTO;
	pos = h.size;
	if (next_elem(msg, len, &pos, &type) < 0 || type.h.type != BH_INT ||
	    type.h.as.i != BH_RPC_REQUEST)
		return -EPROTO;
	if (next_elem(msg, len, &pos, &msgid) < 0 || !elem_is_u32(&msgid))
		return -EPROTO;
	*ret = (uint32_t)msgid.h.as.i;
	return 0;
}

/* Each message is written whole or not at all: the buffer may already hold other
 * messages of the same stream, which a half-written one would corrupt. */
static int message_end(bh_writer *w, size_t mark)
{
	if (w->err)
		w->buf->len = mark;
	return w->err;
}

/* Raw params, or [] when there are none. */
static void write_params(bh_writer *w, const uint8_t *params, size_t params_len)
{
	if (params && params_len > 0)
		bh_write_raw(w, params, params_len);
	else
		bh_write_array(w, 0);
}

int bh_rpc_write_request(bh_writer *w, uint32_t msgid, const char *method, size_t method_len,
			 const uint8_t *params, size_t params_len)
{
	if (w->err)
		return w->err;
	size_t mark = w->buf->len;
	bh_write_array(w, 4);
	bh_write_uint(w, BH_RPC_REQUEST);
	bh_write_uint(w, msgid);
	bh_write_str(w, method, method_len);
	write_params(w, params, params_len);
	return message_end(w, mark);
}

static void notify_head(bh_writer *w, const char *method, size_t method_len)
{
	bh_write_array(w, 3);
	bh_write_uint(w, BH_RPC_NOTIFY);
	bh_write_str(w, method, method_len);
}

int bh_rpc_write_notify(bh_writer *w, const char *method, size_t method_len,
			const uint8_t *params, size_t params_len)
{
	if (w->err)
		return w->err;
	size_t mark = w->buf->len;
	notify_head(w, method, method_len);
	write_params(w, params, params_len);
	return message_end(w, mark);
}

/* A NULL result is written as nil. */
int bh_rpc_write_result(bh_writer *w, uint32_t msgid, const uint8_t *result, size_t result_len)
{
	if (w->err)
		return w->err;
	size_t mark = w->buf->len;
	bh_write_array(w, 4);
	bh_write_uint(w, BH_RPC_RESPONSE);
	bh_write_uint(w, msgid);
	bh_write_nil(w);
	if (result && result_len > 0)
		bh_write_raw(w, result, result_len);
	else
		bh_write_nil(w);
	return message_end(w, mark);
}

int bh_rpc_write_error(bh_writer *w, uint32_t msgid, int32_t code, const char *message)
{
	return bh_rpc_write_error_as(w, msgid, code, message, true);
}

int bh_rpc_write_error_as(bh_writer *w, uint32_t msgid, int32_t code, const char *message,
			  bool as_map)
{
	if (w->err)
		return w->err;
	size_t mark = w->buf->len;
	bh_write_array(w, 4);
	bh_write_uint(w, BH_RPC_RESPONSE);
	bh_write_uint(w, msgid);
	if (as_map)
		bh_write_error_map(w, code, message);
	else
		bh_write_error_text(w, code, message);
	bh_write_nil(w);
	return message_end(w, mark);
}

int bh_rpc_write_error_notify(bh_writer *w, const char *method, size_t method_len,
			      int32_t code, const char *message)
{
	if (w->err)
		return w->err;
	size_t mark = w->buf->len;
	notify_head(w, method, method_len);
	bh_write_array(w, 1);
	bh_write_error_map(w, code, message);
	return message_end(w, mark);
}

/* Size of a str header for a string of n bytes. */
static size_t str_header_size(size_t n)
{
	return n < 32 ? 1 : n < 256 ? 2 : n < 65536 ? 3 : 5;
}

size_t bh_rpc_request_size(size_t method_len, size_t params_len)
{
	/* fixarray(4), 0, uint32 (5 bytes), str, params */
	return 1 + 1 + 5 + str_header_size(method_len) + method_len + params_len;
}

void bh_rpc_request_put(uint8_t *p, uint32_t msgid, const char *method, size_t method_len,
			const uint8_t *params, size_t params_len, size_t *ret_msgid_off)
{
	uint8_t *start = p;
	*p++ = 0x94;
	*p++ = BH_RPC_REQUEST;
	*ret_msgid_off = (size_t)(p - start);
	bh_patch_u32(p, msgid);
	p += 5;
	size_t n = method_len;
	if (n < 32) {
		*p++ = (uint8_t)(0xa0 | n);
	} else if (n < 256) {
		*p++ = 0xd9;
		*p++ = (uint8_t)n;
	} else if (n < 65536) {
		*p++ = 0xda;
		*p++ = (uint8_t)(n >> 8);
		*p++ = (uint8_t)n;
	} else {
		*p++ = 0xdb;
		bh__put_be32(p, (uint32_t)n);
		p += 4;
	}
	memcpy(p, method, method_len);
	memcpy(p + method_len, params, params_len);
}

bool bh_name_valid(const char *name, size_t len)
{
	if (!name || len == 0 || len > BH_NAME_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		char ch = name[i];
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || ch == '_' || ch == '-'))
			return false;
	}
	return true;
}
