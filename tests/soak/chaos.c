/* chaos: the soak's plugin. One method, run(token, action, arg), does what `action`
 * says and records its execution in the soak's ledger (ledger.h), outside the
 * sandbox: START before the action, END after it.
 *
 *   ok              token
 *   sleep  ms       sleeps, then token
 *   hang            never returns (pause)
 *   spin            never returns (busy loop)
 *   crash           SIGSEGV: a write through NULL
 *   abort           abort()
 *   exit   status   exit(status) in the middle of the call
 *   error           fails with the application error CHAOS_E_ERROR, "chaos error TOKEN"
 *   big    n        [token, a bin of n bytes]
 *   leak   n        mallocs and touches n bytes, never frees them; token
 *                   (CHAOS_E_NOMEM when malloc refuses)
 *   flood  n        writes n bytes of lines to stderr and to stdout; token
 *
 * The ledger is the one thing it needs beyond the default sandbox: an AF_UNIX
 * datagram socket (the default seccomp filter allows AF_UNIX sockets) connected to
 * an abstract address, which lives in the network namespace; so the soak's config
 * gives it `sandbox = { network = true; }` (the daemon's network namespace, nothing
 * else). init fails when `config.ledger` is missing or unreachable, and a record that
 * cannot be sent fails the call with CHAOS_E_LEDGER: an execution is never silently
 * unrecorded. */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <bulkhead/plugin.h>

#include "chaos.h"
#include "ledger.h"

struct chaos {
	int fd; /* connected to the ledger */
	uint64_t nonce;
	uint64_t seq;
};

/* What "leak" took, reachable so that it is a leak by intent, not by accident. */
static void *leaked[4096];
static size_t n_leaked;

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int record(struct chaos *st, uint32_t kind, uint64_t token)
{
	struct soak_ledger_rec r = {
		.magic = SOAK_LEDGER_MAGIC,
		.kind = kind,
		.token = token,
		.nonce = st->nonce,
		.seq = st->seq++,
		.t_ns = now_ns(),
	};
	ssize_t n;
	/* Blocks while the soak's queue is full: a record is never dropped. */
	while ((n = send(st->fd, &r, sizeof(r), 0)) < 0 && errno == EINTR)
		;
	return n == (ssize_t)sizeof(r) ? 0 : -errno;
}

static int chaos_init(const bh_value *config, void **ret_state, bh_error *err)
{
	const char *name;
	size_t len;
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (bh_value_get_str(bh_value_find(config, "ledger"), &name, &len) < 0 || len == 0 ||
	    len > sizeof(sa.sun_path) - 1)
		return bh_fail(err, BH_E_PLUGIN_ERROR, "config.ledger: the abstract socket name");
	memcpy(sa.sun_path + 1, name, len); /* sun_path[0] = 0: abstract */
	struct chaos *st = calloc(1, sizeof(*st));
	if (!st)
		return bh_fail(err, BH_E_PLUGIN_ERROR, "out of memory");
	st->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (st->fd < 0 ||
	    connect(st->fd, (struct sockaddr *)&sa,
		    (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + len)) < 0) {
		int e = errno;
		if (st->fd >= 0)
			close(st->fd);
		free(st);
		return bh_fail(err, BH_E_PLUGIN_ERROR, "ledger @%.*s: %s (sandbox.network?)",
			       (int)len, name, strerror(e));
	}
	if (getrandom(&st->nonce, sizeof(st->nonce), 0) != (ssize_t)sizeof(st->nonce))
		st->nonce = (uint64_t)now_ns() ^ ((uint64_t)getpid() << 48);
	*ret_state = st;
	return 0;
}

static void chaos_shutdown(void *state)
{
	struct chaos *st = state;
	close(st->fd);
	free(st);
}

static void flood(int fd, int64_t n)
{
	static char line[128];
	memset(line, 'F', sizeof(line) - 1);
	line[sizeof(line) - 1] = '\n';
	for (int64_t done = 0; done < n;) {
		ssize_t w = write(fd, line, sizeof(line));
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return;
		done += w;
	}
}

/* The action; 0 with the result written, or bh_fail's value. Never returns for
 * hang, spin, crash, abort, exit. */
static int act(uint64_t token, const char *a, size_t alen, int64_t arg, bh_writer *out,
	       bh_error *err)
{
#define IS(s) (alen == sizeof(s) - 1 && memcmp(a, s, alen) == 0)
	if (IS("ok"))
		return bh_write_uint(out, token);
	if (IS("sleep")) {
		struct timespec ts = {.tv_sec = arg / 1000, .tv_nsec = (arg % 1000) * 1000000};
		while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
			;
		return bh_write_uint(out, token);
	}
	if (IS("hang"))
		for (;;)
			pause();
	if (IS("spin")) {
		volatile uint64_t x = 0;
		for (;;)
			x++;
	}
	if (IS("crash")) {
		static int *volatile null;
		*null = 1;
		abort(); /* a NULL page that is mapped after all */
	}
	if (IS("abort"))
		abort();
	if (IS("exit"))
		exit((int)arg);
	if (IS("error"))
		return bh_fail(err, CHAOS_E_ERROR, "chaos error %llu", (unsigned long long)token);
	if (IS("big")) {
		uint8_t *p = malloc((size_t)arg + 1);
		if (!p)
			return bh_fail(err, CHAOS_E_NOMEM, "big: out of memory");
		memset(p, 'b', (size_t)arg);
		bh_write_array(out, 2);
		bh_write_uint(out, token);
		bh_write_bin(out, p, (size_t)arg);
		free(p);
		return 0;
	}
	if (IS("leak")) {
		char *p = malloc((size_t)arg);
		if (!p)
			return bh_fail(err, CHAOS_E_NOMEM, "leak: out of memory");
		for (int64_t i = 0; i < arg; i += 4096)
			p[i] = 1;
		if (n_leaked < sizeof(leaked) / sizeof(leaked[0]))
			leaked[n_leaked++] = p;
		return bh_write_uint(out, token);
	}
	if (IS("flood")) {
		flood(2, arg);
		flood(1, arg);
		return bh_write_uint(out, token);
	}
#undef IS
	return bh_fail(err, BH_E_INVALID_PARAMS, "unknown action \"%.*s\"", (int)alen, a);
}

static int m_run(void *state, const bh_value *args, bh_writer *out, bh_error *err)
{
	struct chaos *st = state;
	uint64_t token;
	const char *a;
	size_t alen;
	int64_t arg = 0;
	if (bh_value_get_uint(bh_value_at(args, 0), &token) < 0 ||
	    bh_value_get_str(bh_value_at(args, 1), &a, &alen) < 0 ||
	    (bh_value_at(args, 2) && bh_value_get_int(bh_value_at(args, 2), &arg) < 0) || arg < 0 ||
	    arg > (1LL << 31))
		return bh_fail(err, BH_E_INVALID_PARAMS, "run(token: uint, action: str, arg: int)");
	int r = record(st, SOAK_START, token);
	if (r < 0)
		return bh_fail(err, CHAOS_E_LEDGER, "ledger START: %s", strerror(-r));
	int rc = act(token, a, alen, arg, out, err);
	r = record(st, SOAK_END, token);
	if (r < 0)
		return bh_fail(err, CHAOS_E_LEDGER, "ledger END: %s", strerror(-r));
	return rc;
}

static const struct bh_method methods[] = {
	{"run", m_run},
};

BH_PLUGIN_DEFINE = {
	BH_PLUGIN_HEADER,
	.name = "chaos",
	.version = "1.0.0",
	.init = chaos_init,
	.shutdown = chaos_shutdown,
	.methods = methods,
	.n_methods = sizeof(methods) / sizeof(methods[0]),
};
