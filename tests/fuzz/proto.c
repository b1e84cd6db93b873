/* Fuzz target: the proto library's reading side on bytes from any peer. The input is
 * a stream; each object the scanner accepts is decoded, re-encoded and parsed as an
 * envelope, under the default limits and under tight ones (so that every limit is hit).
 * Properties: what bh_scan accepts bh_decode accepts with the same size; the resumable
 * scanner, fed the stream in any pieces, agrees with bh_scan in linear work; a decoded
 * tree re-encodes to bytes the scanner accepts; envelope spans lie inside the message. */
#include <errno.h>

#include "bulkhead/proto.h"
#include "fuzz.h"

static void one_object(const uint8_t *msg, size_t len, const struct bh_scan *s,
		       const struct bh_limits *lim)
{
	struct bh_arena arena;
	bh_arena_init(&arena);
	const bh_value *v;
	size_t used = 0;
	FUZZ_CHECK(bh_decode(msg, len, lim, &arena, &v, &used) == 0);
	FUZZ_CHECK(used == s->size);

	struct bh_buf b;
	struct bh_writer w;
	bh_buf_init(&b, 0);
	bh_writer_init(&w, &b);
	if (bh_write_value(&w, v) == 0) {
		struct bh_limits any;
		bh_limits_default(&any);
		any.max_message = SIZE_MAX;
		any.max_depth = lim->max_depth;
		any.max_items = lim->max_items;
		any.max_bytes = lim->max_bytes;
		struct bh_scan again;
		FUZZ_CHECK(bh_scan(b.data, b.len, &any, &again) == 0 && again.size == b.len);
		FUZZ_CHECK(again.nodes == s->nodes);
	}
	bh_buf_done(&b);
	bh_arena_done(&arena);

	struct bh_rpc rpc;
	const char *why = NULL;
	if (bh_rpc_parse(msg, s->size, &rpc, &why) == 0) {
		const uint8_t *end = msg + s->size;
#define INSIDE(p, n) FUZZ_CHECK(!(p) || ((p) >= msg && (n) <= (size_t)(end - (p))))
		INSIDE((const uint8_t *)rpc.method, rpc.method_len);
		INSIDE(rpc.params, rpc.params_len);
		INSIDE(rpc.options, rpc.options_len);
		INSIDE(rpc.error, rpc.error_len);
		INSIDE(rpc.result, rpc.result_len);
#undef INSIDE
		if (rpc.type == BH_RPC_RESPONSE) {
			bh_error err;
			(void)bh_error_decode(rpc.error, rpc.error_len, &err);
		}
	} else {
		FUZZ_CHECK(why != NULL);
		uint32_t id;
		(void)bh_rpc_request_msgid(msg, s->size, &id);
	}
}

static void stream(const uint8_t *data, size_t size, const struct bh_limits *lim)
{
	size_t off = 0;
	while (off < size) {
		struct bh_scan s;
		int r = bh_scan(data + off, size - off, lim, &s);
		FUZZ_CHECK(bh_proto_strerror(r) != NULL);
		if (r < 0) {
			FUZZ_CHECK(r != -EAGAIN || size - off < lim->max_message);
			return;
		}
		FUZZ_CHECK(s.size > 0 && s.size <= size - off && s.size <= lim->max_message);
		one_object(data + off, size - off, &s, lim);
		off += s.size;
	}
}

/* The resumable scanner, fed the stream in pieces whose sizes the input chooses,
 * agrees with bh_scan on every prefix it is given, and its work stays linear. */
static void resumed(const uint8_t *data, size_t size, const struct bh_limits *lim)
{
	static struct bh_scanner sc; /* large: the container stack */
	bh_scanner_init(&sc);
	size_t off = 0, have = 0, step = 0;
	while (off < size) {
		size_t piece = 1 + data[step++ % size] % 64;
		have = have + piece > size - off ? size - off : have + piece;
		struct bh_scan got, want;
		int r = bh_scanner_feed(&sc, data + off, have, lim, &got);
		int w = bh_scan(data + off, have, lim, &want);
		FUZZ_CHECK(r == w);
		if (r == -EAGAIN && have < size - off)
			continue;
		if (r < 0)
			break;
		FUZZ_CHECK(got.size == want.size);
		off += got.size;
		have -= got.size;
	}
	FUZZ_CHECK(sc.work <= 16 * (uint64_t)size + 64);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct bh_limits lim;
	bh_limits_default(&lim);
	stream(data, size, &lim);
	resumed(data, size, &lim);
	struct bh_limits tight = { .max_message = 512, .max_depth = 4, .max_items = 8,
				   .max_bytes = 64 };
	stream(data, size, &tight);
	resumed(data, size, &tight);
	return 0;
}
