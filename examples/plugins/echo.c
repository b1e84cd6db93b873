/* echo: a plugin for testing the host, one method per behaviour a test needs.
 *
 *   echo(x)            x unchanged, any type (nil without arguments)
 *   ping()             "pong"
 *   fail(code, msg)    fails with that code and message
 *   crash()            dies of SIGSEGV
 *   exit(status)       exits with that status
 *   hang()             never returns
 *   sleep_ms(ms)       sleeps, returns ms
 *   spam(n, stream)    prints n lines to "stdout", "stderr" or "both" (default), returns n
 *   pid()              the process id
 *   blob(n)            a bin of n bytes 'x' (large results)
 *   noresult()         succeeds without writing a result  (the host must reject it)
 *   tworesults()       writes two values                   (the host must reject it)
 *   partial()          writes half a value                 (the host must reject it)
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <bulkhead/plugin.h>

static int m_echo(void *state, const bh_value *args, bh_writer *out, bh_error *err)
{
	(void)state, (void)err;
	const bh_value *v = bh_value_at(args, 0);
	return v ? bh_write_value(out, v) : bh_write_nil(out);
}

static int m_ping(void *state, const bh_value *args, bh_writer *out, bh_error *err)
{
	(void)state, (void)args, (void)err;
	return bh_write_cstr(out, "pong");
}

static int m_fail(void *state, const bh_value *args, bh_writer *out, bh_error *err)
{
	(void)state, (void)out;
	int64_t code;
	const char *msg;
	size_t len;

	if (bh_value_get_int(bh_value_at(args, 0), &code) < 0 || code < INT32_MIN ||
	    code > INT32_MAX || bh_value_get_str(bh_value_at(args, 1), &msg, &len) < 0)
		return bh_fail(err, BH_E_INVALID_PARAMS, "fail(code: int, message: str)");
	return bh_fail(err, (int32_t)code, "%.*s", (int)(len > 1024 ? 1024 : len), msg);
}

static int m_crash(void *state, const bh_value *args, bh_writer *out, bh_error *err)
{
	(void)state, (void)args, (void)out, (void)err;
	raise(SIGSEGV);
	abort(); /* SIGSEGV blocked or ignored */
}

static int m_exit(void *state, const bh_value *args, bh_writer *out, bh_error *err)
{
	(void)state, (void)out;
	int64_t status = 0;

	if (bh_value_at(args, 0) && bh_value_get_int(bh_value_at(args, 0), &status) < 0)
		return bh_fail(err, BH_E_INVALID_PARAMS, "exit(status: int)");
	exit((int)status);
}

static int m_hang(void *state, const bh_value *args, bh_writer *out, bh_error *err)
{
	(void)state, (void)args, (void)out, (void)err;
	for (;;)
		pause();
	return 0; /* not reached */
}

static int m_sleep_ms(void *state, const bh_value *args, bh_writer *out, bh_error *err)
{
	(void)state;
	int64_t ms;

	if (bh_value_get_int(bh_value_at(args, 0), &ms) < 0 || ms < 0 || ms > 86400000)
		return bh_fail(err, BH_E_INVALID_PARAMS, "sleep_ms(ms: int 0..86400000)");
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000 };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
	return bh_write_int(out, ms);
}

static int m_spam(void *state, const bh_value *args, bh_writer *out, bh_error *err)
{
	(void)state;
	int64_t n;
	bool to_out = true, to_err = true;
	const bh_value *which = bh_value_at(args, 1);

	if (bh_value_get_int(bh_value_at(args, 0), &n) < 0 || n < 0 || n > 100000000)
		return bh_fail(err, BH_E_INVALID_PARAMS, "spam(n: int 0..100000000, stream)");
	if (which && bh_value_str_eq(which, "stdout"))
		to_err = false;
	else if (which && bh_value_str_eq(which, "stderr"))
		to_out = false;
	else if (which && !bh_value_str_eq(which, "both"))
		return bh_fail(err, BH_E_INVALID_PARAMS,
			       "spam: stream is \"stdout\", \"stderr\" or \"both\"");
	for (int64_t i = 0; i < n; i++) {
		if (to_out)
			printf("echo spam stdout %lld\n", (long long)i);
		if (to_err)
			fprintf(stderr, "echo spam stderr %lld\n", (long long)i);
	}
	fflush(stdout);
	return bh_write_int(out, n);
}

static int m_pid(void *state, const bh_value *args, bh_writer *out, bh_error *err)
{
	(void)state, (void)args, (void)err;
	return bh_write_int(out, getpid());
}

static int m_blob(void *state, const bh_value *args, bh_writer *out, bh_error *err)
{
	(void)state;
	int64_t n;

	if (bh_value_get_int(bh_value_at(args, 0), &n) < 0 || n < 0 || n > (1 << 30))
		return bh_fail(err, BH_E_INVALID_PARAMS, "blob(n: int 0..2^30)");
	uint8_t *p = malloc(n > 0 ? (size_t)n : 1);
	if (!p)
		return bh_fail(err, BH_E_PLUGIN_ERROR, "out of memory");
	memset(p, 'x', (size_t)n);
	int r = bh_write_bin(out, p, (size_t)n);
	free(p);
	/* A failed write (too large for the channel) is the host's to report. */
	(void)r;
	return 0;
}

static int m_noresult(void *state, const bh_value *args, bh_writer *out, bh_error *err)
{
	(void)state, (void)args, (void)out, (void)err;
	return 0;
}

static int m_tworesults(void *state, const bh_value *args, bh_writer *out, bh_error *err)
{
	(void)state, (void)args, (void)err;
	bh_write_int(out, 1);
	bh_write_int(out, 2);
	return 0;
}

static int m_partial(void *state, const bh_value *args, bh_writer *out, bh_error *err)
{
	(void)state, (void)args, (void)err;
	bh_write_array(out, 3);
	bh_write_int(out, 1);
	return 0;
}

static const struct bh_method methods[] = {
	{ "echo", m_echo },
	{ "ping", m_ping },
	{ "fail", m_fail },
	{ "crash", m_crash },
	{ "exit", m_exit },
	{ "hang", m_hang },
	{ "sleep_ms", m_sleep_ms },
	{ "spam", m_spam },
	{ "pid", m_pid },
	{ "blob", m_blob },
	{ "noresult", m_noresult },
	{ "tworesults", m_tworesults },
	{ "partial", m_partial },
};

BH_PLUGIN_DEFINE = {
	BH_PLUGIN_HEADER,
	.name = "echo",
	.version = "1.0.0",
	.methods = methods,
	.n_methods = sizeof(methods) / sizeof(methods[0]),
};
