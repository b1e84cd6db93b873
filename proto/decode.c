/* bulkhead proto: bh_decode(), building a bh_value tree over a scanned message.
 *
 * The scan says exactly how many nodes the tree has, so the arena is sized before the
 * walk and the walk cannot fail. Children of a container are one contiguous block,
 * reserved when the container's header is read and filled as the walk reaches them;
 * the walk is depth-first with an explicit stack, like the scan. */
#include <errno.h>
#include <stdlib.h>

#include "bulkhead/proto.h"
#include "wire.h"

void bh_arena_init(struct bh_arena *a)
{
	*a = (struct bh_arena){ 0 };
}

void bh_arena_done(struct bh_arena *a)
{
	if (!a)
		return;
	free(a->nodes);
	*a = (struct bh_arena){ 0 };
}

/* At most one allocation; the old nodes are dead, so nothing is copied. */
static int arena_reserve(struct bh_arena *a, size_t nodes)
{
	if (nodes <= a->cap)
		return 0;
	if (nodes > SIZE_MAX / sizeof(bh_value))
		return -ENOMEM;
	bh_value *fresh = malloc(nodes * sizeof(bh_value));
	if (!fresh)
		return -ENOMEM;
	free(a->nodes);
	a->nodes = fresh;
	a->cap = nodes;
	return 0;
}

/* Where the next child of an open container goes, and how many are still to come. */
struct frame {
	bh_value *next;
	uint64_t left;
};

int bh_decode(const uint8_t *buf, size_t len, const struct bh_limits *limits,
	      struct bh_arena *arena, const bh_value **ret, size_t *ret_size)
{
	struct bh_scan scan;
	int r = bh_scan(buf, len, limits, &scan);
	if (r < 0)
		return r;
	r = arena_reserve(arena, scan.nodes);
	if (r < 0)
		return r;

	struct frame stack[BH__DEPTH_CAP];
	uint32_t depth = 0;
	bh_value *nodes = arena->nodes;
	size_t used = 1; /* nodes[0] is the root */
	bh_value *slot = &nodes[0];
	size_t pos = 0;

	do {
		struct bh__head h;
		/* The scan accepted these bytes; checked anyway, never trusted. */
		r = bh__head_read(buf + pos, scan.size - pos, &h);
		if (r < 0 || bh__head_payload(&h) > scan.size - pos - h.size)
			return -EBADMSG;
		pos += h.size;

		*slot = (bh_value){ .type = h.type, .ext_type = h.ext_type };
		switch (h.type) {
		case BH_NIL:
			break;
		case BH_BOOL:
			slot->as.b = h.as.b;
			break;
		case BH_INT:
		case BH_UINT:
			slot->as.u = h.as.u;
			break;
		case BH_FLOAT:
			slot->len = h.n;
			slot->as.f = h.as.f;
			break;
		case BH_STR:
			slot->len = h.n;
			slot->as.str = (const char *)(buf + pos);
			pos += h.n;
			break;
		case BH_BIN:
		case BH_EXT:
			slot->len = h.n;
			slot->as.bin = buf + pos;
			pos += h.n;
			break;
		case BH_ARRAY:
		case BH_MAP: {
			uint64_t children = bh__head_children(&h);
			if (children > scan.nodes - used || depth >= BH__DEPTH_CAP)
				return -EBADMSG;
			slot->len = h.n;
			slot->as.items = &nodes[used];
			stack[depth++] = (struct frame){ .next = &nodes[used], .left = children };
			used += children;
			break;
		}
		}

		while (depth > 0 && stack[depth - 1].left == 0)
			depth--;
		if (depth > 0) {
			slot = stack[depth - 1].next++;
			stack[depth - 1].left--;
		}
	} while (depth > 0);

	*ret = &nodes[0];
	if (ret_size)
		*ret_size = scan.size;
	return 0;
}
