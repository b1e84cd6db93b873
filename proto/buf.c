/* bulkhead proto: the growing byte buffer with a ceiling. */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bulkhead/proto.h"

/* First allocation; small messages never reallocate. */
#define BUF_MIN_CAP 256

static size_t buf_ceiling(const struct bh_buf *b)
{
	return b->max ? b->max : SIZE_MAX;
}

void bh_buf_init(struct bh_buf *b, size_t max)
{
	*b = (struct bh_buf){ .max = max };
}

void bh_buf_done(struct bh_buf *b)
{
	if (!b)
		return;
	free(b->data);
	*b = (struct bh_buf){ .max = b->max };
}

int bh_buf_reserve(struct bh_buf *b, size_t extra)
{
	size_t ceiling = buf_ceiling(b);
	if (b->len > ceiling || extra > ceiling - b->len)
		return -EMSGSIZE;

	size_t need = b->len + extra;
	if (need <= b->cap)
		return 0;
	if (need > PTRDIFF_MAX) /* no object can be that large */
		return -ENOMEM;

	/* Double, but never past the ceiling: the ceiling is what bounds memory. */
	size_t cap = b->cap < BUF_MIN_CAP ? BUF_MIN_CAP : b->cap;
	while (cap < need)
		cap = cap > PTRDIFF_MAX / 2 ? need : cap * 2;
	if (cap > ceiling)
		cap = ceiling;

	uint8_t *data = realloc(b->data, cap);
	if (!data)
		return -ENOMEM;
	b->data = data;
	b->cap = cap;
	return 0;
}

int bh_buf_append(struct bh_buf *b, const void *p, size_t n)
{
	int r = bh_buf_reserve(b, n);
	if (r < 0)
		return r;
	if (n > 0) {
		memcpy(b->data + b->len, p, n);
		b->len += n;
	}
	return 0;
}

void bh_buf_consume(struct bh_buf *b, size_t n)
{
	if (n >= b->len) {
		b->len = 0;
		return;
	}
	memmove(b->data, b->data + n, b->len - n);
	b->len -= n;
}

void bh_buf_shrink(struct bh_buf *b, size_t keep)
{
	if (b->cap <= keep || b->len > keep)
		return;
	if (keep == 0) {
		free(b->data);
		b->data = NULL;
		b->cap = 0;
		return;
	}
	/* If the smaller block cannot be had, the larger one is still good. */
	uint8_t *data = realloc(b->data, keep);
	if (data) {
		b->data = data;
		b->cap = keep;
	}
}
