/* say: writes what it is given to stderr, for the service suite's log tests
 * (tests/integration/test_service.c).
 *
 *   say(text)   writes text and a newline to stderr, returns true */
#include <string.h>
#include <unistd.h>

#include <bulkhead/plugin.h>

static int m_say(void *state, const bh_value *args, bh_writer *out, bh_error *err)
{
	(void)state;
	const char *s;
	size_t n;
	if (bh_value_get_str(bh_value_at(args, 0), &s, &n) < 0)
		return bh_fail(err, BH_E_INVALID_PARAMS, "say(text): text is a string");
	while (n > 0) {
		ssize_t w = write(2, s, n);
		if (w <= 0)
			break;
		s += w;
		n -= (size_t)w;
	}
	(void)!write(2, "\n", 1);
	return bh_write_bool(out, true);
}

static const struct bh_method methods[] = {
	{ "say", m_say },
};

BH_PLUGIN_DEFINE = {
	BH_PLUGIN_HEADER,
	.name = "say",
	.version = "1",
	.methods = methods,
	.n_methods = sizeof(methods) / sizeof(methods[0]),
};
