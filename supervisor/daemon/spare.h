/* The read buffer and scanner the daemon lends to whoever it reads (an instance's
 * channel, a client's connection). Messages usually arrive whole and are handled
 * on the spot, so a reader keeps what it borrowed only while it holds part of a
 * message: a thousand idle instances or clients hold neither a buffer (a resident
 * page each) nor a scanner (4 KiB each). */
#ifndef BH_SPARE_H
#define BH_SPARE_H

#include <stdbool.h>

#include "bulkhead/proto.h"

struct bh_spare {
	struct bh_buf buf;        /* data and cap only: each reader keeps its own max */
	struct bh_scanner *scan;
};

void bh_spare_init(struct bh_spare *sp);
void bh_spare_done(struct bh_spare *sp);
/* Before a read: give the reader the spare buffer (when it has none) and a scanner
 * (the spare one, or a new one). False when there is no memory for a scanner. */
bool bh_spare_lend(struct bh_spare *sp, struct bh_buf *in, struct bh_scanner **scan);
/* After a read: unless the reader holds part of a message, take back its buffer and
 * scanner (one of each is kept; the others are freed). */
void bh_spare_take_back(struct bh_spare *sp, struct bh_buf *in, struct bh_scanner **scan);

#endif
