/* bulkhead proto: reading one MessagePack header (private).
 *
 * Every reader in proto (the scanner, the tree builder, the envelope parser, the error
 * map reader) goes through bh__head_read(), so the byte layout of MessagePack lives in
 * exactly one place. A "header" here is everything before a value's payload: for
 * scalars that is the whole value, for str/bin/ext the type byte, length and ext type,
 * for containers the type byte and count. */
#ifndef BULKHEAD_PROTO_WIRE_H
#define BULKHEAD_PROTO_WIRE_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "bulkhead/proto.h"
#include "bulkhead/value.h"

/* Deepest nesting any reader supports (see proto.h). */
#define BH__DEPTH_CAP BH_SCAN_DEPTH_CAP

struct bh__head {
	uint8_t type; /* enum bh_type */
	int8_t ext_type;
	uint8_t size; /* header bytes; for scalars the whole value */
	uint32_t n;   /* str/bin/ext: payload bytes; array: elements; map: pairs; float: 4 or 8 */
	union {
		bool b;
		int64_t i;
		uint64_t u;
		double f;
	} as;
};

static inline uint16_t bh__be16(const uint8_t *p)
{
	return (uint16_t)((unsigned)p[0] << 8 | p[1]);
}

static inline uint32_t bh__be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline uint64_t bh__be64(const uint8_t *p)
{
	return (uint64_t)bh__be32(p) << 32 | bh__be32(p + 4);
}

static inline void bh__put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* Read the header at p, of which avail bytes are present. Returns 0 and fills *h,
 * -EAGAIN when avail is too short for the header (the payload is not looked at), or
 * -EBADMSG for 0xc1. */
static inline int bh__head_read(const uint8_t *p, size_t avail, struct bh__head *h)
{
	if (avail == 0)
		return -EAGAIN;

	/* Header bytes of the types 0xc0..0xdf (0 for 0xc1, which starts no type). */
	static const uint8_t head_size[32] = {
		1, 0, 1, 1,	   /* nil, 0xc1, false, true */
		2, 3, 5,	   /* bin 8/16/32 */
		3, 4, 6,	   /* ext 8/16/32: length, then the type byte */
		5, 9,		   /* float 32/64 */
		2, 3, 5, 9,	   /* uint 8/16/32/64 */
		2, 3, 5, 9,	   /* int 8/16/32/64 */
		2, 2, 2, 2, 2,	   /* fixext 1/2/4/8/16: the type byte */
		2, 3, 5,	   /* str 8/16/32 */
		3, 5, 3, 5,	   /* array 16/32, map 16/32 */
	};

	uint8_t c = p[0];
	if (c <= 0x7f || c >= 0xe0) {
		*h = (struct bh__head){ .type = BH_INT, .size = 1, .as.i = (int8_t)c };
		return 0;
	}
	if (c <= 0x9f) {
		*h = (struct bh__head){ .type = c <= 0x8f ? BH_MAP : BH_ARRAY, .size = 1,
					.n = c & 0x0f };
		return 0;
	}
	if (c <= 0xbf) {
		*h = (struct bh__head){ .type = BH_STR, .size = 1, .n = c & 0x1f };
		return 0;
	}

	uint8_t size = head_size[c - 0xc0];
	if (size == 0)
		return -EBADMSG;
	if (avail < size)
		return -EAGAIN;

	struct bh__head out = { .size = size };
	const uint8_t *q = p + 1;
	switch (c) {
	case 0xc0: out.type = BH_NIL; break;
	case 0xc2: out.type = BH_BOOL; out.as.b = false; break;
	case 0xc3: out.type = BH_BOOL; out.as.b = true; break;
	case 0xc4: out.type = BH_BIN; out.n = q[0]; break;
	case 0xc5: out.type = BH_BIN; out.n = bh__be16(q); break;
	case 0xc6: out.type = BH_BIN; out.n = bh__be32(q); break;
	case 0xc7: out.type = BH_EXT; out.n = q[0]; out.ext_type = (int8_t)q[1]; break;
	case 0xc8: out.type = BH_EXT; out.n = bh__be16(q); out.ext_type = (int8_t)q[2]; break;
	case 0xc9: out.type = BH_EXT; out.n = bh__be32(q); out.ext_type = (int8_t)q[4]; break;
	case 0xca: {
		uint32_t bits = bh__be32(q);
		float f;
		memcpy(&f, &bits, sizeof f);
		out.type = BH_FLOAT;
		out.n = 4;
		out.as.f = f;
		break;
	}
	case 0xcb: {
		uint64_t bits = bh__be64(q);
		out.type = BH_FLOAT;
		out.n = 8;
		memcpy(&out.as.f, &bits, sizeof out.as.f);
		break;
	}
	case 0xcc: out.type = BH_INT; out.as.i = q[0]; break;
	case 0xcd: out.type = BH_INT; out.as.i = bh__be16(q); break;
	case 0xce: out.type = BH_INT; out.as.i = bh__be32(q); break;
	case 0xcf:
		out.as.u = bh__be64(q);
		out.type = out.as.u > INT64_MAX ? BH_UINT : BH_INT;
		break;
	case 0xd0: out.type = BH_INT; out.as.i = (int8_t)q[0]; break;
	case 0xd1: out.type = BH_INT; out.as.i = (int16_t)bh__be16(q); break;
	case 0xd2: out.type = BH_INT; out.as.i = (int32_t)bh__be32(q); break;
	case 0xd3: out.type = BH_INT; out.as.i = (int64_t)bh__be64(q); break;
	case 0xd4: case 0xd5: case 0xd6: case 0xd7: case 0xd8:
		out.type = BH_EXT;
		out.n = 1u << (c - 0xd4);
		out.ext_type = (int8_t)q[0];
		break;
	case 0xd9: out.type = BH_STR; out.n = q[0]; break;
	case 0xda: out.type = BH_STR; out.n = bh__be16(q); break;
	case 0xdb: out.type = BH_STR; out.n = bh__be32(q); break;
	case 0xdc: out.type = BH_ARRAY; out.n = bh__be16(q); break;
	case 0xdd: out.type = BH_ARRAY; out.n = bh__be32(q); break;
	case 0xde: out.type = BH_MAP; out.n = bh__be16(q); break;
	case 0xdf: out.type = BH_MAP; out.n = bh__be32(q); break;
	default: return -EBADMSG; /* not reached: the size table covers the rest */
	}
	*h = out;
	return 0;
}

/* Payload bytes that follow the header (str, bin, ext), 0 for everything else. */
static inline uint32_t bh__head_payload(const struct bh__head *h)
{
	return (h->type == BH_STR || h->type == BH_BIN || h->type == BH_EXT) ? h->n : 0;
}

/* Child values a container header announces: elements, or 2 per map pair. */
static inline uint64_t bh__head_children(const struct bh__head *h)
{
	if (h->type == BH_ARRAY)
		return h->n;
	if (h->type == BH_MAP)
		return (uint64_t)h->n * 2;
	return 0;
}

/* Skip one whole value at p[0 .. len-1], without a stack (a count of values still to
 * skip suffices) and with no limit but len. Returns 0 and its size in *ret_size, or
 * -EAGAIN (not all there) or -EBADMSG. For readers of a message that bh_scan already
 * accepted, and for best-effort peeks at anything else. */
static inline int bh__skip(const uint8_t *p, size_t len, size_t *ret_size)
{
	size_t pos = 0;
	uint64_t todo = 1;

	while (todo > 0) {
		struct bh__head h;
		int r = bh__head_read(p + pos, len - pos, &h);
		if (r < 0)
			return r;
		size_t room = len - pos - h.size;
		if (bh__head_payload(&h) > room)
			return -EAGAIN;
		pos += h.size + bh__head_payload(&h);
		todo = todo - 1 + bh__head_children(&h);
		/* Each value still to skip needs at least a byte. */
		if (todo > len - pos)
			return -EAGAIN;
	}
	*ret_size = pos;
	return 0;
}

/* Read the header of the value at p[*pos] and move *pos past the whole value (its
 * header, payload and children). Returns 0, -EAGAIN or -EBADMSG; on error *pos and
 * *ret are untouched. */
static inline int bh__next(const uint8_t *p, size_t len, size_t *pos, struct bh__head *ret)
{
	struct bh__head h;
	size_t size;
	int r = bh__head_read(p + *pos, len - *pos, &h);
	if (r < 0)
		return r;
	if (h.type == BH_ARRAY || h.type == BH_MAP) {
		r = bh__skip(p + *pos, len - *pos, &size);
		if (r < 0)
			return r;
	} else {
		if (bh__head_payload(&h) > len - *pos - h.size)
			return -EAGAIN;
		size = h.size + bh__head_payload(&h);
	}
	*pos += size;
	*ret = h;
	return 0;
}

#endif
