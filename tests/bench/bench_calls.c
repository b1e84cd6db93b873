/* bench_calls: what a call through bulkheadd costs, against the floor of this machine.
 *
 * One run measures, and prints as one report:
 *   1. raw:        an AF_UNIX SOCK_STREAM socketpair ping-pong between this process and
 *                  a forked echo process (4-byte length prefix; the echo process sends
 *                  back every complete frame it has read, as it read it);
 *      relay:      the same through a minimal epoll relay process, store-and-forward:
 *                  the floor for one routing hop on this machine;
 *   2. routed:     synchronous bh_call("echo.echo", [bin]) through a real bulkheadd to
 *                  the example echo plugin, one call in flight, the same payload sizes
 *                  (up to 1 MiB; memfd: the same from a client with
 *                  bh_client_use_memfd, 64 MiB too, with the GB/s beside raw's),
 *                  and the routed/raw ratio of the medians; for every path also the
 *                  on-CPU time per call of each process (/proc/PID/schedstat), which
 *                  separates work from waiting for wake-ups;
 *   3. throughput: pipelined bh_call_start calls, N in flight per client, 1/2/4 client
 *                  threads (one bh_client each) against echo2 (instances = 2), next to
 *                  the raw socketpair and an epoll relay per client pipelined the same
 *                  way;
 *   4. cold start: bulkhead.load of echo.so under a fresh name until its answer (the
 *                  load answers once the instance is ready), then its first call;
 *   5. hot swap:   bulkhead.swap of echo (instances = 1) to echo.so again, one after
 *                  the other: the command until the new generation serves (the
 *                  answer's cutover_ms) and until its answer (the old generation is
 *                  gone), idle and under load (client threads pipelining echo.echo
 *                  throughout, every failed call counted: the target is none).
 * Latencies are sampled in rounds that alternate the paths, so that a drift of the
 * machine during the run moves them all and the ratios stay honest.
 *
 * The bench starts its own daemon in a temporary directory with a config it writes,
 * and stops it with SIGTERM at the end. Its exit status says whether the run worked,
 * never whether a target was met.
 *
 * With --tsv the report is one figure per line instead, NAME<TAB>VALUE<TAB>UNIT, with
 * the run's description on lines that start with '#' (tests/bench/compare.sh reads it).
 *
 * Usage: bench_calls [--quick] [--tsv] [--daemon PATH] [--plugin PATH] [--no-sandbox]
 *                    [--only raw,relay,routed,tput,cold,swap] [--sizes 64,4K,1M,64M]
 *                    [--inflight N] [--pin D,C,S] [--daemon-wrap "CMD ..."]
 *                    (--help explains them)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bulkhead/client.h"

#ifndef BH_BENCH_DAEMON
#define BH_BENCH_DAEMON "bulkheadd"
#endif
#ifndef BH_BENCH_PLUGIN
#define BH_BENCH_PLUGIN "echo.so"
#endif

#define N_SIZES 4
static const size_t payload_sizes[N_SIZES] = { 64, 4096, 1024 * 1024, 64 * 1024 * 1024 };
static const char *const payload_names[N_SIZES] = { "64 B", "4 KiB", "1 MiB", "64 MiB" };
static const char *const payload_keys[N_SIZES] = { "64B", "4KiB", "1MiB",
						   "64MiB" }; /* --tsv names */
/* Requests and results of the plain routed paths stay within max_message (16 MiB by
 * default, the client's and the daemon's): larger payloads go the memfd path only. */
#define PLAIN_MAX (16u * 1024 * 1024 - 64)
/* The daemon's limits.max_payload in the bench: the largest payload and its envelope. */
#define BENCH_MAX_PAYLOAD "80M"

#define MAX_CLIENTS 4
static const int client_counts[] = { 1, 2, 4 };
#define N_CLIENT_COUNTS (sizeof(client_counts) / sizeof(client_counts[0]))

#define TPUT_PAYLOAD 64
#define RAW_HDR 4
#define RATIO_TARGET 3.0
/* What the chained latency path's plugin (fwd, callout.so) calls, with the payload. */
#define CHAINED_TARGET "echo.echo"
/* The target for the plugin -> plugin call against a client's (issue figure). */
#define CHAINED_TARGET_X 1.5
#define SWAP_TARGET_MS 10.0

/* ---- the command line ---- */

struct options {
	bool quick;
	bool tsv; /* the report as NAME<TAB>VALUE<TAB>UNIT lines */
	bool sandbox;
	const char *daemon;
	const char *plugin;
	const char *wrap; /* a command line the daemon is started under (perf, strace) */
	bool run_raw, run_relay, run_routed, run_memfd, run_tput, run_cold, run_swap;
	bool variants; /* the nospin and bare routed paths too */
	int spin_us;   /* spin_us of echo and echo2; -1: the default */
	const char *placement; /* the daemon's cpu_placement, NULL: its default */
	bool size_on[N_SIZES]; /* latency payload sizes to measure */
	int pin_daemon, pin_client, pin_shim; /* CPU numbers, -1 = leave alone */
	int inflight;
};

/* Iteration counts and windows, from --quick. */
struct plan {
	int rounds;                /* latency rounds, each path in turn */
	int per_round[N_SIZES];    /* samples per size per round, each path */
	uint64_t size_cap_ns;      /* stop a size's sampling early past this much time */
	int warmup_calls;
	uint64_t tput_warm_ns, tput_window_ns;
	int cold_loads;
	int swaps;                 /* per hot-swap run (idle, then under load) */
};

/* ---- small helpers ---- */

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int write_all(int fd, const void *p, size_t len)
{
	const uint8_t *b = p;
	while (len > 0) {
		ssize_t n = write(fd, b, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		b += n;
		len -= (size_t)n;
	}
	return 0;
}

static int read_all(int fd, void *p, size_t len)
{
	uint8_t *b = p;
	while (len > 0) {
		ssize_t n = read(fd, b, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return -ECONNRESET;
		b += n;
		len -= (size_t)n;
	}
	return 0;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of sorted samples, in µs. */
static double pct_us(const uint64_t *sorted, size_t n, double p)
{
	if (n == 0)
		return 0;
	size_t rank = (size_t)(p * (double)n + 0.999999);
	if (rank < 1)
		rank = 1;
	if (rank > n)
		rank = n;
	return (double)sorted[rank - 1] / 1000.0;
}

/* One line of the --tsv report: the name (printf-formatted), a tab, the value, a tab,
 * the unit. Names are paths of words without blanks (latency/64B/routed/p50); units
 * are us, ms, calls/s, x (a ratio), calls (a count), s or GB/s. */
static void __attribute__((format(printf, 3, 4)))
figure(double value, const char *unit, const char *name_fmt, ...)
{
	va_list ap;
	va_start(ap, name_fmt);
	vprintf(name_fmt, ap);
	va_end(ap);
	printf("\t%.4f\t%s\n", value, unit);
}

static int pin_to(pid_t pid, int cpu)
{
	if (cpu < 0)
		return 0;
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	return sched_setaffinity(pid, sizeof(set), &set) < 0 ? -errno : 0;
}

/* A growable sample list. */
struct samples {
	uint64_t *v;
	size_t n, cap;
};

static int samples_add(struct samples *s, uint64_t x)
{
	if (s->n == s->cap) {
		size_t cap = s->cap ? 2 * s->cap : 1024;
		uint64_t *v = realloc(s->v, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		s->v = v;
		s->cap = cap;
	}
	s->v[s->n++] = x;
	return 0;
}

static void samples_sort(struct samples *s)
{
	qsort(s->v, s->n, sizeof(*s->v), cmp_u64);
}

/* ---- the raw echo process ---- */

static uint32_t frame_len(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void frame_put_len(uint8_t *p, uint32_t len)
{
	p[0] = (uint8_t)(len >> 24);
	p[1] = (uint8_t)(len >> 16);
	p[2] = (uint8_t)(len >> 8);
	p[3] = (uint8_t)len;
}

/* Read what the socket has; send back every complete frame, as it came. Returns when
 * the peer closes. A frame is whole before it goes back, as a plugin host needs its
 * whole message before it can answer. */
static void raw_echo_serve(int fd)
{
	size_t cap = RAW_HDR + payload_sizes[N_SIZES - 1] + 64 * 1024, have = 0;
	uint8_t *buf = malloc(cap);
	if (!buf)
		_exit(1);
	for (;;) {
		ssize_t n = read(fd, buf + have, cap - have);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			_exit(0);
		have += (size_t)n;
		size_t off = 0;
		while (have - off >= RAW_HDR) {
			size_t f = RAW_HDR + frame_len(buf + off);
			if (f > cap)
				_exit(2);
			if (have - off < f)
				break;
			off += f;
		}
		if (off == 0)
			continue;
		if (write_all(fd, buf, off) < 0)
			_exit(0);
		memmove(buf, buf + off, have - off);
		have -= off;
	}
}

/* Fork an echo process on one end of a new socketpair. 0 with *ret_fd (ours) and
 * *ret_pid, or -errno. */
static int raw_echo_start(int cpu, int *ret_fd, pid_t *ret_pid)
{
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return -errno;
	pid_t pid = fork();
	if (pid < 0) {
		int r = -errno;
		close(sv[0]);
		close(sv[1]);
		return r;
	}
	if (pid == 0) {
		/* Keep only our end: an echo process holding another pair's end would keep
		 * that pair open after the bench closes it, and its echo process would never
		 * see end-of-file. */
		int fd = sv[1];
		if (fd != 3 && dup2(fd, 3) < 0)
			_exit(1);
		close_range(4, ~0u, 0);
		raw_echo_serve(3);
		_exit(0);
	}
	close(sv[1]);
	(void)pin_to(pid, cpu);
	*ret_fd = sv[0];
	*ret_pid = pid;
	return 0;
}

static void raw_echo_stop(int fd, pid_t pid)
{
	close(fd);
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
}

/* One round trip of a prepared frame; the answer lands in rbuf. */
static int raw_round_trip(int fd, const uint8_t *frame, size_t flen, uint8_t *rbuf)
{
	int r = write_all(fd, frame, flen);
	return r < 0 ? r : read_all(fd, rbuf, flen);
}

/* ---- the daemon ---- */

struct daemon_run {
	char dir[64];
	char conf[128];
	char sock[128];
	char log[128];
	char callout[PATH_MAX]; /* callout.so, beside the echo plugin */
	pid_t pid;              /* bulkheadd, or the wrapper it runs under */
	bool wrapped;
};

static int write_config(const struct daemon_run *dr, const struct options *o)
{
	FILE *f = fopen(dr->conf, "we");
	if (!f)
		return -errno;
	const char *sb = o->sandbox ? "" : "\t\tsandbox = false;\n";
	char spin[48] = "";
	if (o->spin_us >= 0)
		snprintf(spin, sizeof(spin), "\t\tspin_us = %d;\n", o->spin_us);
	fprintf(f,
		"# written by bench_calls\n"
		"socket = { path = \"%s\"; };\n"
		"log_level = \"warn\";\n"
		"%s%s%s%s"
		"plugins = (\n"
		"\t{\n\t\tname = \"echo\";\n\t\tpath = \"%s\";\n\t\tinstances = 1;\n%s%s\t},\n"
		"\t{\n\t\tname = \"echo2\";\n\t\tpath = \"%s\";\n\t\tinstances = 2;\n%s%s\t}",
		dr->sock, o->placement ? "cpu_placement = \"" : "", o->placement ? o->placement : "",
		o->placement ? "\";\n" : "",
		/* Settings an older daemon does not know come only with the variants. */
		o->variants ? "limits = { max_payload = \"" BENCH_MAX_PAYLOAD "\"; };\n" : "",
		o->plugin, sb, spin, o->plugin, sb, spin);
	if (o->variants)
		fprintf(f,
			",\n\t{\n\t\tname = \"echo_nospin\";\n\t\tpath = \"%s\";\n\t\tspin_us = 0;\n%s\t},\n"
			"\t{\n\t\tname = \"echo_bare\";\n\t\tpath = \"%s\";\n\t\tsandbox = false;\n\t},\n"
			"\t{\n\t\tname = \"fwd\";\n\t\tpath = \"%s\";\n\t\tcalls = [ \"" CHAINED_TARGET
			"\" ];\n%s%s\t}",
			o->plugin, sb, o->plugin, dr->callout, sb, spin);
	fprintf(f, "\n);\n");
	int r = ferror(f) ? -EIO : 0;
	if (fclose(f) != 0 && r == 0)
		r = -errno;
	return r;
}

static void print_daemon_log(const struct daemon_run *dr)
{
	FILE *f = fopen(dr->log, "re");
	if (!f)
		return;
	char line[1024];
	fprintf(stderr, "---- daemon log (%s) ----\n", dr->log);
	while (fgets(line, sizeof(line), f))
		fputs(line, stderr);
	fprintf(stderr, "---- end of daemon log ----\n");
	fclose(f);
}

/* Pin every child of the daemon (its instances) to cpu. */
static void pin_daemon_children(pid_t daemon, int cpu)
{
	if (cpu < 0)
		return;
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/task/%d/children", (int)daemon, (int)daemon);
	FILE *f = fopen(path, "re");
	if (!f)
		return;
	int pid;
	while (fscanf(f, "%d", &pid) == 1)
		if (pin_to(pid, cpu) < 0)
			fprintf(stderr, "bench_calls: cannot pin pid %d to CPU %d\n", pid, cpu);
	fclose(f);
}

/* Start bulkheadd on a config of ours and wait for its READY. 0, or -errno with the
 * daemon's log printed. */
static int daemon_start(struct daemon_run *dr, const struct options *o)
{
	snprintf(dr->dir, sizeof(dr->dir), "/tmp/bh-bench.XXXXXX");
	if (!mkdtemp(dr->dir))
		return -errno;
	snprintf(dr->conf, sizeof(dr->conf), "%s/bench.conf", dr->dir);
	snprintf(dr->sock, sizeof(dr->sock), "%s/bulkhead.sock", dr->dir);
	snprintf(dr->log, sizeof(dr->log), "%s/daemon.log", dr->dir);
	const char *slash = strrchr(o->plugin, '/');
	snprintf(dr->callout, sizeof(dr->callout), "%.*scallout.so",
		 slash ? (int)(slash - o->plugin + 1) : 0, o->plugin);
	int r = write_config(dr, o);
	if (r < 0)
		return r;
	int logfd = open(dr->log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (logfd < 0)
		return -errno;
	int ready[2];
	if (pipe2(ready, O_CLOEXEC) < 0) {
		r = -errno;
		close(logfd);
		return r;
	}

	/* argv: [wrap words...] daemon -c conf --ready-fd N */
	char *wrap = o->wrap ? strdup(o->wrap) : NULL;
	char *argv[64];
	int argc = 0;
	for (char *save = NULL, *w = wrap ? strtok_r(wrap, " \t", &save) : NULL;
	     w && argc < 56; w = strtok_r(NULL, " \t", &save))
		argv[argc++] = w;
	char fdarg[16];
	argv[argc++] = (char *)o->daemon;
	argv[argc++] = "-c";
	argv[argc++] = dr->conf;
	argv[argc++] = "--ready-fd";
	argv[argc++] = fdarg;
	argv[argc] = NULL;

	pid_t pid = fork();
	if (pid < 0) {
		r = -errno;
		goto out;
	}
	if (pid == 0) {
		/* The ready pipe is the one fd the daemon inherits on purpose. */
		int fd = fcntl(ready[1], F_DUPFD, 10);
		if (fd < 0 || dup2(logfd, 1) < 0 || dup2(logfd, 2) < 0)
			_exit(127);
		snprintf(fdarg, sizeof(fdarg), "%d", fd);
		(void)pin_to(0, o->pin_daemon);
		execvp(argv[0], argv);
		fprintf(stderr, "bench_calls: exec %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	dr->pid = pid;
	dr->wrapped = o->wrap != NULL;
	close(ready[1]);
	ready[1] = -1;

	/* Under a wrapper the daemon may take seconds to start. */
	struct pollfd p = { .fd = ready[0], .events = POLLIN };
	int n;
	while ((n = poll(&p, 1, o->wrap ? 120000 : 15000)) < 0 && errno == EINTR)
		;
	char buf[8] = { 0 };
	if (n == 1 && read(ready[0], buf, sizeof(buf) - 1) > 0 && strncmp(buf, "READY", 5) == 0) {
		r = 0;
	} else {
		fprintf(stderr, "bench_calls: the daemon did not become ready\n");
		print_daemon_log(dr);
		r = -EIO;
	}
out:
	free(wrap);
	close(logfd);
	close(ready[0]);
	if (ready[1] >= 0)
		close(ready[1]);
	return r;
}

/* SIGTERM, and wait (SIGKILL after 15 s). Removes the directory unless keep. */
/* The pid of the process serving the socket at path (SO_PEERCRED), or -1. */
static pid_t socket_owner(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct ucred cred = { .pid = -1 };
	socklen_t len = sizeof(cred);
	if (fd >= 0 && (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
			getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0))
		cred.pid = -1;
	if (fd >= 0)
		close(fd);
	return cred.pid;
}

static void daemon_stop(struct daemon_run *dr, bool keep)
{
	if (dr->pid > 0) {
		/* Under a wrapper, the daemon itself: a tracer that gets the signal detaches
		 * and leaves it running; it ends once its command does. */
		pid_t daemon = dr->wrapped ? socket_owner(dr->sock) : -1;
		kill(daemon > 0 ? daemon : dr->pid, SIGTERM);
		int pfd = (int)syscall(SYS_pidfd_open, dr->pid, 0);
		if (pfd >= 0) {
			struct pollfd p = { .fd = pfd, .events = POLLIN };
			int n;
			while ((n = poll(&p, 1, 15000)) < 0 && errno == EINTR)
				;
			if (n == 0) {
				fprintf(stderr, "bench_calls: the daemon ignored SIGTERM; killing it\n");
				kill(dr->pid, SIGKILL);
			}
			close(pfd);
		}
		int st = 0;
		pid_t w;
		while ((w = waitpid(dr->pid, &st, 0)) < 0 && errno == EINTR)
			;
		if (w == dr->pid && (!WIFEXITED(st) || WEXITSTATUS(st) != 0)) {
			fprintf(stderr, "bench_calls: the daemon ended with status 0x%x\n", st);
			print_daemon_log(dr);
		}
		dr->pid = 0;
	}
	if (keep || !dr->dir[0])
		return;
	char lock[sizeof(dr->sock) + 8];
	snprintf(lock, sizeof(lock), "%s.lock", dr->sock); /* the daemon's, left by design */
	unlink(dr->conf);
	unlink(dr->sock);
	unlink(lock);
	unlink(dr->log);
	rmdir(dr->dir);
}

/* ---- calls through the client library ---- */

/* A synchronous call with one argument that is a bin of len bytes; the result is
 * checked to be that bin. 0 or -1 with a message printed. */
/* method([payload]), or with a target method([target, payload]). */
static int routed_call(bh_client *c, const char *method, const char *target,
		       const uint8_t *payload, size_t len, bool compare)
{
	bh_writer *w = bh_client_params(c);
	bh_write_array(w, target ? 2 : 1);
	if (target)
		bh_write_cstr(w, target);
	/* A memfd client writes large params into their memfd straight from payload; the
	 * others copy them (bh_write_bin). */
	bh_client_write_bin_lent(c, payload, len);
	bh_result *res = NULL;
	bh_error err;
	int r = bh_call(c, method, 0, &res, &err);
	if (r < 0) {
		fprintf(stderr, "bench_calls: %s(%zu bytes): %d %s\n", method, len, r, err.message);
		return -1;
	}
	const bh_value *v = bh_result_value(res);
	const uint8_t *bin;
	size_t blen;
	r = 0;
	if (bh_value_get_bin(v, &bin, &blen) < 0 || blen != len ||
	    (compare && memcmp(bin, payload, len) != 0)) {
		fprintf(stderr, "bench_calls: %s(%zu bytes): a wrong result came back\n", method,
			len);
		r = -1;
	}
	bh_result_free(res);
	return r;
}

/* A call with string arguments (at most 2); the result is dropped. */
static int control_call(bh_client *c, const char *method, const char *a0, const char *a1,
			int timeout_ms)
{
	bh_writer *w = bh_client_params(c);
	bh_write_array(w, a1 ? 2 : a0 ? 1 : 0);
	if (a0)
		bh_write_cstr(w, a0);
	if (a1)
		bh_write_cstr(w, a1);
	bh_error err;
	int r = bh_call(c, method, timeout_ms, NULL, &err);
	if (r < 0)
		fprintf(stderr, "bench_calls: %s: %d %s\n", method, r, err.message);
	return r;
}

/* ---- the relay: the floor for one routing hop ---- */

/* Read one whole frame from fd into buf (cap bytes). Its length, or -1 at the end. */
static ssize_t read_frame(int fd, uint8_t *buf, size_t cap)
{
	size_t have = 0, want = RAW_HDR;
	while (have < want) {
		ssize_t got = read(fd, buf + have, cap - have);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			return -1;
		have += (size_t)got;
		if (have >= RAW_HDR)
			want = RAW_HDR + frame_len(buf);
		if (want > cap)
			return -1;
	}
	return (ssize_t)have;
}

/* The blocking relay: one call in flight, read it whole, pass it on, wait for the
 * answer, pass it back. Nothing but the four system calls a hop needs: the floor for
 * any middle process. */
static void relay_serve_blocking(void)
{
	size_t cap = RAW_HDR + payload_sizes[N_SIZES - 1] + 64 * 1024;
	uint8_t *buf = malloc(cap);
	if (!buf)
		_exit(1);
	for (;;) {
		ssize_t n = read_frame(3, buf, cap);
		if (n < 0 || write_all(4, buf, (size_t)n) < 0 || (n = read_frame(4, buf, cap)) < 0 ||
		    write_all(3, buf, (size_t)n) < 0)
			_exit(0);
	}
}

/* A naive single-threaded epoll loop between a client (fd 3) and an echo process
 * (fd 4), store-and-forward by frame: what routing through a middle process costs
 * before any of bulkheadd's own work. */
static void relay_serve(void)
{
	const int fds[2] = { 3, 4 };
	size_t cap = RAW_HDR + payload_sizes[N_SIZES - 1] + 64 * 1024, have[2] = { 0, 0 };
	uint8_t *buf[2] = { malloc(cap), malloc(cap) };
	int ep = epoll_create1(EPOLL_CLOEXEC);
	if (!buf[0] || !buf[1] || ep < 0)
		_exit(1);
	for (uint32_t i = 0; i < 2; i++) {
		struct epoll_event ev = { .events = EPOLLIN, .data.u32 = i };
		if (epoll_ctl(ep, EPOLL_CTL_ADD, fds[i], &ev) < 0)
			_exit(1);
	}
	for (;;) {
		struct epoll_event evs[2];
		int n = epoll_wait(ep, evs, 2, -1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			_exit(1);
		for (int e = 0; e < n; e++) {
			uint32_t i = evs[e].data.u32;
			ssize_t got = read(fds[i], buf[i] + have[i], cap - have[i]);
			if (got < 0 && errno == EINTR)
				continue;
			if (got <= 0)
				_exit(0);
			have[i] += (size_t)got;
			size_t off = 0;
			while (have[i] - off >= RAW_HDR) {
				size_t f = RAW_HDR + frame_len(buf[i] + off);
				if (f > cap)
					_exit(2);
				if (have[i] - off < f)
					break;
				off += f;
			}
			if (off == 0)
				continue;
			if (write_all(fds[1 - i], buf[i], off) < 0)
				_exit(0);
			memmove(buf[i], buf[i] + off, have[i] - off);
			have[i] -= off;
		}
	}
}

/* An echo process behind a relay process. 0 with *ret_fd (ours, to the relay) and both
 * pids, or -errno. */
static int relay_start(bool blocking, int cpu_relay, int cpu_echo, int *ret_fd,
		       pid_t *ret_relay, pid_t *ret_echo)
{
	int efd, sv[2], r;
	pid_t echo;
	if ((r = raw_echo_start(cpu_echo, &efd, &echo)) < 0)
		return r;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		r = -errno;
		raw_echo_stop(efd, echo);
		return r;
	}
	pid_t pid = fork();
	if (pid < 0) {
		r = -errno;
		close(sv[0]);
		close(sv[1]);
		raw_echo_stop(efd, echo);
		return r;
	}
	if (pid == 0) {
		/* fd 3 to the client, fd 4 to the echo process, nothing else. */
		int a = fcntl(sv[1], F_DUPFD, 10), b = fcntl(efd, F_DUPFD, 10);
		if (a < 0 || b < 0 || dup2(a, 3) < 0 || dup2(b, 4) < 0)
			_exit(1);
		close_range(5, ~0u, 0);
		if (blocking)
			relay_serve_blocking();
		relay_serve();
		_exit(0);
	}
	close(sv[1]);
	close(efd); /* the relay holds it now: the echo process ends with the relay */
	(void)pin_to(pid, cpu_relay);
	*ret_fd = sv[0];
	*ret_relay = pid;
	*ret_echo = echo;
	return 0;
}

static void relay_stop(int fd, pid_t relay, pid_t echo)
{
	raw_echo_stop(fd, relay);
	while (waitpid(echo, NULL, 0) < 0 && errno == EINTR)
		;
}

/* ---- 1 + 2: latency ---- */

/* The routed paths call three configurations of the same plugin (write_config):
 * routed the default, nospin with spin_us = 0 (every wait for a call sleeps), bare
 * with sandbox = false: what the watch between close calls and the sandbox each cost
 * or buy, in the same run. */
/* memfd is routed like routed, from a C client that asked for memfds
 * (bh_client_use_memfd): payloads of 64 KiB and more travel as sealed memfds. */
/* chained is a client's call to the callout plugin (fwd.relay) that calls echo.echo:
 * a routed call plus a plugin -> plugin call (README "Calling out"). */
enum path { P_RAW, P_BLOCK, P_RELAY, P_ROUTED, P_NOSPIN, P_BARE, P_MEMFD, P_CHAINED, N_PATHS };
static const char *const path_names[N_PATHS] = { "raw",	   "relay_b", "relay", "routed",
						  "nospin", "bare",    "memfd", "chained" };
static const char *const path_methods[N_PATHS] = {
	[P_ROUTED] = "echo.echo", [P_NOSPIN] = "echo_nospin.echo", [P_BARE] = "echo_bare.echo",
	[P_MEMFD] = "echo.echo", [P_CHAINED] = "fwd.relay"
};

static bool is_routed(enum path p)
{
	return path_methods[p] != NULL;
}

static const char *chained_target(enum path p)
{
	return p == P_CHAINED ? CHAINED_TARGET : NULL;
}

static bool is_relay(enum path p)
{
	return p == P_BLOCK || p == P_RELAY;
}

/* Whether path p can carry payload size k at all. */
static bool path_fits(enum path p, int k)
{
	return !is_routed(p) || p == P_MEMFD || payload_sizes[k] <= PLAIN_MAX;
}

/* On-CPU time (user + system), summed over the timed blocks: where the time of a
 * round trip goes, apart from waiting for wake-ups. */
struct cpu_use {
	uint64_t client, middle, end;
};

struct latency {
	struct samples s[N_PATHS][N_SIZES];
	struct cpu_use cpu[N_PATHS][N_SIZES];
};

/* One way of getting a payload echoed. */
struct path_ctx {
	bool on;
	int fd;       /* raw, relay: our socket */
	pid_t middle; /* relay: the relay process; routed: bulkheadd */
	pid_t end;    /* raw, relay: the echo process; routed: 0 (bulkheadd's children) */
	bh_client *c; /* routed */
};

/* ns on CPU of one task, from /proc/PID/task/TID/schedstat; 0 when unreadable. */
static uint64_t task_cpu_ns(int pid, int tid)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/task/%d/schedstat", pid, tid);
	FILE *f = fopen(path, "re");
	if (!f)
		return 0;
	unsigned long long ns = 0;
	if (fscanf(f, "%llu", &ns) != 1)
		ns = 0;
	fclose(f);
	return ns;
}

/* ns on CPU of pid's main thread, plus (children) every descendant's. */
static uint64_t tree_cpu_ns(pid_t pid, bool children, int depth)
{
	uint64_t ns = task_cpu_ns(pid, pid);
	if (!children || depth > 4)
		return ns;
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/task/%d/children", (int)pid, (int)pid);
	FILE *f = fopen(path, "re");
	if (!f)
		return ns;
	int kid;
	while (fscanf(f, "%d", &kid) == 1)
		ns += tree_cpu_ns(kid, true, depth + 1);
	fclose(f);
	return ns;
}

static uint64_t self_cpu_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static struct cpu_use cpu_snap(const struct path_ctx *p, enum path which)
{
	struct cpu_use u = { .client = self_cpu_ns() };
	if (p->middle)
		u.middle = tree_cpu_ns(p->middle, false, 0);
	if (is_routed(which))
		u.end = tree_cpu_ns(p->middle, true, 0) - u.middle;
	else
		u.end = tree_cpu_ns(p->end, false, 0);
	return u;
}

static int round_trip(const struct path_ctx *p, enum path which, const uint8_t *frame,
		      uint8_t *rbuf, const uint8_t *payload, size_t len)
{
	if (is_routed(which))
		return routed_call(p->c, path_methods[which], chained_target(which), payload, len,
				   false);
	int r = raw_round_trip(p->fd, frame, RAW_HDR + len, rbuf);
	if (r < 0)
		fprintf(stderr, "bench_calls: %s round trip: %s\n", path_names[which],
			strerror(-r));
	return r;
}

static int measure_latency(const struct options *o, const struct plan *pl, const char *sock,
			   pid_t daemon, struct latency *lat)
{
	struct path_ctx ps[N_PATHS] = {
		[P_RAW] = { .on = o->run_raw, .fd = -1 },
		[P_BLOCK] = { .on = o->run_relay, .fd = -1 },
		[P_RELAY] = { .on = o->run_relay, .fd = -1 },
		[P_ROUTED] = { .on = o->run_routed, .fd = -1, .middle = daemon },
		[P_NOSPIN] = { .on = o->run_routed && o->variants, .fd = -1, .middle = daemon },
		[P_BARE] = { .on = o->run_routed && o->variants, .fd = -1, .middle = daemon },
		[P_MEMFD] = { .on = o->run_memfd, .fd = -1, .middle = daemon },
		[P_CHAINED] = { .on = o->run_routed && o->variants, .fd = -1, .middle = daemon },
	};
	int ret = -1;
	uint8_t *frame = NULL, *rbuf = NULL, *payload = NULL;
	size_t maxlen = payload_sizes[N_SIZES - 1];

	frame = malloc(RAW_HDR + maxlen);
	rbuf = malloc(RAW_HDR + maxlen);
	payload = malloc(maxlen);
	if (!frame || !rbuf || !payload)
		goto out;
	for (size_t i = 0; i < maxlen; i++)
		payload[i] = (uint8_t)(i * 131 + 7);
	memcpy(frame + RAW_HDR, payload, maxlen);

	if (ps[P_RAW].on && raw_echo_start(o->pin_shim, &ps[P_RAW].fd, &ps[P_RAW].end) < 0) {
		perror("bench_calls: raw echo process");
		goto out;
	}
	for (int p = P_BLOCK; p <= P_RELAY; p++)
		if (ps[p].on && relay_start(p == P_BLOCK, o->pin_daemon, o->pin_shim, &ps[p].fd,
					    &ps[p].middle, &ps[p].end) < 0) {
			perror("bench_calls: relay processes");
			goto out;
		}
	for (int p = P_ROUTED; p < N_PATHS; p++) {
		if (!ps[p].on)
			continue;
		int r = bh_client_connect(sock, &ps[p].c);
		if (r < 0) {
			fprintf(stderr, "bench_calls: connect %s: %s\n", sock, strerror(-r));
			goto out;
		}
		bh_error err;
		if (p == P_MEMFD && (r = bh_client_use_memfd(ps[p].c, 0, 5000, &err)) < 0) {
			/* A daemon from before client memfds: the other paths still run. */
			fprintf(stderr, "bench_calls: no memfd path: %d %s\n", r, err.message);
			ps[p].on = false;
			continue;
		}
		/* Check that the echo is exact for every size. */
		for (int k = 0; k < N_SIZES; k++)
			if (o->size_on[k] && path_fits(p, k) &&
			    routed_call(ps[p].c, path_methods[p], chained_target(p), payload,
					payload_sizes[k], true) < 0)
				goto out;
	}
	frame_put_len(frame, 64);
	for (int p = 0; p < N_PATHS; p++)
		for (int i = 0; ps[p].on && i < pl->warmup_calls; i++)
			if (round_trip(&ps[p], p, frame, rbuf, payload, 64) < 0)
				goto out;

	for (int k = 0; k < N_SIZES; k++) {
		size_t len = payload_sizes[k];
		uint64_t spent[N_PATHS] = { 0 };
		if (!o->size_on[k])
			continue;
		frame_put_len(frame, (uint32_t)len);
		/* Prime this size everywhere (buffers grow on first use). */
		for (int p = 0; p < N_PATHS; p++)
			if (ps[p].on && path_fits(p, k) &&
			    round_trip(&ps[p], p, frame, rbuf, payload, len) < 0)
				goto out;
		/* Rounds alternate the paths so that a drift of the machine moves them all. */
		for (int round = 0; round < pl->rounds; round++) {
			for (int p = 0; p < N_PATHS; p++) {
				if (!ps[p].on || !path_fits(p, k) || spent[p] >= pl->size_cap_ns)
					continue;
				struct cpu_use u0 = cpu_snap(&ps[p], p);
				uint64_t t_round = now_ns();
				for (int i = 0; i < pl->per_round[k]; i++) {
					uint64_t t0 = now_ns();
					if (round_trip(&ps[p], p, frame, rbuf, payload, len) < 0)
						goto out;
					if (samples_add(&lat->s[p][k], now_ns() - t0) < 0)
						goto out;
				}
				spent[p] += now_ns() - t_round;
				struct cpu_use u1 = cpu_snap(&ps[p], p);
				lat->cpu[p][k].client += u1.client - u0.client;
				lat->cpu[p][k].middle += u1.middle - u0.middle;
				lat->cpu[p][k].end += u1.end - u0.end;
			}
		}
		for (int p = P_RAW; p <= P_RELAY; p++)
			if (ps[p].on && !is_routed(p) && memcmp(rbuf, frame, RAW_HDR + len) != 0) {
				fprintf(stderr, "bench_calls: the %s echo came back wrong\n",
					path_names[p]);
				goto out;
			}
		for (int p = 0; p < N_PATHS; p++)
			samples_sort(&lat->s[p][k]);
	}
	ret = 0;
out:
	for (int p = 0; p < N_PATHS; p++) {
		bh_client_free(ps[p].c);
		if (p == P_RAW && ps[p].end > 0)
			raw_echo_stop(ps[p].fd, ps[p].end);
		if (is_relay(p) && ps[p].middle > 0)
			relay_stop(ps[p].fd, ps[p].middle, ps[p].end);
	}
	free(frame);
	free(rbuf);
	free(payload);
	return ret;
}

/* ---- 3: throughput ---- */

struct tput_thread {
	pthread_t tid;
	/* in */
	const char *sock; /* routed: the daemon; NULL: raw on fd */
	int fd;
	int inflight;
	int cpu;
	uint64_t t_start, t_end; /* the measured window */
	/* routed state */
	bh_client *c;
	uint8_t payload[TPUT_PAYLOAD];
	/* out */
	uint64_t done; /* completions inside the window */
	uint64_t all;  /* every completion, for the CPU per call */
	uint64_t errors;
	int rc;
	char first_error[BH_ERROR_MESSAGE_MAX];
};

static void tput_issue(struct tput_thread *t);

static void tput_reply(void *userdata, uint32_t msgid, const bh_value *result,
		       const bh_error *err)
{
	struct tput_thread *t = userdata;
	(void)msgid;
	if (err || !result || result->type != BH_BIN || result->len != TPUT_PAYLOAD) {
		if (t->errors++ == 0)
			snprintf(t->first_error, sizeof(t->first_error), "%s",
				 err ? err->message : "a wrong result came back");
	}
	uint64_t now = now_ns();
	t->all++;
	if (now >= t->t_start && now < t->t_end)
		t->done++;
	if (now < t->t_end)
		tput_issue(t);
}

static void tput_issue(struct tput_thread *t)
{
	bh_writer *w = bh_client_params(t->c);
	bh_write_array(w, 1);
	bh_write_bin(w, t->payload, sizeof(t->payload));
	int r = bh_call_start(t->c, "echo2.echo", 0, tput_reply, t, NULL);
	if (r < 0 && t->rc == 0)
		t->rc = r;
}

static void *tput_routed(void *p)
{
	struct tput_thread *t = p;
	(void)pin_to(0, t->cpu);
	memset(t->payload, 'p', sizeof(t->payload));
	int r = bh_client_connect(t->sock, &t->c);
	if (r < 0) {
		t->rc = r;
		return NULL;
	}
	for (int i = 0; i < t->inflight; i++)
		tput_issue(t);
	uint64_t give_up = t->t_end + 30ull * 1000000000;
	while (t->rc == 0 && bh_client_pending(t->c) > 0) {
		struct pollfd pf = { .fd = bh_client_fd(t->c), .events = POLLIN };
		if (bh_client_want_write(t->c))
			pf.events |= POLLOUT;
		if (poll(&pf, 1, 1000) < 0 && errno != EINTR) {
			t->rc = -errno;
			break;
		}
		r = bh_client_step(t->c);
		if (r < 0) {
			t->rc = r;
			break;
		}
		if (now_ns() > give_up) {
			t->rc = -ETIMEDOUT;
			break;
		}
	}
	bh_client_free(t->c);
	t->c = NULL;
	return NULL;
}

/* Raw: inflight fixed-size frames on a socketpair; every answered frame is replaced by a
 * new one until the window closes. */
static void *tput_raw(void *p)
{
	struct tput_thread *t = p;
	const size_t f = RAW_HDR + TPUT_PAYLOAD;
	size_t cap = f * (size_t)t->inflight;
	uint8_t *out = malloc(cap), *in = malloc(cap);
	if (!out || !in) {
		t->rc = -ENOMEM;
		goto out;
	}
	for (int i = 0; i < t->inflight; i++) {
		frame_put_len(out + i * f, TPUT_PAYLOAD);
		memset(out + i * f + RAW_HDR, 'p', TPUT_PAYLOAD);
	}
	(void)pin_to(0, t->cpu);
	int r = write_all(t->fd, out, cap);
	size_t outstanding = (size_t)t->inflight, partial = 0;
	while (r == 0 && outstanding > 0) {
		ssize_t n = read(t->fd, in, cap);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			r = n < 0 ? -errno : -ECONNRESET;
			break;
		}
		size_t total = partial + (size_t)n, k = total / f;
		partial = total % f;
		outstanding -= k;
		t->all += k;
		uint64_t now = now_ns();
		if (now >= t->t_start && now < t->t_end)
			t->done += k;
		if (now < t->t_end && k > 0) {
			r = write_all(t->fd, out, k * f);
			outstanding += k;
		}
	}
	t->rc = r;
out:
	free(out);
	free(in);
	return NULL;
}

struct tput_result {
	double calls_per_s;
	double cpu_client, cpu_middle, cpu_end; /* on-CPU µs per call */
};

static uint64_t process_cpu_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Throughput with nclients threads: routed through bulkheadd (its pid: daemon) when
 * sock is given; else raw, each client with an echo process of its own, or with relay
 * an epoll relay process and an echo process of its own (one routing hop's floor).
 * 0 and *res, or -1 with a message printed. */
static int measure_tput(const struct options *o, const struct plan *pl, const char *sock,
			pid_t daemon, bool relay, int nclients, int inflight,
			struct tput_result *res)
{
	struct tput_thread t[MAX_CLIENTS];
	pid_t echo[MAX_CLIENTS] = { 0 }, middle[MAX_CLIENTS] = { 0 };
	int started = 0, ret = -1;
	uint64_t c0, m0 = 0, e0 = 0;

	memset(t, 0, sizeof(t));
	for (int i = 0; i < nclients; i++) {
		t[i].fd = -1;
		int r = sock	? 0
			: relay ? relay_start(false, o->pin_daemon, o->pin_shim, &t[i].fd,
					      &middle[i], &echo[i])
				: raw_echo_start(o->pin_shim, &t[i].fd, &echo[i]);
		if (r < 0) {
			fprintf(stderr, "bench_calls: %s processes: %s\n", relay ? "relay" : "echo",
				strerror(-r));
			goto out;
		}
	}
	c0 = process_cpu_ns();
	if (sock) {
		m0 = tree_cpu_ns(daemon, false, 0);
		e0 = tree_cpu_ns(daemon, true, 0) - m0;
	}
	for (int i = 0; !sock && i < nclients; i++) {
		e0 += tree_cpu_ns(echo[i], false, 0);
		m0 += middle[i] > 0 ? tree_cpu_ns(middle[i], false, 0) : 0;
	}
	uint64_t t0 = now_ns() + pl->tput_warm_ns;
	for (int i = 0; i < nclients; i++) {
		t[i].sock = sock;
		t[i].inflight = inflight;
		t[i].cpu = o->pin_client;
		t[i].t_start = t0;
		t[i].t_end = t0 + pl->tput_window_ns;
		if (pthread_create(&t[i].tid, NULL, sock ? tput_routed : tput_raw, &t[i]) != 0) {
			fprintf(stderr, "bench_calls: pthread_create failed\n");
			goto out;
		}
		started++;
	}
	for (int i = 0; i < started; i++)
		pthread_join(t[i].tid, NULL);
	uint64_t c1 = process_cpu_ns(), m1 = 0, e1 = 0;
	if (sock) {
		m1 = tree_cpu_ns(daemon, false, 0);
		e1 = tree_cpu_ns(daemon, true, 0) - m1;
	}
	for (int i = 0; !sock && i < nclients; i++) {
		e1 += tree_cpu_ns(echo[i], false, 0);
		m1 += middle[i] > 0 ? tree_cpu_ns(middle[i], false, 0) : 0;
	}
	uint64_t done = 0, errors = 0, all = 0;
	int rc = 0;
	const char *first = NULL;
	for (int i = 0; i < nclients; i++) {
		done += t[i].done;
		all += t[i].all;
		errors += t[i].errors;
		if (t[i].rc < 0 && rc == 0)
			rc = t[i].rc;
		if (t[i].errors && !first)
			first = t[i].first_error;
	}
	if (rc < 0 || errors) {
		fprintf(stderr, "bench_calls: %s throughput, %d clients: %s; %" PRIu64
				" calls failed%s%s\n",
			sock ? "routed" : relay ? "relay" : "raw", nclients,
			rc < 0 ? strerror(-rc) : "ok", errors,
			first ? ", first: " : "", first ? first : "");
		goto out;
	}
	double n = all ? (double)all * 1000 : 1;
	*res = (struct tput_result){
		.calls_per_s = (double)done * 1e9 / (double)pl->tput_window_ns,
		.cpu_client = (double)(c1 - c0) / n,
		.cpu_middle = (double)(m1 - m0) / n,
		.cpu_end = (double)(e1 - e0) / n,
	};
	ret = 0;
out:
	for (int i = 0; i < nclients; i++)
		if (middle[i] > 0)
			relay_stop(t[i].fd, middle[i], echo[i]);
		else if (echo[i] > 0)
			raw_echo_stop(t[i].fd, echo[i]);
	return ret;
}

/* ---- 4: cold start ---- */

struct cold {
	struct samples load, first, unload;
	bool ok;
};

static int measure_cold(const struct options *o, const struct plan *pl, const char *sock,
			struct cold *cs)
{
	bh_client *c = NULL;
	int r = bh_client_connect(sock, &c);
	if (r < 0) {
		fprintf(stderr, "bench_calls: connect %s: %s\n", sock, strerror(-r));
		return -1;
	}
	int ret = -1;
	for (int i = 0; i < pl->cold_loads; i++) {
		char name[32], ping[48];
		snprintf(name, sizeof(name), "cold%d_%03d", (int)getpid(), i);
		snprintf(ping, sizeof(ping), "%s.ping", name);
		uint64_t t0 = now_ns();
		if (control_call(c, "bulkhead.load", name, o->plugin, 30000) < 0)
			goto out;
		uint64_t t1 = now_ns();
		if (control_call(c, ping, NULL, NULL, 30000) < 0)
			goto out;
		uint64_t t2 = now_ns();
		if (control_call(c, "bulkhead.unload", name, NULL, 30000) < 0)
			goto out;
		uint64_t t3 = now_ns();
		if (samples_add(&cs->load, t1 - t0) < 0 || samples_add(&cs->first, t2 - t1) < 0 ||
		    samples_add(&cs->unload, t3 - t2) < 0)
			goto out;
	}
	samples_sort(&cs->load);
	samples_sort(&cs->first);
	samples_sort(&cs->unload);
	cs->ok = true;
	ret = 0;
out:
	bh_client_free(c);
	return ret;
}

/* ---- 5: hot swap ---- */

#define SWAP_LOAD_CLIENTS 2
#define SWAP_LOAD_INFLIGHT 16

/* A client thread that keeps SWAP_LOAD_INFLIGHT calls of echo.echo in flight until
 * told to stop, counting every answer and every failure. */
struct swap_load {
	pthread_t tid;
	atomic_bool *stop;
	pthread_mutex_t *mu;
	pthread_cond_t *cv;
	int *n_warm;       /* threads past their first answers (under mu) */
	bh_client *c;
	uint8_t payload[TPUT_PAYLOAD];
	uint64_t done, failed;
	bool warm;
	int rc;
	char first_error[BH_ERROR_MESSAGE_MAX];
};

static void swap_load_issue(struct swap_load *t);

static void swap_load_reply(void *userdata, uint32_t msgid, const bh_value *result,
			    const bh_error *err)
{
	struct swap_load *t = userdata;
	(void)msgid;
	t->done++;
	if (err || !result || result->type != BH_BIN || result->len != TPUT_PAYLOAD) {
		if (t->failed++ == 0)
			snprintf(t->first_error, sizeof(t->first_error), "%s",
				 err ? err->message : "a wrong result came back");
	}
	if (!t->warm && t->done >= 4 * SWAP_LOAD_INFLIGHT) {
		t->warm = true;
		pthread_mutex_lock(t->mu);
		(*t->n_warm)++;
		pthread_cond_broadcast(t->cv);
		pthread_mutex_unlock(t->mu);
	}
	if (!atomic_load(t->stop))
		swap_load_issue(t);
}

static void swap_load_issue(struct swap_load *t)
{
	bh_writer *w = bh_client_params(t->c);
	bh_write_array(w, 1);
	bh_write_bin(w, t->payload, sizeof(t->payload));
	int r = bh_call_start(t->c, "echo.echo", 0, swap_load_reply, t, NULL);
	if (r < 0 && t->rc == 0)
		t->rc = r;
}

static void *swap_load_main(void *p)
{
	struct swap_load *t = p;
	memset(t->payload, 's', sizeof(t->payload));
	for (int i = 0; i < SWAP_LOAD_INFLIGHT; i++)
		swap_load_issue(t);
	while (t->rc == 0 && bh_client_pending(t->c) > 0) {
		struct pollfd pf = { .fd = bh_client_fd(t->c), .events = POLLIN };
		if (bh_client_want_write(t->c))
			pf.events |= POLLOUT;
		if (poll(&pf, 1, 1000) < 0 && errno != EINTR) {
			t->rc = -errno;
			break;
		}
		int r = bh_client_step(t->c);
		if (r < 0)
			t->rc = r;
	}
	if (!t->warm) { /* never got going: do not leave the main thread waiting */
		pthread_mutex_lock(t->mu);
		(*t->n_warm)++;
		pthread_cond_broadcast(t->cv);
		pthread_mutex_unlock(t->mu);
	}
	return NULL;
}

struct swap_run {
	struct samples cutover, wall, ready, drain; /* ns */
	uint64_t calls, failed;                      /* under load */
	char first_error[BH_ERROR_MESSAGE_MAX];
	bool ok;
};

/* One swap of echo to the plugin's file; its timings into sr. 0 or -1 (printed). */
static int one_swap(bh_client *c, const char *plugin, struct swap_run *sr)
{
	bh_writer *w = bh_client_params(c);
	bh_write_array(w, 2);
	bh_write_cstr(w, "echo");
	bh_write_cstr(w, plugin);
	bh_result *res = NULL;
	bh_error err;
	uint64_t t0 = now_ns();
	int r = bh_call(c, "bulkhead.swap", 30000, &res, &err);
	uint64_t t1 = now_ns();
	if (r < 0) {
		fprintf(stderr, "bench_calls: bulkhead.swap: %d %s\n", r, err.message);
		return -1;
	}
	const bh_value *v = bh_result_value(res);
	double cut = -1, ready = -1, drain = -1;
	bh_value_get_float(bh_value_find(v, "cutover_ms"), &cut);
	bh_value_get_float(bh_value_find(v, "ready_ms"), &ready);
	bh_value_get_float(bh_value_find(v, "drain_ms"), &drain);
	bool swapped = bh_value_str_eq(bh_value_find(v, "result"), "swapped");
	bh_result_free(res);
	if (!swapped || cut < 0 || ready < 0 || drain < 0) {
		fprintf(stderr, "bench_calls: bulkhead.swap: an unexpected answer\n");
		return -1;
	}
	if (samples_add(&sr->cutover, (uint64_t)(cut * 1e6)) < 0 ||
	    samples_add(&sr->wall, t1 - t0) < 0 ||
	    samples_add(&sr->ready, (uint64_t)(ready * 1e6)) < 0 ||
	    samples_add(&sr->drain, (uint64_t)(drain * 1e6)) < 0)
		return -1;
	return 0;
}

/* pl->swaps swaps one after the other, with (loaded) or without client threads
 * calling echo throughout. 0 or -1 (printed). */
static int measure_swap(const struct options *o, const struct plan *pl, const char *sock,
			bool loaded, struct swap_run *sr)
{
	bh_client *c = NULL;
	int r = bh_client_connect(sock, &c);
	if (r < 0) {
		fprintf(stderr, "bench_calls: connect %s: %s\n", sock, strerror(-r));
		return -1;
	}
	struct swap_load t[SWAP_LOAD_CLIENTS];
	atomic_bool stop;
	pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
	pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
	int n_warm = 0, started = 0, ret = -1;
	atomic_init(&stop, false);
	memset(t, 0, sizeof(t));
	for (int i = 0; loaded && i < SWAP_LOAD_CLIENTS; i++) {
		t[i] = (struct swap_load){ .stop = &stop, .mu = &mu, .cv = &cv, .n_warm = &n_warm };
		r = bh_client_connect(sock, &t[i].c);
		if (r < 0) {
			fprintf(stderr, "bench_calls: connect %s: %s\n", sock, strerror(-r));
			goto out;
		}
		if (pthread_create(&t[i].tid, NULL, swap_load_main, &t[i]) != 0) {
			fprintf(stderr, "bench_calls: pthread_create failed\n");
			goto out;
		}
		started++;
	}
	/* The load runs before the first swap. */
	pthread_mutex_lock(&mu);
	while (n_warm < started)
		pthread_cond_wait(&cv, &mu);
	pthread_mutex_unlock(&mu);
	for (int i = 0; i < pl->swaps; i++)
		if (one_swap(c, o->plugin, sr) < 0)
			goto out;
	ret = 0;
out:
	atomic_store(&stop, true);
	for (int i = 0; i < started; i++) {
		pthread_join(t[i].tid, NULL);
		sr->calls += t[i].done;
		sr->failed += t[i].failed;
		if (t[i].failed && !sr->first_error[0])
			snprintf(sr->first_error, sizeof(sr->first_error), "%s", t[i].first_error);
		if (t[i].rc < 0) {
			fprintf(stderr, "bench_calls: load client: %s\n", strerror(-t[i].rc));
			ret = -1;
		}
	}
	for (int i = 0; i < SWAP_LOAD_CLIENTS; i++)
		bh_client_free(t[i].c);
	bh_client_free(c);
	samples_sort(&sr->cutover);
	samples_sort(&sr->wall);
	samples_sort(&sr->ready);
	samples_sort(&sr->drain);
	sr->ok = ret == 0;
	return ret;
}

static void swap_run_free(struct swap_run *sr)
{
	free(sr->cutover.v);
	free(sr->wall.v);
	free(sr->ready.v);
	free(sr->drain.v);
}

static void tsv_swap(const struct swap_run *idle, const struct swap_run *load)
{
	const struct swap_run *runs[2] = { idle, load };
	const char *names[2] = { "idle", "load" };
	for (int i = 0; i < 2; i++) {
		const struct swap_run *sr = runs[i];
		const struct {
			const char *what;
			const struct samples *s;
		} parts[] = { { "cutover", &sr->cutover }, { "command", &sr->wall },
			      { "ready", &sr->ready }, { "drain", &sr->drain } };
		if (!sr->ok)
			continue;
		for (size_t j = 0; j < sizeof(parts) / sizeof(parts[0]); j++) {
			const struct samples *s = parts[j].s;
			figure(pct_us(s->v, s->n, 0.5) / 1000, "ms", "swap/%s/%s/p50", names[i],
			       parts[j].what);
			figure(pct_us(s->v, s->n, 0.99) / 1000, "ms", "swap/%s/%s/p99", names[i],
			       parts[j].what);
		}
	}
	if (load->ok) {
		figure((double)load->calls, "calls", "swap/load/calls");
		figure((double)load->failed, "calls", "swap/load/failed");
	}
	fflush(stdout);
}

static void print_swap(const struct options *o, const struct swap_run *idle,
		       const struct swap_run *load)
{
	if (o->tsv) {
		tsv_swap(idle, load);
		return;
	}
	printf("5. Hot swap: bulkhead.swap of echo (instances = 1, sandbox %s) to %s, "
	       "%zu swaps\n"
	       "   one after the other, ms. cut-over: the command until the new generation "
	       "serves\n"
	       "   (cutover_ms of the answer); command: until its answer (old generation "
	       "gone);\n"
	       "   ready: spawn + handshake + init of the new instance. Under load: %d "
	       "clients\n"
	       "   pipelining %d calls of echo.echo each, throughout.\n",
	       o->sandbox ? "on" : "off", o->plugin, idle->cutover.n, SWAP_LOAD_CLIENTS,
	       SWAP_LOAD_INFLIGHT);
	printf("  %-10s | %9s %9s | %9s %9s | %9s %9s | %9s\n", "", "cut-over", "p99",
	       "command", "p99", "ready", "p99", "drain p50");
	const struct swap_run *runs[2] = { idle, load };
	const char *names[2] = { "idle", "under load" };
	for (int i = 0; i < 2; i++) {
		const struct swap_run *sr = runs[i];
		if (!sr->ok)
			continue;
		printf("  %-10s | %9.2f %9.2f | %9.2f %9.2f | %9.2f %9.2f | %9.2f\n", names[i],
		       pct_us(sr->cutover.v, sr->cutover.n, 0.5) / 1000,
		       pct_us(sr->cutover.v, sr->cutover.n, 0.99) / 1000,
		       pct_us(sr->wall.v, sr->wall.n, 0.5) / 1000,
		       pct_us(sr->wall.v, sr->wall.n, 0.99) / 1000,
		       pct_us(sr->ready.v, sr->ready.n, 0.5) / 1000,
		       pct_us(sr->ready.v, sr->ready.n, 0.99) / 1000,
		       pct_us(sr->drain.v, sr->drain.n, 0.5) / 1000);
	}
	if (load->ok) {
		printf("  calls during the swaps under load: %" PRIu64 ", failed: %" PRIu64 "%s%s\n",
		       load->calls, load->failed, load->failed ? "; first: " : "",
		       load->failed ? load->first_error : "");
		double p50 = pct_us(load->cutover.v, load->cutover.n, 0.5) / 1000;
		printf("  target: cut-over p50 under %.0f ms under load: %.2f ms  %s; zero failed "
		       "calls: %s\n",
		       SWAP_TARGET_MS, p50, p50 < SWAP_TARGET_MS ? "PASS" : "MISS",
		       load->failed ? "MISS" : "PASS");
	}
	printf("\n");
	fflush(stdout);
}

/* ---- the report ---- */

static void print_machine(const struct options *o)
{
	struct utsname u;
	char model[256] = "unknown CPU";
	FILE *f = fopen("/proc/cpuinfo", "re");
	if (f) {
		char line[512];
		while (fgets(line, sizeof(line), f))
			if (strncmp(line, "model name", 10) == 0) {
				char *colon = strchr(line, ':');
				if (colon) {
					snprintf(model, sizeof(model), "%s", colon + 2);
					model[strcspn(model, "\n")] = 0;
				}
				break;
			}
		fclose(f);
	}
	cpu_set_t set;
	int allowed = sched_getaffinity(0, sizeof(set), &set) == 0 ? CPU_COUNT(&set) : -1;
	uname(&u);
	const char *c = o->tsv ? "# " : "";
	printf("%sbulkhead bench_calls (%s run)\n", c, o->quick ? "quick" : "full");
	printf("%smachine: nproc %ld (this process may use %d), %s, %s %s %s\n",
	       c, sysconf(_SC_NPROCESSORS_ONLN), allowed, model, u.sysname, u.release, u.machine);
	printf("%sdaemon:  %s%s%s%s%s\n%splugin:  %s (sandbox %s)\n", c, o->wrap ? o->wrap : "",
	       o->wrap ? " " : "", o->daemon, o->placement ? ", cpu_placement " : "",
	       o->placement ? o->placement : "", c, o->plugin, o->sandbox ? "on" : "off");
	if (o->pin_daemon >= 0 || o->pin_client >= 0 || o->pin_shim >= 0)
		printf("%spinned:  daemon CPU %d, client CPU %d, plugin/raw echo CPU %d\n", c,
		       o->pin_daemon, o->pin_client, o->pin_shim);
	/* What every system call of a round trip costs here before it does anything. */
	enum { SYSCALLS = 200000 };
	uint64_t t0 = now_ns();
	for (int i = 0; i < SYSCALLS; i++)
		syscall(SYS_getppid);
	printf("%ssystem call: %.2f us (getppid, mean of %d)\n", c,
	       (double)(now_ns() - t0) / SYSCALLS / 1000, SYSCALLS);
	if (!o->tsv)
		printf("\n");
	fflush(stdout);
}

/* The largest payload, echoed: payload bytes both ways per round trip at the p50, in
 * GB/s, of the raw stream socket and of the routed C client on the memfd path. */
static void print_gbps(const struct options *o, const struct latency *lat)
{
	const int k = N_SIZES - 1;
	const struct samples *raw = &lat->s[P_RAW][k], *mfd = &lat->s[P_MEMFD][k];
	if (!o->size_on[k] || !raw->n || !mfd->n)
		return;
	double bytes = 2.0 * (double)payload_sizes[k];
	double a = bytes / (pct_us(raw->v, raw->n, 0.50) * 1000.0);
	double b = bytes / (pct_us(mfd->v, mfd->n, 0.50) * 1000.0);
	if (o->tsv) {
		figure(a, "GB/s", "bandwidth/%s/raw", payload_keys[k]);
		figure(b, "GB/s", "bandwidth/%s/memfd", payload_keys[k]);
		figure(b / a, "x", "bandwidth/%s/memfd/vs_raw", payload_keys[k]);
		return;
	}
	printf("  %s echoed, both ways at the p50: raw stream socket %.2f GB/s, routed C "
	       "client (memfd) %.2f GB/s: %.2fx raw  %s\n", payload_names[k], a, b, b / a,
	       b >= a ? "PASS" : "MISS");
}

static void tsv_latency(const struct options *o, const struct latency *lat)
{
	for (int k = 0; k < N_SIZES; k++) {
		const struct samples *raw = &lat->s[P_RAW][k];
		if (!o->size_on[k])
			continue;
		for (int p = 0; p < N_PATHS; p++) {
			const struct samples *sp = &lat->s[p][k];
			const struct cpu_use *u = &lat->cpu[p][k];
			const char *size = payload_keys[k], *path = path_names[p];
			double n = (double)sp->n * 1000;
			if (sp->n == 0)
				continue;
			figure(pct_us(sp->v, sp->n, 0.50), "us", "latency/%s/%s/p50", size, path);
			figure(pct_us(sp->v, sp->n, 0.99), "us", "latency/%s/%s/p99", size, path);
			if (p != P_RAW && raw->n)
				figure(pct_us(sp->v, sp->n, 0.50) / pct_us(raw->v, raw->n, 0.50), "x",
				       "latency/%s/%s/vs_raw", size, path);
			figure((double)u->client / n, "us", "latency/%s/%s/cpu_client", size, path);
			if (p != P_RAW)
				figure((double)u->middle / n, "us", "latency/%s/%s/cpu_middle", size,
				       path);
			figure((double)u->end / n, "us", "latency/%s/%s/cpu_end", size, path);
		}
	}
	print_gbps(o, lat);
	fflush(stdout);
}

static void print_latency(const struct options *o, const struct latency *lat)
{
	if (o->tsv) {
		tsv_latency(o, lat);
		return;
	}
	printf("1+2. Round trip, one call in flight, µs. raw: socketpair ping-pong with an echo "
	       "process;\n"
	       "     relay: the same through a minimal epoll relay process (the floor for one "
	       "hop);\n"
	       "     routed: bh_call(\"echo.echo\", [bin]) through bulkheadd to the echo "
	       "plugin;\n"
	       "     memfd: the same from a client with bh_client_use_memfd (64 KiB and more "
	       "as memfds).\n"
	       "     on-CPU: user + system time per call of the client thread, the middle "
	       "(relay or\n"
	       "     bulkheadd) and the far end (echo process or plugin instance).\n");
	printf("  %-6s %-7s| %7s %9s %9s %8s | %7s %7s %7s\n", "size", "path", "n", "p50",
	       "p99", "p50/raw", "client", "middle", "end");
	for (int k = 0; k < N_SIZES; k++) {
		if (!o->size_on[k])
			continue;
		const struct samples *raw = &lat->s[P_RAW][k];
		double raw50 = pct_us(raw->v, raw->n, 0.50);
		for (int p = 0; p < N_PATHS; p++) {
			const struct samples *sp = &lat->s[p][k];
			const struct cpu_use *u = &lat->cpu[p][k];
			if (sp->n == 0)
				continue;
			double p50 = pct_us(sp->v, sp->n, 0.50), n = (double)sp->n * 1000;
			printf("  %-6s %-7s| %7zu %9.1f %9.1f ", p == 0 || !lat->s[0][k].n ?
			       payload_names[k] : "", path_names[p], sp->n, p50,
			       pct_us(sp->v, sp->n, 0.99));
			if (raw->n)
				printf("%7.2fx", p50 / raw50);
			else
				printf("%8s", "");
			printf(" | %7.1f ", (double)u->client / n);
			if (p == P_RAW)
				printf("%7s", "-");
			else
				printf("%7.1f", (double)u->middle / n);
			printf(" %7.1f\n", (double)u->end / n);
		}
	}
	const struct samples *raw = &lat->s[P_RAW][0], *rtd = &lat->s[P_ROUTED][0];
	const struct samples *chn = &lat->s[P_CHAINED][0];
	if (o->size_on[0] && rtd->n && chn->n) {
		/* chained = a client's call + a plugin's call out: the second alone. */
		double r50 = pct_us(rtd->v, rtd->n, 0.50), c50 = pct_us(chn->v, chn->n, 0.50);
		printf("  plugin -> plugin 64 B (chained - routed): %.1f µs, %.2fx a client's call "
		       "(target <= %.1fx)  %s\n", c50 - r50, (c50 - r50) / r50, CHAINED_TARGET_X,
		       c50 - r50 <= CHAINED_TARGET_X * r50 ? "PASS" : "MISS");
	}
	if (o->size_on[0] && raw->n && rtd->n) {
		double a50 = pct_us(raw->v, raw->n, 0.50), b50 = pct_us(rtd->v, rtd->n, 0.50);
		double a99 = pct_us(raw->v, raw->n, 0.99), b99 = pct_us(rtd->v, rtd->n, 0.99);
		printf("  target: routed 64 B p50 <= %.1fx raw 64 B p50 of this run: %.2fx  %s\n",
		       RATIO_TARGET, b50 / a50, b50 <= RATIO_TARGET * a50 ? "PASS" : "MISS");
		printf("  target: routed 64 B p99 <= %.1fx raw 64 B p99 of this run: %.2fx  %s\n",
		       RATIO_TARGET, b99 / a99, b99 <= RATIO_TARGET * a99 ? "PASS" : "MISS");
	}
	print_gbps(o, lat);
	printf("\n");
	fflush(stdout);
}

static void print_tput_head(const struct options *o)
{
	if (o->tsv)
		return;
	printf("3. Throughput, %d B payload, N calls in flight per client (one thread and "
	       "bh_client each),\n"
	       "   calls/s; routed: bh_call_start to echo2 (instances = 2); raw: the same "
	       "pipelining on\n"
	       "   socketpairs to echo processes; relay: the same through an epoll relay "
	       "process per client\n"
	       "   (four wake-ups a call, as routed). on-CPU µs per routed call: clients, "
	       "middle (bulkheadd),\n"
	       "   end; cpu s/100k: the three together, CPU seconds per 100 000 routed "
	       "calls.\n",
	       TPUT_PAYLOAD);
	printf("  %-7s %3s | %10s %10s %10s | %10s %8s %8s %8s %10s\n", "clients", "N", "raw",
	       "relay", "routed", "routed/raw", "client", "middle", "end", "cpu s/100k");
}

/* One line of the throughput table; raw or relay calls_per_s is 0 when not run. */
static void print_tput_row(const struct options *o, int clients, int inflight,
			   const struct tput_result *raw, const struct tput_result *rly,
			   const struct tput_result *rtd)
{
	double cpu_100k = (rtd->cpu_client + rtd->cpu_middle + rtd->cpu_end) * 0.1;
	if (o->tsv) {
		char row[32];
		snprintf(row, sizeof(row), "%dc%di", clients, inflight);
		if (raw->calls_per_s > 0) {
			figure(raw->calls_per_s, "calls/s", "throughput/%s/raw/rate", row);
			figure(rtd->calls_per_s / raw->calls_per_s, "x",
			       "throughput/%s/routed/vs_raw", row);
		}
		if (rly->calls_per_s > 0) {
			figure(rly->calls_per_s, "calls/s", "throughput/%s/relay/rate", row);
			figure(rtd->calls_per_s / rly->calls_per_s, "x",
			       "throughput/%s/routed/vs_relay", row);
		}
		figure(rtd->calls_per_s, "calls/s", "throughput/%s/routed/rate", row);
		figure(rtd->cpu_client, "us", "throughput/%s/routed/cpu_client", row);
		figure(rtd->cpu_middle, "us", "throughput/%s/routed/cpu_middle", row);
		figure(rtd->cpu_end, "us", "throughput/%s/routed/cpu_end", row);
		figure(cpu_100k, "s", "throughput/%s/routed/cpu_per_100k", row);
		fflush(stdout);
		return;
	}
	printf("  %-7d %3d | %10.0f %10.0f %10.0f | ", clients, inflight, raw->calls_per_s,
	       rly->calls_per_s, rtd->calls_per_s);
	if (raw->calls_per_s > 0)
		printf("%9.3fx", rtd->calls_per_s / raw->calls_per_s);
	else
		printf("%10s", "");
	printf(" %8.2f %8.2f %8.2f %10.2f\n", rtd->cpu_client, rtd->cpu_middle, rtd->cpu_end,
	       cpu_100k);
	fflush(stdout);
}

static void print_cold(const struct options *o, const struct cold *cs)
{
	const struct {
		const char *key, *label, *fmt;
		const struct samples *s;
	} rows[] = {
		{ "load", "load call until its answer (ready)", "  %-36s | %9.2f %9.2f\n",
		  &cs->load },
		{ "first_call", "then its first call (ping)", "  %-36s | %9.3f %9.3f\n",
		  &cs->first },
		{ "unload", "then bulkhead.unload (not counted)", "  %-36s | %9.2f %9.2f\n",
		  &cs->unload },
	};
	if (!o->tsv) {
		printf("4. Cold start: bulkhead.load of echo.so under a fresh name (default "
		       "sandbox profile), %zu loads, ms\n",
		       cs->load.n);
		printf("  %-36s | %9s %9s\n", "", "p50", "p99");
	}
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		const struct samples *s = rows[i].s;
		double p50 = pct_us(s->v, s->n, 0.5) / 1000, p99 = pct_us(s->v, s->n, 0.99) / 1000;
		if (o->tsv) {
			figure(p50, "ms", "cold/%s/p50", rows[i].key);
			figure(p99, "ms", "cold/%s/p99", rows[i].key);
		} else {
			printf(rows[i].fmt, rows[i].label, p50, p99);
		}
	}
	if (!o->tsv)
		printf("\n");
	fflush(stdout);
}

/* ---- main ---- */

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: bench_calls [OPTIONS]\n"
		"Measure calls through bulkheadd against a raw socketpair floor.\n"
		"\n"
		"  --quick              a ~10 s run (the default takes under a minute)\n"
		"  --tsv                print the figures as NAME<TAB>VALUE<TAB>UNIT lines, the\n"
		"                       description of the run on lines starting with '#'\n"
		"  --daemon PATH        bulkheadd (default %s)\n"
		"  --plugin PATH        echo.so (default %s)\n"
		"  --no-sandbox         run the configured echo instances without the sandbox\n"
		"                       (the cold-start loads always use the default profile)\n"
		"  --only LIST          sections to run: raw,relay,routed,memfd,tput,cold,swap\n"
		"                       (default all; memfd: the routed C client on the memfd\n"
		"                       path)\n"
		"  --sizes LIST         latency payloads: 64,4K,1M,64M (default all; 64M only\n"
		"                       on the raw, relay and memfd paths, a few samples)\n"
		"  --inflight N         pipelined calls per client in the throughput part (32)\n"
		"  --pin D,C,S          pin the daemon, this program, and the plugin instances\n"
		"                       plus the raw echo process to CPUs D, C, S (-1: leave)\n"
		"  --daemon-wrap CMD    start the daemon under CMD, e.g. \"perf record -g -o "
		"FILE\" or\n"
		"                       \"strace -f -c -o FILE\"; fewer samples, and the "
		"on-CPU columns\n"
		"                       then count the wrapper too\n"
		"  --no-variants        leave out the routed nospin (spin_us = 0) and bare\n"
		"                       (sandbox = false) paths and the max_payload setting,\n"
		"                       e.g. for a daemon that knows neither\n"
		"  --spin-us N          spin_us of the echo and echo2 plugins (default: the\n"
		"                       daemon's default)\n"
		"  --placement MODE     the daemon's cpu_placement: shared or apart (the\n"
		"                       daemon on a CPU of its own, instances on the others)\n"
		"  -h, --help           this text\n",
		BH_BENCH_DAEMON, BH_BENCH_PLUGIN);
}

static int parse_sizes(struct options *o, const char *list)
{
	for (int k = 0; k < N_SIZES; k++)
		o->size_on[k] = false;
	char *copy = strdup(list), *save = NULL;
	if (!copy)
		return -ENOMEM;
	int r = 0;
	for (char *w = strtok_r(copy, ",", &save); w; w = strtok_r(NULL, ",", &save)) {
		static const char *const names[N_SIZES] = { "64", "4K", "1M", "64M" };
		int k = 0;
		while (k < N_SIZES && strcasecmp(w, names[k]) != 0)
			k++;
		if (k == N_SIZES)
			r = -EINVAL;
		else
			o->size_on[k] = true;
	}
	free(copy);
	return r;
}

static int parse_only(struct options *o, const char *list)
{
	o->run_raw = o->run_relay = o->run_routed = o->run_memfd = o->run_tput = false;
	o->run_cold = o->run_swap = false;
	char *copy = strdup(list), *save = NULL;
	if (!copy)
		return -ENOMEM;
	int r = 0;
	for (char *w = strtok_r(copy, ",", &save); w; w = strtok_r(NULL, ",", &save)) {
		if (strcmp(w, "raw") == 0)
			o->run_raw = true;
		else if (strcmp(w, "relay") == 0)
			o->run_relay = true;
		else if (strcmp(w, "routed") == 0)
			o->run_routed = true;
		else if (strcmp(w, "memfd") == 0)
			o->run_memfd = true;
		else if (strcmp(w, "tput") == 0)
			o->run_tput = true;
		else if (strcmp(w, "cold") == 0)
			o->run_cold = true;
		else if (strcmp(w, "swap") == 0)
			o->run_swap = true;
		else
			r = -EINVAL;
	}
	free(copy);
	return r;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "quick", no_argument, NULL, 'q' },
		{ "tsv", no_argument, NULL, 't' },
		{ "daemon", required_argument, NULL, 'd' },
		{ "plugin", required_argument, NULL, 'p' },
		{ "no-sandbox", no_argument, NULL, 'S' },
		{ "only", required_argument, NULL, 'o' },
		{ "sizes", required_argument, NULL, 's' },
		{ "inflight", required_argument, NULL, 'n' },
		{ "pin", required_argument, NULL, 'P' },
		{ "daemon-wrap", required_argument, NULL, 'w' },
		{ "no-variants", no_argument, NULL, 'V' },
		{ "spin-us", required_argument, NULL, 'u' },
		{ "placement", required_argument, NULL, 'L' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct options o = {
		.sandbox = true, .daemon = BH_BENCH_DAEMON, .plugin = BH_BENCH_PLUGIN,
		.run_raw = true, .run_relay = true, .run_routed = true, .run_memfd = true,
		.run_tput = true, .run_cold = true, .run_swap = true, .variants = true, .spin_us = -1,
		.pin_daemon = -1, .pin_client = -1, .pin_shim = -1, .inflight = 32,
		.size_on = { true, true, true, true },
	};
	int opt;
	while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'q': o.quick = true; break;
		case 't': o.tsv = true; break;
		case 'd': o.daemon = optarg; break;
		case 'p': o.plugin = optarg; break;
		case 'S': o.sandbox = false; break;
		case 'w': o.wrap = optarg; break;
		case 'V': o.variants = false; break;
		case 'u': o.spin_us = atoi(optarg); break;
		case 'L': o.placement = optarg; break;
		case 'o':
			if (parse_only(&o, optarg) < 0) {
				fprintf(stderr, "bench_calls: --only takes "
						"raw,relay,routed,tput,cold,swap\n");
				return 2;
			}
			break;
		case 's':
			if (parse_sizes(&o, optarg) < 0) {
				fprintf(stderr, "bench_calls: --sizes takes 64,4K,1M,64M\n");
				return 2;
			}
			break;
		case 'n':
			o.inflight = atoi(optarg);
			if (o.inflight < 1 || o.inflight > 1000) {
				fprintf(stderr, "bench_calls: --inflight is 1..1000\n");
				return 2;
			}
			break;
		case 'P':
			if (sscanf(optarg, "%d,%d,%d", &o.pin_daemon, &o.pin_client, &o.pin_shim) != 3) {
				fprintf(stderr, "bench_calls: --pin takes D,C,S\n");
				return 2;
			}
			break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind < argc) {
		usage(stderr);
		return 2;
	}
	if (o.plugin[0] != '/') {
		/* bulkhead.load wants an absolute path. */
		char *abs = realpath(o.plugin, NULL);
		if (!abs) {
			fprintf(stderr, "bench_calls: %s: %s\n", o.plugin, strerror(errno));
			return 1;
		}
		o.plugin = abs; /* lives until exit */
	}

	struct plan pl;
	if (o.quick)
		pl = (struct plan){ .rounds = 4, .per_round = { 2500, 2000, 60, 1 },
				    .size_cap_ns = 1000000000ull, .warmup_calls = 1000,
				    .tput_warm_ns = 150000000ull, .tput_window_ns = 500000000ull,
				    .cold_loads = 10, .swaps = 10 };
	else
		pl = (struct plan){ .rounds = 8, .per_round = { 6000, 5000, 150, 2 },
				    .size_cap_ns = 4000000000ull, .warmup_calls = 2000,
				    .tput_warm_ns = 300000000ull, .tput_window_ns = 2000000000ull,
				    .cold_loads = 30, .swaps = 30 };
	if (o.wrap) {
		/* A tracer slows everything down: keep the run bounded. */
		for (int k = 0; k < N_SIZES; k++)
			pl.per_round[k] = pl.per_round[k] / 20 + 1;
		pl.warmup_calls = 200;
	}

	signal(SIGPIPE, SIG_IGN);
	print_machine(&o);
	(void)pin_to(0, o.pin_client);
	uint64_t t_begin = now_ns();

	struct daemon_run dr = { 0 };
	struct latency lat = { 0 };
	struct cold cs = { 0 };
	struct swap_run sw_idle = { 0 }, sw_load = { 0 };
	int status = 1;
	bool need_daemon = o.run_routed || o.run_memfd || o.run_tput || o.run_cold || o.run_swap;
	if (need_daemon) {
		if (daemon_start(&dr, &o) < 0)
			goto out;
		/* Calls queue while the instances start: these answer once they are ready. */
		bh_client *c = NULL;
		int r = bh_client_connect(dr.sock, &c);
		if (r < 0) {
			fprintf(stderr, "bench_calls: connect %s: %s\n", dr.sock, strerror(-r));
			goto out;
		}
		r = control_call(c, "echo.ping", NULL, NULL, 30000);
		if (r == 0)
			r = control_call(c, "echo2.ping", NULL, NULL, 30000);
		bh_client_free(c);
		if (r < 0)
			goto out;
		pin_daemon_children(dr.pid, o.pin_shim);
	}

	if (o.run_raw || o.run_relay || o.run_routed || o.run_memfd) {
		if (measure_latency(&o, &pl, dr.sock, dr.pid, &lat) < 0)
			goto out;
		print_latency(&o, &lat);
	}

	if (o.run_tput) {
		print_tput_head(&o);
		/* Pipelined with 1, 2, 4 clients, then 4 clients with one call each. */
		for (size_t i = 0; i <= N_CLIENT_COUNTS; i++) {
			int n = i < N_CLIENT_COUNTS ? client_counts[i] : MAX_CLIENTS;
			int inflight = i < N_CLIENT_COUNTS ? o.inflight : 1;
			struct tput_result raw = { 0 }, rly = { 0 }, rtd;
			if (o.run_raw &&
			    measure_tput(&o, &pl, NULL, 0, false, n, inflight, &raw) < 0)
				goto out;
			if (o.run_relay &&
			    measure_tput(&o, &pl, NULL, 0, true, n, inflight, &rly) < 0)
				goto out;
			if (measure_tput(&o, &pl, dr.sock, dr.pid, false, n, inflight, &rtd) < 0)
				goto out;
			print_tput_row(&o, n, inflight, &raw, &rly, &rtd);
		}
		if (!o.tsv)
			printf("\n");
	}

	if (o.run_cold) {
		if (measure_cold(&o, &pl, dr.sock, &cs) < 0)
			goto out;
		print_cold(&o, &cs);
	}

	if (o.run_swap) {
		if (measure_swap(&o, &pl, dr.sock, false, &sw_idle) < 0 ||
		    measure_swap(&o, &pl, dr.sock, true, &sw_load) < 0)
			goto out;
		print_swap(&o, &sw_idle, &sw_load);
	}
	status = 0;
out:
	daemon_stop(&dr, status != 0);
	if (status != 0 && dr.dir[0])
		fprintf(stderr, "bench_calls: kept %s for inspection\n", dr.dir);
	if (o.tsv)
		figure((double)(now_ns() - t_begin) / 1e9, "s", "total_time");
	else
		printf("total time %.1f s%s\n", (double)(now_ns() - t_begin) / 1e9,
		       status ? " (FAILED)" : "");
	for (int p = 0; p < N_PATHS; p++)
		for (int k = 0; k < N_SIZES; k++)
			free(lat.s[p][k].v);
	free(cs.load.v);
	free(cs.first.v);
	free(cs.unload.v);
	swap_run_free(&sw_idle);
	swap_run_free(&sw_load);
	return status;
}
