/* `bulkhead.status`: the daemon's state as one MessagePack map. */
#ifndef BH_STATUS_H
#define BH_STATUS_H

#include "bulkhead/value.h"

struct bh_daemon;

int bh_status_write(struct bh_daemon *d, bh_writer *w);

#endif
