/* ver: one plugin source, built in several versions for the hot-swap tests
 * (tests/integration/CMakeLists.txt builds the variants into plugins/swap/).
 *
 *   whoami()    [letter, born]
 *   incr()      [letter, born, count]    count incremented first (the state)
 *   get()       count
 *   slow(ms)    [letter, born, ms]       after sleeping ms
 *   block()     [letter, born, 0]        after the process got SIGUSR1 (the test
 *                                        sends it to the instance's host pid)
 *   crash()     dies of SIGSEGV
 *   fail()      fails (BH_E_PLUGIN_ERROR)
 *
 * letter (VER_LETTER) names the version. born is CLOCK_MONOTONIC in ns at init: the
 * host's clock (the sandbox makes no time namespace), so a test that notes the time
 * before sending a swap and after its answer knows which generation an instance
 * belongs to (a generation's instances are all initialised in between).
 *
 * Build-time variants:
 *   VER_STATE=1              snapshot/restore the count (state_version 1)
 *   VER_RESTORE_REJECT=1     restore refuses every blob
 *   VER_CTOR_CRASH=1         a constructor dies of SIGSEGV (before the handshake)
 *   VER_INIT_SLEEP_MS=N      init takes N ms
 *   VER_FAIL_ALL=1           whoami, incr, get and slow fail (a bad canary) */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <time.h>

#include <bulkhead/plugin.h>

#ifndef VER_LETTER
#error "VER_LETTER must be defined"
#endif

#define VER_STATE_VERSION 1

struct ver {
	int64_t born;
	int64_t count;
};

static volatile sig_atomic_t released;

static void on_usr1(int sig)
{
	(void)sig;
	released = 1;
}

static int64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void sleep_ms(int64_t ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000 };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

#if VER_CTOR_CRASH
__attribute__((constructor)) static void crash_at_load(void)
{
	raise(SIGSEGV);
	abort();
}
#endif

static int ver_init(const bh_value *config, void **ret_state, bh_error *err)
{
	(void)config;
#ifdef VER_INIT_SLEEP_MS
	sleep_ms(VER_INIT_SLEEP_MS);
#endif
	struct ver *v = calloc(1, sizeof(*v));
	if (!v)
		return bh_fail(err, BH_E_PLUGIN_ERROR, "out of memory");
	/* SIGUSR1 stays blocked except inside block()'s sigsuspend: none is lost. */
	struct sigaction sa = { .sa_handler = on_usr1 };
	sigemptyset(&sa.sa_mask);
	sigset_t usr1;
	sigemptyset(&usr1);
	sigaddset(&usr1, SIGUSR1);
	if (sigaction(SIGUSR1, &sa, NULL) < 0 || sigprocmask(SIG_BLOCK, &usr1, NULL) < 0) {
		free(v);
		return bh_fail(err, BH_E_PLUGIN_ERROR, "cannot set up SIGUSR1");
	}
	v->born = mono_ns();
	*ret_state = v;
	return 0;
}

static void ver_shutdown(void *state)
{
	free(state);
}

static int reply(struct ver *v, bh_writer *out, int n, int64_t extra)
{
	bh_write_array(out, (uint32_t)n);
	bh_write_cstr(out, VER_LETTER);
	bh_write_int(out, v->born);
	if (n > 2)
		bh_write_int(out, extra);
	return 0;
}

#if VER_FAIL_ALL
#define MAYBE_FAIL(err)                                                                    \
	return bh_fail(err, BH_E_PLUGIN_ERROR, "ver %s fails every call", VER_LETTER)
#else
#define MAYBE_FAIL(err) (void)(err)
#endif

static int m_whoami(void *state, const bh_value *args, bh_writer *out, bh_error *err)
{
	(void)args;
	MAYBE_FAIL(err);
	return reply(state, out, 2, 0);
}

static int m_incr(void *state, const bh_value *args, bh_writer *out, bh_error *err)
{
	(void)args;
	MAYBE_FAIL(err);
	struct ver *v = state;
	return reply(v, out, 3, ++v->count);
}

static int m_get(void *state, const bh_value *args, bh_writer *out, bh_error *err)
{
	(void)args;
	MAYBE_FAIL(err);
	return bh_write_int(out, ((struct ver *)state)->count);
}

static int m_slow(void *state, const bh_value *args, bh_writer *out, bh_error *err)
{
	int64_t ms;
	MAYBE_FAIL(err);
	if (bh_value_get_int(bh_value_at(args, 0), &ms) < 0 || ms < 0 || ms > 60000)
		return bh_fail(err, BH_E_INVALID_PARAMS, "slow(ms: int 0..60000)");
	sleep_ms(ms);
	return reply(state, out, 3, ms);
}

static int m_block(void *state, const bh_value *args, bh_writer *out, bh_error *err)
{
	(void)args, (void)err;
	sigset_t none;
	sigemptyset(&none);
	while (!released)
		sigsuspend(&none);
	released = 0;
	return reply(state, out, 3, 0);
}

static int m_crash(void *state, const bh_value *args, bh_writer *out, bh_error *err)
{
	(void)state, (void)args, (void)out, (void)err;
	raise(SIGSEGV);
	abort();
}

static int m_fail(void *state, const bh_value *args, bh_writer *out, bh_error *err)
{
	(void)state, (void)args, (void)out;
	return bh_fail(err, BH_E_PLUGIN_ERROR, "ver %s: fail() fails", VER_LETTER);
}

#if VER_STATE
static int ver_snapshot(void *state, bh_writer *out, bh_error *err)
{
	(void)err;
	return bh_write_int(out, ((struct ver *)state)->count);
}

static int ver_restore(void *state, uint32_t version, const bh_value *blob, bh_error *err)
{
	int64_t count;
#if VER_RESTORE_REJECT
	(void)state, (void)blob, (void)count;
	return bh_fail(err, BH_E_PLUGIN_ERROR, "ver %s refuses state version %u", VER_LETTER,
		       version);
#else
	if (version != VER_STATE_VERSION || bh_value_get_int(blob, &count) < 0)
		return bh_fail(err, BH_E_PLUGIN_ERROR, "ver %s: bad state (version %u)",
			       VER_LETTER, version);
	((struct ver *)state)->count = count;
	return 0;
#endif
}
#endif

static const struct bh_method methods[] = {
	{ "whoami", m_whoami }, { "incr", m_incr },   { "get", m_get },   { "slow", m_slow },
	{ "block", m_block },   { "crash", m_crash }, { "fail", m_fail },
};

BH_PLUGIN_DEFINE = {
	BH_PLUGIN_HEADER,
	.name = "ver",
	.version = VER_LETTER,
	.init = ver_init,
	.shutdown = ver_shutdown,
	.methods = methods,
	.n_methods = sizeof(methods) / sizeof(methods[0]),
#if VER_STATE
	.state_version = VER_STATE_VERSION,
	.snapshot = ver_snapshot,
	.restore = ver_restore,
#endif
};
