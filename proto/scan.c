/* bulkhead proto: bh_scan(), the bounded validating walk that finds message boundaries.
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

int bh_scan(const uint8_t *buf, size_t len, const struct bh_limits *limits,
	    struct bh_scan *ret)
{
	struct bh_limits defaults;
	if (!limits) {
		bh_limits_default(&defaults);
		limits = &defaults;
	}

	const size_t max_message = limits->max_message;
	const uint32_t max_depth =
		limits->max_depth < BH__DEPTH_CAP ? limits->max_depth : BH__DEPTH_CAP;
	/* Nothing past max_message is ever looked at. */
	const size_t end = len < max_message ? len : max_message;

	uint64_t open[BH__DEPTH_CAP]; /* children still to come, per open container */
	uint32_t depth = 0;
	uint64_t pending = 0; /* sum of open[]: values announced, not yet started */
	size_t pos = 0;
	size_t nodes = 0;

	do {
		struct bh__head h;
		int r = bh__head_read(buf + pos, end - pos, &h);
		if (r == -EAGAIN)
			return ran_out(len, max_message);
		if (r < 0)
			return r;

		nodes++;
		if (depth > 0) {
			open[depth - 1]--;
			pending--;
		}
		pos += h.size;
		/* pos <= end <= max_message: room cannot wrap. */
		size_t room = max_message - pos;

		if (h.type == BH_ARRAY || h.type == BH_MAP) {
			if (h.n > limits->max_items)
				return -E2BIG;
			if (depth >= max_depth)
				return -ELOOP;
			uint64_t children = bh__head_children(&h);
			if (pending > room || children > room - pending)
				return -E2BIG;
			open[depth++] = children;
			pending += children;
		} else {
			uint32_t payload = bh__head_payload(&h);
			if (payload > limits->max_bytes)
				return -EMSGSIZE;
			if (pending > room || payload > room - pending)
				return -EMSGSIZE;
			if (payload > end - pos)
				return ran_out(len, max_message);
			pos += payload;
		}

		while (depth > 0 && open[depth - 1] == 0)
			depth--;
	} while (depth > 0);

	*ret = (struct bh_scan){ .size = pos, .nodes = nodes };
	return 0;
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
