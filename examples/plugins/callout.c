/* callout: a plugin that calls out (plugin.h "Calling out"), one method per way of
 * doing it. Targets are "plugin.method", "ns.method", or a method of the caller.
 *
 *   relay(target, args...)   calls target with [args...], returns its result; fails
 *                            with the callee's error
 *   try(target, args...)     the same, never fails: {"result": r} or
 *                            {"code": c, "message": m}
 *   wrap(target, x)          [x, target([x]), x]: the array and the first x are
 *                            written before calling out, the second x read from its
 *                            params after: what a call holds survives the wait
 *   caller(method, args...)  calls the caller's method with [args...], returns the
 *                            result
 *   notify(method, args...)  sends the caller a notification, returns true
 *   bump(n = 1)              adds n to the counter, returns it
 *   counter()                the counter
 *   chain(n, target)         n = 0: the counter; else bumps it, calls target with
 *                            [n - 1, target] and returns that + 1, so that
 *                            chain(n, "callout.chain") goes n calls deep (A -> A)
 *   init_result()            the integer init's call out returned (nil without one)
 *   outside()                [code, message, writer error] of the call out its ELF
 *                            constructor tried: outside a callback, refused
 *
 * config: {"init_call": target} makes init call target with [] first, which must
 * return an integer (init fails with its error). shutdown tries a call out (refused) and prints the code. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bulkhead/plugin.h>

/* Longer than the shim takes: it checks names, not this example. */
#define TARGET_MAX 1024

struct state {
	int64_t counter;
	bool has_init_result;
	int64_t init_result;
};

static bh_error outside_err;
static int outside_writer;

/* Before init, outside any callback: must be refused. */
__attribute__((constructor)) static void try_outside(void)
{
	outside_writer = bh_write_array(bh_callout_params(), 0);
	bh_callout("callout.counter", NULL, &outside_err);
}

/* v as a method name in buf[TARGET_MAX], or -1 with err. */
static int name_of(const bh_value *v, char *buf, bh_error *err)
{
	const char *p;
	size_t len;
	if (bh_value_get_str(v, &p, &len) < 0 || len >= TARGET_MAX)
		return bh_fail(err, BH_E_INVALID_PARAMS, "want a method name (a string)");
	memcpy(buf, p, len);
	buf[len] = '\0';
	return 0;
}

static int get_target(const bh_value *args, uint32_t i, char *buf, bh_error *err)
{
	return name_of(bh_value_at(args, i), buf, err);
}

/* The next call out's params: args[from..]. */
static void params_from(const bh_value *args, uint32_t from)
{
	bh_writer *w = bh_callout_params();
	uint32_t n = args->len > from ? args->len - from : 0;
	bh_write_array(w, n);
	for (uint32_t i = 0; i < n; i++)
		bh_write_value(w, bh_value_at(args, from + i));
}

static int m_relay(void *state, const bh_value *args, bh_writer *out, bh_error *err)
{
	(void)state;
	char target[TARGET_MAX];
	const bh_value *r;
	if (get_target(args, 0, target, err) < 0)
		return -1;
	params_from(args, 1);
	if (bh_callout(target, &r, err) < 0)
		return -1;
	return bh_write_value(out, r);
}

static int m_try(void *state, const bh_value *args, bh_writer *out, bh_error *err)
{
	(void)state;
	char target[TARGET_MAX];
	const bh_value *r;
	bh_error e;
	if (get_target(args, 0, target, err) < 0)
		return -1;
	params_from(args, 1);
	memset(&e, 0, sizeof(e));
	if (bh_callout(target, &r, &e) == 0) {
		bh_write_map(out, 1);
		bh_write_cstr(out, "result");
		return bh_write_value(out, r);
	}
	bh_write_map(out, 2);
	bh_write_cstr(out, "code");
	bh_write_int(out, e.code);
	bh_write_cstr(out, "message");
	return bh_write_cstr(out, e.message);
}

static int m_wrap(void *state, const bh_value *args, bh_writer *out, bh_error *err)
{
	(void)state;
	char target[TARGET_MAX];
	const bh_value *r;
	if (get_target(args, 0, target, err) < 0)
		return -1;
	bh_write_array(out, 3);
	bh_write_value(out, bh_value_at(args, 1));
	params_from(args, 1);
	if (bh_callout(target, &r, err) < 0)
		return -1;
	bh_write_value(out, r);
	return bh_write_value(out, bh_value_at(args, 1));
}

static int m_caller(void *state, const bh_value *args, bh_writer *out, bh_error *err)
{
	(void)state;
	char method[TARGET_MAX];
	const bh_value *r;
	if (get_target(args, 0, method, err) < 0)
		return -1;
	params_from(args, 1);
	if (bh_callout_caller(method, &r, err) < 0)
		return -1;
	return bh_write_value(out, r);
}

static int m_notify(void *state, const bh_value *args, bh_writer *out, bh_error *err)
{
	(void)state;
	char method[TARGET_MAX];
	if (get_target(args, 0, method, err) < 0)
		return -1;
	params_from(args, 1);
	if (bh_notify_caller(method, err) < 0)
		return -1;
	return bh_write_bool(out, true);
}

static int m_bump(void *state, const bh_value *args, bh_writer *out, bh_error *err)
{
	struct state *st = state;
	int64_t n = 1;
	if (bh_value_at(args, 0) && bh_value_get_int(bh_value_at(args, 0), &n) < 0)
		return bh_fail(err, BH_E_INVALID_PARAMS, "bump(n: int)");
	st->counter += n;
	return bh_write_int(out, st->counter);
}

static int m_counter(void *state, const bh_value *args, bh_writer *out, bh_error *err)
{
	(void)args, (void)err;
	return bh_write_int(out, ((struct state *)state)->counter);
}

static int m_chain(void *state, const bh_value *args, bh_writer *out, bh_error *err)
{
	struct state *st = state;
	char target[TARGET_MAX];
	int64_t n, below;
	const bh_value *r;
	if (bh_value_get_int(bh_value_at(args, 0), &n) < 0 || n < 0)
		return bh_fail(err, BH_E_INVALID_PARAMS, "chain(n: int >= 0, target: str)");
	if (n == 0)
		return bh_write_int(out, st->counter);
	if (get_target(args, 1, target, err) < 0)
		return -1;
	st->counter++;
	bh_writer *p = bh_callout_params();
	bh_write_array(p, 2);
	bh_write_int(p, n - 1);
	bh_write_value(p, bh_value_at(args, 1));
	if (bh_callout(target, &r, err) < 0)
		return -1;
	if (bh_value_get_int(r, &below) < 0)
		return bh_fail(err, BH_E_PLUGIN_ERROR, "chain: %s returned no integer", target);
	return bh_write_int(out, below + 1);
}

static int m_init_result(void *state, const bh_value *args, bh_writer *out, bh_error *err)
{
	struct state *st = state;
	(void)args, (void)err;
	if (!st->has_init_result)
		return bh_write_nil(out);
	return bh_write_int(out, st->init_result);
}

static int m_outside(void *state, const bh_value *args, bh_writer *out, bh_error *err)
{
	(void)state, (void)args, (void)err;
	bh_write_array(out, 3);
	bh_write_int(out, outside_err.code);
	bh_write_cstr(out, outside_err.message);
	return bh_write_int(out, outside_writer);
}

static int p_init(const bh_value *config, void **ret_state, bh_error *err)
{
	struct state *st = calloc(1, sizeof(*st));
	const bh_value *target = bh_value_find(config, "init_call");
	const bh_value *r;
	char name[TARGET_MAX];

	if (!st)
		return bh_fail(err, BH_E_PLUGIN_ERROR, "out of memory");
	if (target) {
		if (name_of(target, name, err) < 0 || bh_callout(name, &r, err) < 0) {
			free(st);
			return -1;
		}
		if (bh_value_get_int(r, &st->init_result) < 0) {
			free(st);
			return bh_fail(err, BH_E_PLUGIN_ERROR, "init: %s returned no integer", name);
		}
		st->has_init_result = true;
	}
	*ret_state = st;
	return 0;
}

static void p_shutdown(void *state)
{
	struct state *st = state;
	bh_error e = { 0 };
	bh_callout("callout.counter", NULL, &e);
	printf("shutdown call out: %d\n", e.code);
	free(st);
}

static const struct bh_method methods[] = {
	{ "relay", m_relay },   { "try", m_try },         { "wrap", m_wrap },
	{ "caller", m_caller }, { "notify", m_notify },   { "bump", m_bump },
	{ "counter", m_counter }, { "chain", m_chain },   { "init_result", m_init_result },
	{ "outside", m_outside },
};

BH_PLUGIN_DEFINE = {
	BH_PLUGIN_HEADER,
	.name = "callout",
	.version = "1.0.0",
	.init = p_init,
	.shutdown = p_shutdown,
	.methods = methods,
	.n_methods = sizeof(methods) / sizeof(methods[0]),
};
