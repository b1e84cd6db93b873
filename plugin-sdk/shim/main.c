/* bulkhead-shim: hosts one plugin in its own (sandboxed) process.
 *
 *     bulkhead-shim [--max-message BYTES] [--max-depth N] [--max-items N]
 *                   [--max-bytes BYTES] [--seccomp [--allow-syscall NAME]...]
 *                   [--claims [--spin-us US] [--ring]] [--env NAME=VALUE]... PLUGIN.so
 *
 * Started by bulkheadd with the channel on fd BH_CHANNEL_FD (bulkhead/channel.h).
 * The limits are the channel's (struct bh_limits; proto defaults when not given):
 * the shim applies them to what it receives and to every result it sends, so that
 * a plugin's oversized result becomes an error reply rather than a message the
 * supervisor must reject.
 * --seccomp installs the sandbox's system call allow-list (bh_seccomp_install)
 * after the shim's own set-up and before dlopen: the plugin's ELF constructors
 * already run under it. --allow-syscall grants one more system call by name
 * (repeatable). A name the filter does not know is reported with $fatal.
 * --claims: fd BH_CLAIMS_FD holds the claim table (bulkhead/claims.h); every call
 * is claimed there before it starts. Without it every call runs (a shim started
 * by hand or by a test). --spin-us: how long a shim whose calls come close together
 * watches the table's doorbell for the next one before it sleeps in read() (hot.c);
 * 0 never, default SHIM_SPIN_US_DEFAULT. --ring: once the plugin is initialised, send
 * messages through the answer ring in the claim table's memfd (bulkhead/ring.h).
 * --env NAME=VALUE (repeatable): set in the environment after the filter is in place
 * and before dlopen (the shim is started with an empty environment).
 * Exit status: 0 after $stop or when the supervisor goes away; 1 channel I/O error
 * or out of memory; 2 the plugin could not be loaded ($fatal was sent), bad usage,
 * or no channel; 3 the supervisor broke the protocol; BH_SHIM_EXIT_SIGNALED(sig) (128 + sig)
 * a shim that is pid 1 of its namespace and raised sig to end itself (abort()). */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bulkhead/sandbox.h"
#include "shim.h"

/* Option bounds. Below SHIM_MESSAGE_MIN not even $hello of a plugin with a few
 * methods would fit; a result sits at depth 2 of a response, a snapshot blob at 3. */
#define SHIM_MESSAGE_MIN 1024
#define SHIM_MESSAGE_MAX ((uint64_t)1 << 30)
#define SHIM_DEPTH_MIN 3
#define SHIM_DEPTH_MAX 1024

void shim_die(int status, const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fputs("bulkhead-shim: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	fflush(stderr);
	_exit(status);
}

void shim_exit_quietly(void)
{
	fflush(NULL);
	_exit(SHIM_EXIT_OK);
}

static void usage(FILE *f)
{
	fputs("usage: bulkhead-shim [--max-message BYTES] [--max-depth N] [--max-items N]\n"
	      "                     [--max-bytes BYTES] [--seccomp [--allow-syscall NAME]...]\n"
	      "                     [--claims [--spin-us US] [--ring]] [--env NAME=VALUE]...\n"
	      "                     PLUGIN.so\n"
	      "Hosts one bulkhead plugin; started by bulkheadd with its channel on fd 3.\n",
	      f);
}

/* A decimal number in [min, max]: 0 and *ret, or -EINVAL / -ERANGE. */
static int parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *ret)
{
	char *end;
	unsigned long long v;

	if (*s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0')
		return -EINVAL;
	if (v < min || v > max)
		return -ERANGE;
	*ret = v;
	return 0;
}

static uint64_t option_value(const char *name, const char *arg, uint64_t min, uint64_t max)
{
	uint64_t v;

	if (parse_u64(arg, min, max, &v) < 0)
		shim_die(BH_SHIM_EXIT_LOAD_FAILED,
			 "--%s: want a number from %" PRIu64 " to %" PRIu64 ", got '%s'", name, min,
			 max, arg);
	return v;
}

/* The seccomp options: the filter is installed when `on`; `extra` are argv strings.
 * env: the --env NAME=VALUE argv strings, applied after the filter. */
struct seccomp_opts {
	bool on;
	const char **extra;
	size_t n_extra;
	char **env;
	size_t n_env;
};

static void parse_args(struct shim *s, struct seccomp_opts *sc, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "max-message", required_argument, NULL, 'm' },
		{ "max-depth", required_argument, NULL, 'd' },
		{ "max-items", required_argument, NULL, 'i' },
		{ "max-bytes", required_argument, NULL, 'b' },
		{ "seccomp", no_argument, NULL, 's' },
		{ "allow-syscall", required_argument, NULL, 'a' },
		{ "claims", no_argument, NULL, 'c' },
		{ "spin-us", required_argument, NULL, 'p' },
		{ "ring", no_argument, NULL, 'r' },
		{ "env", required_argument, NULL, 'e' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct bh_limits *l = &s->limits;
	int c;

	/* At most one name per argument. */
	sc->extra = calloc((size_t)argc, sizeof(*sc->extra));
	sc->env = calloc((size_t)argc, sizeof(*sc->env));
	if (!sc->extra || !sc->env)
		shim_die(SHIM_EXIT_IO, "out of memory");

	while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		switch (c) {
		case 'm':
			l->max_message = (size_t)option_value("max-message", optarg,
							      SHIM_MESSAGE_MIN, SHIM_MESSAGE_MAX);
			break;
		case 'd':
			l->max_depth = (uint32_t)option_value("max-depth", optarg, SHIM_DEPTH_MIN,
							      SHIM_DEPTH_MAX);
			break;
		case 'i':
			l->max_items = (uint32_t)option_value("max-items", optarg, 1, UINT32_MAX);
			break;
		case 'b':
			l->max_bytes = (uint32_t)option_value("max-bytes", optarg, 1, UINT32_MAX);
			break;
		case 's':
			sc->on = true;
			break;
		case 'a':
			sc->extra[sc->n_extra++] = optarg;
			break;
		case 'c':
			s->use_claims = true;
			break;
		case 'r':
			s->ring_wanted = true;
			break;
		case 'e':
			if (optarg[0] == '=' || !strchr(optarg, '='))
				shim_die(BH_SHIM_EXIT_LOAD_FAILED, "--env: want NAME=VALUE");
			sc->env[sc->n_env++] = optarg;
			break;
		case 'p':
			s->spin_ns = option_value("spin-us", optarg, 0, SHIM_SPIN_US_MAX) * 1000;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			exit(BH_SHIM_EXIT_LOAD_FAILED);
		}
	}
	if (optind != argc - 1) {
		usage(stderr);
		exit(BH_SHIM_EXIT_LOAD_FAILED);
	}
	if (sc->n_extra && !sc->on)
		shim_die(BH_SHIM_EXIT_LOAD_FAILED, "--allow-syscall needs --seccomp");
	if (s->ring_wanted && !s->use_claims)
		shim_die(BH_SHIM_EXIT_LOAD_FAILED, "--ring needs --claims");
	s->path = argv[optind];
}

/* Everything the plugin runs from here on (its constructors in dlopen first) is
 * under the allow-list. */
static void install_seccomp(struct shim *s, const struct seccomp_opts *sc)
{
	const char *bad = NULL;
	char msg[256];
	int r;

	if (!sc->on)
		return;
	r = bh_seccomp_install(sc->extra, sc->n_extra, &bad);
	if (r == -EINVAL && bad) {
		snprintf(msg, sizeof(msg), "seccomp: unknown system call \"%.64s\" in allow-syscall",
			 bad);
		shim_load_fail(s, BH_E_INVALID_PARAMS, "%s", msg);
	}
	if (r < 0) {
		snprintf(msg, sizeof(msg), "seccomp: installing the allow-list%s%.64s: %s",
			 bad ? " with " : "", bad ? bad : "", strerror(-r));
		shim_load_fail(s, BH_E_INTERNAL, "%s", msg);
	}
}

/* The plugin's environment (its config's env), once confined and before its code
 * first runs: nothing in it can steer code that runs before the seccomp filter (the
 * dynamic loader read its variables at our start, with an empty environment). The
 * daemon refuses the names that would be read only then (SECURITY.md). */
static void apply_env(const struct seccomp_opts *sc)
{
	for (size_t i = 0; i < sc->n_env; i++)
		if (putenv(sc->env[i]) != 0)
			shim_die(SHIM_EXIT_IO, "putenv: %s", strerror(errno));
}

/* The channel must be the stream socket that channel.h promises; anything else
 * means we were not started by the supervisor. */
static void check_channel(int fd)
{
	struct stat st;
	int type;
	socklen_t len = sizeof(type);

	if (fstat(fd, &st) < 0 || !S_ISSOCK(st.st_mode))
		shim_die(BH_SHIM_EXIT_LOAD_FAILED,
			 "fd %d is not a socket: the shim is started by bulkheadd", fd);
	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0 || type != SOCK_STREAM)
		shim_die(BH_SHIM_EXIT_LOAD_FAILED, "fd %d is not a stream socket", fd);
	/* Processes the plugin may start must not inherit the channel. */
	if (fcntl(fd, F_SETFD, FD_CLOEXEC) < 0)
		shim_die(BH_SHIM_EXIT_LOAD_FAILED, "fcntl(%d): %s", fd, strerror(errno));
}

/* Map the claim table and close its fd: the plugin's children must not inherit it. */
static void attach_claims(struct shim *s)
{
	if (!s->use_claims)
		return;
	int r = bh_claims_attach(&s->claims, BH_CLAIMS_FD);
	if (r < 0)
		shim_die(BH_SHIM_EXIT_LOAD_FAILED, "fd %d is not a claim table: %s", BH_CLAIMS_FD,
			 strerror(-r));
	close(BH_CLAIMS_FD);
	s->ring = (struct bh_ring_writer){
		.ctl = s->claims.ring,
		.data = s->claims.ring_data,
		.tail = atomic_load_explicit(&s->claims.ring->tail, memory_order_relaxed),
	};
}

/* Where a death by signal is recorded (the claim table's died_of), or NULL: a signal
 * handler's only state, hence a global. */
static _Atomic uint32_t *died_of;

static void die_of_signal(int sig)
{
	if (died_of)
		atomic_store_explicit(died_of, (uint32_t)sig, memory_order_release);
	_exit(BH_SHIM_EXIT_SIGNALED(sig));
}

/* As pid 1 of its pid namespace (confined), a signal we send ourselves with the
 * default action is dropped by the kernel (bulkhead/channel.h): abort() would end in
 * glibc's last resort, an illegal instruction reported as SIGSEGV. So the signals a
 * process raises to end itself get a handler that reports them and exits. Before
 * the plugin's code first runs: its constructors may abort. A plugin that installs
 * its own handler (the Go runtime, Rust's stack-overflow guard) replaces ours; a
 * fault it then re-raises is still a fault, which the kernel delivers even to pid 1.
 * Not pid 1 (unconfined, or started by hand): the kernel's default death is the true
 * report, and nothing is installed. */
static void catch_death_signals(struct shim *s)
{
	static const int sigs[] = { BH_SHIM_DEATH_SIGNALS };
	struct sigaction sa;

	if (getpid() != 1)
		return;
	if (s->use_claims)
		died_of = &s->claims.bell->died_of;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = die_of_signal;
	sigfillset(&sa.sa_mask);
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		if (sigaction(sigs[i], &sa, NULL) < 0)
			shim_die(SHIM_EXIT_IO, "sigaction(%d): %s", sigs[i], strerror(errno));
}

int main(int argc, char **argv)
{
	struct shim s = { .fd = BH_CHANNEL_FD, .spin_ns = SHIM_SPIN_US_DEFAULT * 1000 };
	struct seccomp_opts sc = { 0 };

	/* The plugin's logs: whole lines reach the supervisor's pipes promptly. */
	setvbuf(stdout, NULL, _IOLBF, 0);
	setvbuf(stderr, NULL, _IOLBF, 0);

	bh_limits_default(&s.limits);
	parse_args(&s, &sc, argc, argv);
	check_channel(s.fd);
	attach_claims(&s);
	catch_death_signals(&s);
	shim_hot_init(&s);

	bh_buf_init(&s.in, s.limits.max_message);
	bh_scanner_init(&s.scan);
	bh_buf_init(&s.hdr, s.limits.max_message);
	bh_writer_init(&s.hdr_w, &s.hdr);
	shim_callout_init(&s);

	install_seccomp(&s, &sc);
	apply_env(&sc);
	shim_load(&s);
	shim_hello(&s);
	shim_serve(&s);
}
