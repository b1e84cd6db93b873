/* bad_abi: built against a future plugin ABI (version 999). The shim must refuse it
 * with a $fatal naming both versions, without reading the rest of the descriptor. */
#include <bulkhead/plugin.h>

static int m_never(void *state, const bh_value *args, bh_writer *out, bh_error *err)
{
	(void)state, (void)args, (void)err;
	return bh_write_nil(out);
}

static const struct bh_method methods[] = { { "never", m_never } };

BH_PLUGIN_DEFINE = {
	.abi_version = 999,
	.struct_size = sizeof(struct bh_plugin),
	.name = "bad_abi",
	.version = "999.0.0",
	.methods = methods,
	.n_methods = 1,
};
