/* pagecost: what moving a large payload through memfds costs, step by step.
 *
 * Each step a memfd transfer is made of, timed on its own for one size: copying
 * between warm buffers (the floor), filling a fresh memfd (with fallocate first, and
 * without), reading a memfd through a fresh mapping (with MAP_POPULATE, and without),
 * reading it with pread into warm memory, copying it into a new memfd in the kernel,
 * and freeing its pages. README "Where the time of a routed call goes", item 6, says
 * what the figures mean for bulkhead's large payloads.
 *
 *   pagecost [--mib N] [--rounds R]
 *
 * Prints the median and the largest of R rounds (default 5) for each step, in ms. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define ROUNDS_MAX 50

enum step {
	COPY_WARM,
	FILL_ALLOCATED,
	FILL_PWRITE,
	MAP_READ,
	MAP_POPULATE_READ,
	PREAD_WARM,
	COPY_FILE_RANGE,
	CLOSE,
	N_STEPS
};

static const char *const step_names[N_STEPS] = {
	[COPY_WARM] = "memcpy between warm buffers",
	[FILL_ALLOCATED] = "fresh memfd: fallocate + pwrite",
	[FILL_PWRITE] = "fresh memfd: pwrite alone",
	[MAP_READ] = "mmap the memfd, read every page",
	[MAP_POPULATE_READ] = "the same with MAP_POPULATE",
	[PREAD_WARM] = "pread the memfd into warm memory",
	[COPY_FILE_RANGE] = "fallocate + copy_file_range to a new memfd",
	[CLOSE] = "close the three memfds (pages freed)",
};

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void die(const char *what)
{
	perror(what);
	exit(1);
}

static int new_memfd(void)
{
	int fd = memfd_create("pagecost", MFD_CLOEXEC);
	if (fd < 0)
		die("memfd_create");
	return fd;
}

static void pwrite_all(int fd, const char *p, size_t n)
{
	if (pwrite(fd, p, n, 0) != (ssize_t)n)
		die("pwrite");
}

/* Reads one byte per page, through a fresh mapping of fd: the page-table work. */
static unsigned char read_mapped(int fd, size_t n, int flags)
{
	const unsigned char *m = mmap(NULL, n, PROT_READ, MAP_SHARED | flags, fd, 0);
	if (m == MAP_FAILED)
		die("mmap");
	unsigned char sum = 0;
	for (size_t i = 0; i < n; i += 4096)
		sum = (unsigned char)(sum + m[i]);
	munmap((void *)m, n);
	return sum;
}

/* One round: every step once, each one's time in ms into t. */
static void round_once(char *warm, char *warm2, size_t n, double *t)
{
	volatile unsigned char sink = 0;
	double a = now_ms();
	memcpy(warm2, warm, n);
	t[COPY_WARM] = now_ms() - a;

	int filled = new_memfd();
	a = now_ms();
	if (fallocate(filled, 0, 0, (off_t)n) < 0)
		die("fallocate");
	pwrite_all(filled, warm, n);
	t[FILL_ALLOCATED] = now_ms() - a;

	int plain = new_memfd();
	a = now_ms();
	pwrite_all(plain, warm, n);
	t[FILL_PWRITE] = now_ms() - a;

	a = now_ms();
	sink = read_mapped(filled, n, 0);
	t[MAP_READ] = now_ms() - a;
	a = now_ms();
	sink = read_mapped(plain, n, MAP_POPULATE);
	t[MAP_POPULATE_READ] = now_ms() - a;
	(void)sink;

	a = now_ms();
	if (pread(filled, warm2, n, 0) != (ssize_t)n)
		die("pread");
	t[PREAD_WARM] = now_ms() - a;

	int copy = new_memfd();
	loff_t in = 0, out = 0;
	a = now_ms();
	if (fallocate(copy, 0, 0, (off_t)n) < 0)
		die("fallocate");
	while ((size_t)out < n)
		if (copy_file_range(filled, &in, copy, &out, n - (size_t)out, 0) <= 0)
			die("copy_file_range");
	t[COPY_FILE_RANGE] = now_ms() - a;

	a = now_ms();
	close(filled);
	close(plain);
	close(copy);
	t[CLOSE] = now_ms() - a;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static char *warm_buffer(size_t n)
{
	char *p = malloc(n);
	if (!p)
		die("malloc");
	memset(p, 0x5a, n);
	return p;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = { { "mib", required_argument, NULL, 'm' },
					      { "rounds", required_argument, NULL, 'r' },
					      { NULL, 0, NULL, 0 } };
	long mib = 64, rounds = 5;
	int o;
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (o == 'm')
			mib = strtol(optarg, NULL, 10);
		else if (o == 'r')
			rounds = strtol(optarg, NULL, 10);
		else
			return 2;
	}
	if (mib < 1 || mib > 4096 || rounds < 1 || rounds > ROUNDS_MAX) {
		fprintf(stderr, "pagecost: --mib 1..4096, --rounds 1..%d\n", ROUNDS_MAX);
		return 2;
	}
	size_t n = (size_t)mib << 20;
	char *warm = warm_buffer(n), *warm2 = warm_buffer(n);
	double t[N_STEPS][ROUNDS_MAX], one[N_STEPS];
	round_once(warm, warm2, n, one); /* the first touches of the process: not counted */
	for (long r = 0; r < rounds; r++) {
		round_once(warm, warm2, n, one);
		for (int s = 0; s < N_STEPS; s++)
			t[s][r] = one[s];
	}
	printf("pagecost: %ld MiB, %ld rounds, ms      median      max\n", mib, rounds);
	for (int s = 0; s < N_STEPS; s++) {
		qsort(t[s], (size_t)rounds, sizeof(double), cmp_double);
		printf("  %-44s %8.2f %8.2f\n", step_names[s], t[s][rounds / 2], t[s][rounds - 1]);
	}
	free(warm);
	free(warm2);
	return 0;
}
