/* bad_methods: a descriptor that defines a method twice. The shim must refuse it
 * with a $fatal that names the method. */
#include <bulkhead/plugin.h>

static int m_x(void *state, const bh_value *args, bh_writer *out, bh_error *err)
{
	(void)state, (void)args, (void)err;
	return bh_write_nil(out);
}

static const struct bh_method methods[] = {
	{ "ok", m_x },
	{ "twice", m_x },
	{ "twice", m_x },
};

BH_PLUGIN_DEFINE = {
	BH_PLUGIN_HEADER,
	.name = "bad_methods",
	.version = "1.0.0",
	.methods = methods,
	.n_methods = 3,
};
