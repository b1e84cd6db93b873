/* The per-plugin settings of health probes, recycling and the circuit breaker
 * (heal.h, breaker.h):
 *
 *   health  = { interval_ms = 10000; timeout_ms = 1000; failures = 3; };
 *   max_calls = 0;        max_rss = 0;
 *   breaker = { failures = 0; error_pct = 0; min_calls = 20; window_ms = 10000;
 *               cooldown_ms = 30000; half_open_calls = 1; plugin_error = false; };
 */
#include <libconfig.h>

#include "config.h"
#include "config_priv.h"

static const char *const health_keys[] = {"interval_ms", "timeout_ms", "failures", NULL};
static const char *const breaker_keys[] = {"failures", "error_pct", "min_calls", "window_ms",
					   "cooldown_ms", "half_open_calls", "plugin_error",
					   NULL};

void bh__cfg_heal_default(struct bh_plugin_conf *p)
{
	p->health = (struct bh_health_conf){
		.interval_ms = 10000, .timeout_ms = 1000, .failures = 3};
	p->max_calls = 0;
	p->max_rss = 0;
	p->breaker = (struct bh_breaker_conf){.min_calls = 20, .window_ms = 10000,
					      .cooldown_ms = 30000, .half_open_calls = 1};
}

bool bh__cfg_heal_equal(const struct bh_plugin_conf *a, const struct bh_plugin_conf *b)
{
	const struct bh_health_conf *h = &a->health, *k = &b->health;
	const struct bh_breaker_conf *x = &a->breaker, *y = &b->breaker;
	return h->interval_ms == k->interval_ms && h->timeout_ms == k->timeout_ms &&
	       h->failures == k->failures && a->max_calls == b->max_calls &&
	       a->max_rss == b->max_rss && x->failures == y->failures &&
	       x->error_pct == y->error_pct && x->min_calls == y->min_calls &&
	       x->window_ms == y->window_ms && x->cooldown_ms == y->cooldown_ms &&
	       x->half_open_calls == y->half_open_calls && x->plugin_error == y->plugin_error;
}

int bh__cfg_heal(struct bh__cfg *x, const config_setting_t *g, struct bh_plugin_conf *p)
{
	const config_setting_t *h, *b;
	int r;
	if ((r = bh__cfg_group(x, g, "health", &h)) < 0 ||
	    (r = bh__cfg_group(x, g, "breaker", &b)) < 0 ||
	    (r = bh__cfg_u32(x, g, "max_calls", 0, UINT32_MAX, &p->max_calls)) < 0 ||
	    (r = bh__cfg_size(x, g, "max_rss", 0, UINT64_MAX, &p->max_rss)) < 0)
		return r;
	if (h && ((r = bh__cfg_keys(x, h, health_keys)) < 0 ||
		  (r = bh__cfg_u32(x, h, "interval_ms", 0, BH__CFG_MS_MAX,
				   &p->health.interval_ms)) < 0 ||
		  (r = bh__cfg_u32(x, h, "timeout_ms", 1, BH__CFG_MS_MAX,
				   &p->health.timeout_ms)) < 0 ||
		  (r = bh__cfg_u32(x, h, "failures", 1, 1000, &p->health.failures)) < 0))
		return r;
	if (b && ((r = bh__cfg_keys(x, b, breaker_keys)) < 0 ||
		  (r = bh__cfg_u32(x, b, "failures", 0, 1000000, &p->breaker.failures)) < 0 ||
		  (r = bh__cfg_u32(x, b, "error_pct", 0, 100, &p->breaker.error_pct)) < 0 ||
		  (r = bh__cfg_u32(x, b, "min_calls", 1, 1000000, &p->breaker.min_calls)) < 0 ||
		  (r = bh__cfg_u32(x, b, "window_ms", 1, BH__CFG_MS_MAX,
				   &p->breaker.window_ms)) < 0 ||
		  (r = bh__cfg_u32(x, b, "cooldown_ms", 1, BH__CFG_MS_MAX,
				   &p->breaker.cooldown_ms)) < 0 ||
		  (r = bh__cfg_u32(x, b, "half_open_calls", 1, 1000,
				   &p->breaker.half_open_calls)) < 0 ||
		  (r = bh__cfg_bool(x, b, "plugin_error", &p->breaker.plugin_error)) < 0))
		return r;
	return 0;
}
