/* Integration: hot swap by process replacement (issue 4).
 *
 * The plugins are versions of tests/integration/plugins/ver.c: every answer names
 * the version ("A"/"B") and the instance's birth time on the host's monotonic
 * clock. A generation's instances are all born between the moment the test sends
 * the swap and the moment the swap is answered, so the birth time tells which
 * generation served a call without trusting the daemon's word for it.
 *
 *   - continuous callers: 4 pipelining clients (16 calls in flight each, one thread
 *     each) across 30 swaps, 20 of them with state transfer: no failed call, every
 *     request answered once, no lost or repeated counter update, per-client order
 *     of generations, no leaked process, fd or cgroup;
 *   - every rollback cause before the cut-over, each its own test: the old
 *     generation keeps serving (same process, same state) during and after;
 *   - what the command refuses, and a swap to the same file;
 *   - concurrent operations: two swaps, swap vs unload, rollback of a starting
 *     swap, an old instance crashing during the drain (with one and with two old
 *     instances), the new one crashing right after the cut-over, the drain
 *     deadline, the old generation never becoming idle for the state transfer,
 *     SIGTERM during a canary;
 *   - canary: the exact split, status of both generations, promote, rollback (with
 *     a call still running on the canary), automatic rollback on the error rate
 *     (calls one at a time, and 40 in one write).
 *
 * Synchronisation is the protocol: a swap's answer, a status call behind calls on
 * the same connection, one write holding several requests (the daemon sees them in
 * that order), the daemon's log line for the cut-over (waited for with inotify),
 * and SIGUSR1 releasing a plugin call parked in ver's block(). No sleeps. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

#define VER(n) HT_PLUGIN_DIR "/swap/" n ".so"
#define SLOT(name, path, extra) "{ name = \"" name "\"; path = \"" path "\"; " extra " }"

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* ---- commands ------------------------------------------------------------------------ */

struct swap_opts {
	unsigned canary;       /* percent, 0: none */
	double max_error_rate; /* 0: the daemon's default */
	unsigned min_calls;    /* 0: the daemon's default */
};

/* [name, path|nil, {options}?] */
static void write_swap_params(bh_writer *w, const char *name, const char *path,
			      const struct swap_opts *o)
{
	bh_write_array(w, o ? 3 : 2);
	bh_write_cstr(w, name);
	if (path)
		bh_write_cstr(w, path);
	else
		bh_write_nil(w);
	if (!o)
		return;
	bh_write_map(w, (o->canary > 0) + (o->max_error_rate > 0) + (o->min_calls > 0));
	if (o->canary) {
		bh_write_cstr(w, "canary");
		bh_write_uint(w, o->canary);
	}
	if (o->max_error_rate > 0) {
		bh_write_cstr(w, "max_error_rate");
		bh_write_float(w, o->max_error_rate);
	}
	if (o->min_calls) {
		bh_write_cstr(w, "min_calls");
		bh_write_uint(w, o->min_calls);
	}
}

static int swap_to(bh_client *c, const char *name, const char *path,
		   const struct swap_opts *o, bh_result **ret, bh_error *err)
{
	write_swap_params(bh_client_params(c), name, path, o);
	return bh_call(c, "bulkhead.swap", HT_LONG_MS, ret, err);
}

/* bulkhead.METHOD [name] */
static int admin_name(bh_client *c, const char *method, const char *name, bh_result **ret,
		      bh_error *err)
{
	return ht_call_str(c, method, HT_LONG_MS, ret, err, name);
}

/* A raw request [0, msgid, "bulkhead.swap", [name, path]]. */
static void req_swap(struct bh_buf *out, uint32_t msgid, const char *name, const char *path,
		     const struct swap_opts *o)
{
	bh_writer w;
	bh_writer_init(&w, out);
	bh_write_array(&w, 4);
	bh_write_int(&w, 0);
	bh_write_uint(&w, msgid);
	bh_write_cstr(&w, "bulkhead.swap");
	write_swap_params(&w, name, path, o);
	ck_assert_int_eq(bh_writer_error(&w), 0);
}

/* ---- async calls --------------------------------------------------------------------- */

struct outcome {
	int answered;
	int32_t code;
	char message[BH_ERROR_MESSAGE_MAX];
	struct ht_ver a;
	bool is_answer;
	struct ht_value v; /* a copy of the result */
};

static void outcome_cb(void *userdata, uint32_t msgid, const bh_value *result,
		       const bh_error *err)
{
	struct outcome *o = userdata;
	(void)msgid;
	o->answered++;
	if (err) {
		o->code = err->code;
		snprintf(o->message, sizeof(o->message), "%s", err->message);
		return;
	}
	o->is_answer = ht_ver_parse(result, &o->a);
	ht_value_init(&o->v);
	bh_write_value(&o->v.w, result);
	ht_value_seal(&o->v);
}

static void outcome_done(struct outcome *o)
{
	if (o->answered && !o->code)
		ht_value_done(&o->v);
}

/* Start a call with the params already written (or none). */
static void start(bh_client *c, const char *method, struct outcome *o)
{
	memset(o, 0, sizeof(*o));
	ck_assert_int_eq(bh_call_start(c, method, HT_LONG_MS, outcome_cb, o, NULL), 0);
}

static void start_swap(bh_client *c, const char *name, const char *path,
		       const struct swap_opts *opt, struct outcome *o)
{
	write_swap_params(bh_client_params(c), name, path, opt);
	start(c, "bulkhead.swap", o);
}

#define assert_answered_ok(o)                                                              \
	ck_assert_msg((o).answered == 1 && (o).code == 0, "answered %d times, %s (%d): %s", \
		      (o).answered, bh_code_name((o).code), (int)(o).code, (o).message)
#define assert_answered_err(o, want, substr)                                               \
	do {                                                                               \
		ck_assert_msg((o).answered == 1 && (o).code == (want),                     \
			      "want %s, got %s (%d), answered %d: %s", bh_code_name(want), \
			      bh_code_name((o).code), (int)(o).code, (o).answered,         \
			      (o).message);                                                \
		ck_assert_msg(ht_has((o).message, (substr)), "\"%s\" lacks \"%s\"",        \
			      (o).message, ht_or_empty(substr));                           \
	} while (0)

/* ---- status ---------------------------------------------------------------------------- */

#define MAX_INST 16

struct inst_info {
	uint64_t pid, generation;
	char state[32];
};

struct gen_info {
	uint64_t number, instances, calls, errors, canary_percent;
	char role[32], version[64];
};

struct slot_info {
	bool present;
	uint64_t generation, restarts;
	char state[32], swap[32], last_swap[320], version[64];
	struct inst_info inst[MAX_INST];
	uint32_t n_inst;
	struct gen_info gen[MAX_INST];
	uint32_t n_gen;
};

static struct slot_info slot_status(bh_client *c, const char *name)
{
	struct slot_info si;
	memset(&si, 0, sizeof(si));
	bh_result *st = ht_status(c);
	const bh_value *p = ht_status_plugin(bh_result_value(st), name);
	if (!p) {
		bh_result_free(st);
		return si;
	}
	si.present = true;
	si.generation = ht_get_uint(p, "generation");
	si.restarts = ht_get_uint(p, "restarts");
	ht_str(ht_get(p, "state"), si.state, sizeof(si.state));
	ht_str(ht_get(p, "swap"), si.swap, sizeof(si.swap));
	ht_str(ht_get(p, "last_swap"), si.last_swap, sizeof(si.last_swap));
	ht_str(ht_get(p, "version"), si.version, sizeof(si.version));
	const bh_value *insts = ht_get(p, "instances");
	for (uint32_t i = 0; i < insts->len && i < MAX_INST; i++) {
		const bh_value *in = &insts->as.items[i];
		si.inst[i].pid = ht_get_uint(in, "pid");
		si.inst[i].generation = ht_get_uint(in, "generation");
		ht_str(ht_get(in, "state"), si.inst[i].state, sizeof(si.inst[i].state));
		si.n_inst++;
	}
	const bh_value *gens = ht_get(p, "generations");
	for (uint32_t i = 0; i < gens->len && i < MAX_INST; i++) {
		const bh_value *g = &gens->as.items[i];
		struct gen_info *gi = &si.gen[si.n_gen++];
		gi->number = ht_get_uint(g, "generation");
		gi->instances = ht_get_uint(g, "instances");
		gi->calls = ht_get_uint(g, "calls");
		gi->errors = ht_get_uint(g, "errors");
		gi->canary_percent = ht_get_uint(g, "canary_percent");
		ht_str(ht_get(g, "role"), gi->role, sizeof(gi->role));
		ht_str(ht_get(g, "version"), gi->version, sizeof(gi->version));
	}
	bh_result_free(st);
	return si;
}

static const struct gen_info *find_gen(const struct slot_info *si, uint64_t number)
{
	for (uint32_t i = 0; i < si->n_gen; i++)
		if (si->gen[i].number == number)
			return &si->gen[i];
	return NULL;
}

static bool has_pid(const struct slot_info *si, uint64_t pid, const char *state)
{
	for (uint32_t i = 0; i < si->n_inst; i++)
		if (si->inst[i].pid == pid && (!state || strcmp(si->inst[i].state, state) == 0))
			return true;
	return false;
}

/* ---- the daemon's processes, fds and cgroups (from /proc and /sys/fs/cgroup) ---------- */

static size_t count_fds(pid_t pid)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	DIR *dir = opendir(path);
	ck_assert_msg(dir != NULL, "%s: %s", path, strerror(errno));
	size_t n = 0;
	struct dirent *e;
	while ((e = readdir(dir)) != NULL)
		n += e->d_name[0] != '.';
	closedir(dir);
	return n;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* The processes whose parent is pid, sorted; but for the daemon's spawn helper
 * (bh-spawner), which is no instance. */
static size_t children_of(pid_t pid, uint64_t *out, size_t max)
{
	DIR *dir = opendir("/proc");
	ck_assert(dir != NULL);
	size_t n = 0;
	struct dirent *e;
	while ((e = readdir(dir)) != NULL) {
		char *end;
		long p = strtol(e->d_name, &end, 10);
		if (*end || p <= 0)
			continue;
		char path[64], buf[512];
		snprintf(path, sizeof(path), "/proc/%ld/stat", p);
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		ssize_t len = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (len <= 0)
			continue;
		buf[len] = 0;
		const char *rp = strrchr(buf, ')');
		int ppid;
		char state;
		if (strstr(buf, " (bh-spawner) "))
			continue;
		if (rp && sscanf(rp + 2, "%c %d", &state, &ppid) == 2 && ppid == pid) {
			ck_assert_uint_lt(n, max);
			out[n++] = (uint64_t)p;
		}
	}
	closedir(dir);
	qsort(out, n, sizeof(*out), cmp_u64);
	return n;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The instance cgroups of daemon pid: subdirectories of bulkhead-<pid> below the
 * daemon's own cgroup, in every mounted hierarchy. Their count, and when names is not
 * NULL, "MOUNT:PLUGIN" for each (the instance serial dropped), sorted, one a line. */
static size_t cgroup_leaves_named(pid_t pid, char *names, size_t names_len)
{
	char path[64], line[1024];
	char mounts[16][256], own[16][512];
	size_t n_mounts = 0, n_own = 0;
	FILE *f = fopen("/proc/self/mountinfo", "re");
	ck_assert(f != NULL);
	while (fgets(line, sizeof(line), f) && n_mounts < 16) {
		char mnt[256], fstype[64];
		const char *sep = strstr(line, " - ");
		if (sep && sscanf(line, "%*s %*s %*s %*s %255s", mnt) == 1 &&
		    sscanf(sep + 3, "%63s", fstype) == 1 &&
		    (strcmp(fstype, "cgroup") == 0 || strcmp(fstype, "cgroup2") == 0))
			snprintf(mounts[n_mounts++], sizeof(mounts[0]), "%s", mnt);
	}
	fclose(f);
	snprintf(path, sizeof(path), "/proc/%d/cgroup", (int)pid);
	f = fopen(path, "re");
	ck_assert(f != NULL);
	while (fgets(line, sizeof(line), f) && n_own < 16) {
		char *p = strchr(line, ':');
		p = p ? strchr(p + 1, ':') : NULL;
		if (!p)
			continue;
		p[strcspn(p, "\n")] = 0;
		snprintf(own[n_own++], sizeof(own[0]), "%s", strcmp(p + 1, "/") ? p + 1 : "");
	}
	fclose(f);
	/* Every (mount, own path) pair: only the daemon's own hierarchies hold a
	 * bulkhead-<pid> directory, and each is counted once. */
	size_t n = 0;
	char seen[64][800];
	size_t n_seen = 0;
	char *leaf[256];
	for (size_t m = 0; m < n_mounts; m++) {
		for (size_t o = 0; o < n_own; o++) {
			char base[800];
			snprintf(base, sizeof(base), "%s%s/bulkhead-%d", mounts[m], own[o],
				 (int)pid);
			bool dup = false;
			for (size_t s = 0; s < n_seen; s++)
				dup |= strcmp(seen[s], base) == 0;
			DIR *dir = dup ? NULL : opendir(base);
			if (!dir)
				continue;
			if (n_seen < 64)
				snprintf(seen[n_seen++], sizeof(seen[0]), "%s", base);
			struct dirent *e;
			while ((e = readdir(dir)) != NULL) {
				if (e->d_type != DT_DIR || e->d_name[0] == '.')
					continue;
				ck_assert_uint_lt(n, 256);
				leaf[n] = NULL;
				ck_assert_int_ge(asprintf(&leaf[n], "%s:%.*s", mounts[m],
							  (int)strcspn(e->d_name, "."), e->d_name),
						 0);
				n++;
			}
			closedir(dir);
		}
	}
	qsort(leaf, n, sizeof(*leaf), cmp_str);
	size_t used = 0;
	if (names && names_len)
		names[0] = 0;
	for (size_t i = 0; i < n; i++) {
		if (names && used < names_len)
			used += (size_t)snprintf(names + used, names_len - used, "%s\n", leaf[i]);
		free(leaf[i]);
	}
	ck_assert_msg(!names || used < names_len, "too many cgroups to list");
	return n;
}

static size_t cgroup_leaves(pid_t pid)
{
	return cgroup_leaves_named(pid, NULL, 0);
}

/* What the daemon holds while only a known set of instances runs. */
struct footprint {
	size_t fds, leaves;
	char cgroups[8192]; /* see cgroup_leaves_named */
};

static struct footprint footprint(pid_t pid)
{
	struct footprint f;
	f.fds = count_fds(pid);
	f.leaves = cgroup_leaves_named(pid, f.cgroups, sizeof(f.cgroups));
	return f;
}

/* The daemon's children are exactly the instances the status lists. */
static void assert_children_are(const struct ht_daemon *d, bh_client *c, const char **slots,
				size_t n_slots)
{
	uint64_t want[64], got[64];
	size_t n_want = 0;
	for (size_t s = 0; s < n_slots; s++) {
		struct slot_info si = slot_status(c, slots[s]);
		for (uint32_t i = 0; i < si.n_inst; i++) {
			ck_assert_uint_lt(n_want, 64);
			want[n_want++] = si.inst[i].pid;
		}
	}
	qsort(want, n_want, sizeof(*want), cmp_u64);
	size_t n_got = children_of(d->pid, got, 64);
	ck_assert_msg(n_got == n_want, "the daemon has %zu children, the status lists %zu "
				       "instances", n_got, n_want);
	for (size_t i = 0; i < n_got; i++)
		ck_assert_uint_eq(got[i], want[i]);
}

/* Unload name (answered once every process of it, of any generation, is gone): no
 * child and no instance cgroup may remain. Then load it again from path: the daemon
 * must hold exactly what it held before (fds, cgroups) with one instance. */
static void assert_nothing_left(const struct ht_daemon *d, bh_client *c, const char *name,
				const char *path, struct footprint before)
{
	bh_error err = {0};
	bh_result *res = NULL;
	ht_assert_ok(admin_name(c, "bulkhead.unload", name, NULL, &err), err);
	uint64_t kids[8];
	ck_assert_uint_eq(children_of(d->pid, kids, 8), 0);
	ck_assert_uint_eq(cgroup_leaves(d->pid), 0);
	bh_writer *w = bh_client_params(c);
	bh_write_array(w, 2);
	bh_write_cstr(w, name);
	bh_write_cstr(w, path);
	ht_assert_ok(bh_call(c, "bulkhead.load", HT_LONG_MS, &res, &err), err);
	bh_result_free(res);
	struct footprint after = footprint(d->pid);
	ck_assert_msg(after.fds == before.fds, "the daemon holds %zu fds, %zu before", after.fds,
		      before.fds);
	ck_assert_msg(after.leaves == before.leaves && !strcmp(after.cgroups, before.cgroups),
		      "instance cgroups now:\n%sbefore:\n%s", after.cgroups, before.cgroups);
}

/* ---- waiting for the daemon's log ---------------------------------------------------- */

/* Block until the log holds needle (inotify on the file: no polling). */
static void wait_log(const struct ht_daemon *d, const char *needle)
{
	int in = inotify_init1(IN_CLOEXEC);
	ck_assert_int_ge(in, 0);
	ck_assert_int_ge(inotify_add_watch(in, d->log, IN_MODIFY), 0);
	int64_t end = now_ns() + (int64_t)HT_LONG_MS * 1000000;
	while (!ht_log_has(d, needle)) {
		int64_t left = (end - now_ns()) / 1000000;
		ck_assert_msg(left > 0, "the daemon never logged \"%s\"", needle);
		struct pollfd p = {.fd = in, .events = POLLIN};
		int r = poll(&p, 1, (int)left);
		ck_assert(r >= 0 || errno == EINTR);
		char buf[4096];
		if (r > 0)
			ck_assert_int_gt(read(in, buf, sizeof(buf)), 0);
	}
	close(in);
}

/* Block until name has n ready instances of generation gen (the status is read again
 * each time the log changes: every instance logs its readiness). */
static void wait_ready(const struct ht_daemon *d, bh_client *c, const char *name, uint32_t n,
		       uint64_t gen)
{
	int in = inotify_init1(IN_CLOEXEC);
	ck_assert_int_ge(in, 0);
	ck_assert_int_ge(inotify_add_watch(in, d->log, IN_MODIFY), 0);
	for (;;) {
		struct slot_info si = slot_status(c, name);
		uint32_t ready = 0;
		for (uint32_t i = 0; i < si.n_inst; i++)
			ready += si.inst[i].generation == gen &&
				 strcmp(si.inst[i].state, "ready") == 0;
		if (ready >= n)
			break;
		struct pollfd p = {.fd = in, .events = POLLIN};
		int r = poll(&p, 1, HT_LONG_MS);
		ck_assert_msg(r > 0 || (r < 0 && errno == EINTR), "%s: %u of %u instances ready",
			      name, ready, n);
		char buf[4096];
		if (r > 0)
			ck_assert_int_gt(read(in, buf, sizeof(buf)), 0);
	}
	close(in);
}

/* The pid of name's instance of generation gen with `inflight` calls. */
static uint64_t pid_with_inflight(bh_client *c, const char *name, uint64_t gen,
				  uint64_t inflight)
{
	bh_result *st = ht_status(c);
	const bh_value *insts = ht_get(ht_status_plugin(bh_result_value(st), name), "instances");
	uint64_t pid = 0;
	for (uint32_t i = 0; i < insts->len && !pid; i++) {
		const bh_value *in = &insts->as.items[i];
		if (ht_get_uint(in, "generation") == gen && ht_get_uint(in, "inflight") == inflight)
			pid = ht_get_uint(in, "pid");
	}
	bh_result_free(st);
	ck_assert_msg(pid, "%s: no instance of generation %llu with %llu calls", name,
		      (unsigned long long)gen, (unsigned long long)inflight);
	return pid;
}

/* ---- driving clients from one thread ---------------------------------------------------- */

/* While drive() waits for a call, keep `keep` calls of method in flight on caller,
 * each recorded in calls[] (at most cap; n so far). */
struct feeder {
	bh_client *caller;
	const char *method;
	int keep;
	struct outcome *calls;
	size_t cap, n;
};

static void feed(struct feeder *f)
{
	if (!f || !f->caller)
		return;
	while (bh_client_pending(f->caller) < (size_t)f->keep && f->n < f->cap) {
		bh_client_params(f->caller);
		start(f->caller, f->method, &f->calls[f->n++]);
	}
}

/* Step cs[0..n) until `until` is answered, feeding f meanwhile, then until none has
 * a call outstanding (with until NULL: only the latter). */
static void drive(bh_client **cs, size_t n, const struct outcome *until, struct feeder *f)
{
	int64_t end = now_ns() + (int64_t)HT_LONG_MS * 1000000;
	for (;;) {
		if (until && until->answered)
			break;
		feed(until ? f : NULL);
		struct pollfd pfd[8];
		size_t busy = 0;
		for (size_t i = 0; i < n; i++) {
			pfd[i].fd = bh_client_fd(cs[i]);
			pfd[i].events = POLLIN | (bh_client_want_write(cs[i]) ? POLLOUT : 0);
			pfd[i].revents = 0;
			busy += bh_client_pending(cs[i]);
		}
		if (!until && busy == 0)
			break;
		int64_t left = (end - now_ns()) / 1000000;
		ck_assert_msg(left > 0, "calls still outstanding after %d ms", HT_LONG_MS);
		int r = poll(pfd, n, (int)left);
		ck_assert(r >= 0 || errno == EINTR);
		for (size_t i = 0; i < n; i++)
			ck_assert_int_eq(bh_client_step(cs[i]), 0);
	}
	if (until) /* let the feeder's calls finish */
		drive(cs, n, NULL, NULL);
}

/* ======================================================================================
 * Continuous concurrent callers across consecutive swaps
 * ====================================================================================== */

enum { N_WORKERS = 4, DEPTH = 16, N_SWAPS = 30, AFTER_SWAP = 2 * DEPTH };
enum { K_COUNTER, K_PLAIN, N_KINDS }; /* counter.incr (state), plain.whoami (no state) */
static const char *const kind_method[N_KINDS] = {"counter.incr", "plain.whoami"};

struct rec {
	uint32_t msgid;
	uint8_t kind;
	uint8_t answered;
	char letter;
	int64_t born, count;
};

struct shared {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	atomic_bool stop;
	uint64_t done[N_WORKERS];
	bool quit[N_WORKERS]; /* the worker returned */
	const char *why[N_WORKERS]; /* its first problem */
};

struct worker {
	int id;
	pthread_t th;
	bh_client *c;
	struct shared *sh;
	struct rec *recs;
	size_t n_recs, cap_recs;
	size_t *order; /* record indexes in the order their answers came */
	size_t n_done;
	size_t inflight;
	uint64_t failures, bad_answers, bad_msgids;
	char first_problem[300];
};

static __thread struct worker *tls_worker;

static void problem(struct worker *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void problem(struct worker *w, const char *fmt, ...)
{
	if (w->first_problem[0])
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(w->first_problem, sizeof(w->first_problem), fmt, ap);
	va_end(ap);
}

static void worker_cb(void *userdata, uint32_t msgid, const bh_value *result,
		      const bh_error *err)
{
	struct worker *w = tls_worker;
	size_t idx = (size_t)(uintptr_t)userdata;
	w->inflight--;
	if (idx >= w->n_recs || w->recs[idx].msgid != msgid) {
		w->bad_msgids++;
		problem(w, "answer with msgid %u for record %zu", msgid, idx);
		return;
	}
	struct rec *r = &w->recs[idx];
	if (r->answered++) {
		w->bad_msgids++;
		problem(w, "msgid %u answered twice", msgid);
		return;
	}
	w->order[w->n_done++] = idx;
	if (err) {
		w->failures++;
		problem(w, "%s failed: %s (%d): %s", kind_method[r->kind], bh_code_name(err->code),
			(int)err->code, err->message);
		return;
	}
	struct ht_ver a;
	if (!ht_ver_parse(result, &a) || (r->kind == K_COUNTER && a.extra <= 0)) {
		w->bad_answers++;
		problem(w, "%s: unexpected answer", kind_method[r->kind]);
		return;
	}
	r->letter = a.letter;
	r->born = a.born;
	r->count = a.extra;
}

static bool worker_start_one(struct worker *w)
{
	if (w->n_recs == w->cap_recs) {
		size_t cap = w->cap_recs ? 2 * w->cap_recs : 4096;
		struct rec *recs = realloc(w->recs, cap * sizeof(*recs));
		if (recs)
			w->recs = recs;
		size_t *order = recs ? realloc(w->order, cap * sizeof(*order)) : NULL;
		if (!order) {
			problem(w, "out of memory");
			return false;
		}
		w->order = order;
		w->cap_recs = cap;
	}
	size_t idx = w->n_recs;
	struct rec *r = &w->recs[idx];
	memset(r, 0, sizeof(*r));
	r->kind = idx % N_KINDS;
	bh_client_params(w->c);
	/* A long deadline: a machine that stalls for seconds must not fail a call. */
	int e = bh_call_start(w->c, kind_method[r->kind], HT_LONG_MS, worker_cb,
			      (void *)(uintptr_t)idx, &r->msgid);
	if (e < 0) {
		problem(w, "bh_call_start: %s", strerror(-e));
		return false;
	}
	w->n_recs++;
	w->inflight++;
	return true;
}

/* Keep DEPTH calls in flight until told to stop, then collect what is outstanding. */
static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct shared *sh = w->sh;
	tls_worker = w;
	int64_t last_progress = now_ns();
	for (;;) {
		bool stopping = atomic_load(&sh->stop);
		while (!stopping && w->inflight < DEPTH)
			if (!worker_start_one(w))
				goto out;
		if (w->inflight == 0)
			break;
		struct pollfd p = {.fd = bh_client_fd(w->c),
				   .events = POLLIN | (bh_client_want_write(w->c) ? POLLOUT : 0)};
		if (poll(&p, 1, 1000) < 0 && errno != EINTR) {
			problem(w, "poll: %s", strerror(errno));
			break;
		}
		size_t before = w->n_done;
		int e = bh_client_step(w->c);
		if (e < 0) {
			problem(w, "bh_client_step: %s", strerror(-e));
			break;
		}
		if (w->n_done != before) {
			last_progress = now_ns();
			pthread_mutex_lock(&sh->mu);
			sh->done[w->id] = w->n_done;
			pthread_cond_broadcast(&sh->cv);
			pthread_mutex_unlock(&sh->mu);
		} else if (now_ns() - last_progress > (int64_t)HT_LONG_MS * 1000000) {
			problem(w, "no answer for %d ms", HT_LONG_MS);
			break;
		}
	}
out:
	pthread_mutex_lock(&sh->mu);
	sh->quit[w->id] = true;
	pthread_cond_broadcast(&sh->cv);
	pthread_mutex_unlock(&sh->mu);
	return NULL;
}

/* Wait until every worker has had `more` answers since now. */
static void wait_progress(struct shared *sh, uint64_t more)
{
	uint64_t target[N_WORKERS];
	pthread_mutex_lock(&sh->mu);
	for (int i = 0; i < N_WORKERS; i++)
		target[i] = sh->done[i] + more;
	struct timespec deadline;
	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += HT_LONG_MS / 1000;
	for (;;) {
		bool all = true;
		for (int i = 0; i < N_WORKERS; i++) {
			ck_assert_msg(!sh->quit[i], "worker %d stopped early: %s", i, sh->why[i]);
			all &= sh->done[i] >= target[i];
		}
		if (all)
			break;
		int r = pthread_cond_timedwait(&sh->cv, &sh->mu, &deadline);
		ck_assert_msg(r == 0, "the workers made no progress for %d ms", HT_LONG_MS);
	}
	pthread_mutex_unlock(&sh->mu);
}

/* The swaps of one plugin: generation k+1 was born in (sent[k], answered[k]). */
struct history {
	int64_t sent[N_SWAPS], answered[N_SWAPS];
	int n;
};

/* Generation index of an instance born at `born` (0: the first), -1 when no swap of
 * this plugin was running then (an instance nobody asked for). */
static int gen_index(const struct history *h, int64_t born)
{
	if (h->n == 0 || born < h->sent[0])
		return 0;
	for (int k = 0; k < h->n; k++)
		if (born > h->sent[k] && born < h->answered[k])
			return k + 1;
	return -1;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? -1 : x > y;
}

START_TEST(continuous_callers)
{
	struct ht_daemon d;
	ht_start(&d, "plugins = (" SLOT("counter", VER("ver_a"), "") ","
		     SLOT("plain", VER("ver_a_plain"), "instances = 2;") ");");
	bh_client *a = ht_connect(&d);
	struct history hist[N_KINDS];
	memset(hist, 0, sizeof(hist));
	/* Both ready before the first measurement, every instance of them: one still
	 * starting is not yet the daemon's child by name (the spawn helper's). */
	ck_assert_int_eq(ht_call_ver(a, "counter.whoami").letter, 'A');
	ck_assert_int_eq(ht_call_ver(a, "plain.whoami").letter, 'A');
	ck_assert_int_eq(ht_call_int_ok(a, "counter.get", NULL, 0), 0);
	wait_ready(&d, a, "plain", 2, 1);

	struct shared sh;
	memset(&sh, 0, sizeof(sh));
	pthread_mutex_init(&sh.mu, NULL);
	pthread_cond_init(&sh.cv, NULL);
	atomic_init(&sh.stop, false);
	struct worker ws[N_WORKERS];
	memset(ws, 0, sizeof(ws));
	for (int i = 0; i < N_WORKERS; i++) {
		ws[i].id = i;
		ws[i].sh = &sh;
		ws[i].c = ht_connect(&d);
		sh.why[i] = ws[i].first_problem;
	}
	for (int i = 0; i < N_WORKERS; i++) { /* an answer: the daemon accepted it */
		bh_error err = {0};
		ht_assert_ok(bh_call(ws[i].c, "bulkhead.version", HT_LONG_MS, NULL, &err), err);
	}
	const char *slots[] = {"counter", "plain"};
	assert_children_are(&d, a, slots, 2);
	struct footprint before = footprint(d.pid);

	for (int i = 0; i < N_WORKERS; i++)
		ck_assert_int_eq(pthread_create(&ws[i].th, NULL, worker_main, &ws[i]), 0);
	wait_progress(&sh, AFTER_SWAP);

	/* 30 swaps, A -> B -> A ...: two of every three on the stateful counter. */
	for (int i = 0; i < N_SWAPS; i++) {
		int kind = i % 3 == 2 ? K_PLAIN : K_COUNTER;
		struct history *h = &hist[kind];
		bool to_b = h->n % 2 == 0;
		const char *path = to_b ? VER("ver_b") : VER("ver_a");
		if (kind == K_PLAIN)
			path = to_b ? VER("ver_b_plain") : VER("ver_a_plain");
		const char *name = slots[kind];
		bh_result *res = NULL;
		bh_error err = {0};
		h->sent[h->n] = now_ns();
		int r = swap_to(a, name, path, NULL, &res, &err);
		h->answered[h->n] = now_ns();
		ht_assert_ok(r, err);
		h->n++;
		const bh_value *v = bh_result_value(res);
		ck_assert(ht_get_str_is(v, "name", name));
		ck_assert(ht_get_str_is(v, "result", "swapped"));
		ck_assert_uint_eq(ht_get_uint(v, "from_generation"), (uint64_t)h->n);
		ck_assert_uint_eq(ht_get_uint(v, "to_generation"), (uint64_t)h->n + 1);
		ck_assert(ht_get_str_is(v, "version", to_b ? "B" : "A"));
		bool transferred = false;
		const bh_value *st = ht_get(v, "state_transferred");
		ck_assert_int_eq(bh_value_get_bool(st, &transferred), 0);
		ck_assert_msg(transferred == (kind == K_COUNTER), "swap %d: state_transferred %d",
			      i, transferred);
		double ready, state, cutover, drain;
		ck_assert_int_eq(bh_value_get_float(ht_get(v, "ready_ms"), &ready), 0);
		ck_assert_int_eq(bh_value_get_float(ht_get(v, "state_ms"), &state), 0);
		ck_assert_int_eq(bh_value_get_float(ht_get(v, "cutover_ms"), &cutover), 0);
		ck_assert_int_eq(bh_value_get_float(ht_get(v, "drain_ms"), &drain), 0);
		double wall = (double)(h->answered[h->n - 1] - h->sent[h->n - 1]) / 1e6;
		ck_assert_msg(ready > 0 && state >= 0 && drain >= 0 && cutover >= ready &&
				      cutover + drain <= wall,
			      "swap %d timings: ready %.2f state %.2f cutover %.2f drain %.2f wall "
			      "%.2f ms",
			      i, ready, state, cutover, drain, wall);
		bh_result_free(res);
		/* The command returned: the new generation serves, born during the swap. */
		char want[32];
		snprintf(want, sizeof(want), "%s.whoami", name);
		struct ht_ver now = ht_call_ver(a, want);
		ck_assert_int_eq(now.letter, to_b ? 'B' : 'A');
		ck_assert_int_eq(gen_index(h, now.born), h->n);
		/* Every client gets answers from the new generation before the next swap. */
		wait_progress(&sh, AFTER_SWAP);
	}
	atomic_store(&sh.stop, true);
	for (int i = 0; i < N_WORKERS; i++)
		ck_assert_int_eq(pthread_join(ws[i].th, NULL), 0);

	/* Every request answered exactly once, none failed. */
	size_t total = 0, n_counts = 0;
	for (int i = 0; i < N_WORKERS; i++) {
		struct worker *w = &ws[i];
		ck_assert_msg(!w->first_problem[0] && !w->failures && !w->bad_answers &&
				      !w->bad_msgids,
			      "client %d: %llu failed, %llu bad answers, %llu bad msgids; "
			      "first: %s",
			      i, (unsigned long long)w->failures,
			      (unsigned long long)w->bad_answers, (unsigned long long)w->bad_msgids,
			      w->first_problem);
		ck_assert_uint_eq(w->n_done, w->n_recs);
		for (size_t k = 0; k < w->n_recs; k++)
			ck_assert_uint_eq(w->recs[k].answered, 1);
		total += w->n_recs;
	}
	/* Per client and plugin: generations never go back, every one was seen, and the
	 * version matches the generation. */
	for (int i = 0; i < N_WORKERS; i++) {
		struct worker *w = &ws[i];
		int last[N_KINDS] = {0, 0};
		bool seen[N_KINDS][N_SWAPS + 1];
		memset(seen, 0, sizeof(seen));
		for (size_t k = 0; k < w->n_done; k++) {
			const struct rec *r = &w->recs[w->order[k]];
			int g = gen_index(&hist[r->kind], r->born);
			ck_assert_msg(g >= 0, "client %d: %s answered by an instance born outside "
					      "every swap", i, kind_method[r->kind]);
			ck_assert_msg(r->letter == (g % 2 ? 'B' : 'A'),
				      "client %d: generation %d answered as version %c", i, g + 1,
				      r->letter);
			ck_assert_msg(g >= last[r->kind],
				      "client %d: %s answered by generation %d after generation "
				      "%d (answer %zu of %zu)",
				      i, kind_method[r->kind], g + 1, last[r->kind] + 1, k,
				      w->n_done);
			last[r->kind] = g;
			seen[r->kind][g] = true;
			n_counts += r->kind == K_COUNTER;
		}
		for (int kind = 0; kind < N_KINDS; kind++)
			for (int g = 0; g <= hist[kind].n; g++)
				ck_assert_msg(seen[kind][g],
					      "client %d never called generation %d of %s", i,
					      g + 1, slots[kind]);
	}
	/* The counter's state went through 20 swaps: every increment counted once. */
	int64_t *counts = malloc(n_counts * sizeof(*counts));
	ck_assert_ptr_nonnull(counts);
	size_t nc = 0;
	for (int i = 0; i < N_WORKERS; i++)
		for (size_t k = 0; k < ws[i].n_recs; k++)
			if (ws[i].recs[k].kind == K_COUNTER)
				counts[nc++] = ws[i].recs[k].count;
	qsort(counts, nc, sizeof(*counts), cmp_i64);
	for (size_t k = 0; k < nc; k++)
		ck_assert_msg(counts[k] == (int64_t)k + 1,
			      "increment %zu of %zu returned %lld: lost or repeated updates", k + 1,
			      nc, (long long)counts[k]);
	free(counts);
	ck_assert_int_eq(ht_call_int_ok(a, "counter.get", NULL, 0), (int64_t)nc);
	fprintf(stderr, "continuous_callers: %zu calls (%zu increments) across %d swaps\n", total,
		nc, N_SWAPS);

	/* Nothing leaked: same fds and cgroups with the same connections and instance
	 * count; the daemon's children are the instances it lists. */
	struct footprint after = footprint(d.pid);
	ck_assert_msg(after.fds == before.fds, "the daemon holds %zu fds, %zu before", after.fds,
		      before.fds);
	ck_assert_msg(after.leaves == before.leaves && !strcmp(after.cgroups, before.cgroups),
		      "instance cgroups now:\n%sbefore:\n%s", after.cgroups, before.cgroups);
	fprintf(stderr, "continuous_callers: %zu fds, instance cgroups before and after:\n%s",
		after.fds, after.cgroups);
	assert_children_are(&d, a, slots, 2);
	struct slot_info si = slot_status(a, "counter");
	ck_assert_uint_eq(si.generation, 21);
	ck_assert_str_eq(si.swap, "none");
	ck_assert_uint_eq(si.n_inst, 1);
	ck_assert_uint_eq(si.restarts, 0);
	si = slot_status(a, "plain");
	ck_assert_uint_eq(si.generation, 11);
	ck_assert_uint_eq(si.n_inst, 2);
	ck_assert_uint_eq(si.restarts, 0);

	for (int i = 0; i < N_WORKERS; i++) {
		bh_client_free(ws[i].c);
		free(ws[i].recs);
		free(ws[i].order);
	}
	pthread_cond_destroy(&sh.cv);
	pthread_mutex_destroy(&sh.mu);
	bh_client_free(a);
	ht_stop(&d);
}
END_TEST

/* ======================================================================================
 * Rollback before the cut-over: each cause
 * ====================================================================================== */

/* counter runs ver_a with some count; a swap to `target` must fail with `code` and a
 * message holding `why` while calls keep going; the same process keeps serving with
 * its state, and the failed generation leaves nothing behind. */
static void rollback_case(const char *target, int32_t code, const char *why,
			  const char *extra_conf)
{
	struct ht_daemon d;
	ht_start(&d, "plugins = ({ name = \"counter\"; path = \"" VER("ver_a") "\"; %s });",
		 extra_conf);
	bh_client *a = ht_connect(&d), *k = ht_connect(&d);
	for (int i = 0; i < 5; i++)
		ck_assert_int_eq(ht_call_ver(k, "counter.incr").extra, i + 1);
	struct ht_ver orig = ht_call_ver(k, "counter.whoami");
	struct slot_info si = slot_status(a, "counter");
	ck_assert_uint_eq(si.n_inst, 1);
	uint64_t pid = si.inst[0].pid;
	struct footprint before = footprint(d.pid);

	/* The swap runs while k keeps 4 increments in flight. */
	struct outcome sw;
	enum { CAP = 20000 };
	struct outcome *calls = calloc(CAP, sizeof(*calls));
	ck_assert_ptr_nonnull(calls);
	struct feeder f = {.caller = k, .method = "counter.incr", .keep = 4, .calls = calls,
			   .cap = CAP};
	start_swap(a, "counter", target, NULL, &sw);
	bh_client *both[2] = {a, k};
	drive(both, 2, &sw, &f);
	assert_answered_err(sw, code, why);
	if (code == BH_E_SWAP_FAILED) {
		ck_assert_msg(ht_has(sw.message, "rolled back") &&
				      ht_has(sw.message, "generation 1 keeps serving"),
			      "%s", sw.message);
	}
	/* Every call during the attempt succeeded, in order, on the same process. */
	for (size_t i = 0; i < f.n; i++) {
		assert_answered_ok(calls[i]);
		ck_assert(calls[i].is_answer);
		ck_assert_int_eq(calls[i].a.letter, 'A');
		ck_assert_int_eq(calls[i].a.born, orig.born);
		ck_assert_int_eq(calls[i].a.extra, (int64_t)(6 + i));
		outcome_done(&calls[i]);
	}
	free(calls);
	struct ht_ver after = ht_call_ver(k, "counter.incr");
	ck_assert_int_eq(after.letter, 'A');
	ck_assert_int_eq(after.born, orig.born);
	ck_assert_int_eq(after.extra, (int64_t)(6 + f.n));
	fprintf(stderr, "rollback to %s: %zu calls during the attempt; %s\n", target, f.n,
		sw.message);

	si = slot_status(a, "counter");
	ck_assert_uint_eq(si.generation, 1);
	ck_assert_str_eq(si.state, "ready");
	ck_assert_str_eq(si.swap, "none");
	ck_assert_str_eq(si.version, "A");
	ck_assert_uint_eq(si.restarts, 0);
	ck_assert_msg(has_pid(&si, pid, "ready"), "the old instance (pid %llu) is not serving",
		      (unsigned long long)pid);
	if (code == BH_E_SWAP_FAILED)
		ck_assert_msg(strstr(si.last_swap, "rolled back"), "last_swap: %s", si.last_swap);
	/* The failed generation may still be on its way out: it is gone once an unload
	 * of the plugin completes. */
	assert_nothing_left(&d, a, "counter", VER("ver_a"), before);
	bh_client_free(a);
	bh_client_free(k);
	ht_stop(&d);
}

START_TEST(rollback_constructor_crash)
{
	rollback_case(VER("ver_ctor_crash"), BH_E_SWAP_FAILED, "SIGSEGV", "");
}
END_TEST

START_TEST(rollback_init_failure)
{
	rollback_case(HT_PLUGIN("bad_init"), BH_E_SWAP_FAILED, "init failed", "");
}
END_TEST

START_TEST(rollback_abi_mismatch)
{
	rollback_case(HT_PLUGIN("bad_abi"), BH_E_SWAP_FAILED, "ABI version 999", "");
}
END_TEST

START_TEST(rollback_init_timeout)
{
	rollback_case(VER("ver_init_slow"), BH_E_SWAP_FAILED, "init_timeout_ms (1000 ms)",
		      "init_timeout_ms = 1000;");
}
END_TEST

START_TEST(rollback_restore_rejected)
{
	rollback_case(VER("ver_reject"), BH_E_SWAP_FAILED, "restore rejected: ver B refuses state "
							   "version 1", "");
}
END_TEST

START_TEST(rollback_missing_file)
{
	rollback_case(HT_PLUGIN_DIR "/swap/no_such_version.so", BH_E_INVALID_PARAMS,
		      "no_such_version.so: No such file or directory", "");
}
END_TEST

/* A file that is no shared object is refused before anything starts. */
START_TEST(rollback_not_elf)
{
	rollback_case(HT_PLUGIN_DIR "/../CMakeCache.txt", BH_E_INVALID_PARAMS,
		      "CMakeCache.txt is not an ELF file", "");
}
END_TEST

/* ======================================================================================
 * Concurrent operations
 * ====================================================================================== */

START_TEST(two_swaps_conflict)
{
	struct ht_daemon d;
	ht_start(&d, "plugins = (" SLOT("c", VER("ver_a_plain"), "") ");");
	bh_client *k = ht_connect(&d);
	ck_assert_int_eq(ht_call_ver(k, "c.whoami").letter, 'A');
	/* In one write: the daemon sees them in this order. */
	struct ht_raw r;
	ht_raw_open(&r, &d);
	struct bh_buf out;
	bh_buf_init(&out, 0);
	req_swap(&out, 1, "c", VER("ver_b_plain"), NULL);
	req_swap(&out, 2, "c", VER("ver_a_plain"), NULL);
	ht_req_str(&out, 3, "bulkhead.promote", "c");
	ht_req_str(&out, 4, "bulkhead.unload", "c");
	ck_assert_int_eq(ht_raw_send(&r, out.data, out.len), 0);
	struct ht_reply rep;
	for (uint32_t want = 2; want <= 4; want++) {
		ck_assert_int_eq(ht_raw_recv(&r, &rep), 1);
		ck_assert_uint_eq(rep.msgid, want);
		ck_assert_msg(rep.code == BH_E_CONFLICT, "request %u: %s: %s", want, rep.name,
			      rep.message);
	}
	ck_assert_int_eq(ht_raw_recv(&r, &rep), 1);
	ck_assert_uint_eq(rep.msgid, 1);
	ck_assert_msg(rep.code == 0, "the first swap: %s: %s", rep.name, rep.message);
	ck_assert(ht_get_str_is(rep.result, "result", "swapped"));
	ck_assert_uint_eq(ht_get_uint(rep.result, "to_generation"), 2);
	ck_assert_int_eq(ht_call_ver(k, "c.whoami").letter, 'B');
	/* Once it is done, the next swap goes through. */
	bh_error err = {0};
	ht_assert_ok(swap_to(k, "c", VER("ver_a_plain"), NULL, NULL, &err), err);
	ck_assert_int_eq(ht_call_ver(k, "c.whoami").letter, 'A');
	bh_buf_done(&out);
	ht_raw_close(&r);
	bh_client_free(k);
	ht_stop(&d);
}
END_TEST

START_TEST(swap_during_unload)
{
	struct ht_daemon d;
	ht_start(&d, "plugins = (" SLOT("c", VER("ver_a_plain"), "") ");");
	bh_client *k = ht_connect(&d);
	ck_assert_int_eq(ht_call_ver(k, "c.whoami").letter, 'A');
	uint64_t pid = ht_instance_pid(k, "c", 0);
	/* A call keeps the unload draining while the swap comes. */
	struct ht_raw r;
	ht_raw_open(&r, &d);
	struct bh_buf out;
	bh_buf_init(&out, 0);
	ht_req_ints(&out, 1, "c.block", 0, NULL, 0);
	ht_req_str(&out, 2, "bulkhead.unload", "c");
	req_swap(&out, 3, "c", VER("ver_b_plain"), NULL);
	ck_assert_int_eq(ht_raw_send(&r, out.data, out.len), 0);
	struct ht_reply rep;
	ck_assert_int_eq(ht_raw_recv(&r, &rep), 1);
	ck_assert_uint_eq(rep.msgid, 3);
	ck_assert_msg(rep.code == BH_E_CONFLICT, "swap during unload: %s: %s", rep.name,
		      rep.message);
	ck_assert_int_eq(kill((pid_t)pid, SIGUSR1), 0);
	ck_assert_int_eq(ht_raw_recv(&r, &rep), 1);
	ck_assert_uint_eq(rep.msgid, 1);
	ck_assert_msg(rep.code == 0, "block: %s: %s", rep.name, rep.message);
	ck_assert_int_eq(ht_raw_recv(&r, &rep), 1);
	ck_assert_uint_eq(rep.msgid, 2);
	ck_assert_msg(rep.code == 0, "unload: %s: %s", rep.name, rep.message);
	ck_assert(!slot_status(k, "c").present);
	bh_buf_done(&out);
	ht_raw_close(&r);
	bh_client_free(k);
	ht_stop(&d);
}
END_TEST

START_TEST(unload_during_swap)
{
	struct ht_daemon d;
	ht_start(&d, "plugins = (" SLOT("c", VER("ver_a_plain"), "") ");");
	bh_client *k = ht_connect(&d);
	ck_assert_int_eq(ht_call_ver(k, "c.whoami").letter, 'A');
	struct ht_raw r;
	ht_raw_open(&r, &d);
	struct bh_buf out;
	bh_buf_init(&out, 0);
	req_swap(&out, 1, "c", VER("ver_b_plain"), NULL);
	ht_req_str(&out, 2, "bulkhead.unload", "c");
	ck_assert_int_eq(ht_raw_send(&r, out.data, out.len), 0);
	struct ht_reply rep;
	ck_assert_int_eq(ht_raw_recv(&r, &rep), 1);
	ck_assert_uint_eq(rep.msgid, 2);
	ck_assert_msg(rep.code == BH_E_CONFLICT, "unload during swap: %s: %s", rep.name,
		      rep.message);
	ck_assert_int_eq(ht_raw_recv(&r, &rep), 1);
	ck_assert_uint_eq(rep.msgid, 1);
	ck_assert_msg(rep.code == 0, "swap: %s: %s", rep.name, rep.message);
	ck_assert_int_eq(ht_call_ver(k, "c.whoami").letter, 'B');
	bh_error err = {0};
	ht_assert_ok(admin_name(k, "bulkhead.unload", "c", NULL, &err), err);
	bh_buf_done(&out);
	ht_raw_close(&r);
	bh_client_free(k);
	ht_stop(&d);
}
END_TEST

START_TEST(rollback_starting_swap)
{
	struct ht_daemon d;
	ht_start(&d, "plugins = (" SLOT("c", VER("ver_a"), "") ");");
	bh_client *k = ht_connect(&d);
	ck_assert_int_eq(ht_call_ver(k, "c.incr").extra, 1);
	uint64_t pid = ht_instance_pid(k, "c", 0);
	struct ht_raw r;
	ht_raw_open(&r, &d);
	struct bh_buf out;
	bh_buf_init(&out, 0);
	req_swap(&out, 1, "c", VER("ver_init_slow"), NULL);
	ht_req_str(&out, 2, "bulkhead.rollback", "c");
	ht_req_str(&out, 3, "bulkhead.rollback", "c");
	ck_assert_int_eq(ht_raw_send(&r, out.data, out.len), 0);
	struct ht_reply rep;
	ck_assert_int_eq(ht_raw_recv(&r, &rep), 1);
	ck_assert_uint_eq(rep.msgid, 1);
	ck_assert_msg(rep.code == BH_E_SWAP_FAILED && ht_has(rep.message, "rolled back on request"),
		      "swap: %s: %s", rep.name, rep.message);
	ck_assert_int_eq(ht_raw_recv(&r, &rep), 1);
	ck_assert_uint_eq(rep.msgid, 2);
	ck_assert_msg(rep.code == 0, "rollback: %s: %s", rep.name, rep.message);
	ck_assert(ht_get_str_is(rep.result, "result", "rolled back"));
	ck_assert_uint_eq(ht_get_uint(rep.result, "generation"), 1);
	ck_assert_int_eq(ht_raw_recv(&r, &rep), 1);
	ck_assert_uint_eq(rep.msgid, 3);
	ck_assert_msg(rep.code == BH_E_CONFLICT, "second rollback: %s: %s", rep.name, rep.message);
	struct ht_ver x = ht_call_ver(k, "c.incr");
	ck_assert_int_eq(x.letter, 'A');
	ck_assert_int_eq(x.extra, 2);
	struct slot_info si = slot_status(k, "c");
	ck_assert_uint_eq(si.generation, 1);
	ck_assert(has_pid(&si, pid, "ready"));
	bh_buf_done(&out);
	ht_raw_close(&r);
	bh_client_free(k);
	ht_stop(&d);
}
END_TEST

/* The old generation's only instance runs block() (from x) when the swap cuts over;
 * then it crashes. Its call fails as a crash, the call x sent after the cut-over was
 * held for it and goes to the new generation, and the swap completes. */
START_TEST(old_crash_during_drain)
{
	struct ht_daemon d;
	ht_start(&d, "plugins = (" SLOT("c", VER("ver_a_plain"), "") ");");
	bh_client *a = ht_connect(&d), *x = ht_connect(&d);
	ck_assert_int_eq(ht_call_ver(x, "c.whoami").letter, 'A');
	uint64_t old_pid = ht_instance_pid(a, "c", 0);
	struct outcome blocked, held, sw, second;
	bh_client_params(x);
	start(x, "c.block", &blocked);
	bh_result_free(ht_status(x)); /* block() is at the instance */
	start_swap(a, "c", VER("ver_b_plain"), NULL, &sw);
	wait_log(&d, "cut over to generation 2");
	bh_client_params(x);
	start(x, "c.whoami", &held);
	start_swap(a, "c", VER("ver_a_plain"), NULL, &second);
	bh_result_free(ht_status(x)); /* whoami was routed (held) */
	struct slot_info si = slot_status(a, "c");
	ck_assert_str_eq(si.swap, "draining");
	ck_assert_uint_eq(si.generation, 2);
	ck_assert(has_pid(&si, old_pid, "ready"));
	ck_assert_int_eq(held.answered, 0);
	ck_assert_int_eq(kill((pid_t)old_pid, SIGKILL), 0);
	bh_client *both[2] = {a, x};
	drive(both, 2, NULL, NULL);
	assert_answered_err(second, BH_E_CONFLICT, NULL);
	assert_answered_err(blocked, BH_E_PLUGIN_CRASHED, NULL);
	assert_answered_ok(held);
	ck_assert_int_eq(held.a.letter, 'B');
	assert_answered_ok(sw);
	ck_assert(ht_get_str_is(sw.v.v, "result", "swapped"));
	ck_assert_uint_eq(ht_get_uint(sw.v.v, "to_generation"), 2);
	si = slot_status(a, "c");
	ck_assert_uint_eq(si.generation, 2);
	ck_assert_str_eq(si.swap, "none");
	ck_assert_uint_eq(si.restarts, 0); /* an old instance is never restarted */
	ck_assert_uint_eq(si.n_inst, 1);
	ck_assert_uint_eq(si.inst[0].generation, 2);
	ck_assert(!ht_pid_alive(old_pid));
	const char *slots[] = {"c"};
	assert_children_are(&d, a, slots, 1);
	outcome_done(&held);
	outcome_done(&sw);
	bh_client_free(a);
	bh_client_free(x);
	ht_stop(&d);
}
END_TEST

/* The same with two old instances, each running a client's block(): when one
 * crashes, the call its client sent after the cut-over (held until then) goes to
 * the new generation at once, although the other old instance still drains. */
START_TEST(old_crash_during_drain_two_instances)
{
	struct ht_daemon d;
	ht_start(&d, "plugins = (" SLOT("c", VER("ver_a_plain"), "instances = 2;") ");");
	bh_client *a = ht_connect(&d), *x = ht_connect(&d), *y = ht_connect(&d);
	wait_ready(&d, a, "c", 2, 1);
	struct outcome xb, yb, held, sw;
	bh_client_params(x);
	start(x, "c.block", &xb);
	bh_result_free(ht_status(x));
	uint64_t x_pid = pid_with_inflight(a, "c", 1, 1);
	bh_client_params(y);
	start(y, "c.block", &yb);
	bh_result_free(ht_status(y));
	uint64_t y_pid = x_pid == ht_instance_pid(a, "c", 0) ? ht_instance_pid(a, "c", 1)
							      : ht_instance_pid(a, "c", 0);
	start_swap(a, "c", VER("ver_b_plain"), NULL, &sw);
	wait_log(&d, "cut over to generation 2");
	bh_client_params(x);
	start(x, "c.whoami", &held);
	bh_result_free(ht_status(x));
	ck_assert_int_eq(kill((pid_t)x_pid, SIGKILL), 0);
	bh_client *xs[1] = {x};
	drive(xs, 1, NULL, NULL);
	assert_answered_err(xb, BH_E_PLUGIN_CRASHED, NULL);
	assert_answered_ok(held);
	ck_assert_int_eq(held.a.letter, 'B');
	ck_assert_int_eq(yb.answered, 0);
	ck_assert_int_eq(sw.answered, 0);
	ck_assert_int_eq(kill((pid_t)y_pid, SIGUSR1), 0);
	bh_client *rest[2] = {a, y};
	drive(rest, 2, NULL, NULL);
	assert_answered_ok(yb);
	ck_assert_int_eq(yb.a.letter, 'A');
	assert_answered_ok(sw);
	struct slot_info si = slot_status(a, "c");
	ck_assert_uint_eq(si.generation, 2);
	ck_assert_uint_eq(si.n_inst, 2);
	ck_assert_uint_eq(si.restarts, 0);
	outcome_done(&held);
	outcome_done(&yb);
	outcome_done(&sw);
	bh_client_free(a);
	bh_client_free(x);
	bh_client_free(y);
	ht_stop(&d);
}
END_TEST

/* With state, the old generation's busy instance crashes while the swap waits for it
 * to be idle, and is not restarted (restart = never): nothing is left to wait for (the
 * crash took the state with it), so the swap goes on at once. */
START_TEST(old_crash_while_quiescing)
{
	struct ht_daemon d;
	ht_start(&d, "plugins = (" SLOT("c", VER("ver_a"),
					"init_timeout_ms = 100000; restart = \"never\";") ");");
	bh_client *a = ht_connect(&d), *x = ht_connect(&d), *z = ht_connect(&d);
	ck_assert_int_eq(ht_call_ver(z, "c.incr").extra, 1);
	uint64_t pid = ht_instance_pid(a, "c", 0);
	struct outcome blocked, sw, queued;
	bh_client_params(x);
	start(x, "c.block", &blocked);
	bh_result_free(ht_status(x));
	start_swap(a, "c", VER("ver_b"), NULL, &sw);
	wait_log(&d, "ready (generation 2"); /* quiescing now */
	bh_client_params(z);
	start(z, "c.incr", &queued);
	bh_result_free(ht_status(z));
	ck_assert_int_eq(kill((pid_t)pid, SIGKILL), 0);
	/* Without the news of the crash the swap would wait out init_timeout_ms (100 s),
	 * past the test's own timeout. */
	bh_client *all[3] = {a, x, z};
	drive(all, 3, NULL, NULL);
	assert_answered_err(blocked, BH_E_PLUGIN_CRASHED, NULL);
	assert_answered_ok(sw);
	assert_answered_ok(queued);
	ck_assert_int_eq(queued.a.letter, 'B');
	outcome_done(&sw);
	outcome_done(&queued);
	bh_client_free(a);
	bh_client_free(x);
	bh_client_free(z);
	ht_stop(&d);
}
END_TEST

/* The new generation crashes right after the cut-over, while the old one still
 * drains: it is restarted like any instance of the active generation, and the swap
 * completes. */
START_TEST(new_crash_after_cutover)
{
	struct ht_daemon d;
	ht_start(&d, "restart = { backoff_min_ms = 10; };"
		     "plugins = (" SLOT("c", VER("ver_a_plain"), "") ");");
	bh_client *a = ht_connect(&d), *x = ht_connect(&d), *z = ht_connect(&d);
	ck_assert_int_eq(ht_call_ver(x, "c.whoami").letter, 'A');
	uint64_t old_pid = ht_instance_pid(a, "c", 0);
	struct outcome blocked, sw, crash;
	bh_client_params(x);
	start(x, "c.block", &blocked);
	bh_result_free(ht_status(x));
	start_swap(a, "c", VER("ver_b_plain"), NULL, &sw);
	wait_log(&d, "cut over to generation 2");
	struct slot_info si = slot_status(a, "c");
	uint64_t new_pid = 0;
	for (uint32_t i = 0; i < si.n_inst; i++)
		if (si.inst[i].generation == 2)
			new_pid = si.inst[i].pid;
	ck_assert_uint_ne(new_pid, 0);
	bh_client_params(z);
	start(z, "c.crash", &crash);
	drive(&z, 1, NULL, NULL);
	assert_answered_err(crash, BH_E_PLUGIN_CRASHED, "SIGSEGV");
	/* Restarted in the new generation; the old one still drains. */
	struct ht_ver b = ht_call_ver(z, "c.whoami");
	ck_assert_int_eq(b.letter, 'B');
	si = slot_status(a, "c");
	ck_assert_uint_eq(si.generation, 2);
	ck_assert_str_eq(si.swap, "draining");
	ck_assert_uint_eq(si.restarts, 1);
	ck_assert(!has_pid(&si, new_pid, NULL));
	ck_assert(has_pid(&si, old_pid, "ready"));
	ck_assert_int_eq(sw.answered, 0);
	ck_assert_int_eq(kill((pid_t)old_pid, SIGUSR1), 0);
	bh_client *all[2] = {a, x};
	drive(all, 2, NULL, NULL);
	assert_answered_ok(blocked);
	ck_assert_int_eq(blocked.a.letter, 'A');
	assert_answered_ok(sw);
	ck_assert(ht_get_str_is(sw.v.v, "result", "swapped"));
	si = slot_status(a, "c");
	ck_assert_str_eq(si.swap, "none");
	ck_assert_uint_eq(si.n_inst, 1);
	ck_assert_uint_eq(si.inst[0].generation, 2);
	ck_assert_str_eq(si.inst[0].state, "ready");
	ck_assert_int_eq(ht_call_ver(x, "c.whoami").born, b.born);
	outcome_done(&blocked);
	outcome_done(&sw);
	bh_client_free(a);
	bh_client_free(x);
	bh_client_free(z);
	ht_stop(&d);
}
END_TEST

/* With state, routing pauses until the old generation is idle. One that never
 * becomes idle ends the attempt (within init_timeout_ms + 1 s of the command): the
 * swap is rolled back with that reason, and the calls that waited run on the old
 * generation. */
START_TEST(rollback_old_never_idle)
{
	struct ht_daemon d;
	ht_start(&d, "plugins = (" SLOT("c", VER("ver_a"), "init_timeout_ms = 1000;") ");");
	bh_client *a = ht_connect(&d), *x = ht_connect(&d), *z = ht_connect(&d);
	ck_assert_int_eq(ht_call_ver(z, "c.incr").extra, 1);
	uint64_t pid = ht_instance_pid(a, "c", 0);
	struct outcome blocked, sw, waiting;
	bh_client_params(x);
	start(x, "c.block", &blocked);
	bh_result_free(ht_status(x));
	start_swap(a, "c", VER("ver_b"), NULL, &sw);
	drive(&a, 1, &sw, NULL);
	assert_answered_err(sw, BH_E_SWAP_FAILED, "still running");
	/* A call that arrived during the pause ran on the old generation. */
	bh_client_params(z);
	start(z, "c.incr", &waiting);
	ck_assert_int_eq(kill((pid_t)pid, SIGUSR1), 0);
	bh_client *all[2] = {x, z};
	drive(all, 2, NULL, NULL);
	assert_answered_ok(blocked);
	assert_answered_ok(waiting);
	ck_assert_int_eq(waiting.a.letter, 'A');
	ck_assert_int_eq(waiting.a.extra, 2);
	struct slot_info si = slot_status(a, "c");
	ck_assert_uint_eq(si.generation, 1);
	ck_assert(has_pid(&si, pid, "ready"));
	outcome_done(&blocked);
	outcome_done(&waiting);
	bh_client_free(a);
	bh_client_free(x);
	bh_client_free(z);
	ht_stop(&d);
}
END_TEST

START_TEST(sigterm_during_canary)
{
	struct ht_daemon d;
	ht_start(&d, "plugins = (" SLOT("c", VER("ver_a_plain"), "") ");");
	bh_client *a = ht_connect(&d);
	ck_assert_int_eq(ht_call_ver(a, "c.whoami").letter, 'A');
	bh_error err = {0};
	struct swap_opts o = {.canary = 50};
	ht_assert_ok(swap_to(a, "c", VER("ver_b_plain"), &o, NULL, &err), err);
	uint64_t pids[2] = {ht_instance_pid(a, "c", 0), ht_instance_pid(a, "c", 1)};
	bh_client_free(a);
	ht_stop(&d); /* exits 0, and clean under the sanitizers */
	ck_assert(!ht_pid_alive(pids[0]) && !ht_pid_alive(pids[1]));
}
END_TEST

/* ======================================================================================
 * Canary
 * ====================================================================================== */

/* Start a 50% canary of ver_b_plain on c (ver_a_plain); returns the canary's pid. */
static uint64_t start_canary(bh_client *a, const char *path, const struct swap_opts *o)
{
	bh_result *res = NULL;
	bh_error err = {0};
	ht_assert_ok(swap_to(a, "c", path, o, &res, &err), err);
	const bh_value *v = bh_result_value(res);
	ck_assert(ht_get_str_is(v, "result", "canary started"));
	ck_assert_uint_eq(ht_get_uint(v, "from_generation"), 1);
	ck_assert_uint_eq(ht_get_uint(v, "to_generation"), 2);
	bh_result_free(res);
	struct slot_info si = slot_status(a, "c");
	ck_assert_str_eq(si.swap, "canary");
	ck_assert_uint_eq(si.generation, 1);
	const struct gen_info *g1 = find_gen(&si, 1), *g2 = find_gen(&si, 2);
	ck_assert(g1 && g2);
	ck_assert_str_eq(g1->role, "active");
	ck_assert_str_eq(g1->version, "A");
	ck_assert_str_eq(g2->role, "canary");
	ck_assert_str_eq(g2->version, "B");
	ck_assert_uint_eq(g2->canary_percent, o->canary);
	ck_assert_uint_eq(g1->instances, 1);
	ck_assert_uint_eq(g2->instances, 1);
	for (uint32_t i = 0; i < si.n_inst; i++)
		if (si.inst[i].generation == 2)
			return si.inst[i].pid;
	ck_abort_msg("no canary instance");
	return 0;
}

START_TEST(canary_split_and_promote)
{
	struct ht_daemon d;
	ht_start(&d, "plugins = (" SLOT("c", VER("ver_a_plain"), "") ");");
	bh_client *a = ht_connect(&d);
	ck_assert_int_eq(ht_call_ver(a, "c.whoami").letter, 'A');
	struct swap_opts o = {.canary = 50};
	start_canary(a, VER("ver_b_plain"), &o);
	struct slot_info si = slot_status(a, "c");
	uint64_t calls1 = find_gen(&si, 1)->calls, errors1 = find_gen(&si, 1)->errors;
	ck_assert_uint_eq(find_gen(&si, 2)->calls, 0);
	/* One at a time, so that both always have room: exactly half each. */
	int n_b = 0;
	for (int i = 0; i < 100; i++)
		n_b += ht_call_ver(a, "c.whoami").letter == 'B';
	ck_assert_int_eq(n_b, 50);
	bh_error err = {0};
	int fails = 0;
	for (int i = 0; i < 10; i++) {
		bh_client_params(a);
		ht_assert_err(bh_call(a, "c.fail", HT_LONG_MS, NULL, &err), err, BH_E_PLUGIN_ERROR,
			      "fail() fails");
		fails += strstr(err.message, "ver B") != NULL;
	}
	ck_assert_int_eq(fails, 5);
	si = slot_status(a, "c");
	const struct gen_info *g1 = find_gen(&si, 1), *g2 = find_gen(&si, 2);
	ck_assert_uint_eq(g1->calls - calls1, 55);
	ck_assert_uint_eq(g1->errors - errors1, 5);
	ck_assert_uint_eq(g2->calls, 55);
	ck_assert_uint_eq(g2->errors, 5);

	/* Promote: answered once the old generation is gone. */
	bh_result *res = NULL;
	ht_assert_ok(admin_name(a, "bulkhead.promote", "c", &res, &err), err);
	ck_assert(ht_get_str_is(bh_result_value(res), "result", "swapped"));
	ck_assert_uint_eq(ht_get_uint(bh_result_value(res), "to_generation"), 2);
	bh_result_free(res);
	si = slot_status(a, "c");
	ck_assert_uint_eq(si.generation, 2);
	ck_assert_str_eq(si.swap, "none");
	ck_assert_uint_eq(si.n_inst, 1);
	ck_assert_uint_eq(si.n_gen, 1);
	ck_assert_str_eq(si.gen[0].role, "active");
	for (int i = 0; i < 10; i++)
		ck_assert_int_eq(ht_call_ver(a, "c.whoami").letter, 'B');
	ht_assert_err(admin_name(a, "bulkhead.promote", "c", NULL, &err), err, BH_E_CONFLICT,
		      "no canary");
	ht_assert_err(admin_name(a, "bulkhead.rollback", "c", NULL, &err), err, BH_E_CONFLICT,
		      "no swap");
	const char *slots[] = {"c"};
	assert_children_are(&d, a, slots, 1);
	bh_client_free(a);
	ht_stop(&d);
}
END_TEST

START_TEST(canary_rollback)
{
	struct ht_daemon d;
	ht_start(&d, "plugins = (" SLOT("c", VER("ver_a_plain"), "") ");");
	bh_client *a = ht_connect(&d);
	struct ht_ver orig = ht_call_ver(a, "c.whoami");
	uint64_t pid = ht_instance_pid(a, "c", 0);
	struct footprint before = footprint(d.pid);
	struct swap_opts o = {.canary = 25};
	start_canary(a, VER("ver_b_plain"), &o);
	int n_b = 0;
	for (int i = 0; i < 20; i++)
		n_b += ht_call_ver(a, "c.whoami").letter == 'B';
	ck_assert_int_eq(n_b, 5);
	bh_result *res = NULL;
	bh_error err = {0};
	ht_assert_ok(admin_name(a, "bulkhead.rollback", "c", &res, &err), err);
	ck_assert(ht_get_str_is(bh_result_value(res), "result", "rolled back"));
	ck_assert_uint_eq(ht_get_uint(bh_result_value(res), "generation"), 1);
	bh_result_free(res);
	for (int i = 0; i < 20; i++)
		ck_assert_int_eq(ht_call_ver(a, "c.whoami").born, orig.born);
	struct slot_info si = slot_status(a, "c");
	ck_assert_uint_eq(si.generation, 1);
	ck_assert_str_eq(si.swap, "none");
	ck_assert(has_pid(&si, pid, "ready"));
	ck_assert_msg(strstr(si.last_swap, "rolled back on request"), "%s", si.last_swap);
	assert_nothing_left(&d, a, "c", VER("ver_a_plain"), before);
	bh_client_free(a);
	ht_stop(&d);
}
END_TEST

/* A rollback while the canary runs a call: the call finishes there (it was accepted
 * and sent), no new call goes to the canary, and the canary then stops. */
START_TEST(canary_rollback_call_in_flight)
{
	struct ht_daemon d;
	ht_start(&d, "plugins = (" SLOT("c", VER("ver_a_plain"), "") ");");
	bh_client *a = ht_connect(&d), *x = ht_connect(&d);
	ck_assert_int_eq(ht_call_ver(a, "c.whoami").letter, 'A');
	struct swap_opts o = {.canary = 50};
	uint64_t canary = start_canary(a, VER("ver_b_plain"), &o);
	/* The split alternates, the old generation first. */
	ck_assert_int_eq(ht_call_ver(x, "c.whoami").letter, 'A');
	struct outcome blocked;
	bh_client_params(x);
	start(x, "c.block", &blocked);
	bh_result_free(ht_status(x)); /* block() is at the canary */
	bh_error err = {0};
	ht_assert_ok(admin_name(a, "bulkhead.rollback", "c", NULL, &err), err);
	for (int i = 0; i < 4; i++)
		ck_assert_int_eq(ht_call_ver(a, "c.whoami").letter, 'A');
	struct slot_info si = slot_status(a, "c");
	ck_assert_str_eq(si.swap, "rolling-back");
	ck_assert_uint_eq(si.generation, 1);
	ck_assert(has_pid(&si, canary, "ready"));
	ck_assert_str_eq(find_gen(&si, 2)->role, "draining");
	/* Nothing else may start until the canary is gone. */
	ht_assert_err(swap_to(a, "c", VER("ver_b_plain"), NULL, NULL, &err), err, BH_E_CONFLICT,
		      NULL);
	ht_assert_err(admin_name(a, "bulkhead.rollback", "c", NULL, &err), err, BH_E_CONFLICT,
		      NULL);
	bh_client_params(x);
	kill((pid_t)canary, SIGUSR1); /* (no assertion: the outcome below says it all) */
	drive(&x, 1, NULL, NULL);
	assert_answered_ok(blocked);
	ck_assert_int_eq(blocked.a.letter, 'B');
	wait_log(&d, "rolled-back generation 2 stopped");
	si = slot_status(a, "c");
	ck_assert_str_eq(si.swap, "none");
	ck_assert_uint_eq(si.n_inst, 1);
	ck_assert_uint_eq(si.inst[0].generation, 1);
	ck_assert(!ht_pid_alive(canary));
	const char *slots[] = {"c"};
	assert_children_are(&d, a, slots, 1);
	ht_assert_ok(swap_to(a, "c", VER("ver_b_plain"), NULL, NULL, &err), err);
	ck_assert_int_eq(ht_call_ver(a, "c.whoami").letter, 'B');
	outcome_done(&blocked);
	bh_client_free(a);
	bh_client_free(x);
	ht_stop(&d);
}
END_TEST

/* A canary that fails every call: with max_error_rate 0.2 and min_calls 10 it is rolled
 * back at its 10th call; every later call goes to the old generation. */
START_TEST(canary_error_rate_rollback)
{
	struct ht_daemon d;
	ht_start(&d, "plugins = (" SLOT("c", VER("ver_a_plain"), "") ");");
	bh_client *a = ht_connect(&d);
	struct ht_ver orig = ht_call_ver(a, "c.whoami");
	struct swap_opts o = {.canary = 50, .max_error_rate = 0.2, .min_calls = 10};
	start_canary(a, VER("ver_failing"), &o);
	int failed = 0;
	for (int i = 0; i < 40; i++) {
		bh_result *res = NULL;
		bh_error err = {0};
		bh_client_params(a);
		int r = bh_call(a, "c.whoami", HT_LONG_MS, &res, &err);
		if (r < 0) {
			ht_assert_err(r, err, BH_E_PLUGIN_ERROR, "ver B fails every call");
			ck_assert_int_lt(i, 20); /* none after the rollback */
			failed++;
			continue;
		}
		struct ht_ver x;
		ck_assert(ht_ver_parse(bh_result_value(res), &x));
		ck_assert_int_eq(x.born, orig.born);
		bh_result_free(res);
	}
	ck_assert_int_eq(failed, 10);
	struct slot_info si = slot_status(a, "c");
	ck_assert_uint_eq(si.generation, 1);
	ck_assert_str_eq(si.swap, "none");
	ck_assert_msg(strstr(si.last_swap, "canary error rate 100% over 10 calls exceeds 20%"),
		      "last_swap: %s", si.last_swap);
	ck_assert(ht_log_has(&d, "rolled back: canary error rate"));
	bh_client_free(a);
	ht_stop(&d);
}
END_TEST

/* The same with 40 calls in one write: the canary gets 20 at once. The rate counts
 * answered calls only, so min_calls means what it says: rolled back at the canary's
 * 10th answer (100% failed), not when 5 of 20 calls in flight have failed. The calls
 * it already holds finish there (failing, as it does), none is turned into a crash. */
START_TEST(canary_error_rate_pipelined)
{
	struct ht_daemon d;
	ht_start(&d, "plugins = (" SLOT("c", VER("ver_a_plain"), "") ");");
	bh_client *a = ht_connect(&d);
	struct ht_ver orig = ht_call_ver(a, "c.whoami");
	struct swap_opts o = {.canary = 50, .max_error_rate = 0.2, .min_calls = 10};
	start_canary(a, VER("ver_failing"), &o);
	struct ht_raw r;
	ht_raw_open(&r, &d);
	struct bh_buf out;
	bh_buf_init(&out, 0);
	for (uint32_t i = 1; i <= 40; i++)
		ht_req_ints(&out, i, "c.whoami", 0, NULL, 0);
	ck_assert_int_eq(ht_raw_send(&r, out.data, out.len), 0);
	int ok = 0, failed = 0;
	for (int i = 0; i < 40; i++) {
		struct ht_reply rep;
		ck_assert_int_eq(ht_raw_recv(&r, &rep), 1);
		if (rep.code) {
			ck_assert_msg(rep.code == BH_E_PLUGIN_ERROR &&
					      ht_has(rep.message, "fails every call"),
				      "call %u: %s: %s", rep.msgid, rep.name, rep.message);
			ck_assert_uint_eq(rep.msgid % 2, 0);
			failed++;
			continue;
		}
		struct ht_ver x;
		ck_assert(ht_ver_parse(rep.result, &x));
		ck_assert_int_eq(x.born, orig.born);
		ok++;
	}
	ck_assert_int_eq(ok, 20);
	ck_assert_int_eq(failed, 20);
	ck_assert(ht_log_has(&d, "rolled back: canary error rate 100% over 10 calls exceeds 20%"));
	for (int i = 0; i < 10; i++)
		ck_assert_int_eq(ht_call_ver(a, "c.whoami").born, orig.born);
	bh_buf_done(&out);
	ht_raw_close(&r);
	bh_client_free(a);
	ht_stop(&d);
}
END_TEST

/* An old instance still busy at the drain deadline is killed: its call fails, the
 * swap completes. */
START_TEST(drain_deadline)
{
	struct ht_daemon d;
	ht_start(&d, "plugins = (" SLOT("c", VER("ver_a_plain"), "drain_timeout_ms = 300;") ");");
	bh_client *a = ht_connect(&d), *x = ht_connect(&d);
	ck_assert_int_eq(ht_call_ver(x, "c.whoami").letter, 'A');
	uint64_t old_pid = ht_instance_pid(a, "c", 0);
	struct outcome blocked;
	bh_client_params(x);
	start(x, "c.block", &blocked);
	bh_result_free(ht_status(x));
	bh_result *res = NULL;
	bh_error err = {0};
	ht_assert_ok(swap_to(a, "c", VER("ver_b_plain"), NULL, &res, &err), err);
	double drain;
	ck_assert_int_eq(bh_value_get_float(ht_get(bh_result_value(res), "drain_ms"), &drain), 0);
	ck_assert_msg(drain >= 300, "drained in %.1f ms, before the deadline", drain);
	bh_result_free(res);
	drive(&x, 1, NULL, NULL);
	assert_answered_err(blocked, BH_E_PLUGIN_CRASHED, "drain_timeout_ms (300 ms)");
	ck_assert(!ht_pid_alive(old_pid));
	struct slot_info si = slot_status(a, "c");
	ck_assert_uint_eq(si.generation, 2);
	ck_assert_uint_eq(si.restarts, 0);
	ck_assert_uint_eq(si.n_inst, 1);
	ck_assert_int_eq(ht_call_ver(x, "c.whoami").letter, 'B');
	bh_client_free(a);
	bh_client_free(x);
	ht_stop(&d);
}
END_TEST

/* What the command refuses, and a swap to the same file (path nil). */
START_TEST(swap_requests)
{
	struct ht_daemon d;
	ht_start(&d, "plugins = (" SLOT("c", VER("ver_a"), "") ");");
	bh_client *a = ht_connect(&d);
	ck_assert_int_eq(ht_call_ver(a, "c.incr").extra, 1);
	bh_error err = {0};
	ht_assert_err(swap_to(a, "nope", VER("ver_b"), NULL, NULL, &err), err,
		      BH_E_UNKNOWN_PLUGIN, "nope");
	ht_assert_err(swap_to(a, "c", "ver_b.so", NULL, NULL, &err), err, BH_E_INVALID_PARAMS,
		      "absolute");
	ht_assert_err(swap_to(a, "c", HT_PLUGIN_DIR "/swap", NULL, NULL, &err), err,
		      BH_E_INVALID_PARAMS, "not a regular file");
	struct swap_opts o = {.canary = 101};
	ht_assert_err(swap_to(a, "c", VER("ver_b"), &o, NULL, &err), err, BH_E_INVALID_PARAMS,
		      "percentage");
	bh_writer *w = bh_client_params(a);
	bh_write_array(w, 3);
	bh_write_cstr(w, "c");
	bh_write_nil(w);
	bh_write_int(w, 5);
	ht_assert_err(bh_call(a, "bulkhead.swap", HT_LONG_MS, NULL, &err), err,
		      BH_E_INVALID_PARAMS, "map");
	ht_assert_err(admin_name(a, "bulkhead.promote", "c", NULL, &err), err, BH_E_CONFLICT,
		      "no canary");
	ht_assert_err(admin_name(a, "bulkhead.rollback", "c", NULL, &err), err, BH_E_CONFLICT,
		      "no swap");
	/* nil: the same file again, with its state. */
	bh_result *res = NULL;
	ht_assert_ok(swap_to(a, "c", NULL, NULL, &res, &err), err);
	const bh_value *v = bh_result_value(res);
	ck_assert(ht_get_str_is(v, "result", "swapped"));
	ck_assert(ht_get_str_is(v, "version", "A"));
	ck_assert_uint_eq(ht_get_uint(v, "to_generation"), 2);
	bool transferred = false;
	ck_assert_int_eq(bh_value_get_bool(ht_get(v, "state_transferred"), &transferred), 0);
	ck_assert(transferred);
	bh_result_free(res);
	ck_assert_int_eq(ht_call_ver(a, "c.incr").extra, 2);
	struct slot_info si = slot_status(a, "c");
	ck_assert_uint_eq(si.generation, 2);
	ck_assert_msg(strstr(si.last_swap, "generation 1 -> 2"), "%s", si.last_swap);
	bh_client_free(a);
	ht_stop(&d);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("integ_swap");
	TCase *tc = ht_tcase("continuous");
	tcase_add_test(tc, continuous_callers);
	suite_add_tcase(s, tc);
	tc = ht_tcase("rollback");
	tcase_add_test(tc, rollback_constructor_crash);
	tcase_add_test(tc, rollback_init_failure);
	tcase_add_test(tc, rollback_abi_mismatch);
	tcase_add_test(tc, rollback_init_timeout);
	tcase_add_test(tc, rollback_restore_rejected);
	tcase_add_test(tc, rollback_missing_file);
	tcase_add_test(tc, rollback_not_elf);
	suite_add_tcase(s, tc);
	tc = ht_tcase("concurrency");
	tcase_add_test(tc, swap_requests);
	tcase_add_test(tc, two_swaps_conflict);
	tcase_add_test(tc, swap_during_unload);
	tcase_add_test(tc, unload_during_swap);
	tcase_add_test(tc, rollback_starting_swap);
	tcase_add_test(tc, old_crash_during_drain);
	tcase_add_test(tc, old_crash_during_drain_two_instances);
	tcase_add_test(tc, new_crash_after_cutover);
	tcase_add_test(tc, old_crash_while_quiescing);
	tcase_add_test(tc, rollback_old_never_idle);
	tcase_add_test(tc, drain_deadline);
	tcase_add_test(tc, sigterm_during_canary);
	suite_add_tcase(s, tc);
	tc = ht_tcase("canary");
	tcase_add_test(tc, canary_split_and_promote);
	tcase_add_test(tc, canary_rollback);
	tcase_add_test(tc, canary_rollback_call_in_flight);
	tcase_add_test(tc, canary_error_rate_rollback);
	tcase_add_test(tc, canary_error_rate_pipelined);
	suite_add_tcase(s, tc);
	return ht_main(s);
}
