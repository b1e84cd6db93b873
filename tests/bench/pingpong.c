/* pingpong: the raw floor's two ways of waiting, side by side.
 *
 * A 64-byte round trip over an AF_UNIX socketpair between two processes, where each
 * end waits for the other either asleep in recv() itself or in poll() before its
 * recv(). The difference is the wake-up Linux gives a sleeper in a Unix stream
 * socket's recv when its peer reads what it sent (unix_write_space wakes every
 * sleeper on the socket; poll() wakes only for what it asked). README "Where the time
 * of a routed call goes" says what this means for the shim.
 *
 *   pingpong [--cpu N] [--rounds R] [--calls N]
 *
 * Prints, per round, the p50 and p99 of the four combinations (client, echo) in turn;
 * --cpu puts both processes on CPU N. */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MSG 64
#define WARMUP 2000

static long long now_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1000000000LL + t.tv_nsec;
}

static int cmp_ll(const void *a, const void *b)
{
	long long x = *(const long long *)a, y = *(const long long *)b;
	return x < y ? -1 : x > y;
}

/* One whole message, waiting in poll() first when asked. */
static bool read_msg(int fd, char *buf, bool use_poll)
{
	size_t got = 0;
	while (got < MSG) {
		if (use_poll) {
			struct pollfd p = { .fd = fd, .events = POLLIN };
			if (poll(&p, 1, -1) < 0 && errno != EINTR)
				return false;
		}
		ssize_t n = recv(fd, buf + got, MSG - got, 0);
		if (n <= 0) {
			if (n < 0 && errno == EINTR)
				continue;
			return false;
		}
		got += (size_t)n;
	}
	return true;
}

/* p50 and p99 of n round trips, µs. */
static int measure(bool poll_client, bool poll_echo, int calls, double *p50, double *p99)
{
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return -errno;
	pid_t pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		char buf[MSG];
		close(sv[0]);
		while (read_msg(sv[1], buf, poll_echo))
			if (send(sv[1], buf, MSG, MSG_NOSIGNAL) != MSG)
				break;
		_exit(0);
	}
	close(sv[1]);
	long long *lat = malloc((size_t)calls * sizeof(*lat));
	char buf[MSG] = { 0 };
	int r = lat ? 0 : -ENOMEM;
	for (int i = 0; r == 0 && i < calls + WARMUP; i++) {
		long long t = now_ns();
		if (send(sv[0], buf, MSG, MSG_NOSIGNAL) != MSG || !read_msg(sv[0], buf, poll_client))
			r = -EIO;
		else if (i >= WARMUP)
			lat[i - WARMUP] = now_ns() - t;
	}
	close(sv[0]);
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
	if (r == 0) {
		qsort(lat, (size_t)calls, sizeof(*lat), cmp_ll);
		*p50 = lat[calls / 2] / 1000.0;
		*p99 = lat[calls * 99 / 100] / 1000.0;
	}
	free(lat);
	return r;
}

int main(int argc, char **argv)
{
	int cpu = -1, rounds = 3, calls = 20000;
	static const struct option opts[] = {
		{ "cpu", required_argument, NULL, 'c' },
		{ "rounds", required_argument, NULL, 'r' },
		{ "calls", required_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	int o;
	while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (o) {
		case 'c': cpu = atoi(optarg); break;
		case 'r': rounds = atoi(optarg); break;
		case 'n': calls = atoi(optarg); break;
		default:
			fprintf(o == 'h' ? stdout : stderr,
				"Usage: pingpong [--cpu N] [--rounds R] [--calls N]\n");
			return o == 'h' ? 0 : 2;
		}
	}
	if (rounds < 1 || calls < 100) {
		fprintf(stderr, "pingpong: --rounds >= 1, --calls >= 100\n");
		return 2;
	}
	if (cpu >= 0) {
		cpu_set_t s;
		CPU_ZERO(&s);
		CPU_SET(cpu, &s);
		if (sched_setaffinity(0, sizeof(s), &s) < 0) {
			fprintf(stderr, "pingpong: CPU %d: %s\n", cpu, strerror(errno));
			return 1;
		}
	}
	printf("64 B socketpair round trip, µs (p50 / p99)%s\n",
	       cpu >= 0 ? ", both ends on one CPU" : "");
	printf("round | recv, recv     | poll, poll     | poll, recv     | recv, poll\n");
	printf("      | (client, echo)\n");
	for (int r = 0; r < rounds; r++) {
		printf("%5d |", r + 1);
		for (int k = 0; k < 4; k++) {
			bool pc = k == 1 || k == 2, pe = k == 1 || k == 3;
			double p50 = 0, p99 = 0;
			int e = measure(pc, pe, calls, &p50, &p99);
			if (e < 0) {
				fprintf(stderr, "\npingpong: %s\n", strerror(-e));
				return 1;
			}
			printf(" %5.1f / %6.1f |", p50, p99);
			fflush(stdout);
		}
		printf("\n");
	}
	return 0;
}
