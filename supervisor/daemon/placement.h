/* cpu_placement = "apart": the daemon on one CPU of its own, every instance on the
 * daemon's other CPUs (placement.c). One placement per process. */
#ifndef BH_PLACEMENT_H
#define BH_PLACEMENT_H

#include <stdbool.h>
#include <stddef.h>

/* Read the CPUs the daemon may use, before any placement narrows them. */
void bh_placement_init(void);
/* Place the daemon for mode (enum bh_cpu_placement), at start and on every reload:
 * apart pins the daemon, shared gives it back every CPU of the start. Instances
 * started from then on follow (bh_placement_instance_cpus); running ones keep their
 * CPUs until they are replaced. Logs what it did, or why apart could not be had. */
void bh_placement_apply(int mode);
/* The CPUs a new instance gets, a cpu_set_t of *ret_size bytes for
 * sched_setaffinity, or NULL to leave it where it is born. */
const void *bh_placement_instance_cpus(size_t *ret_size);
/* True while the daemon runs apart from the instances. */
bool bh_placement_is_apart(void);
/* "shared", or e.g. "apart: daemon on CPU 0, instances on 1-3". */
void bh_placement_describe(char *buf, size_t len);

#endif
