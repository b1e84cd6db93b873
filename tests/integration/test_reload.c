/* Integration: plugin files changing on disk, and SIGHUP (watch.c, reload.c).
 *
 *   - auto_reload: a new .so renamed over the plugin's file is swapped in while a
 *     client calls throughout (no failed call, state carried over); a file rewritten
 *     in place is swapped once, on close, never while half-written; a broken file
 *     is rolled back and the old generation serves on; a file replaced again while
 *     the swap it caused runs is swapped in after it;
 *   - plugin_dir: NAME.so appearing is loaded as NAME (never half-written), replaced
 *     is swapped, removed is unloaded (also when removed during a swap); files not
 *     named like a plugin are ignored, at start and later; one directory reached by
 *     two spellings (a symlink) still works for every plugin in it;
 *   - SIGHUP: added plugins loaded, removed ones unloaded (also during a swap),
 *     changed ones (file or setting) swapped, unchanged ones untouched, while a client
 *     calls throughout; a file that does not parse or validate is rejected with
 *     file:line and nothing changes.
 *
 * The test plugins are the swap suite's versions of plugins/ver.c (answers name the
 * version, "A" or "B"), copied into each test's directory so that the test owns the
 * files it replaces.
 *
 * Synchronisation: the daemon's log lines (waited for with inotify on the log, with a
 * generous deadline that only bounds a broken test), blocking calls (a call to a
 * plugin that is starting queues until it is ready), and the order in which the
 * daemon handles inotify events: to show that something did NOT happen, the test
 * makes the daemon act on a later event in the same watched directory and waits for
 * that (see inplace_write_swaps_on_close). No sleeps. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

#define VER(n) HT_PLUGIN_DIR "/swap/" n ".so"

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* ---- files ------------------------------------------------------------------------------ */

/* The whole file; free() it. */
static uint8_t *slurp(const char *path, size_t *ret_len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ck_assert_msg(fd >= 0, "%s: %s", path, strerror(errno));
	struct stat st;
	ck_assert_int_eq(fstat(fd, &st), 0);
	uint8_t *p = malloc((size_t)st.st_size + 1);
	ck_assert(p != NULL);
	size_t len = 0;
	while (len < (size_t)st.st_size) {
		ssize_t n = read(fd, p + len, (size_t)st.st_size - len);
		if (n < 0 && errno == EINTR)
			continue;
		ck_assert_msg(n > 0, "%s: short read", path);
		len += (size_t)n;
	}
	close(fd);
	*ret_len = len;
	return p;
}

static void write_all(int fd, const void *p, size_t n)
{
	const uint8_t *b = p;
	while (n > 0) {
		ssize_t w = write(fd, b, n);
		if (w < 0 && errno == EINTR)
			continue;
		ck_assert_msg(w > 0, "write: %s", strerror(errno));
		b += w;
		n -= (size_t)w;
	}
}

/* Write bytes to path (created or truncated), in one go. */
static void put_bytes(const char *path, const void *p, size_t n)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0755);
	ck_assert_msg(fd >= 0, "%s: %s", path, strerror(errno));
	write_all(fd, p, n);
	ck_assert_int_eq(close(fd), 0);
}

static void copy_file(const char *from, const char *to)
{
	size_t n;
	uint8_t *p = slurp(from, &n);
	put_bytes(to, p, n);
	free(p);
}

/* The atomic way: write tmp completely, then rename it over dst. */
static void install(const char *from, const char *tmp, const char *dst)
{
	copy_file(from, tmp);
	ck_assert_msg(rename(tmp, dst) == 0, "rename %s %s: %s", tmp, dst, strerror(errno));
}

/* DIR/name of a test's directory, in a static ring (enough for one expression). */
static const char *in_dir(const struct ht_daemon *d, const char *name)
{
	static char ring[8][HT_PATH_MAX + 64];
	static unsigned next;
	char *p = ring[next++ % 8];
	snprintf(p, sizeof(ring[0]), "%s/%s", d->dir, name);
	return p;
}

/* Replace the config file (the daemon reads it on SIGHUP only). */
static void rewrite_conf(const struct ht_daemon *d, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void rewrite_conf(const struct ht_daemon *d, const char *fmt, ...)
{
	char tmp[HT_PATH_MAX + 8];
	snprintf(tmp, sizeof(tmp), "%s.new", d->conf);
	FILE *f = fopen(tmp, "we");
	ck_assert_msg(f != NULL, "%s: %s", tmp, strerror(errno));
	fprintf(f, "socket = { path = \"%s\"; };\n", d->sock);
	va_list ap;
	va_start(ap, fmt);
	vfprintf(f, fmt, ap);
	va_end(ap);
	fputc('\n', f);
	ck_assert_int_eq(fclose(f), 0);
	ck_assert_int_eq(rename(tmp, d->conf), 0);
}

/* ---- the daemon's log ------------------------------------------------------------------ */

static size_t count_in(const char *s, const char *needle)
{
	size_t n = 0;
	for (const char *p = s; (p = strstr(p, needle)) != NULL; p += strlen(needle))
		n++;
	return n;
}

static size_t log_count(const struct ht_daemon *d, const char *needle)
{
	char *log = ht_read_log(d);
	size_t n = count_in(log, needle);
	free(log);
	return n;
}

/* Block until the log holds needle at least n times (inotify on the file: no polling;
 * the deadline only bounds a broken test). */
static void wait_log_n(const struct ht_daemon *d, const char *needle, size_t n)
{
	int in = inotify_init1(IN_CLOEXEC);
	ck_assert_int_ge(in, 0);
	ck_assert_int_ge(inotify_add_watch(in, d->log, IN_MODIFY), 0);
	int64_t end = now_ns() + (int64_t)HT_LONG_MS * 1000000;
	size_t have;
	while ((have = log_count(d, needle)) < n) {
		int64_t left = (end - now_ns()) / 1000000;
		if (left <= 0) {
			char *log = ht_read_log(d);
			fprintf(stderr, "---- bulkheadd log ----\n%s---- end of log ----\n", log);
			free(log);
			ck_abort_msg("the daemon logged \"%s\" %zu times, not %zu", needle, have, n);
		}
		struct pollfd p = {.fd = in, .events = POLLIN};
		int r = poll(&p, 1, (int)left);
		ck_assert(r >= 0 || errno == EINTR);
		char buf[4096];
		if (r > 0)
			ck_assert_int_gt(read(in, buf, sizeof(buf)), 0);
	}
	close(in);
}

static void wait_log(const struct ht_daemon *d, const char *needle)
{
	wait_log_n(d, needle, 1);
}

/* "NAME: swap to generation G (V) complete" */
static void wait_swapped(const struct ht_daemon *d, const char *name, unsigned gen,
			 const char *version)
{
	char needle[128];
	snprintf(needle, sizeof(needle), "%s: swap to generation %u (%s) complete", name, gen,
		 version);
	wait_log(d, needle);
}

/* ---- calls and status ----------------------------------------------------------------- */

static void assert_unknown(bh_client *c, const char *method, const char *name)
{
	bh_error err = {0};
	bh_client_params(c);
	ht_assert_err(bh_call(c, method, HT_LONG_MS, NULL, &err), err, BH_E_UNKNOWN_PLUGIN,
		      name);
}

struct slot_info {
	bool present;
	uint64_t generation, n_gen, pid;
	char state[32], swap[32], last_swap[320], version[64], path[HT_PATH_MAX + 64];
};

static struct slot_info slot_status(bh_client *c, const char *name)
{
	struct slot_info si;
	memset(&si, 0, sizeof(si));
	bh_result *st = ht_status(c);
	const bh_value *p = ht_status_plugin(bh_result_value(st), name);
	if (p) {
		si.present = true;
		si.generation = ht_get_uint(p, "generation");
		si.n_gen = ht_get(p, "generations")->len;
		ht_str(ht_get(p, "state"), si.state, sizeof(si.state));
		ht_str(ht_get(p, "swap"), si.swap, sizeof(si.swap));
		ht_str(ht_get(p, "last_swap"), si.last_swap, sizeof(si.last_swap));
		ht_str(ht_get(p, "version"), si.version, sizeof(si.version));
		ht_str(ht_get(p, "path"), si.path, sizeof(si.path));
		const bh_value *insts = ht_get(p, "instances");
		if (insts->type == BH_ARRAY && insts->len == 1)
			si.pid = ht_get_uint(&insts->as.items[0], "pid");
	}
	bh_result_free(st);
	return si;
}

/* The number of plugins the status lists. */
static uint32_t n_plugins(bh_client *c)
{
	bh_result *st = ht_status(c);
	uint32_t n = ht_get(bh_result_value(st), "plugins")->len;
	bh_result_free(st);
	return n;
}

/* Settled on one generation: no swap running, one generation listed. */
static void assert_settled(bh_client *c, const char *name, uint64_t gen, const char *version)
{
	struct slot_info si = slot_status(c, name);
	ck_assert_msg(si.present, "%s is not loaded", name);
	ck_assert_uint_eq(si.generation, gen);
	ck_assert_str_eq(si.version, version);
	ck_assert_str_eq(si.swap, "none");
	ck_assert_uint_eq(si.n_gen, 1);
	ck_assert_str_eq(si.state, "ready");
}

/* ---- a client calling throughout (its own thread, its own connection) ----------------- */

struct caller {
	pthread_t th;
	bh_client *c;
	const char *method; /* ver's incr or whoami */
	bool counts;        /* incr: the count must go up by one each call */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool stop;
	uint64_t calls, failed, n_a, n_b, b_then_a, bad_count;
	char last;
	char problem[400]; /* the first one */
};

static void *caller_main(void *arg)
{
	struct caller *cl = arg;
	int64_t last_count = 0;
	for (;;) {
		pthread_mutex_lock(&cl->mu);
		bool stop = cl->stop;
		pthread_mutex_unlock(&cl->mu);
		if (stop)
			break;
		bh_result *res = NULL;
		bh_error err = {0};
		bh_client_params(cl->c);
		int r = bh_call(cl->c, cl->method, HT_LONG_MS, &res, &err);
		struct ht_ver a = {0};
		bool ok = r == 0 && ht_ver_parse(bh_result_value(res), &a);
		bh_result_free(res);
		pthread_mutex_lock(&cl->mu);
		cl->calls++;
		if (!ok) {
			cl->failed++;
			if (!cl->problem[0])
				snprintf(cl->problem, sizeof(cl->problem), "call %llu: rc %d, %s: %s",
					 (unsigned long long)cl->calls, r, bh_code_name(err.code),
					 err.message);
		} else {
			cl->n_a += a.letter == 'A';
			cl->n_b += a.letter == 'B';
			/* A swap never shows a client an old answer after a new one. */
			cl->b_then_a += cl->last == 'B' && a.letter == 'A';
			if (cl->counts && a.extra != last_count + 1) {
				cl->bad_count++;
				if (!cl->problem[0])
					snprintf(cl->problem, sizeof(cl->problem),
						 "count %lld after %lld", (long long)a.extra,
						 (long long)last_count);
			}
			last_count = a.extra;
			cl->last = a.letter;
		}
		pthread_cond_broadcast(&cl->cv);
		pthread_mutex_unlock(&cl->mu);
	}
	return NULL;
}

static void caller_start(struct caller *cl, const struct ht_daemon *d, const char *method,
			 bool counts)
{
	memset(cl, 0, sizeof(*cl));
	cl->c = ht_connect(d);
	cl->method = method;
	cl->counts = counts;
	pthread_mutex_init(&cl->mu, NULL);
	pthread_cond_init(&cl->cv, NULL);
	ck_assert_int_eq(pthread_create(&cl->th, NULL, caller_main, cl), 0);
}

/* Block until the caller has made `more` calls since now (bounded: a broken test
 * fails, a slow machine does not). */
static void caller_progress(struct caller *cl, uint64_t more)
{
	struct timespec deadline;
	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += HT_LONG_MS / 1000;
	pthread_mutex_lock(&cl->mu);
	uint64_t target = cl->calls + more;
	while (cl->calls < target) {
		int r = pthread_cond_timedwait(&cl->cv, &cl->mu, &deadline);
		if (r == ETIMEDOUT) {
			uint64_t calls = cl->calls;
			pthread_mutex_unlock(&cl->mu);
			ck_abort_msg("the caller made %llu of %llu calls",
				     (unsigned long long)calls, (unsigned long long)target);
		}
	}
	pthread_mutex_unlock(&cl->mu);
}

/* Stop and join; the counters are stable after this. */
static void caller_stop(struct caller *cl)
{
	pthread_mutex_lock(&cl->mu);
	cl->stop = true;
	pthread_mutex_unlock(&cl->mu);
	ck_assert_int_eq(pthread_join(cl->th, NULL), 0);
	bh_client_free(cl->c);
	cl->c = NULL;
	pthread_mutex_destroy(&cl->mu);
	pthread_cond_destroy(&cl->cv);
}

/* No call failed, answers went from A to B once (never back), both were seen. */
static void assert_caller_clean(const struct caller *cl, bool saw_b)
{
	ck_assert_msg(cl->failed == 0 && cl->bad_count == 0,
		      "%llu of %llu calls failed, %llu bad counts; first: %s",
		      (unsigned long long)cl->failed, (unsigned long long)cl->calls,
		      (unsigned long long)cl->bad_count, cl->problem);
	ck_assert_msg(cl->b_then_a == 0, "an old answer after a new one, %llu times",
		      (unsigned long long)cl->b_then_a);
	ck_assert_uint_gt(cl->n_a, 0);
	if (saw_b) {
		ck_assert_uint_gt(cl->n_b, 0);
		ck_assert_int_eq(cl->last, 'B');
	} else {
		ck_assert_uint_eq(cl->n_b, 0);
	}
}

/* ---- a call parked in ver's block() (released by SIGUSR1 to the instance) ------------- */

struct parked {
	bh_client *c;
	int answered;
	int32_t code;
	char letter;
	char message[BH_ERROR_MESSAGE_MAX];
};

static void parked_cb(void *userdata, uint32_t msgid, const bh_value *result,
		      const bh_error *err)
{
	struct parked *pk = userdata;
	struct ht_ver a;
	(void)msgid;
	pk->answered++;
	if (err) {
		pk->code = err->code;
		snprintf(pk->message, sizeof(pk->message), "%s", err->message);
	} else if (ht_ver_parse(result, &a)) {
		pk->letter = a.letter;
	}
}

/* Start NAME.block on a connection of its own. Answered when the status behind it on
 * the same connection is: by then the daemon has sent block() to the instance (it
 * reads a connection's requests in order), which holds it until SIGUSR1 (blocked
 * outside block(), so an early one is not lost). */
static void park(struct parked *pk, const struct ht_daemon *d, const char *method)
{
	memset(pk, 0, sizeof(*pk));
	pk->c = ht_connect(d);
	bh_client_params(pk->c);
	ck_assert_int_eq(bh_call_start(pk->c, method, HT_LONG_MS, parked_cb, pk, NULL), 0);
	bh_result_free(ht_status(pk->c));
	ck_assert_int_eq(pk->answered, 0);
}

/* Release it (instance pid) and check it was answered by version letter. */
static void unpark(struct parked *pk, uint64_t pid, char letter)
{
	ck_assert_int_eq(kill((pid_t)pid, SIGUSR1), 0);
	ht_run_clients(&pk->c, 1, HT_LONG_MS);
	ck_assert_msg(pk->answered == 1 && pk->code == 0, "block(): answered %d, %s: %s",
		      pk->answered, bh_code_name(pk->code), pk->message);
	ck_assert_int_eq(pk->letter, letter);
	bh_client_free(pk->c);
	pk->c = NULL;
}

/* ======================================================================================
 * auto_reload
 * ====================================================================================== */

#define AUTO_P "plugins = ( { name = \"p\"; path = \"p.so\"; auto_reload = true; } );"

/* A new version renamed over the file (the atomic way): swapped, state carried over,
 * and a client calling all along sees no failure and answers A then B. */
START_TEST(auto_reload_rename)
{
	struct ht_daemon d;
	ht_setup(&d, NULL, AUTO_P);
	copy_file(VER("ver_a"), in_dir(&d, "p.so"));
	ht_assert_ready(&d);
	bh_client *c = ht_connect(&d);
	ck_assert_int_eq(ht_call_ver(c, "p.whoami").letter, 'A');

	struct caller cl;
	caller_start(&cl, &d, "p.incr", true);
	caller_progress(&cl, 20);
	install(VER("ver_b"), in_dir(&d, ".tmp"), in_dir(&d, "p.so"));
	wait_swapped(&d, "p", 2, "B");
	caller_progress(&cl, 20); /* answered after the swap */
	caller_stop(&cl);
	assert_caller_clean(&cl, true);

	char line[HT_PATH_MAX + 64];
	snprintf(line, sizeof(line), "p: %s changed on disk; swapping", in_dir(&d, "p.so"));
	ck_assert_uint_eq(log_count(&d, line), 1);
	/* The temporary file is no plugin file: it never triggered a reload. */
	ck_assert(!ht_log_has(&d, in_dir(&d, ".tmp")));
	ck_assert_int_eq(ht_call_ver(c, "p.whoami").letter, 'B');
	assert_settled(c, "p", 2, "B");
	struct slot_info si = slot_status(c, "p");
	ck_assert_msg(strstr(si.last_swap, "generation 1 -> 2"), "last_swap: %s", si.last_swap);
	bh_client_free(c);
	ht_stop(&d);
}
END_TEST

/* The file rewritten in place, in chunks: nothing happens while it is half-written
 * (the daemon reacts to IN_CLOSE_WRITE only), one swap once it is closed.
 *
 * "Nothing happened" is proven by order, not by waiting: after the half-write, a
 * second auto_reload plugin r in the same directory gets a new file by rename, and
 * the test waits for r's swap to complete. The daemon reads the directory's events in
 * order from one inotify fd, and a reload fires RELOAD_DEBOUNCE_MS after its event
 * (earliest deadline first), so had the open, truncate or writes of p.so triggered
 * anything, p's reload would have started before r's did.
 *
 * The plain versions: the old instance maps the very inode being rewritten (that is
 * what writing in place means), so it is given nothing to run from it (no state
 * transfer); ver_a_plain and ver_b_plain have the same layout. */
START_TEST(inplace_write_swaps_on_close)
{
	struct ht_daemon d;
	ht_setup(&d, NULL,
		 "plugins = ( { name = \"p\"; path = \"p.so\"; auto_reload = true; },\n"
		 "            { name = \"r\"; path = \"r.so\"; auto_reload = true; } );");
	copy_file(VER("ver_a_plain"), in_dir(&d, "p.so"));
	copy_file(VER("ver_a_plain"), in_dir(&d, "r.so"));
	ht_assert_ready(&d);
	bh_client *c = ht_connect(&d);
	ck_assert_int_eq(ht_call_ver(c, "p.whoami").letter, 'A');
	ck_assert_int_eq(ht_call_ver(c, "r.whoami").letter, 'A');
	uint64_t pid = slot_status(c, "p").pid;

	size_t len;
	uint8_t *b = slurp(VER("ver_b_plain"), &len);
	int fd = open(in_dir(&d, "p.so"), O_WRONLY | O_TRUNC | O_CLOEXEC);
	ck_assert_int_ge(fd, 0);
	size_t third = len / 3, half = len / 2;
	write_all(fd, b, third);
	write_all(fd, b + third, half - third);

	/* The barrier: r's reload, from an event queued after all of the above. */
	install(VER("ver_b_plain"), in_dir(&d, "r.tmp"), in_dir(&d, "r.so"));
	wait_swapped(&d, "r", 2, "B");
	ck_assert_msg(!ht_log_has(&d, "p: swapping") && !ht_log_has(&d, "p.so changed on disk"),
		      "p was reloaded while its file was half-written");
	struct slot_info si = slot_status(c, "p");
	ck_assert_uint_eq(si.generation, 1);
	ck_assert_str_eq(si.swap, "none");
	ck_assert_uint_eq(si.n_gen, 1);
	ck_assert_uint_eq(si.pid, pid);

	write_all(fd, b + half, len - half - 100);
	write_all(fd, b + len - 100, 100);
	ck_assert_int_eq(close(fd), 0);
	free(b);
	wait_swapped(&d, "p", 2, "B");
	ck_assert_int_eq(ht_call_ver(c, "p.whoami").letter, 'B');
	assert_settled(c, "p", 2, "B");
	ck_assert_uint_ne(slot_status(c, "p").pid, pid);

	/* Exactly one swap for the whole write: a second reload of p would come from an
	 * event queued before this rename of r's file, so it would start before r's. */
	install(VER("ver_a_plain"), in_dir(&d, "r.tmp"), in_dir(&d, "r.so"));
	wait_swapped(&d, "r", 3, "A");
	ck_assert_uint_eq(log_count(&d, "p: swapping generation"), 1);
	assert_settled(c, "p", 2, "B");
	bh_client_free(c);
	ht_stop(&d);
}
END_TEST

/* Broken replacements (garbage, then a truncated ELF: what an unfinished copy
 * leaves; loading it dies of SIGBUS): each swap rolls back, the old instance serves on
 * with its state, and a client calling throughout sees no failure. A good file afterwards
 * is swapped in. */
START_TEST(broken_replacement_rolls_back)
{
	struct ht_daemon d;
	ht_setup(&d, NULL, AUTO_P);
	copy_file(VER("ver_a"), in_dir(&d, "p.so"));
	ht_assert_ready(&d);
	bh_client *c = ht_connect(&d);
	struct ht_ver orig = ht_call_ver(c, "p.whoami");
	ck_assert_int_eq(orig.letter, 'A');
	uint64_t pid = slot_status(c, "p").pid;

	struct caller cl;
	caller_start(&cl, &d, "p.incr", true);
	caller_progress(&cl, 10);
	char garbage[8192];
	for (size_t i = 0; i < sizeof(garbage); i++)
		garbage[i] = (char)(i * 131 + 7);
	put_bytes(in_dir(&d, ".tmp"), garbage, sizeof(garbage));
	ck_assert_int_eq(rename(in_dir(&d, ".tmp"), in_dir(&d, "p.so")), 0);
	wait_log(&d, "p: swap to generation 2 rolled back");
	caller_progress(&cl, 10);

	struct slot_info si = slot_status(c, "p");
	ck_assert_uint_eq(si.generation, 1);
	ck_assert_str_eq(si.swap, "none");
	ck_assert_uint_eq(si.n_gen, 1);
	ck_assert_str_eq(si.version, "A");
	ck_assert_uint_eq(si.pid, pid);
	ck_assert_msg(strncmp(si.last_swap, "rolled back:", 12) == 0, "last_swap: %s",
		      si.last_swap);
	struct ht_ver now = ht_call_ver(c, "p.whoami");
	ck_assert_int_eq(now.letter, 'A');
	ck_assert_int_eq(now.born, orig.born);

	/* A good file cut short: a copy that stopped early. (At 4 KiB: its loadable
	 * segments end before the middle of the file, so half of it would load fine.) */
	size_t len;
	uint8_t *b = slurp(VER("ver_b"), &len);
	ck_assert_uint_gt(len, 8192);
	put_bytes(in_dir(&d, ".tmp"), b, 4096);
	free(b);
	ck_assert_int_eq(rename(in_dir(&d, ".tmp"), in_dir(&d, "p.so")), 0);
	wait_log(&d, "p: swap to generation 3 rolled back");
	caller_progress(&cl, 10);
	si = slot_status(c, "p");
	ck_assert_uint_eq(si.generation, 1);
	ck_assert_uint_eq(si.pid, pid);
	ck_assert_msg(strncmp(si.last_swap, "rolled back:", 12) == 0, "last_swap: %s",
		      si.last_swap);
	ck_assert_int_eq(ht_call_ver(c, "p.whoami").born, orig.born);

	/* Repaired: swapped, with the count the old generation kept. */
	install(VER("ver_b"), in_dir(&d, ".tmp"), in_dir(&d, "p.so"));
	wait_swapped(&d, "p", 4, "B");
	caller_progress(&cl, 10);
	caller_stop(&cl);
	assert_caller_clean(&cl, true);
	assert_settled(c, "p", 4, "B");
	bh_client_free(c);
	ht_stop(&d);
}
END_TEST

/* The file replaced again while the swap it caused still runs (the old generation
 * drains a parked call): the second reload waits for the first swap, then runs.
 * The barrier is r again: p's second reload fires before r's, so by r's swap it has
 * found p's swap running. */
START_TEST(replaced_again_during_swap)
{
	struct ht_daemon d;
	ht_setup(&d, NULL,
		 "plugins = ( { name = \"p\"; path = \"p.so\"; auto_reload = true;\n"
		 "              timeout_ms = 60000; drain_timeout_ms = 60000; },\n"
		 "            { name = \"r\"; path = \"r.so\"; auto_reload = true; } );");
	copy_file(VER("ver_a_plain"), in_dir(&d, "p.so"));
	copy_file(VER("ver_a_plain"), in_dir(&d, "r.so"));
	ht_assert_ready(&d);
	bh_client *c = ht_connect(&d);
	ck_assert_int_eq(ht_call_ver(c, "p.whoami").letter, 'A');
	uint64_t old_pid = slot_status(c, "p").pid;
	struct parked pk;
	park(&pk, &d, "p.block");

	install(VER("ver_b_plain"), in_dir(&d, "p.tmp"), in_dir(&d, "p.so"));
	wait_log(&d, "p: cut over to generation 2 (B)");
	ck_assert_str_eq(slot_status(c, "p").swap, "draining");
	install(VER("ver_a_plain"), in_dir(&d, "p.tmp"), in_dir(&d, "p.so"));
	install(VER("ver_b_plain"), in_dir(&d, "r.tmp"), in_dir(&d, "r.so"));
	wait_swapped(&d, "r", 2, "B");
	struct slot_info si = slot_status(c, "p");
	ck_assert_str_eq(si.swap, "draining"); /* the parked call holds it */
	ck_assert_uint_eq(si.generation, 2);
	ck_assert(!ht_log_has(&d, "p: reload failed"));

	unpark(&pk, old_pid, 'A');
	wait_swapped(&d, "p", 2, "B");
	wait_swapped(&d, "p", 3, "A");
	ck_assert_int_eq(ht_call_ver(c, "p.whoami").letter, 'A');
	assert_settled(c, "p", 3, "A");
	ck_assert(!ht_log_has(&d, "p: reload failed"));
	bh_client_free(c);
	ht_stop(&d);
}
END_TEST

/* ======================================================================================
 * plugin_dir
 * ====================================================================================== */

/* The life of q in the directory: appears (loaded), replaced (swapped), removed
 * (unloaded), appears again. Names that are not NAME.so with NAME an identifier are
 * ignored: they are created before q.so, and the daemon handles the directory's
 * events in order, loading synchronously, so by "q: loading" it has passed them. */
START_TEST(plugin_dir_lifecycle)
{
	struct ht_daemon d;
	ht_setup(&d, NULL, "plugin_dir = \"pdir\";\nplugins = ();");
	ck_assert_int_eq(mkdir(in_dir(&d, "pdir"), 0755), 0);
	ht_assert_ready(&d);
	bh_client *c = ht_connect(&d);
	ck_assert_uint_eq(n_plugins(c), 0);

	static const char *const ignored[] = {"bad name.so", "x.txt", "bulkhead.so", ".so",
					      "y.so.tmp", "z.SO"};
	for (size_t i = 0; i < sizeof(ignored) / sizeof(*ignored); i++) {
		char path[HT_PATH_MAX + 64];
		snprintf(path, sizeof(path), "pdir/%s", ignored[i]);
		install(VER("ver_a_plain"), in_dir(&d, "ignored.tmp"), in_dir(&d, path));
	}
	/* Written outside the directory, renamed in: never seen half-written. */
	install(VER("ver_a_plain"), in_dir(&d, "q.tmp"), in_dir(&d, "pdir/q.so"));
	char line[HT_PATH_MAX + 64];
	snprintf(line, sizeof(line), "q: loading %s", in_dir(&d, "pdir/q.so"));
	wait_log(&d, line);
	ck_assert_int_eq(ht_call_ver(c, "q.whoami").letter, 'A'); /* queued until ready */
	ck_assert_uint_eq(n_plugins(c), 1);
	assert_settled(c, "q", 1, "A");
	ck_assert_str_eq(slot_status(c, "q").path, in_dir(&d, "pdir/q.so"));
	ck_assert_uint_eq(log_count(&d, ": loading "), 1);

	/* Replaced (a temporary name inside the directory, another extension). */
	install(VER("ver_b_plain"), in_dir(&d, "pdir/q.so.part"), in_dir(&d, "pdir/q.so"));
	wait_swapped(&d, "q", 2, "B");
	ck_assert_int_eq(ht_call_ver(c, "q.whoami").letter, 'B');
	assert_settled(c, "q", 2, "B");

	/* Removed. */
	ck_assert_int_eq(unlink(in_dir(&d, "pdir/q.so")), 0);
	wait_log(&d, "q: unloaded");
	assert_unknown(c, "q.whoami", "q");
	ck_assert_uint_eq(n_plugins(c), 0);

	/* And back: a new plugin, generation 1. Written in place this time: loaded on
	 * close, never half-written. The barrier: w.so renamed in after half of q.so is
	 * written is loaded at once, so by "w: loading" the daemon has handled every
	 * event the creation and the writes of q.so caused. */
	size_t len;
	uint8_t *a = slurp(VER("ver_a_plain"), &len);
	int fd = open(in_dir(&d, "pdir/q.so"), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0755);
	ck_assert_int_ge(fd, 0);
	write_all(fd, a, len / 2);
	install(VER("ver_a_plain"), in_dir(&d, "w.tmp"), in_dir(&d, "pdir/w.so"));
	wait_log(&d, "w: loading");
	ck_assert_uint_eq(log_count(&d, line), 1);
	assert_unknown(c, "q.whoami", "q");
	write_all(fd, a + len / 2, len - len / 2);
	ck_assert_int_eq(close(fd), 0);
	free(a);
	wait_log_n(&d, line, 2);
	ck_assert_int_eq(ht_call_ver(c, "q.whoami").letter, 'A');
	assert_settled(c, "q", 1, "A");
	ck_assert_int_eq(ht_call_ver(c, "w.whoami").letter, 'A');
	ck_assert_uint_eq(n_plugins(c), 2);
	ck_assert_uint_eq(log_count(&d, ": loading "), 3);
	bh_client_free(c);
	ht_stop(&d);
}
END_TEST

/* Files already in the directory at start are loaded (the same names ignored). */
START_TEST(plugin_dir_scan_at_start)
{
	struct ht_daemon d;
	ht_setup(&d, NULL, "plugin_dir = \"pdir\";\nplugins = ();");
	ck_assert_int_eq(mkdir(in_dir(&d, "pdir"), 0755), 0);
	copy_file(VER("ver_a_plain"), in_dir(&d, "pdir/s1.so"));
	copy_file(VER("ver_b_plain"), in_dir(&d, "pdir/s2.so"));
	copy_file(VER("ver_a_plain"), in_dir(&d, "pdir/bad name.so"));
	copy_file(VER("ver_a_plain"), in_dir(&d, "pdir/bulkhead.so"));
	copy_file(VER("ver_a_plain"), in_dir(&d, "pdir/x.txt"));
	FILE *f = fopen(in_dir(&d, "pdir/notelf.so"), "we"); /* refused with the reason */
	ck_assert_ptr_nonnull(f);
	fputs("not a shared object\n", f);
	fclose(f);
	ht_assert_ready(&d);
	bh_client *c = ht_connect(&d);
	ck_assert_int_eq(ht_call_ver(c, "s1.whoami").letter, 'A');
	ck_assert(ht_log_has(&d, "notelf.so is not an ELF file"));
	ck_assert_int_eq(ht_call_ver(c, "s2.whoami").letter, 'B');
	ck_assert_uint_eq(n_plugins(c), 2);
	ck_assert_uint_eq(log_count(&d, ": loading "), 2);
	bh_client_free(c);
	ht_stop(&d);
}
END_TEST

/* q.so removed while the swap its replacement caused still runs (the old generation
 * drains a parked call): q is unloaded once the swap is done. The barrier: w.so
 * appearing after the removal is loaded at once, so by "w: loading" the daemon has
 * handled the removal. */
START_TEST(plugin_dir_removed_during_swap)
{
	struct ht_daemon d;
	ht_setup(&d, NULL, "plugin_dir = \"pdir\";\nplugins = ();");
	ck_assert_int_eq(mkdir(in_dir(&d, "pdir"), 0755), 0);
	copy_file(VER("ver_a_plain"), in_dir(&d, "pdir/q.so"));
	ht_assert_ready(&d);
	bh_client *c = ht_connect(&d);
	ck_assert_int_eq(ht_call_ver(c, "q.whoami").letter, 'A');
	uint64_t old_pid = slot_status(c, "q").pid;
	struct parked pk;
	park(&pk, &d, "q.block");

	install(VER("ver_b_plain"), in_dir(&d, "q.tmp"), in_dir(&d, "pdir/q.so"));
	wait_log(&d, "q: cut over to generation 2 (B)");
	ck_assert_int_eq(unlink(in_dir(&d, "pdir/q.so")), 0);
	install(VER("ver_a_plain"), in_dir(&d, "w.tmp"), in_dir(&d, "pdir/w.so"));
	wait_log(&d, "w: loading");
	ck_assert_str_eq(slot_status(c, "q").swap, "draining");

	unpark(&pk, old_pid, 'A');
	wait_swapped(&d, "q", 2, "B");
	wait_log(&d, "q: unloaded");
	assert_unknown(c, "q.whoami", "q");
	ck_assert_int_eq(ht_call_ver(c, "w.whoami").letter, 'A');
	ck_assert_uint_eq(n_plugins(c), 1);
	bh_client_free(c);
	ht_stop(&d);
}
END_TEST

/* One directory, spelled two ways (through a symlink, as /lib and /usr/lib are on a
 * merged-/usr system): inotify watches the directory once, and the daemon must still
 * recognise every plugin's file in it and the plugin directory itself, whichever
 * spelling registered the watch first. Here p (the real path) comes first and r and
 * the plugin directory go through "via" -> "."; x, in the plugin directory by its real
 * path, comes before the plugin directory. */
START_TEST(paths_spelled_differently)
{
	struct ht_daemon d;
	ht_setup(&d, NULL,
		 "plugin_dir = \"via/pdir\";\n"
		 "plugins = ( { name = \"p\"; path = \"p.so\"; auto_reload = true; },\n"
		 "            { name = \"r\"; path = \"via/r.so\"; auto_reload = true; },\n"
		 "            { name = \"x\"; path = \"pdir/x.so\"; auto_reload = true; } );");
	ck_assert_int_eq(symlink(".", in_dir(&d, "via")), 0);
	ck_assert_int_eq(mkdir(in_dir(&d, "pdir"), 0755), 0);
	copy_file(VER("ver_a_plain"), in_dir(&d, "p.so"));
	copy_file(VER("ver_a_plain"), in_dir(&d, "r.so"));
	copy_file(VER("ver_a_plain"), in_dir(&d, "pdir/x.so"));
	copy_file(VER("ver_a_plain"), in_dir(&d, "pdir/s.so"));
	ht_assert_ready(&d);
	bh_client *c = ht_connect(&d);
	ck_assert_int_eq(ht_call_ver(c, "s.whoami").letter, 'A'); /* found at start */

	install(VER("ver_b_plain"), in_dir(&d, "r.tmp"), in_dir(&d, "r.so"));
	wait_swapped(&d, "r", 2, "B");
	install(VER("ver_b_plain"), in_dir(&d, "p.tmp"), in_dir(&d, "p.so"));
	wait_swapped(&d, "p", 2, "B");
	install(VER("ver_b_plain"), in_dir(&d, "x.tmp"), in_dir(&d, "pdir/x.so"));
	wait_swapped(&d, "x", 2, "B");
	install(VER("ver_a_plain"), in_dir(&d, "q.tmp"), in_dir(&d, "pdir/q.so"));
	wait_log(&d, "q: loading");
	ck_assert_int_eq(ht_call_ver(c, "q.whoami").letter, 'A');
	install(VER("ver_b_plain"), in_dir(&d, "s.tmp"), in_dir(&d, "pdir/s.so"));
	wait_swapped(&d, "s", 2, "B");
	ck_assert_int_eq(unlink(in_dir(&d, "pdir/s.so")), 0);
	wait_log(&d, "s: unloaded");
	assert_unknown(c, "s.whoami", "s");
	ck_assert(!ht_log_has(&d, "already loaded from"));
	bh_client_free(c);
	ht_stop(&d);
}
END_TEST

/* ======================================================================================
 * SIGHUP
 * ====================================================================================== */

#define PLUG(name, path, extra) "{ name = \"" name "\"; path = \"" path "\"; " extra " }"

static void sighup(const struct ht_daemon *d)
{
	ck_assert_int_eq(kill(d->pid, SIGHUP), 0);
}

/* a changes file (A -> B, with state), t changes a setting only, u is unchanged, b is
 * removed, c is added; a client calls a throughout. */
START_TEST(sighup_applies_changes)
{
	struct ht_daemon d;
	ht_start(&d, "plugins = ( " PLUG("a", VER("ver_a"), "") ",\n"
		     PLUG("t", VER("ver_a_plain"), "") ",\n"
		     PLUG("u", VER("ver_a_plain"), "") ",\n"
		     PLUG("b", VER("ver_a_plain"), "") " );");
	bh_client *c = ht_connect(&d);
	ck_assert_int_eq(ht_call_ver(c, "a.whoami").letter, 'A');
	ck_assert_int_eq(ht_call_ver(c, "b.whoami").letter, 'A');
	struct ht_ver t0 = ht_call_ver(c, "t.whoami"), u0 = ht_call_ver(c, "u.whoami");
	uint64_t u_pid = slot_status(c, "u").pid;

	struct caller cl;
	caller_start(&cl, &d, "a.incr", true);
	caller_progress(&cl, 20);
	rewrite_conf(&d, "plugins = ( " PLUG("a", VER("ver_b"), "") ",\n"
			 PLUG("t", VER("ver_a_plain"), "timeout_ms = 4000;") ",\n"
			 PLUG("u", VER("ver_a_plain"), "") ",\n"
			 PLUG("c", VER("ver_b_plain"), "") " );");
	sighup(&d);
	wait_log(&d, "SIGHUP: applying");
	wait_log(&d, "b: unloaded");
	wait_swapped(&d, "a", 2, "B");
	wait_swapped(&d, "t", 2, "A");
	caller_progress(&cl, 20);
	caller_stop(&cl);
	assert_caller_clean(&cl, true);

	ck_assert_int_eq(ht_call_ver(c, "a.whoami").letter, 'B');
	assert_settled(c, "a", 2, "B");
	assert_unknown(c, "b.whoami", "b");
	ck_assert(!slot_status(c, "b").present);
	ck_assert_int_eq(ht_call_ver(c, "c.whoami").letter, 'B');
	assert_settled(c, "c", 1, "B");
	/* t: a new generation of the same file, new processes. */
	struct ht_ver t1 = ht_call_ver(c, "t.whoami");
	ck_assert_int_eq(t1.letter, 'A');
	ck_assert_int_gt(t1.born, t0.born);
	assert_settled(c, "t", 2, "A");
	/* u: untouched, the same process. */
	ck_assert_int_eq(ht_call_ver(c, "u.whoami").born, u0.born);
	assert_settled(c, "u", 1, "A");
	ck_assert_uint_eq(slot_status(c, "u").pid, u_pid);
	ck_assert_uint_eq(n_plugins(c), 4);
	ck_assert(!ht_log_has(&d, "u: swapping") && !ht_log_has(&d, "u: unloading"));
	bh_client_free(c);
	ht_stop(&d);
}
END_TEST

/* a removed from the file while its swap runs (auto_reload, the old generation
 * draining a parked call): unloaded once the swap is done. */
START_TEST(sighup_removes_plugin_during_swap)
{
	struct ht_daemon d;
	ht_setup(&d, NULL,
		 "plugins = ( { name = \"a\"; path = \"a.so\"; auto_reload = true;\n"
		 "              timeout_ms = 60000; drain_timeout_ms = 60000; },\n"
		 "            " PLUG("b", VER("ver_a_plain"), "") " );");
	copy_file(VER("ver_a_plain"), in_dir(&d, "a.so"));
	ht_assert_ready(&d);
	bh_client *c = ht_connect(&d);
	ck_assert_int_eq(ht_call_ver(c, "a.whoami").letter, 'A');
	uint64_t old_pid = slot_status(c, "a").pid;
	struct parked pk;
	park(&pk, &d, "a.block");
	install(VER("ver_b_plain"), in_dir(&d, "a.tmp"), in_dir(&d, "a.so"));
	wait_log(&d, "a: cut over to generation 2 (B)");

	rewrite_conf(&d, "plugins = ( " PLUG("b", VER("ver_a_plain"), "") " );");
	sighup(&d);
	wait_log(&d, "SIGHUP: applying");
	ck_assert_str_eq(slot_status(c, "a").swap, "draining");
	unpark(&pk, old_pid, 'A');
	wait_swapped(&d, "a", 2, "B");
	wait_log(&d, "a: unloaded");
	assert_unknown(c, "a.whoami", "a");
	ck_assert_int_eq(ht_call_ver(c, "b.whoami").letter, 'A');
	ck_assert_uint_eq(n_plugins(c), 1);
	bh_client_free(c);
	ht_stop(&d);
}
END_TEST

/* A SIGHUP changes a plugin while a swap of it runs: the change waits for the swap,
 * then applies (a third generation, from the new file). */
START_TEST(sighup_changes_plugin_during_swap)
{
	struct ht_daemon d;
	ht_setup(&d, NULL,
		 "plugins = ( { name = \"a\"; path = \"a.so\"; auto_reload = true;\n"
		 "              timeout_ms = 60000; drain_timeout_ms = 60000; } );");
	copy_file(VER("ver_a_plain"), in_dir(&d, "a.so"));
	copy_file(VER("ver_a_plain"), in_dir(&d, "a2.so"));
	ht_assert_ready(&d);
	bh_client *c = ht_connect(&d);
	ck_assert_int_eq(ht_call_ver(c, "a.whoami").letter, 'A');
	uint64_t old_pid = slot_status(c, "a").pid;
	struct parked pk;
	park(&pk, &d, "a.block");
	install(VER("ver_b_plain"), in_dir(&d, "a.tmp"), in_dir(&d, "a.so"));
	wait_log(&d, "a: cut over to generation 2 (B)");

	rewrite_conf(&d, "plugins = ( { name = \"a\"; path = \"a2.so\"; auto_reload = true;\n"
			 "              timeout_ms = 60000; drain_timeout_ms = 60000; } );");
	sighup(&d);
	wait_log(&d, "SIGHUP: a changed; applying it once");
	unpark(&pk, old_pid, 'A');
	wait_swapped(&d, "a", 3, "A");
	ck_assert_msg(strstr(slot_status(c, "a").path, "a2.so"), "a runs %s, the file says a2.so",
		      slot_status(c, "a").path);
	ck_assert_int_eq(ht_call_ver(c, "a.whoami").letter, 'A');
	bh_client_free(c);
	ht_stop(&d);
}
END_TEST

/* q.so comes back while q is still unloading (a call holds the unload): once the
 * unload is done, the new file is loaded. */
START_TEST(plugin_dir_readded_during_unload)
{
	struct ht_daemon d;
	ht_setup(&d, NULL, "plugin_dir = \"pdir\";\nplugins = ();");
	ck_assert_int_eq(mkdir(in_dir(&d, "pdir"), 0755), 0);
	copy_file(VER("ver_a_plain"), in_dir(&d, "pdir/q.so"));
	ht_assert_ready(&d);
	bh_client *c = ht_connect(&d);
	ck_assert_int_eq(ht_call_ver(c, "q.whoami").letter, 'A');
	uint64_t pid = slot_status(c, "q").pid;
	struct parked pk;
	park(&pk, &d, "q.block");
	ck_assert_int_eq(unlink(in_dir(&d, "pdir/q.so")), 0);
	wait_log(&d, "q: unloading (0 queued, 1 in flight)");
	install(VER("ver_b_plain"), in_dir(&d, "q.tmp"), in_dir(&d, "pdir/q.so"));
	unpark(&pk, pid, 'A');
	wait_log(&d, "q: unloaded");
	wait_log(&d, "q.so is back; loading q");
	ck_assert_int_eq(ht_call_ver(c, "q.whoami").letter, 'B');
	bh_client_free(c);
	ht_stop(&d);
}
END_TEST

/* A SIGHUP changes a plugin while a load of it runs (bulkhead.load by name, waiting
 * for an init that takes seconds): the change is recorded and applied once the load
 * is answered, as a swap to the new entry. */
START_TEST(sighup_changes_plugin_during_load)
{
	struct ht_daemon d;
	/* drain_timeout_ms: the first unload stops the starting instance at once. */
	ht_setup(&d, NULL, "plugins = ( " PLUG("a", "slow.so", "init_timeout_ms = 20000; "
					       "drain_timeout_ms = 1;") " );");
	copy_file(VER("ver_init_slow"), in_dir(&d, "slow.so"));
	copy_file(VER("ver_a_plain"), in_dir(&d, "a.so"));
	ht_assert_ready(&d);
	bh_client *c = ht_connect(&d);
	bh_error err = {0};
	bh_writer *w = bh_client_params(c);
	bh_write_array(w, 1);
	bh_write_cstr(w, "a");
	ht_assert_ok(bh_call(c, "bulkhead.unload", HT_LONG_MS, NULL, &err), err);

	struct parked load; /* answered once the slow init is done */
	memset(&load, 0, sizeof(load));
	load.c = ht_connect(&d);
	w = bh_client_params(load.c);
	bh_write_array(w, 1);
	bh_write_cstr(w, "a");
	ck_assert_int_eq(bh_call_start(load.c, "bulkhead.load", HT_LONG_MS, parked_cb, &load,
				       NULL), 0);
	bh_result_free(ht_status(load.c));
	rewrite_conf(&d, "plugins = ( " PLUG("a", "a.so", "init_timeout_ms = 20000;") " );");
	sighup(&d);
	wait_log(&d, "SIGHUP: a changed; applying it once the operation running on it ends");
	ck_assert_int_eq(load.answered, 0);
	ht_run_clients(&load.c, 1, HT_LONG_MS);
	ck_assert_msg(load.code == 0, "load: %s: %s", bh_code_name(load.code), load.message);
	bh_client_free(load.c);
	wait_swapped(&d, "a", 2, "A");
	ck_assert_int_eq(ht_call_ver(c, "a.whoami").letter, 'A');
	bh_client_free(c);
	ht_stop(&d);
}
END_TEST

/* The line of the config file that holds needle (1-based). */
static unsigned conf_line_of(const struct ht_daemon *d, const char *needle)
{
	size_t len;
	uint8_t *p = slurp(d->conf, &len);
	p[len] = 0;
	const char *at = strstr((const char *)p, needle);
	ck_assert_msg(at != NULL, "the config lacks \"%s\"", needle);
	unsigned line = 1;
	for (const char *s = (const char *)p; s < at; s++)
		line += *s == '\n';
	free(p);
	return line;
}

/* SIGHUP with a file that does not parse, then one that does not validate (twice):
 * each is rejected with file:line and the reason, and nothing changes: same
 * generations, same processes, calls work. Each bad file would otherwise change a,
 * remove b and add c. A good file afterwards is applied. */
START_TEST(sighup_rejects_invalid)
{
	struct ht_daemon d;
	ht_start(&d, "plugins = ( " PLUG("a", VER("ver_a"), "") ",\n"
		     PLUG("b", VER("ver_a_plain"), "") " );");
	bh_client *c = ht_connect(&d);
	struct ht_ver a0 = ht_call_ver(c, "a.incr"), b0 = ht_call_ver(c, "b.whoami");
	ck_assert_int_eq(a0.letter, 'A');

	static const struct {
		const char *body, *marker, *reason;
	} bad[] = {
		{"plugins = ( " PLUG("a", VER("ver_b"), "") ",\n"
		 PLUG("c", VER("ver_b_plain"), "instances = 2") " ;\n);",
		 "instances = 2", "syntax error"},
		{"plugins = ( " PLUG("a", VER("ver_b"), "") ",\n"
		 PLUG("c", VER("ver_b_plain"), "instances = 0;") " );",
		 "instances = 0", "plugins[1].instances: must be 1..64, got 0"},
		{"plugins = ( " PLUG("a", VER("ver_b"), "") ",\n"
		 PLUG("c", "/nonexistent/c.so", "") " );",
		 "/nonexistent/c.so", "plugins[1].path: file not found: /nonexistent/c.so"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		rewrite_conf(&d, "%s", bad[i].body);
		char where[HT_PATH_MAX + 32];
		snprintf(where, sizeof(where), "%s:%u: ", d.conf, conf_line_of(&d, bad[i].marker));
		sighup(&d);
		wait_log_n(&d, "SIGHUP: configuration rejected, keeping the running one: ", i + 1);
		char *log = ht_read_log(&d);
		const char *last = log, *p;
		while ((p = strstr(last + 1, "configuration rejected")) != NULL)
			last = p;
		size_t eol = strcspn(last, "\n");
		ck_assert_msg(memmem(last, eol, where, strlen(where)) &&
				      memmem(last, eol, bad[i].reason, strlen(bad[i].reason)),
			      "bad config %zu: want \"%s\" and \"%s\" in: %.*s", i, where,
			      bad[i].reason, (int)eol, last);
		free(log);

		/* Nothing changed. */
		ck_assert(!ht_log_has(&d, "SIGHUP: applying"));
		struct ht_ver a = ht_call_ver(c, "a.incr");
		ck_assert_int_eq(a.letter, 'A');
		ck_assert_int_eq(a.born, a0.born);
		ck_assert_int_eq(a.extra, a0.extra + 1 + (int64_t)i);
		ck_assert_int_eq(ht_call_ver(c, "b.whoami").born, b0.born);
		assert_settled(c, "a", 1, "A");
		assert_settled(c, "b", 1, "A");
		assert_unknown(c, "c.whoami", "c");
		ck_assert_uint_eq(n_plugins(c), 2);
	}

	/* Still listening to SIGHUP, with the file the daemon runs on. */
	rewrite_conf(&d, "plugins = ( " PLUG("a", VER("ver_b"), "") ",\n"
			 PLUG("c", VER("ver_b_plain"), "") " );");
	sighup(&d);
	wait_log(&d, "b: unloaded");
	wait_swapped(&d, "a", 2, "B");
	struct ht_ver a = ht_call_ver(c, "a.incr");
	ck_assert_int_eq(a.letter, 'B');
	ck_assert_int_eq(a.extra, a0.extra + 4); /* the state came over */
	ck_assert_int_eq(ht_call_ver(c, "c.whoami").letter, 'B');
	assert_unknown(c, "b.whoami", "b");
	bh_client_free(c);
	ht_stop(&d);
}
END_TEST

/* The file of a plugin that was ready is replaced by one that cannot load (a
 * copy caught half-written) and its instance dies: the replacement cannot load the
 * plugin. That is a crash of a plugin that worked (restarted with back-off,
 * quarantined only if it keeps failing), not a plugin that can never load: once the
 * good file is back, the next restart serves again. A plugin that never ran and
 * cannot load still fails for good (faults suite). */
START_TEST(broken_file_after_ready_is_a_crash)
{
	struct ht_daemon d;
	ht_setup(&d, NULL,
		 "plugins = ( { name = \"p\"; path = \"p.so\"; } );\n"
		 "restart = { backoff_min_ms = 20; backoff_max_ms = 200; quarantine_crashes = 1000; };");
	copy_file(VER("ver_a_plain"), in_dir(&d, "p.so"));
	ht_assert_ready(&d);
	bh_client *c = ht_connect(&d);
	ck_assert_int_eq(ht_call_ver(c, "p.whoami").letter, 'A');
	uint64_t pid = slot_status(c, "p").pid;
	ck_assert_int_eq(rename(in_dir(&d, "p.so"), in_dir(&d, "p.away")), 0);
	put_bytes(in_dir(&d, "p.so"), "not a shared object", 19);
	ck_assert_int_eq(kill((pid_t)pid, SIGKILL), 0);
	/* Restarted after the kill, then after each of two failed loads. */
	wait_log_n(&d, "p: restarting in", 3);
	ck_assert_str_ne(slot_status(c, "p").state, "failed");
	ck_assert_int_eq(rename(in_dir(&d, "p.away"), in_dir(&d, "p.so")), 0);
	ck_assert_int_eq(ht_call_ver(c, "p.whoami").letter, 'A');
	ck_assert_str_eq(slot_status(c, "p").state, "ready");
	bh_client_free(c);
	ht_stop(&d);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("integ_reload");
	TCase *tc = ht_tcase("auto_reload");
	tcase_add_test(tc, auto_reload_rename);
	tcase_add_test(tc, inplace_write_swaps_on_close);
	tcase_add_test(tc, broken_replacement_rolls_back);
	tcase_add_test(tc, replaced_again_during_swap);
	suite_add_tcase(s, tc);
	tc = ht_tcase("plugin_dir");
	tcase_add_test(tc, plugin_dir_lifecycle);
	tcase_add_test(tc, plugin_dir_scan_at_start);
	tcase_add_test(tc, plugin_dir_removed_during_swap);
	tcase_add_test(tc, paths_spelled_differently);
	suite_add_tcase(s, tc);
	tc = ht_tcase("sighup");
	tcase_add_test(tc, sighup_applies_changes);
	tcase_add_test(tc, sighup_rejects_invalid);
	tcase_add_test(tc, sighup_removes_plugin_during_swap);
	tcase_add_test(tc, sighup_changes_plugin_during_swap);
	tcase_add_test(tc, sighup_changes_plugin_during_load);
	tcase_add_test(tc, plugin_dir_readded_during_unload);
	tcase_add_test(tc, broken_file_after_ready_is_a_crash);
	suite_add_tcase(s, tc);
	return ht_main(s);
}
