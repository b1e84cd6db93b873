/* The circuit breaker of a plugin (one per slot).
 *
 *   closed ──K failures in a row, or error_pct of min_calls in a window──▶ open
 *   open ──cooldown_ms──▶ half-open ──half_open_calls succeed──▶ closed
 *                             └── one fails ──▶ open
 *
 * Open, calls fail at once with `unavailable` and the reason. Failures are crashes,
 * timeouts and, when breaker.plugin_error is set, plugin_error answers. A plugin that
 * crashes restart.quarantine_crashes times within restart.quarantine_window_ms is
 * quarantined: that is the breaker open with its instances stopped, and it lifts by
 * itself after the cool-down (half-open: an instance starts and calls try it). */
#ifndef BH_BREAKER_H
#define BH_BREAKER_H

#include <stdbool.h>
#include <stdint.h>

#include "loop.h"

struct bh_slot;

enum bh_breaker_state {
	BH_BREAKER_CLOSED,
	BH_BREAKER_OPEN,
	BH_BREAKER_HALF_OPEN,
};

struct bh_breaker {
	enum bh_breaker_state state;
	bool quarantine;        /* opened by crashes: its instances were stopped */
	uint32_t consecutive;   /* failures in a row */
	uint32_t win_calls, win_failed; /* outcomes in the window from win_start_ns */
	uint64_t win_start_ns;
	uint32_t admitted, passed; /* half-open: calls let through, and succeeded */
	uint64_t opened;        /* times it opened */
	uint64_t refused;       /* calls failed fast */
	struct bh_timer timer;  /* the cool-down */
	char reason[320];       /* why it opened last */
};

const char *bh_breaker_state_name(enum bh_breaker_state st);
void bh_breaker_init(struct bh_slot *s);
void bh_breaker_done(struct bh_slot *s);

/* May a new call go to s? false with the reason in why (the call fails
 * `unavailable`). */
bool bh__breaker_admit(struct bh_slot *s, char *why, size_t len);
static inline bool bh_breaker_admit(struct bh_slot *s, enum bh_breaker_state st, char *why,
				    size_t len)
{
	return st == BH_BREAKER_CLOSED || bh__breaker_admit(s, why, len);
}

/* The outcome of a client call (0: success, else its error code), or a crash of an
 * instance (BH_E_PLUGIN_CRASHED). */
void bh_breaker_record(struct bh_slot *s, int32_t code);
/* Open it (quarantine: the slot gave its instances up). */
void bh_breaker_open(struct bh_slot *s, bool quarantine, const char *reason);
/* Close it (a swap brought new code). */
void bh_breaker_close(struct bh_slot *s, const char *why);

#endif
