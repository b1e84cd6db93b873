/* inject: a plugin whose every string tries to take over the daemon's log or the
 * operator's terminal (tests/integration/test_cli.c, cli_escapes_peer_text). Not an
 * attack on the sandbox: everything it does is allowed, only its text is hostile.
 *
 *   say()       writes INJ_TEXT to stderr and stdout, returns [INJ_TEXT, INJ_TEXT
 *               followed by a lone 0x9b (not UTF-8)]
 *   fail()      fails with INJ_TEXT as the message
 *   crash()     writes INJ_TEXT to stderr, then dies of SIGABRT (the last stderr line
 *               becomes the exit reason in status)
 *   config { fail_init = true; }   init fails with INJ_TEXT
 *   snapshot    fails with INJ_TEXT (a swap rolls back with it)
 *   version     INJ_TEXT
 * (Its name and method names must be identifiers: the shim checks them.) */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bulkhead/plugin.h>

/* ESC/CSI colours, OSC 52 (clipboard) and OSC 0 (title), CR and BS overprinting,
 * BEL, a newline followed by a forged daemon record, bidirectional overrides, an
 * 8-bit CSI (U+009B) and a DEL. */
#define INJ_TEXT                                                                           \
	"INJ \x1b[31mred\x1b[0m \x1b]52;c;SU5KRUNURUQ=\x07 \x1b]0;owned\x1b\\ ok\rOVER\b\bX\x07 " \
	"\xe2\x80\xae" "txt.exe\xe2\x80\xac \xe2\x81\xa6iso\xe2\x81\xa9 \xc2\x9b" "2J\x7f"      \
	"\n12:34:56.789 error bulkhead: forged record \xe2\x80\xae" "desrever\r\n"           \
	"12:34:56.789 info  second forged record"

static void put(int fd, const char *s)
{
	size_t n = strlen(s);
	while (n > 0) {
		ssize_t w = write(fd, s, n);
		if (w <= 0)
			return;
		s += w;
		n -= (size_t)w;
	}
}

static int inj_init(const bh_value *config, void **ret_state, bh_error *err)
{
	bool fail = false;
	bh_value_get_bool(bh_value_find(config, "fail_init"), &fail);
	if (fail)
		return bh_fail(err, BH_E_PLUGIN_ERROR, "%s", INJ_TEXT);
	*ret_state = NULL;
	return 0;
}

static int m_say(void *state, const bh_value *args, bh_writer *out, bh_error *err)
{
	(void)state, (void)args, (void)err;
	put(2, INJ_TEXT "\n");
	put(1, INJ_TEXT "\n");
	bh_write_array(out, 2);
	bh_write_cstr(out, INJ_TEXT);
	return bh_write_cstr(out, INJ_TEXT "\x9b[2J");
}

static int m_fail(void *state, const bh_value *args, bh_writer *out, bh_error *err)
{
	(void)state, (void)args, (void)out;
	return bh_fail(err, BH_E_PLUGIN_ERROR, "%s", INJ_TEXT);
}

static int m_crash(void *state, const bh_value *args, bh_writer *out, bh_error *err)
{
	(void)state, (void)args, (void)out, (void)err;
	put(2, INJ_TEXT "\n");
	abort();
}

static int inj_snapshot(void *state, bh_writer *out, bh_error *err)
{
	(void)state, (void)out;
	return bh_fail(err, BH_E_PLUGIN_ERROR, "%s", INJ_TEXT);
}

static int inj_restore(void *state, uint32_t version, const bh_value *blob, bh_error *err)
{
	(void)state, (void)version, (void)blob;
	return bh_fail(err, BH_E_PLUGIN_ERROR, "%s", INJ_TEXT);
}

static const struct bh_method methods[] = {
	{ "say", m_say },
	{ "fail", m_fail },
	{ "crash", m_crash },
};

BH_PLUGIN_DEFINE = {
	BH_PLUGIN_HEADER,
	.name = "inject",
	.version = INJ_TEXT,
	.init = inj_init,
	.methods = methods,
	.n_methods = sizeof(methods) / sizeof(methods[0]),
	.state_version = 1,
	.snapshot = inj_snapshot,
	.restore = inj_restore,
};
