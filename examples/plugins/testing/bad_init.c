/* bad_init: loads fine, then fails $init, with config.message as its message when
 * given. The instance must never become ready. */
#include <bulkhead/plugin.h>

static int bad_init(const bh_value *config, void **ret_state, bh_error *err)
{
	(void)ret_state;
	const char *msg;
	size_t len;

	if (bh_value_get_str(bh_value_find(config, "message"), &msg, &len) == 0)
		return bh_fail(err, BH_E_PLUGIN_ERROR, "%.*s", (int)(len > 256 ? 256 : len), msg);
	return bh_fail(err, BH_E_PLUGIN_ERROR, "bad_init: this plugin always fails to start");
}

static int m_never(void *state, const bh_value *args, bh_writer *out, bh_error *err)
{
	(void)state, (void)args, (void)err;
	return bh_write_nil(out);
}

static const struct bh_method methods[] = { { "never", m_never } };

BH_PLUGIN_DEFINE = {
	BH_PLUGIN_HEADER,
	.name = "bad_init",
	.version = "1.0.0",
	.init = bad_init,
	.methods = methods,
	.n_methods = 1,
};
