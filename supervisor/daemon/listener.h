/* The client socket: claim the path safely, bind with the configured mode, accept. */
#ifndef BH_LISTENER_H
#define BH_LISTENER_H

#include <stddef.h>

struct bh_daemon;

int bh_listener_open(struct bh_daemon *d, char *errbuf, size_t errlen);
void bh_listener_close(struct bh_daemon *d);
void bh_listener_remove(struct bh_daemon *d);

#endif
