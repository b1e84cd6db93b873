/* Routing: hand a call to the ready instance with the fewest calls in flight, or queue
 * it on its slot (bounded) until one has room. */
#ifndef BH_ROUTER_H
#define BH_ROUTER_H

struct bh_daemon;
struct bh_call;
struct bh_slot;

/* Route one client request. */
void bh_route(struct bh_daemon *d, struct bh_call *c);
/* Hand queued calls of slot to ready instances while any has room. */
void bh_slot_pump(struct bh_slot *s);

#endif
