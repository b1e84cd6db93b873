/* bench_input: what hostile-sized input costs the daemon, in CPU time. A program that
 * prints figures, not a test. It starts bulkheadd (from this build tree, or the one
 * given with --daemon, e.g. an older build to compare) with echo.so and nils.so, and
 * for each case reads the daemon's utime + stime from /proc before and after:
 *   drip      a 1 MiB request to echo.echo written one byte per send(), and its answer
 *   refused   a 17 MiB request (17 arrays of 1 Mi nils): refused once it passes the
 *             16 MiB limit, and the connection closed
 *   nils      nils.nils(15): a valid 15 MiB result of 15 Mi nils from a plugin
 * Meanwhile a second connection calls echo.ping; its slowest answer is printed too.
 *
 *   bench_input [--daemon PATH] [--only drip|refused|nils]
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bulkhead/client.h"
#include "bulkhead/proto.h"

static char dir[64], sock_path[128];
static pid_t daemon_pid;

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* utime + stime of pid, in seconds. */
static double cpu_s(pid_t pid)
{
	char path[64], buf[1024];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = 0;
	const char *p = strrchr(buf, ')'); /* the command name may hold spaces */
	unsigned long long ut, st;
	if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut,
			 &st) != 2)
		return -1;
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static int start_daemon(const char *daemon)
{
	snprintf(dir, sizeof(dir), "/tmp/bh-bench-input.XXXXXX");
	if (!mkdtemp(dir))
		return -errno;
	char conf[128], log[128];
	snprintf(conf, sizeof(conf), "%s/bench.conf", dir);
	snprintf(log, sizeof(log), "%s/daemon.log", dir);
	snprintf(sock_path, sizeof(sock_path), "%s/bulkhead.sock", dir);
	FILE *f = fopen(conf, "we");
	if (!f)
		return -errno;
	fprintf(f,
		"socket = { path = \"%s\"; };\n"
		"log_level = \"warn\";\n"
		"plugins = (\n"
		"  { name = \"echo\"; path = \"%s\"; timeout_ms = 600000; },\n"
		"  { name = \"nils\"; path = \"%s\"; timeout_ms = 600000;\n"
		"    sandbox = { memory = \"1G\"; }; }\n"
		");\n",
		sock_path, BH_BENCH_ECHO, BH_BENCH_NILS);
	fclose(f);
	int ready[2];
	if (pipe2(ready, O_CLOEXEC) < 0)
		return -errno;
	pid_t pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		int fd = fcntl(ready[1], F_DUPFD, 10); /* inherited on purpose */
		int logfd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		if (fd < 0 || logfd < 0 || dup2(logfd, 1) < 0 || dup2(logfd, 2) < 0)
			_exit(127);
		char fdarg[16];
		snprintf(fdarg, sizeof(fdarg), "%d", fd);
		execl(daemon, daemon, "-c", conf, "--ready-fd", fdarg, (char *)NULL);
		_exit(127);
	}
	daemon_pid = pid;
	close(ready[1]);
	char buf[8] = { 0 };
	struct pollfd p = { .fd = ready[0], .events = POLLIN };
	bool ok = poll(&p, 1, 30000) == 1 && read(ready[0], buf, 5) == 5 &&
		  strcmp(buf, "READY") == 0;
	close(ready[0]);
	if (!ok)
		fprintf(stderr, "bench_input: the daemon did not start; see %s\n", log);
	return ok ? 0 : -EIO;
}

static void stop_daemon(void)
{
	kill(daemon_pid, SIGTERM);
	waitpid(daemon_pid, NULL, 0);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "bench_input: could not remove %s\n", dir);
}

static int raw_connect(void)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock_path);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		perror("bench_input: connect");
		exit(1);
	}
	return fd;
}

static void send_all(int fd, const uint8_t *p, size_t n, size_t step)
{
	while (n > 0) {
		ssize_t w = send(fd, p, n < step ? n : step, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return; /* refused: the daemon hung up */
		p += w;
		n -= (size_t)w;
	}
}

/* Read one whole response (or to end of file), with the linear scanner. Its size. */
static size_t read_response(int fd)
{
	struct bh_buf in;
	struct bh_scanner sc;
	struct bh_scan s;
	struct bh_limits lim;
	bh_limits_default(&lim);
	lim.max_message = 64u << 20;
	bh_buf_init(&in, 0);
	bh_scanner_init(&sc);
	size_t size = 0;
	for (;;) {
		if (bh_buf_reserve(&in, 1 << 20) < 0)
			break;
		ssize_t n = recv(fd, in.data + in.len, in.cap - in.len, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		in.len += (size_t)n;
		if (bh_scanner_feed(&sc, in.data, in.len, &lim, &s) != -EAGAIN) {
			size = s.size;
			break;
		}
	}
	bh_buf_done(&in);
	return size;
}

/* [0, 1, method, params] with params [[arrays x [1 Mi nils]]], or [k] for nils. */
static void request(struct bh_buf *out, const char *method, uint32_t arrays, bool inline_nils)
{
	bh_writer w;
	bh_writer_init(&w, out);
	bh_write_array(&w, 4);
	bh_write_uint(&w, 0);
	bh_write_uint(&w, 1);
	bh_write_cstr(&w, method);
	bh_write_array(&w, 1);
	if (!inline_nils) {
		bh_write_uint(&w, arrays);
		return;
	}
	bh_write_array(&w, arrays);
	for (uint32_t a = 0; a < arrays; a++) {
		bh_write_array(&w, arrays == 1 ? (1u << 20) - 16 : 1u << 20);
		for (uint32_t i = 0; i < (arrays == 1 ? (1u << 20) - 16 : 1u << 20); i++)
			bh_write_nil(&w);
	}
}

/* A sibling caller: echo.ping in a loop, the slowest answer kept. */
static volatile bool sibling_stop;
static double sibling_worst;

static void *sibling(void *arg)
{
	bh_client *c = arg;
	while (!sibling_stop) {
		bh_error err;
		double t0 = now_s();
		if (bh_call(c, "echo.ping", 600000, NULL, &err) < 0)
			fprintf(stderr, "bench_input: echo.ping failed: %s\n", err.message);
		double dt = now_s() - t0;
		if (dt > sibling_worst)
			sibling_worst = dt;
	}
	return NULL;
}

static void run(const char *name, const char *what)
{
	struct bh_buf req;
	bh_buf_init(&req, 0);
	size_t step = SIZE_MAX;
	if (strcmp(name, "drip") == 0) {
		request(&req, "echo.echo", 1, true);
		step = 1;
	} else if (strcmp(name, "refused") == 0) {
		request(&req, "echo.echo", 17, true);
	} else {
		request(&req, "nils.nils", 15, false);
	}

	bh_client *c = NULL;
	if (bh_client_connect(sock_path, &c) < 0) {
		fprintf(stderr, "bench_input: cannot connect\n");
		exit(1);
	}
	pthread_t t;
	sibling_stop = false;
	sibling_worst = 0;
	pthread_create(&t, NULL, sibling, c);

	int fd = raw_connect();
	double cpu0 = cpu_s(daemon_pid), t0 = now_s();
	send_all(fd, req.data, req.len, step);
	size_t answer = read_response(fd);
	double wall = now_s() - t0, cpu = cpu_s(daemon_pid) - cpu0;
	close(fd);
	sibling_stop = true;
	pthread_join(t, NULL);
	bh_client_free(c);
	printf("%-8s %-44s daemon CPU %7.3f s  wall %7.3f s  answer %9zu B  "
	       "slowest sibling ping %.3f s\n",
	       name, what, cpu, wall, answer, sibling_worst);
	fflush(stdout);
	bh_buf_done(&req);
}

int main(int argc, char **argv)
{
	const char *daemon = BH_BENCH_DAEMON, *only = NULL;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--daemon") == 0 && i + 1 < argc)
			daemon = argv[++i];
		else if (strcmp(argv[i], "--only") == 0 && i + 1 < argc)
			only = argv[++i];
		else {
			fprintf(stderr, "usage: bench_input [--daemon PATH] "
					"[--only drip|refused|nils]\n");
			return 2;
		}
	}
	if (start_daemon(daemon) < 0)
		return 1;
	printf("daemon %s\n", daemon);
	static const char *const cases[][2] = {
		{ "drip", "1 MiB request, one byte per send()" },
		{ "refused", "17 MiB request, refused past 16 MiB" },
		{ "nils", "15 MiB result of 15 Mi nils" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		if (!only || strcmp(only, cases[i][0]) == 0)
			run(cases[i][0], cases[i][1]);
	stop_daemon();
	return 0;
}
