/* The circuit breaker (breaker.h). */
#include "breaker.h"

#include <stdio.h>
#include <string.h>

#include "bulkhead/error.h"
#include "config.h"
#include "daemon.h"
#include "events.h"
#include "log.h"
#include "slot.h"

static void cooled(struct bh_timer *t);

const char *bh_breaker_state_name(enum bh_breaker_state st)
{
	static const char *const names[] = {"closed", "open", "half-open"};
	return names[st];
}

void bh_breaker_init(struct bh_slot *s)
{
	s->breaker = (struct bh_breaker){.state = BH_BREAKER_CLOSED};
	bh_timer_init(&s->breaker.timer, cooled);
}

void bh_breaker_done(struct bh_slot *s)
{
	bh_timer_disarm(s->d->loop, &s->breaker.timer);
}

static void reset_counts(struct bh_breaker *b)
{
	b->consecutive = b->win_calls = b->win_failed = 0;
	b->win_start_ns = bh_now_ns();
	b->admitted = b->passed = 0;
}

void bh_breaker_open(struct bh_slot *s, bool quarantine, const char *reason)
{
	struct bh_breaker *b = &s->breaker;
	const struct bh_breaker_conf *conf = &s->conf->breaker;
	b->state = BH_BREAKER_OPEN;
	b->quarantine = quarantine;
	b->opened++;
	snprintf(b->reason, sizeof(b->reason), "%s", reason);
	reset_counts(b);
	bh_timer_arm(s->d->loop, &b->timer, bh_now_ns() + bh_ms_to_ns(conf->cooldown_ms));
	bh_warn("%s: circuit breaker open for %u ms: %s", s->conf->name, conf->cooldown_ms,
		reason);
	bh_event_slot(s, BH_EV_BREAKER_OPEN, quarantine ? "quarantine" : NULL, reason);
}

void bh_breaker_close(struct bh_slot *s, const char *why)
{
	struct bh_breaker *b = &s->breaker;
	if (b->state == BH_BREAKER_CLOSED)
		return;
	bh_timer_disarm(s->d->loop, &b->timer);
	b->state = BH_BREAKER_CLOSED;
	b->quarantine = false;
	reset_counts(b);
	bh_info("%s: circuit breaker closed: %s", s->conf->name, why);
	bh_event_slot(s, BH_EV_BREAKER_CLOSED, NULL, why);
}

/* The cool-down is over: a few calls may try. A quarantine lifts (the slot starts an
 * instance again). Half-open already (the calls let through ended without an outcome:
 * their client left), the next calls may try. */
static void cooled(struct bh_timer *t)
{
	struct bh_breaker *b = bh_container_of(t, struct bh_breaker, timer);
	struct bh_slot *s = bh_container_of(b, struct bh_slot, breaker);
	bh_timer_arm(s->d->loop, &b->timer,
		     bh_now_ns() + bh_ms_to_ns(s->conf->breaker.cooldown_ms));
	if (b->state == BH_BREAKER_HALF_OPEN) {
		b->admitted = b->passed = 0;
		return;
	}
	b->state = BH_BREAKER_HALF_OPEN;
	reset_counts(b);
	bh_info("%s: circuit breaker half-open: %u call%s may try", s->conf->name,
		s->conf->breaker.half_open_calls, s->conf->breaker.half_open_calls == 1 ? "" : "s");
	bh_event_slot(s, BH_EV_BREAKER_HALF_OPEN, NULL, NULL);
	if (b->quarantine)
		bh_slot_lift_quarantine(s);
}

bool bh__breaker_admit(struct bh_slot *s, char *why, size_t len)
{
	struct bh_breaker *b = &s->breaker;
	if (b->state == BH_BREAKER_HALF_OPEN && b->admitted < s->conf->breaker.half_open_calls) {
		b->admitted++;
		return true;
	}
	b->refused++;
	if (b->state == BH_BREAKER_OPEN)
		snprintf(why, len, "plugin %s: circuit breaker open: %s", s->conf->name, b->reason);
	else
		snprintf(why, len, "plugin %s: circuit breaker half-open, trying %u call%s first "
			 "(opened: %s)", s->conf->name, b->admitted, b->admitted == 1 ? "" : "s",
			 b->reason);
	return false;
}

static bool is_failure(const struct bh_slot *s, int32_t code)
{
	return code == BH_E_TIMEOUT || code == BH_E_PLUGIN_CRASHED || code == BH_E_LIMIT ||
	       (code == BH_E_PLUGIN_ERROR && s->conf->breaker.plugin_error);
}

void bh_breaker_record(struct bh_slot *s, int32_t code)
{
	struct bh_breaker *b = &s->breaker;
	const struct bh_breaker_conf *conf = &s->conf->breaker;
	if (b->state == BH_BREAKER_CLOSED && !conf->failures && !conf->error_pct)
		return; /* nothing to count: no clock read on the way of every reply */
	bool failed = is_failure(s, code);
	char why[320];
	const char *what = code == BH_E_TIMEOUT ? "timeouts" : code == BH_E_PLUGIN_CRASHED
							  ? "crashes" : "failures";
	switch (b->state) {
	case BH_BREAKER_OPEN:
		return; /* calls sent before it opened */
	case BH_BREAKER_HALF_OPEN:
		if (failed) {
			snprintf(why, sizeof(why), "a call failed while half-open (%s)",
				 bh_code_name(code));
			return bh_breaker_open(s, false, why);
		}
		if (++b->passed >= conf->half_open_calls)
			bh_breaker_close(s, "calls succeed again");
		return;
	case BH_BREAKER_CLOSED:
		break;
	}
	uint64_t now = bh_now_ns();
	if (now - b->win_start_ns > bh_ms_to_ns(conf->window_ms)) {
		b->win_calls = b->win_failed = 0;
		b->win_start_ns = now;
	}
	b->win_calls++;
	if (!failed) {
		b->consecutive = 0;
		return;
	}
	b->consecutive++;
	b->win_failed++;
	if (conf->failures && b->consecutive >= conf->failures) {
		snprintf(why, sizeof(why), "%u %s in a row (breaker.failures %u)", b->consecutive,
			 b->consecutive == 1 ? "failure" : what, conf->failures);
		return bh_breaker_open(s, false, why);
	}
	if (conf->error_pct && b->win_calls >= conf->min_calls &&
	    (uint64_t)b->win_failed * 100 >= (uint64_t)conf->error_pct * b->win_calls) {
		snprintf(why, sizeof(why), "%u of %u calls failed within %u ms (breaker.error_pct %u)",
			 b->win_failed, b->win_calls, conf->window_ms, conf->error_pct);
		bh_breaker_open(s, false, why);
	}
}
