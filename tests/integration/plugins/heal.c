/* heal: the health, recycling and breaker suite's plugin (test_heal.c).
 *
 *   whoami()          born: the instance's start (CLOCK_MONOTONIC ns), tells them apart
 *   incr()            count, incremented first (the state, handed over on recycling)
 *   set_health(mode)  mode: its health callback from now on answers 0 ok, 1 a failure,
 *                     2 never (it blocks, and with it the shim's loop)
 *   wedge()           returns, then 20 ms later a signal handler takes the shim's thread
 *                     for good: an idle instance whose loop no longer reads its channel
 *   sleep(ms)         ms after sleeping ms
 *   crash()           dies of SIGSEGV
 *   fail()            fails with plugin_error
 *   grow(mb)          allocates and touches mb MiB more, held for the instance's life
 *
 * HEAL_PLAIN=1 builds it without a health callback and without state. */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <bulkhead/plugin.h>

struct heal {
	int64_t born;
	int64_t count;
	int64_t mode;
};

static int64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void forever(void)
{
	for (;;)
		pause();
}

static void on_alarm(int sig)
{
	(void)sig;
	forever();
}

static int h_init(const bh_value *config, void **ret_state, bh_error *err)
{
	(void)config;
	struct heal *h = calloc(1, sizeof(*h));
	if (!h)
		return bh_fail(err, BH_E_PLUGIN_ERROR, "out of memory");
	h->born = mono_ns();
	*ret_state = h;
	return 0;
}

static void h_shutdown(void *state)
{
	free(state);
}

static int m_whoami(void *state, const bh_value *args, bh_writer *out, bh_error *err)
{
	(void)args, (void)err;
	return bh_write_int(out, ((struct heal *)state)->born);
}

static int m_incr(void *state, const bh_value *args, bh_writer *out, bh_error *err)
{
	(void)args, (void)err;
	return bh_write_int(out, ++((struct heal *)state)->count);
}

static int m_set_health(void *state, const bh_value *args, bh_writer *out, bh_error *err)
{
	int64_t mode;
	if (bh_value_get_int(bh_value_at(args, 0), &mode) < 0 || mode < 0 || mode > 2)
		return bh_fail(err, BH_E_INVALID_PARAMS, "set_health(mode: 0, 1 or 2)");
	((struct heal *)state)->mode = mode;
	return bh_write_int(out, mode);
}

static int m_wedge(void *state, const bh_value *args, bh_writer *out, bh_error *err)
{
	(void)state, (void)args;
	struct sigaction sa = { .sa_handler = on_alarm };
	sigemptyset(&sa.sa_mask);
	struct itimerval it = { .it_value = { .tv_usec = 20000 } };
	if (sigaction(SIGALRM, &sa, NULL) < 0 || setitimer(ITIMER_REAL, &it, NULL) < 0)
		return bh_fail(err, BH_E_PLUGIN_ERROR, "cannot arm the alarm");
	return bh_write_int(out, 0);
}

static int m_sleep(void *state, const bh_value *args, bh_writer *out, bh_error *err)
{
	int64_t ms;
	(void)state;
	if (bh_value_get_int(bh_value_at(args, 0), &ms) < 0 || ms < 0 || ms > 60000)
		return bh_fail(err, BH_E_INVALID_PARAMS, "sleep(ms: 0..60000)");
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000 };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
	return bh_write_int(out, ms);
}

static int m_grow(void *state, const bh_value *args, bh_writer *out, bh_error *err)
{
	int64_t mb;
	(void)state;
	if (bh_value_get_int(bh_value_at(args, 0), &mb) < 0 || mb < 1 || mb > 1024)
		return bh_fail(err, BH_E_INVALID_PARAMS, "grow(mb: 1..1024)");
	char *p = malloc((size_t)mb << 20);
	if (!p)
		return bh_fail(err, BH_E_PLUGIN_ERROR, "out of memory");
	memset(p, 1, (size_t)mb << 20); /* held: the leak is the point */
	return bh_write_int(out, mb);
}

static int m_fail(void *state, const bh_value *args, bh_writer *out, bh_error *err)
{
	(void)state, (void)args, (void)out;
	return bh_fail(err, BH_E_PLUGIN_ERROR, "failing on demand");
}

static int m_crash(void *state, const bh_value *args, bh_writer *out, bh_error *err)
{
	(void)state, (void)args, (void)out, (void)err;
	raise(SIGSEGV);
	abort();
}

#if !HEAL_PLAIN
static int h_health(void *state, bh_error *err)
{
	struct heal *h = state;
	if (h->mode == 2)
		forever();
	if (h->mode == 1)
		return bh_fail(err, BH_E_PLUGIN_ERROR, "unhealthy on demand");
	return 0;
}

static int h_snapshot(void *state, bh_writer *out, bh_error *err)
{
	(void)err;
	return bh_write_int(out, ((struct heal *)state)->count);
}

static int h_restore(void *state, uint32_t version, const bh_value *blob, bh_error *err)
{
	(void)version;
	if (bh_value_get_int(blob, &((struct heal *)state)->count) < 0)
		return bh_fail(err, BH_E_INVALID_PARAMS, "the blob is not a count");
	return 0;
}
#endif

static const struct bh_method methods[] = {
	{ "whoami", m_whoami }, { "incr", m_incr },   { "set_health", m_set_health },
	{ "wedge", m_wedge },   { "sleep", m_sleep }, { "crash", m_crash },
	{ "grow", m_grow },     { "fail", m_fail },
};

BH_PLUGIN_DEFINE = {
	BH_PLUGIN_HEADER,
	.name = "heal",
	.version = "1",
	.init = h_init,
	.shutdown = h_shutdown,
	.methods = methods,
	.n_methods = sizeof(methods) / sizeof(methods[0]),
#if !HEAL_PLAIN
	.state_version = 1,
	.snapshot = h_snapshot,
	.restore = h_restore,
	.health = h_health,
#endif
};
