/* sandbox-bench: spawn latency, confined against unconfined, in the same run.
 *
 *     sandbox-bench [N]        (default 50 of each, interleaved)
 *
 * probe:  bh_sandbox_spawn -> the exec'd probe writes one byte on its channel
 * shim:   bh_sandbox_spawn -> bulkhead-shim (with --seccomp when confined) has
 *         loaded echo.so and its $hello is readable on the channel
 * Each spawn is followed by closing the channel, reaping the child and
 * bh_child_release, outside the timed span. Prints p50 / p99 / max in ms. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bulkhead/sandbox.h"

#define DEADLINE_MS 10000

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* One spawn; the time until the first byte on the channel, or < 0. */
static double once(const struct bh_sandbox_profile *p, bool shim, unsigned serial)
{
	int sv[2], o[2], e[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0 || pipe2(o, O_CLOEXEC) < 0 ||
	    pipe2(e, O_CLOEXEC) < 0)
		return -1;
	char plugin[4096], inside[4096], name[32];
	snprintf(plugin, sizeof(plugin), "%s/echo.so", BH_TEST_PLUGINS);
	bh_sandbox_plugin_path(p, plugin, inside, sizeof(inside));
	snprintf(name, sizeof(name), "bench.%u", serial);
	char *probe_argv[] = {"sandbox-probe", "echo", NULL};
	char *shim_argv[] = {"bulkhead-shim", "--seccomp", inside, NULL};
	char *shim_plain[] = {"bulkhead-shim", inside, NULL};
	struct bh_spawn_args a = {
		.exe = shim ? BH_TEST_SHIM : BH_TEST_PROBE,
		.argv = shim ? (p ? shim_argv : shim_plain) : probe_argv,
		.channel_fd = sv[1], .stdout_fd = o[1], .stderr_fd = e[1],
		.plugin_path = shim ? plugin : BH_TEST_PROBE, .profile = p, .name = name,
	};
	struct bh_child c;
	char err[512];
	double t0 = now_ms();
	int r = bh_sandbox_spawn(&a, &c, err, sizeof(err));
	close(sv[1]);
	close(o[1]);
	close(e[1]);
	double dt = -1;
	if (r < 0) {
		fprintf(stderr, "spawn: %s: %s\n", strerror(-r), err);
	} else {
		struct pollfd pfd = {.fd = sv[0], .events = POLLIN};
		char b;
		if (poll(&pfd, 1, DEADLINE_MS) == 1 && read(sv[0], &b, 1) == 1)
			dt = now_ms() - t0;
		else
			bh_child_kill(&c);
	}
	close(sv[0]);
	if (r == 0) {
		siginfo_t si;
		waitid(P_PIDFD, (id_t)c.pidfd, &si, WEXITED);
		if (dt < 0) {
			char msg[512];
			ssize_t n = read(e[0], msg, sizeof(msg) - 1);
			fprintf(stderr, "no answer; stderr: %.*s\n", n > 0 ? (int)n : 0, msg);
		}
		bh_child_release(&c);
	}
	close(o[0]);
	close(e[0]);
	return dt;
}

static void report(const char *what, double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp);
	int i99 = (int)(0.99 * n + 0.999) - 1;
	printf("%-32s p50 %6.3f ms   p99 %6.3f ms   max %6.3f ms   (n=%d)\n", what, v[n / 2],
	       v[i99 < 0 ? 0 : i99], v[n - 1], n);
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 50;
	if (n < 1 || n > 100000)
		return 2;
	char note[1024];
	bh_sandbox_host_init(note, sizeof(note));
	printf("host: %s\n", note[0] ? note : "all limits on cgroup v2");
	struct bh_sandbox_profile prof = {
		.enabled = true, .memory_bytes = 256 << 20, .pids_max = 64, .cpu_percent = 100,
		.nofile = 256, .fsize_bytes = 64 << 20, .tmp_bytes = 16 << 20,
	};
	double *v[4];
	for (int k = 0; k < 4; k++)
		v[k] = calloc((size_t)n, sizeof(double));
	unsigned serial = 0;
	/* warm-up: page cache, dentries */
	once(NULL, false, serial++);
	once(&prof, true, serial++);
	for (int i = 0; i < n; i++) {
		/* interleaved, so drift hits all four alike */
		if ((v[0][i] = once(NULL, false, serial++)) < 0 ||
		    (v[1][i] = once(&prof, false, serial++)) < 0 ||
		    (v[2][i] = once(NULL, true, serial++)) < 0 ||
		    (v[3][i] = once(&prof, true, serial++)) < 0)
			return 1;
	}
	report("probe, unconfined", v[0], n);
	report("probe, sandboxed", v[1], n);
	report("shim+echo.so $hello, unconfined", v[2], n);
	report("shim+echo.so $hello, sandboxed", v[3], n);
	bh_sandbox_host_done();
	return 0;
}
