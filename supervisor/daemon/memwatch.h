/* Memory limits the sandbox leaves to the daemon (no memory cgroup): an instance
 * holding more than its limit (resident memory and memfd pages) is killed. */
#ifndef BH_MEMWATCH_H
#define BH_MEMWATCH_H

#include <stdint.h>
#include <sys/types.h>

struct bh_instance;
struct bh_timer;

#define BH_MEMWATCH_MS 250
/* Arms the watchdog for inst if it needs one. */
void bh_memwatch_add(struct bh_instance *inst);
void bh_memwatch_fired(struct bh_timer *t);
/* Bytes the process tree of pid holds, as the watchdog counts them; -errno. */
int64_t bh_memwatch_measure(pid_t pid);

#endif
