/* Hot swap by process replacement. */
#ifndef BH_SWAP_H
#define BH_SWAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct bh_slot;
struct bh_plugin_conf;
struct bh_call;
struct bh_swap;
struct bh_gen;
struct bh_instance;

struct bh_swap_options {
	uint32_t canary_pct;   /* 0: a full swap; 1..100: a canary */
	double max_error_rate; /* canary: roll back above this share of failed calls (0.5) */
	uint32_t min_calls;    /* canary: ... once it has served this many (20) */
};
enum { BH_ROUTE_GEN, BH_ROUTE_WAIT, BH_ROUTE_HOLD };
/* Start a swap of s to conf (a new generation). The waiter (a control call, may be
 * NULL) is answered when the swap completes or rolls back. 0, or -errno with errbuf
 * (-EBUSY: another operation runs; -ENOENT: no such file). */
int bh_swap_start(struct bh_slot *s, const struct bh_plugin_conf *conf,
		  const struct bh_swap_options *opt, struct bh_call *waiter, char *errbuf,
		  size_t errlen);
int bh_swap_promote(struct bh_slot *s, struct bh_call *waiter, char *errbuf, size_t errlen);
int bh_swap_rollback(struct bh_slot *s, char *errbuf, size_t errlen);
/* Router: which generation takes c (BH_ROUTE_GEN, *ret), or wait in the queue
 * (paused), or hold it until its client's old calls finish. */
int bh_swap_route(struct bh_swap *sw, const struct bh_call *c, struct bh_gen **ret);
void bh_swap_routed(struct bh_swap *sw, const struct bh_gen *g);
void bh_swap_hold(struct bh_swap *sw, struct bh_call *c);
/* What the slot tells the swap (slot.c only): an instance became ready or is gone
 * (inst), or a call finished (inst NULL). The swap may end (and be freed) in it. */
enum bh_swap_news { BH_SWAP_READY, BH_SWAP_GONE, BH_SWAP_CALL_DONE };
void bh_swap_news(struct bh_swap *sw, enum bh_swap_news what, const struct bh_instance *inst);
/* A client call served by generation g finished (failed or not): canary checks. */
void bh_swap_call_done(struct bh_swap *sw, const struct bh_gen *g, bool failed);
const char *bh_swap_phase_name(const struct bh_swap *sw);
uint32_t bh_swap_canary_pct(const struct bh_swap *sw);

#endif
