/* The spare read buffer and scanner (spare.h). */
#include "spare.h"

#include <stdlib.h>

void bh_spare_init(struct bh_spare *sp)
{
	bh_buf_init(&sp->buf, 0);
	sp->scan = NULL;
}

void bh_spare_done(struct bh_spare *sp)
{
	bh_buf_done(&sp->buf);
	free(sp->scan);
	sp->scan = NULL;
}

bool bh_spare_lend(struct bh_spare *sp, struct bh_buf *in, struct bh_scanner **scan)
{
	if (!in->cap && sp->buf.cap) {
		in->data = sp->buf.data;
		in->cap = sp->buf.cap;
		sp->buf.data = NULL;
		sp->buf.cap = 0;
	}
	if (!*scan) {
		*scan = sp->scan ? sp->scan : malloc(sizeof(**scan));
		sp->scan = NULL;
		if (!*scan)
			return false;
		bh_scanner_init(*scan);
	}
	return true;
}

void bh_spare_take_back(struct bh_spare *sp, struct bh_buf *in, struct bh_scanner **scan)
{
	if (in->len) /* part of a message: the scanner is in the middle of it */
		return;
	if (sp->buf.cap) { /* another reader borrowed it meanwhile */
		bh_buf_shrink(in, 0);
	} else {
		sp->buf.data = in->data;
		sp->buf.cap = in->cap;
		in->data = NULL;
		in->cap = 0;
	}
	if (sp->scan)
		free(*scan);
	else
		sp->scan = *scan;
	*scan = NULL;
}
