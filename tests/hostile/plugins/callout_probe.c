/* callout_probe: calls out where it must not get through, with the shim's own API:
 * admin methods (granted by name, which must not be enough), the caller without the
 * callback grant, targets of odd shapes, a plugin it has no grant for, and itself,
 * recursively, until the chain depth cap stops it. Each must come back as the
 * defined error; count is how many did, extra the depth the recursion reached. */
#define H_NAME "callout_probe"
#define H_CTOR H_CTOR_NONE
#include "hostile.h"

#include <bulkhead/error.h>

static int hp_depth, hp_deepest;
static int32_t hp_deep_code;

/* target must fail with code; false (noted) otherwise. */
static bool hp_refused(struct h_out *o, const char *target, int32_t code)
{
	const bh_value *r;
	bh_error err;
	memset(&err, 0, sizeof(err));
	bh_write_array(bh_callout_params(), 0);
	if (bh_callout(target, &r, &err) == 0) {
		h_succeeded(o, "call out to %.64s went through", target);
		return false;
	}
	if (err.code != code) {
		h_note(o, "%.64s: code %d, not %d: %.120s", target, (int)err.code, (int)code,
		       err.message);
		return false;
	}
	return true;
}

static void h_attack(struct h_out *o, const struct h_args *a)
{
	(void)a;
	o->attempted = true;
	if (++hp_depth > 1) { /* a level of the recursion: only go deeper */
		if (hp_depth > hp_deepest)
			hp_deepest = hp_depth;
		const bh_value *r;
		bh_error err;
		bh_write_array(bh_callout_params(), 0);
		if (bh_callout("hostile.attack", &r, &err) < 0 && !hp_deep_code)
			hp_deep_code = err.code;
		hp_depth--;
		return;
	}
	static const struct {
		const char *target;
		int32_t code;
	} probes[] = {
		{ "bulkhead.load", BH_E_PERMISSION_DENIED },
		{ "bulkhead.unload", BH_E_PERMISSION_DENIED },
		{ "bulkhead.provide", BH_E_PERMISSION_DENIED },
		{ "bulkhead.hello", BH_E_PERMISSION_DENIED },
		{ "bulkhead.swap", BH_E_PERMISSION_DENIED },
		{ "$caller.x", BH_E_PERMISSION_DENIED },
		{ "$caller.", BH_E_PERMISSION_DENIED },
		{ "$caller", BH_E_BAD_REQUEST },
		{ "echo.", BH_E_BAD_REQUEST },
		{ ".echo", BH_E_BAD_REQUEST },
		{ "echo", BH_E_BAD_REQUEST },
		{ "$init.x", BH_E_BAD_REQUEST },
		{ "hostile2.ping", BH_E_PERMISSION_DENIED },
		{ "echo.no_such_method", BH_E_UNKNOWN_METHOD },
		{ "nosuchplugin.x", BH_E_PERMISSION_DENIED },
	};
	long long refused = 0;
	for (size_t i = 0; i < sizeof(probes) / sizeof(probes[0]); i++)
		refused += hp_refused(o, probes[i].target, probes[i].code);
	char long_name[250];
	memset(long_name, 'n', sizeof(long_name) - 1);
	long_name[sizeof(long_name) - 1] = 0;
	long_name[100] = '.';
	refused += hp_refused(o, long_name, BH_E_BAD_REQUEST);

	/* Itself, recursively: the cap, never a hang. */
	hp_deepest = 1;
	const bh_value *r;
	bh_error err;
	bh_write_array(bh_callout_params(), 0);
	if (bh_callout("hostile.attack", &r, &err) < 0 && !hp_deep_code)
		hp_deep_code = err.code;
	hp_depth--;
	o->count = refused;
	o->extra = hp_deepest;
	if (hp_deep_code == BH_E_CHAIN_TOO_DEEP)
		refused++;
	else
		h_note(o, "the recursion ended with code %d, not chain_too_deep", (int)hp_deep_code);
	o->count = refused;
	o->err = EPERM;
	h_note(o, "%lld of %zu calls out refused as they must be; the recursion reached depth %d",
	       refused, sizeof(probes) / sizeof(probes[0]) + 2, hp_deepest);
}
