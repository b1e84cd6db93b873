/* bench_scale: how bulkheadd's cost grows with the number of plugins.
 *
 * One run starts two daemons from this build tree, both with the default sandbox:
 * one with a single one-instance plugin (echo.so as "p0"), one with --plugins N of
 * them (p0 .. pN-1). For each it prints
 *   - start: the time from its exec until every instance is ready: until the last
 *     answer to one call made to every plugin at once (calls to an instance that
 *     is not ready wait in its plugin's queue), confirmed by bulkhead.status;
 *     and the daemon's CPU time until then (and its spawn helper's, bh-spawner);
 *   - memory: the daemon's VmRSS, RssAnon, RssFile and RssShmem (/proc/PID/status)
 *     once every instance is ready;
 * then the latency of routed 64 B calls, bh_call("pK.echo", [bin]) one at a time, to
 * the last plugin of each daemon (the worst place for a lookup that scans): blocks of
 * --calls calls alternate between the two daemons, so that a drift of the machine
 * moves both, and the report gives p50, p99 and the ratio N / 1 of each. For the
 * calls, the client, the daemon and the called instance are pinned to one CPU (--cpu,
 * default 0): unpinned, where the scheduler puts three processes moves a routed call
 * by 2x between two identical daemons, far more than what is measured here.
 *
 * Its exit status says whether the run worked, never whether a target was met.
 * With --tsv the report is NAME<TAB>VALUE<TAB>UNIT lines, its description on lines
 * that start with '#'.
 *
 * Usage: bench_scale [--plugins N] [--quick] [--tsv] [--calls N] [--blocks N]
 *                    [--cpu N] [--daemon PATH] [--plugin PATH]
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
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

#define PAYLOAD 64
#define START_DEADLINE_MS 120000
#define START_BATCH 512 /* calls in flight while the plugins start */

struct options {
	unsigned plugins, calls, blocks;
	int cpu; /* the calls' three processes on this CPU; -1 where the scheduler likes */
	bool tsv;
	const char *daemon, *plugin;
};

struct scale_daemon {
	unsigned plugins;
	char dir[64], conf[96], sock[96], log[96];
	pid_t pid;
	bh_client *c;
	char target[32]; /* "pN-1.echo" */
	double start_ms;
	long rss_kb, anon_kb, file_kb, shmem_kb; /* once all are ready */
	double cpu_ms;                           /* the daemon's CPU time until then */
	double helper_ms;                        /* its spawn helper's, if it has one */
	uint64_t *lat_ns;
	size_t n_lat;
};

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void print_log(const struct scale_daemon *sd)
{
	FILE *f = fopen(sd->log, "re");
	if (!f)
		return;
	char line[1024];
	fprintf(stderr, "---- daemon log (%s) ----\n", sd->log);
	while (fgets(line, sizeof(line), f))
		fputs(line, stderr);
	fprintf(stderr, "---- end of daemon log ----\n");
	fclose(f);
}

static int write_config(const struct scale_daemon *sd, const struct options *o)
{
	FILE *f = fopen(sd->conf, "we");
	if (!f)
		return -errno;
	fprintf(f, "# written by bench_scale\nsocket = { path = \"%s\"; };\n"
		   "log_level = \"warn\";\nplugins = (\n", sd->sock);
	for (unsigned i = 0; i < sd->plugins; i++)
		fprintf(f, "\t{ name = \"p%u\"; path = \"%s\"; instances = 1; }%s\n", i, o->plugin,
			i + 1 < sd->plugins ? "," : "");
	fprintf(f, ");\n");
	int r = ferror(f) ? -EIO : 0;
	if (fclose(f) != 0 && r == 0)
		r = -errno;
	return r;
}

/* Instances in state "ready" in a bulkhead.status answer; -1 when it is not one. */
static long count_ready(const bh_value *status)
{
	const bh_value *plugins = bh_value_find(status, "plugins");
	if (!plugins || plugins->type != BH_ARRAY)
		return -1;
	long n = 0;
	for (uint32_t i = 0; i < plugins->len; i++) {
		const bh_value *insts = bh_value_find(&plugins->as.items[i], "instances");
		for (uint32_t k = 0; insts && insts->type == BH_ARRAY && k < insts->len; k++)
			n += bh_value_str_eq(bh_value_find(&insts->as.items[k], "state"), "ready");
	}
	return n;
}

/* User and system CPU time of a process so far. */
static double cpu_ms(pid_t pid)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	FILE *f = fopen(path, "re");
	unsigned long ut, st;
	double ms = 0;
	if (f && fscanf(f, "%*d (%*[^)]) %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu",
			&ut, &st) == 2)
		ms = (double)(ut + st) * 1000.0 / (double)sysconf(_SC_CLK_TCK);
	if (f)
		fclose(f);
	return ms;
}

static void read_memory(struct scale_daemon *sd)
{
	char path[64], line[256];
	snprintf(path, sizeof(path), "/proc/%d/status", (int)sd->pid);
	FILE *f = fopen(path, "re");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		sscanf(line, "VmRSS: %ld", &sd->rss_kb);
		sscanf(line, "RssAnon: %ld", &sd->anon_kb);
		sscanf(line, "RssFile: %ld", &sd->file_kb);
		sscanf(line, "RssShmem: %ld", &sd->shmem_kb);
	}
	fclose(f);
	sd->cpu_ms = cpu_ms(sd->pid);
	/* The spawn helper: the daemon's child named bh-spawner. */
	snprintf(path, sizeof(path), "/proc/%d/task/%d/children", (int)sd->pid, (int)sd->pid);
	f = fopen(path, "re");
	int child;
	while (f && fscanf(f, "%d", &child) == 1) {
		char comm[64] = "";
		snprintf(path, sizeof(path), "/proc/%d/comm", child);
		FILE *cf = fopen(path, "re");
		if (cf && fgets(comm, sizeof(comm), cf) && strcmp(comm, "bh-spawner\n") == 0)
			sd->helper_ms = cpu_ms(child);
		if (cf)
			fclose(cf);
	}
	if (f)
		fclose(f);
}

/* The answers to the first call of every plugin. */
struct wake {
	unsigned failed;
	char why[160];
};

static void woken(void *userdata, uint32_t msgid, const bh_value *result, const bh_error *err)
{
	(void)msgid, (void)result;
	struct wake *wk = userdata;
	if (err && wk->failed++ == 0)
		snprintf(wk->why, sizeof(wk->why), "%s", err->message);
}

/* Start the daemon, connect once it is listening, and call every plugin once: all
 * are ready when the last answer comes. 0, or -1 with a message and the daemon's log
 * printed. */
static int daemon_start(struct scale_daemon *sd, const struct options *o)
{
	snprintf(sd->dir, sizeof(sd->dir), "/tmp/bh-scale.XXXXXX");
	if (!mkdtemp(sd->dir))
		return -1;
	snprintf(sd->conf, sizeof(sd->conf), "%s/bench.conf", sd->dir);
	snprintf(sd->sock, sizeof(sd->sock), "%s/bulkhead.sock", sd->dir);
	snprintf(sd->log, sizeof(sd->log), "%s/daemon.log", sd->dir);
	snprintf(sd->target, sizeof(sd->target), "p%u.echo", sd->plugins - 1);
	if (write_config(sd, o) < 0)
		return -1;
	int ready[2];
	if (pipe2(ready, O_CLOEXEC) < 0)
		return -1;
	uint64_t t0 = now_ns();
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		int fd = fcntl(ready[1], F_DUPFD, 10); /* inherited on purpose */
		int logfd = open(sd->log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		if (fd < 0 || logfd < 0 || dup2(logfd, 1) < 0 || dup2(logfd, 2) < 0)
			_exit(127);
		char fdarg[16];
		snprintf(fdarg, sizeof(fdarg), "%d", fd);
		execl(o->daemon, o->daemon, "-c", sd->conf, "--ready-fd", fdarg, (char *)NULL);
		_exit(127);
	}
	sd->pid = pid;
	close(ready[1]);
	char buf[8] = {0};
	struct pollfd p = {.fd = ready[0], .events = POLLIN};
	bool listening = poll(&p, 1, START_DEADLINE_MS) == 1 &&
			 read(ready[0], buf, sizeof(buf) - 1) > 0 && strncmp(buf, "READY", 5) == 0;
	close(ready[0]);
	if (!listening || bh_client_connect(sd->sock, &sd->c) < 0) {
		fprintf(stderr, "bench_scale: the daemon did not start\n");
		print_log(sd);
		return -1;
	}
	/* One call to every plugin, in batches: a call to an instance that is not
	 * ready waits in its plugin's queue, so the last answer comes once all are. */
	struct wake wk = {0};
	for (unsigned i = 0; i < sd->plugins; i++) {
		char method[32];
		snprintf(method, sizeof(method), "p%u.echo", i);
		bh_writer *w = bh_client_params(sd->c);
		bh_write_array(w, 0);
		if (bh_call_start(sd->c, method, START_DEADLINE_MS, woken, &wk, NULL) < 0 ||
		    ((i + 1) % START_BATCH == 0 &&
		     bh_client_wait_all(sd->c, START_DEADLINE_MS) < 0)) {
			fprintf(stderr, "bench_scale: calling %s failed\n", method);
			return -1;
		}
	}
	if (bh_client_wait_all(sd->c, START_DEADLINE_MS) < 0 || wk.failed) {
		fprintf(stderr, "bench_scale: %u of %u plugins did not answer (%s)\n", wk.failed,
			sd->plugins, wk.why);
		print_log(sd);
		return -1;
	}
	sd->start_ms = (double)(now_ns() - t0) / 1e6;
	read_memory(sd); /* before the status answer, megabytes with 1000 plugins, passes */
	/* And status agrees. */
	bh_result *res = NULL;
	bh_error err;
	if (bh_call(sd->c, "bulkhead.status", 30000, &res, &err) < 0) {
		fprintf(stderr, "bench_scale: bulkhead.status: %s\n", err.message);
		return -1;
	}
	long n = count_ready(bh_result_value(res));
	bh_result_free(res);
	if (n != (long)sd->plugins) {
		fprintf(stderr, "bench_scale: status shows %ld of %u instances ready\n", n,
			sd->plugins);
		return -1;
	}
	return 0;
}

static int pin(pid_t pid, int cpu)
{
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	return sched_setaffinity(pid, sizeof(set), &set);
}

/* The daemon and the instance that serves the calls (its host pid from status) on
 * cpu. 0 or -1 with a message. */
static int pin_daemon(struct scale_daemon *sd, int cpu)
{
	bh_result *res = NULL;
	bh_error err;
	if (bh_call(sd->c, "bulkhead.status", 30000, &res, &err) < 0) {
		fprintf(stderr, "bench_scale: bulkhead.status: %s\n", err.message);
		return -1;
	}
	char name[32];
	snprintf(name, sizeof(name), "p%u", sd->plugins - 1);
	const bh_value *plugins = bh_value_find(bh_result_value(res), "plugins");
	uint64_t pid = 0;
	for (uint32_t i = 0; plugins && plugins->type == BH_ARRAY && i < plugins->len; i++) {
		const bh_value *p = &plugins->as.items[i];
		if (bh_value_str_eq(bh_value_find(p, "name"), name))
			bh_value_get_uint(bh_value_find(bh_value_at(bh_value_find(p, "instances"), 0),
							"pid"), &pid);
	}
	bh_result_free(res);
	if (!pid || pin(sd->pid, cpu) < 0 || pin((pid_t)pid, cpu) < 0) {
		fprintf(stderr, "bench_scale: cannot pin the daemon and %s to CPU %d\n", name, cpu);
		return -1;
	}
	return 0;
}

static void daemon_stop(struct scale_daemon *sd)
{
	bh_client_free(sd->c);
	sd->c = NULL;
	if (sd->pid > 0) {
		kill(sd->pid, SIGTERM);
		int st;
		while (waitpid(sd->pid, &st, 0) < 0 && errno == EINTR)
			;
		sd->pid = 0;
	}
	char lock[sizeof(sd->sock) + 8];
	snprintf(lock, sizeof(lock), "%s.lock", sd->sock);
	unlink(sd->conf);
	unlink(sd->sock);
	unlink(lock);
	unlink(sd->log);
	rmdir(sd->dir);
	free(sd->lat_ns);
	sd->lat_ns = NULL;
}

/* One block of routed calls, each timed. 0 or -1 with a message. */
static int call_block(struct scale_daemon *sd, unsigned calls, bool record)
{
	static const uint8_t payload[PAYLOAD] = {1, 2, 3};
	for (unsigned i = 0; i < calls; i++) {
		bh_writer *w = bh_client_params(sd->c);
		bh_write_array(w, 1);
		bh_write_bin(w, payload, sizeof(payload));
		bh_result *res = NULL;
		bh_error err;
		uint64_t t = now_ns();
		int r = bh_call(sd->c, sd->target, 0, &res, &err);
		t = now_ns() - t;
		bh_result_free(res);
		if (r < 0) {
			fprintf(stderr, "bench_scale: %s: %s\n", sd->target, err.message);
			return -1;
		}
		if (record)
			sd->lat_ns[sd->n_lat++] = t;
	}
	return 0;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* Percentile q (0..100) of sorted samples, in µs (nearest rank). */
static double pct_us(const uint64_t *sorted, size_t n, double q)
{
	size_t rank = (size_t)(q / 100.0 * (double)n + 0.5);
	rank = rank < 1 ? 1 : rank > n ? n : rank;
	return (double)sorted[rank - 1] / 1000.0;
}

static void report(const struct options *o, struct scale_daemon *sd[2])
{
	double p50[2], p99[2];
	for (int k = 0; k < 2; k++) {
		qsort(sd[k]->lat_ns, sd[k]->n_lat, sizeof(uint64_t), cmp_u64);
		p50[k] = pct_us(sd[k]->lat_ns, sd[k]->n_lat, 50);
		p99[k] = pct_us(sd[k]->lat_ns, sd[k]->n_lat, 99);
	}
	const char *c = o->tsv ? "# " : "";
	printf("%sbench_scale: %u one-instance plugins (echo.so, default sandbox) against 1; "
	       "routed 64 B calls to the last plugin, %u blocks of %u, alternating, %s\n",
	       c, o->plugins, o->blocks, o->calls, o->cpu >= 0 ? "pinned to one CPU" : "unpinned");
	if (o->tsv) {
		for (int k = 0; k < 2; k++) {
			unsigned n = sd[k]->plugins;
			printf("scale/%u/start\t%.1f\tms\n", n, sd[k]->start_ms);
			printf("scale/%u/start_cpu\t%.1f\tms\n", n, sd[k]->cpu_ms);
			printf("scale/%u/start_cpu_helper\t%.1f\tms\n", n, sd[k]->helper_ms);
			printf("scale/%u/rss\t%.2f\tMiB\n", n, sd[k]->rss_kb / 1024.0);
			printf("scale/%u/rss_anon\t%.2f\tMiB\n", n, sd[k]->anon_kb / 1024.0);
			printf("scale/%u/rss_file\t%.2f\tMiB\n", n, sd[k]->file_kb / 1024.0);
			printf("scale/%u/rss_shmem\t%.2f\tMiB\n", n, sd[k]->shmem_kb / 1024.0);
			printf("scale/%u/p50\t%.2f\tus\n", n, p50[k]);
			printf("scale/%u/p99\t%.2f\tus\n", n, p99[k]);
		}
		printf("scale/p50_ratio\t%.3f\tx\n", p50[1] / p50[0]);
		printf("scale/p99_ratio\t%.3f\tx\n", p99[1] / p99[0]);
		return;
	}
	printf("\n| plugins | all ready after | daemon CPU until then | its spawn helper's | "
	       "VmRSS | RssAnon | RssFile | RssShmem | call p50 | call p99 |\n"
	       "|---|---|---|---|---|---|---|---|---|---|\n");
	for (int k = 0; k < 2; k++)
		printf("| %u | %.0f ms | %.0f ms | %.0f ms | %.1f MiB | %.1f MiB | %.1f MiB | "
		       "%.1f MiB | %.1f µs | %.1f µs |\n",
		       sd[k]->plugins, sd[k]->start_ms, sd[k]->cpu_ms, sd[k]->helper_ms,
		       sd[k]->rss_kb / 1024.0,
		       sd[k]->anon_kb / 1024.0, sd[k]->file_kb / 1024.0, sd[k]->shmem_kb / 1024.0,
		       p50[k], p99[k]);
	printf("\ncall with %u plugins / with 1: p50 %.3f×, p99 %.3f×\n", o->plugins,
	       p50[1] / p50[0], p99[1] / p99[0]);
}

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: bench_scale [options]\n"
		"  --plugins N   one-instance plugins of the large daemon (default 1000)\n"
		"  --quick       a smoke run: 50 plugins, 4 blocks of 200 calls\n"
		"  --calls N     calls per block (default 2000)\n"
		"  --blocks N    blocks per daemon (default 10)\n"
		"  --cpu N       pin the client, the daemons and the called instances to CPU N\n"
		"                for the calls (default 0; -1: unpinned)\n"
		"  --tsv         NAME<TAB>VALUE<TAB>UNIT lines\n"
		"  --daemon PATH bulkheadd (default: this build's)\n"
		"  --plugin PATH the plugin (default: this build's echo.so)\n");
}

int main(int argc, char **argv)
{
	struct options o = {.plugins = 1000, .calls = 2000, .blocks = 10, .cpu = 0,
			    .daemon = BH_BENCH_DAEMON, .plugin = BH_BENCH_PLUGIN};
	static const struct option opts[] = {
		{"plugins", required_argument, NULL, 'n'}, {"quick", no_argument, NULL, 'q'},
		{"calls", required_argument, NULL, 'c'},   {"blocks", required_argument, NULL, 'b'},
		{"tsv", no_argument, NULL, 't'},
		{"daemon", required_argument, NULL, 'd'},  {"plugin", required_argument, NULL, 'P'},
		{"cpu", required_argument, NULL, 'C'},     {"help", no_argument, NULL, 'h'},
		{0},
	};
	int opt;
	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (opt) {
		case 'n': o.plugins = (unsigned)strtoul(optarg, NULL, 10); break;
		case 'q': o.plugins = 50, o.calls = 200, o.blocks = 4; break;
		case 'c': o.calls = (unsigned)strtoul(optarg, NULL, 10); break;
		case 'b': o.blocks = (unsigned)strtoul(optarg, NULL, 10); break;
		case 't': o.tsv = true; break;
		case 'C': o.cpu = atoi(optarg); break;
		case 'd': o.daemon = optarg; break;
		case 'P': o.plugin = optarg; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (o.plugins < 1 || o.calls < 1 || o.blocks < 1) {
		usage(stderr);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	struct scale_daemon one = {.plugins = 1}, many = {.plugins = o.plugins};
	struct scale_daemon *sd[2] = {&one, &many};
	int rc = 1;
	for (int k = 0; k < 2; k++) {
		sd[k]->lat_ns = calloc((size_t)o.calls * o.blocks, sizeof(uint64_t));
		if (!sd[k]->lat_ns || daemon_start(sd[k], &o) < 0)
			goto out;
	}
	if (o.cpu >= 0 && (pin(0, o.cpu) < 0 || pin_daemon(&one, o.cpu) < 0 ||
			   pin_daemon(&many, o.cpu) < 0))
		goto out;
	/* A warm-up block each, then the measured blocks, alternating. */
	for (int k = 0; k < 2; k++)
		if (call_block(sd[k], o.calls / 4 + 1, false) < 0)
			goto out;
	for (unsigned b = 0; b < o.blocks; b++)
		for (int k = 0; k < 2; k++)
			if (call_block(sd[(b + (unsigned)k) % 2], o.calls, true) < 0)
				goto out;
	report(&o, sd);
	rc = 0;
out:
	for (int k = 0; k < 2; k++)
		daemon_stop(sd[k]);
	return rc;
}
