/* counter, version 1: the first half of the hot-swap example (see counter_v2.c).
 *
 *   incr()      the new count
 *   get()       the count
 *   version()   "v1"
 *
 * Snapshot (state_version 1): the count, an int. */
#include <stdlib.h>

#include <bulkhead/plugin.h>

#define COUNTER_STATE_VERSION 1

struct counter {
	int64_t count;
};

static int counter_init(const bh_value *config, void **ret_state, bh_error *err)
{
	(void)config;
	struct counter *c = calloc(1, sizeof(*c));

	if (!c)
		return bh_fail(err, BH_E_PLUGIN_ERROR, "out of memory");
	*ret_state = c;
	return 0;
}

static void counter_shutdown(void *state)
{
	free(state);
}

static int m_incr(void *state, const bh_value *args, bh_writer *out, bh_error *err)
{
	(void)args, (void)err;
	struct counter *c = state;

	return bh_write_int(out, ++c->count);
}

static int m_get(void *state, const bh_value *args, bh_writer *out, bh_error *err)
{
	(void)args, (void)err;
	return bh_write_int(out, ((struct counter *)state)->count);
}

static int m_version(void *state, const bh_value *args, bh_writer *out, bh_error *err)
{
	(void)state, (void)args, (void)err;
	return bh_write_cstr(out, "v1");
}

static int counter_snapshot(void *state, bh_writer *out, bh_error *err)
{
	(void)err;
	return bh_write_int(out, ((struct counter *)state)->count);
}

static int counter_restore(void *state, uint32_t version, const bh_value *blob, bh_error *err)
{
	int64_t count;

	if (version != COUNTER_STATE_VERSION)
		return bh_fail(err, BH_E_PLUGIN_ERROR, "state version %u, counter v1 reads %d",
			       version, COUNTER_STATE_VERSION);
	if (bh_value_get_int(blob, &count) < 0)
		return bh_fail(err, BH_E_PLUGIN_ERROR, "state: want an integer count");
	((struct counter *)state)->count = count;
	return 0;
}

static const struct bh_method methods[] = {
	{ "incr", m_incr },
	{ "get", m_get },
	{ "version", m_version },
};

BH_PLUGIN_DEFINE = {
	BH_PLUGIN_HEADER,
	.name = "counter",
	.version = "1.0.0",
	.init = counter_init,
	.shutdown = counter_shutdown,
	.methods = methods,
	.n_methods = sizeof(methods) / sizeof(methods[0]),
	.state_version = COUNTER_STATE_VERSION,
	.snapshot = counter_snapshot,
	.restore = counter_restore,
};
