/* dying: a plugin that dies the way plugins in other languages die, saying why on
 * stderr first (tests/integration/test_lastwords.c). Nothing here attacks anything:
 * it only ends its own process.
 *
 *   rust_panic()   a Rust panic's text (1.73+: message on its own line, then the
 *                  note), then abort(), as panic=abort or a panic across extern "C"
 *   go_panic()     a Go panic: the message, the goroutine header, frames; exit 2
 *   assert()       a failed assert() (glibc prints it and aborts)
 *   abort()        abort() without a word
 *   raise(sig)     raise(sig), then _exit(99) if it returns
 *   getenv(name)   the variable's value, nil when unset */
#undef NDEBUG
#include <assert.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <bulkhead/plugin.h>

static int m_rust_panic(void *state, const bh_value *args, bh_writer *out, bh_error *err)
{
	(void)state, (void)args, (void)out, (void)err;
	fputs("thread '<unnamed>' panicked at src/lib.rs:10:5:\n"
	      "called `Option::unwrap()` on a `None` value\n"
	      "note: run with `RUST_BACKTRACE=1` environment variable to display a backtrace\n",
	      stderr);
	abort();
}

static int m_go_panic(void *state, const bh_value *args, bh_writer *out, bh_error *err)
{
	(void)state, (void)args, (void)out, (void)err;
	fputs("panic: plugin state is corrupt\n\ngoroutine 17 [running]:\n", stderr);
	for (int i = 0; i < 40; i++) /* a deep stack: more lines than the daemon's tail */
		fprintf(stderr, "main.step%d(...)\n\t/src/plugin/main.go:%d +0x1d\n", i, 100 + i);
	fflush(stderr);
	_exit(2);
}

static int m_assert(void *state, const bh_value *args, bh_writer *out, bh_error *err)
{
	(void)state, (void)out, (void)err;
	assert(args->len == 99);
	return 0;
}

static int m_abort(void *state, const bh_value *args, bh_writer *out, bh_error *err)
{
	(void)state, (void)args, (void)out, (void)err;
	abort();
}

static int m_raise(void *state, const bh_value *args, bh_writer *out, bh_error *err)
{
	(void)state, (void)out;
	int64_t sig;
	if (bh_value_get_int(bh_value_at(args, 0), &sig) < 0)
		return bh_fail(err, BH_E_INVALID_PARAMS, "raise(sig: int)");
	raise((int)sig);
	_exit(99);
}

static int m_getenv(void *state, const bh_value *args, bh_writer *out, bh_error *err)
{
	(void)state;
	const char *name;
	size_t len;
	char buf[256];
	if (bh_value_get_str(bh_value_at(args, 0), &name, &len) < 0 || len >= sizeof(buf))
		return bh_fail(err, BH_E_INVALID_PARAMS, "getenv(name: str)");
	snprintf(buf, sizeof(buf), "%.*s", (int)len, name);
	const char *v = getenv(buf);
	if (v)
		bh_write_cstr(out, v);
	else
		bh_write_nil(out);
	return 0;
}

static const struct bh_method methods[] = {
	{ "rust_panic", m_rust_panic }, { "go_panic", m_go_panic }, { "assert", m_assert },
	{ "abort", m_abort },           { "raise", m_raise },       { "getenv", m_getenv },
};

BH_PLUGIN_DEFINE = {
	BH_PLUGIN_HEADER,
	.name = "dying",
	.version = "1.0.0",
	.methods = methods,
	.n_methods = sizeof(methods) / sizeof(methods[0]),
};
