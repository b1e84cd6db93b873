/* A bench plugin: nils(k) answers [[1 Mi nils] x k], a result of k MiB and k Mi values
 * written without building a tree (echo would decode it first). */
#include <bulkhead/plugin.h>

static int m_nils(void *state, const bh_value *args, bh_writer *out, bh_error *err)
{
	(void)state;
	uint64_t k = 0;
	if (bh_value_get_uint(bh_value_at(args, 0), &k) < 0 || k > 15)
		return bh_fail(err, BH_E_INVALID_PARAMS, "nils(k): k is 0..15");
	bh_write_array(out, (uint32_t)k);
	for (uint64_t a = 0; a < k; a++) {
		bh_write_array(out, 1u << 20);
		for (uint32_t i = 0; i < 1u << 20; i++)
			bh_write_nil(out);
	}
	return bh_writer_error(out);
}

static const struct bh_method methods[] = {
	{ "nils", m_nils },
};

BH_PLUGIN_DEFINE = {
	BH_PLUGIN_HEADER,
	.name = "nils",
	.version = "1",
	.methods = methods,
	.n_methods = sizeof(methods) / sizeof(methods[0]),
};
