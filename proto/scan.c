/* bulkhead proto: bh_scan(), the bounded validating walk that finds message boundaries,
 * and bh_scanner, the same walk resumed as a stream's bytes arrive.
 *
 * It never allocates and never recurses: open containers live on a fixed stack of
 * BH__DEPTH_CAP counters (so a max_depth above BH__DEPTH_CAP acts as BH__DEPTH_CAP).
 * Every value takes at least one byte, so a header is checked against what the rest of
 * max_message could still hold, counting the values already announced but not yet
 * seen: an array32 of 0xffffffff elements is refused on its 5-byte header, long before
 * anybody sizes an allocation by it. */
#include <errno.h>

#include "bulkhead/proto.h"
#include "wire.h"

void bh_limits_default(struct bh_limits *ret)
{
	*ret = (struct bh_limits){
		.max_message = 16u << 20,
		.max_depth = 64,
		.max_items = 1u << 20,
		.max_bytes = 16u << 20,
	};
}

/* The input ran out: more may come, unless max_message bytes are already there. */
static int ran_out(size_t len, size_t max_message)
{
	return len >= max_message ? -EMSGSIZE : -EAGAIN;
}

void bh_scanner_init(struct bh_scanner *s)
{
	s->started = false;
	s->err = 0;
	s->pos = 0;
	s->skip = 0;
	s->nodes = 0;
	s->pending = 0;
	s->depth = 0;
	s->work = 0;
	/* open[] is written before it is read: no need to clear 4 KiB per message. */
}

/* The message is complete: hand it out and get ready for the next one. */
static int scan_done(struct bh_scanner *s, struct bh_scan *ret)
{
	*ret = (struct bh_scan){ .size = s->pos, .nodes = s->nodes };
	s->started = false;
	s->pos = 0;
	s->nodes = 0;
	return 0;
}

static int scan_fail(struct bh_scanner *s, int err)
{
	s->err = err;
	return err;
}

int bh_scanner_feed(struct bh_scanner *s, const uint8_t *buf, size_t len,
		    const struct bh_limits *limits, struct bh_scan *ret)
{
	if (s->err)
		return s->err;
	if (!s->started) {
		if (limits)
			s->limits = *limits;
		else
			bh_limits_default(&s->limits);
		s->started = true;
	}

	const struct bh_limits *lim = &s->limits;
	const size_t max_message = lim->max_message;
	const uint32_t max_depth = lim->max_depth < BH__DEPTH_CAP ? lim->max_depth : BH__DEPTH_CAP;
	/* Nothing past max_message is ever looked at. */
	const size_t end = len < max_message ? len : max_message;
	if (end < s->pos)
		return -EINVAL; /* the caller lost bytes it had fed */

	for (;;) {
		/* The rest of a payload: skipped, never looked at. */
		if (s->skip > 0) {
			size_t n = s->skip < end - s->pos ? s->skip : end - s->pos;
			s->pos += n;
			s->skip -= n;
			s->work += n;
			if (s->skip > 0)
				return ran_out(len, max_message);
		}
		while (s->depth > 0 && s->open[s->depth - 1] == 0)
			s->depth--;
		if (s->depth == 0 && s->nodes > 0)
			return scan_done(s, ret);

		struct bh__head h;
		int r = bh__head_read(buf + s->pos, end - s->pos, &h);
		if (r == -EAGAIN) {
			s->work += end - s->pos; /* a split header is read again next time */
			return ran_out(len, max_message);
		}
		if (r < 0)
			return scan_fail(s, r);

		s->nodes++;
		if (s->depth > 0) {
			s->open[s->depth - 1]--;
			s->pending--;
		}
		s->pos += h.size;
		s->work += h.size;
		/* pos <= end <= max_message: room cannot wrap. Every value still announced
		 * takes at least a byte, so the header is checked against what the rest of
		 * max_message could hold. */
		size_t room = max_message - s->pos;

		if (h.type == BH_ARRAY || h.type == BH_MAP) {
			if (h.n > lim->max_items)
				return scan_fail(s, -E2BIG);
			if (s->depth >= max_depth)
				return scan_fail(s, -ELOOP);
			uint64_t children = bh__head_children(&h);
			if (s->pending > room || children > room - s->pending)
				return scan_fail(s, -E2BIG);
			s->open[s->depth++] = children;
			s->pending += children;
		} else {
			uint32_t payload = bh__head_payload(&h);
			if (payload > lim->max_bytes)
				return scan_fail(s, -EMSGSIZE);
			if (s->pending > room || payload > room - s->pending)
				return scan_fail(s, -EMSGSIZE);
			s->skip = payload;
		}
	}
}

int bh_scan(const uint8_t *buf, size_t len, const struct bh_limits *limits,
	    struct bh_scan *ret)
{
	struct bh_scanner s;
	bh_scanner_init(&s);
	return bh_scanner_feed(&s, buf, len, limits, ret);
}

const char *bh_proto_strerror(int err)
{
	switch (err < 0 ? -err : err) {
	case 0: return "success";
	case EAGAIN: return "incomplete message";
	case EMSGSIZE: return "message or string too large";
	case ELOOP: return "nesting too deep";
	case E2BIG: return "array or map too long";
	case EBADMSG: return "invalid MessagePack";
	case ENOMEM: return "out of memory";
	case EPROTO: return "malformed MessagePack-RPC envelope";
	case EINVAL: return "invalid argument";
	default: return "unknown protocol error";
	}
}
