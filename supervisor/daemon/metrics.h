/* Prometheus metrics: counters kept beside the daemon's state (metrics.c) and the
 * HTTP endpoint that renders them (metrics_http.c).
 *
 * Counting costs one hook per event in the code that sees it: a client's call
 * answered (conn.c, outcall.c), an instance gone and a restart (instance.c, slot.c),
 * a swap ended (swap.c). Everything else a scrape shows (queues, calls in flight,
 * instances, CPU and memory) is read from the daemon's state when it is scraped.
 *
 * Cardinality is bounded: a method label only for a method the plugin declared
 * (anything else counts as "other"), outcomes by error code name with every
 * application code (>= 1000) as one "application", limits and causes from fixed
 * lists, instances at most max instances per plugin. */
#ifndef BH_METRICS_H
#define BH_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bulkhead/proto.h"

struct bh_daemon;
struct bh_slot;
struct bh_call;
struct bh_instance;

/* ---- counting (metrics.c) ---- */

/* c, a call to a plugin, got its one answer: code 0 (a result) or its error code.
 * Calls to no plugin (control calls, unknown plugins) are not counted here. */
void bh_metrics_call_done(const struct bh_call *c, int32_t code);
/* inst ended, inst->cause and inst->death_reason set. */
void bh_metrics_instance_exit(const struct bh_instance *inst);
/* s starts a replacement for the instance that ended last. */
void bh_metrics_restart(struct bh_slot *s);
/* A swap of s ended: completed, or rolled back. */
void bh_metrics_swap(struct bh_slot *s, bool completed);
/* s is freed: its counters with it. */
void bh_metrics_slot_free(struct bh_slot *s);

/* The text exposition (version 0.0.4) of everything, appended to out. 0, -ENOMEM or
 * -EMSGSIZE (out's ceiling). */
int bh_metrics_render(struct bh_daemon *d, struct bh_buf *out);

/* ---- the endpoint (metrics_http.c) ---- */

/* Listen as d->cfg->metrics says (nothing when it is off). 0, or -errno with errbuf
 * filled. */
int bh_metrics_start(struct bh_daemon *d, char *errbuf, size_t errlen);
/* Close it (and remove its socket path). Accepts a daemon that never started it. */
void bh_metrics_stop(struct bh_daemon *d);

#endif
