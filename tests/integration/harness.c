/* Integration-test harness (see harness.h). */
#define _GNU_SOURCE
#include "harness.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bulkhead/sandbox.h"

/* The base directory of this test binary; inherited by libcheck's test children. */
static char ht_base[HT_PATH_MAX];

bool ht_has(const char *s, const char *needle)
{
	return !needle || (s && strstr(s, needle));
}

const char *ht_or_empty(const char *s)
{
	return s ? s : "";
}

/* ---- files ---------------------------------------------------------------------- */

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st, (void)flag, (void)ftw;
	remove(path);
	return 0;
}

static void rm_rf(const char *path)
{
	if (path[0])
		nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* Also used by ht_main, outside any test: no ck_* here. */
static char *read_file(const char *path)
{
	FILE *f = fopen(path, "re");
	size_t cap = 4096, len = 0;
	char *s = malloc(cap);
	if (!s)
		abort();
	if (f) {
		size_t n;
		while ((n = fread(s + len, 1, cap - len - 1, f)) > 0) {
			len += n;
			if (cap - len < 2) {
				cap *= 2;
				s = realloc(s, cap);
				if (!s)
					abort();
			}
		}
		fclose(f);
	}
	s[len] = 0;
	return s;
}

char *ht_read_log(const struct ht_daemon *d)
{
	return read_file(d->log);
}

bool ht_log_has(const struct ht_daemon *d, const char *needle)
{
	char *log = ht_read_log(d);
	bool has = strstr(log, needle) != NULL;
	free(log);
	return has;
}

/* Fail the test with the daemon's log in the message's place of honour: stderr. */
#define fail_with_log(d, ...)                                                              \
	do {                                                                               \
		char *log_ = ht_read_log(d);                                               \
		fprintf(stderr, "---- bulkheadd log (%s) ----\n%s---- end of log ----\n",  \
			(d)->log, log_);                                                   \
		free(log_);                                                                \
		ck_abort_msg(__VA_ARGS__);                                                 \
	} while (0)

/* ---- daemon lifecycle ---------------------------------------------------------- */

void ht__setup(struct ht_daemon *d, const char *test, const char *socket_path,
	       const char *fmt, ...)
{
	memset(d, 0, sizeof(*d));
	ck_assert_msg(ht_base[0], "ht_main() did not run");
	snprintf(d->dir, sizeof(d->dir), "%s/%.24s.XXXXXX", ht_base, test);
	ck_assert_msg(mkdtemp(d->dir) != NULL, "mkdtemp %s: %s", d->dir, strerror(errno));
	snprintf(d->conf, sizeof(d->conf), "%s/bh.conf", d->dir);
	snprintf(d->log, sizeof(d->log), "%s/daemon.log", d->dir);
	snprintf(d->sock, sizeof(d->sock), "%s", socket_path ? socket_path : "");
	if (!socket_path)
		snprintf(d->sock, sizeof(d->sock), "%s/bh.sock", d->dir);

	FILE *f = fopen(d->conf, "we");
	ck_assert_msg(f != NULL, "%s: %s", d->conf, strerror(errno));
	fprintf(f, "socket = { path = \"%s\"; };\n", d->sock);
	va_list ap;
	va_start(ap, fmt);
	vfprintf(f, fmt, ap);
	va_end(ap);
	fputc('\n', f);
	ck_assert_int_eq(fclose(f), 0);
}

/* In the child between fork and exec: only async-signal-safe calls. */
static void exec_daemon(const struct ht_daemon *d, int ready_w, pid_t parent)
{
	/* Die with the test process (a failed assertion _exit()s it). */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
		_exit(127);
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	signal(SIGPIPE, SIG_DFL);

	int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
	int log = open(d->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (null < 0 || log < 0 || dup2(null, 0) < 0 || dup2(log, 1) < 0 || dup2(log, 2) < 0)
		_exit(127);
	/* An unprivileged daemon: the user it would be started as (dumpable, as after
	 * any exec that does not change credentials). A credential change clears the
	 * parent-death signal: set it again. */
	if (d->run_uid && (setgroups(0, NULL) < 0 || setresgid(d->run_gid, d->run_gid, d->run_gid) < 0 ||
			   setresuid(d->run_uid, d->run_uid, d->run_uid) < 0 ||
			   prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent))
		_exit(127);
	/* The ready pipe on fd 3, without close-on-exec; nothing else leaks in. */
	if (ready_w == 3) {
		if (fcntl(3, F_SETFD, 0) < 0)
			_exit(127);
	} else if (dup2(ready_w, 3) < 0) {
		_exit(127);
	}
	for (int fd = 4; fd < 1024; fd++)
		close(fd);
	execl(HT_BULKHEADD, "bulkheadd", "-c", d->conf, "--ready-fd", "3", (char *)NULL);
	_exit(127);
}

bool ht_spawn(struct ht_daemon *d)
{
	int p[2];
	if (d->run_uid) { /* its directory becomes its own */
		ck_assert_int_eq(chmod(ht_base, 0711), 0);
		ck_assert_int_eq(chown(d->dir, d->run_uid, d->run_gid), 0);
	}
	ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
	pid_t parent = getpid();
	pid_t pid = fork();
	ck_assert_msg(pid >= 0, "fork: %s", strerror(errno));
	if (pid == 0)
		exec_daemon(d, p[1], parent);
	close(p[1]);
	d->pid = pid;

	/* The sync point: READY, or end of file when the daemon exits without it. */
	char buf[16];
	size_t len = 0;
	for (;;) {
		ssize_t n = read(p[0], buf + len, sizeof(buf) - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
		if (len >= 6 || len == sizeof(buf) - 1)
			break;
	}
	close(p[0]);
	buf[len] = 0;
	if (len >= 6 && memcmp(buf, "READY\n", 6) == 0)
		return true;
	ht_wait(d);
	return false;
}

void ht_assert_ready(struct ht_daemon *d)
{
	if (!ht_spawn(d))
		fail_with_log(d, "bulkheadd did not become ready (wait status 0x%x)", d->status);
}

int ht_wait(struct ht_daemon *d)
{
	if (d->pid <= 0)
		return d->status;
	int st;
	pid_t r;
	while ((r = waitpid(d->pid, &st, 0)) < 0 && errno == EINTR)
		;
	ck_assert_msg(r == d->pid, "waitpid %d: %s", (int)d->pid, strerror(errno));
	d->pid = 0;
	d->status = st;
	return st;
}

void ht_sigterm(struct ht_daemon *d)
{
	ck_assert_int_gt(d->pid, 0);
	ck_assert_int_eq(kill(d->pid, SIGTERM), 0);
}

void ht_kill9(struct ht_daemon *d)
{
	if (d->pid > 0) {
		kill(d->pid, SIGKILL);
		ht_wait(d);
	}
}

void ht_cleanup(struct ht_daemon *d)
{
	ck_assert_int_eq(d->pid, 0);
	rm_rf(d->dir);
	d->dir[0] = 0;
}

void ht_stop(struct ht_daemon *d)
{
	ht_sigterm(d);
	int st = ht_wait(d);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		fail_with_log(d, "bulkheadd did not exit 0 on SIGTERM (wait status 0x%x: %s %d)",
			      st, WIFEXITED(st) ? "exit" : "signal",
			      WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
	struct stat sb;
	if (lstat(d->sock, &sb) == 0 || errno != ENOENT)
		fail_with_log(d, "bulkheadd exited but left its socket %s", d->sock);
	ht_cleanup(d);
}

uint64_t ht_cpu_ms(pid_t pid)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	char *st = read_file(path);
	/* Fields after "(comm)": state is field 3, utime 14, stime 15. */
	const char *p = strrchr(st, ')');
	ck_assert_msg(p != NULL, "%s: unreadable", path);
	unsigned long long utime, stime;
	ck_assert_int_eq(sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu",
				&utime, &stime),
			 2);
	free(st);
	return (utime + stime) * 1000 / (uint64_t)sysconf(_SC_CLK_TCK);
}

/* ---- running a suite ------------------------------------------------------------ */

static void print_leftover_logs(void)
{
	DIR *dir = opendir(ht_base);
	if (!dir)
		return;
	struct dirent *e;
	while ((e = readdir(dir)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		char path[HT_PATH_MAX + 300];
		snprintf(path, sizeof(path), "%s/%s/daemon.log", ht_base, e->d_name);
		char *log = read_file(path);
		fprintf(stderr, "==== daemon log of %s (a test that did not finish cleanly) ====\n%s"
				"==== end of %s ====\n",
			e->d_name, log, e->d_name);
		free(log);
	}
	closedir(dir);
}

void ht_skip(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	printf("SKIP: ");
	vprintf(fmt, ap);
	printf("\n");
	va_end(ap);
	fflush(stdout);
	rm_rf(ht_base);
	exit(77);
}

TCase *ht_tcase(const char *name)
{
	TCase *tc = tcase_create(name);
	tcase_set_timeout(tc, HT_TEST_TIMEOUT);
	return tc;
}

int ht_main_cases(const char *suite, const struct ht_case *cases, size_t n, unsigned timeout_s,
		  int argc, char **argv)
{
	Suite *s = suite_create(suite);
	TCase *tc = ht_tcase(suite);
	if (timeout_s)
		tcase_set_timeout(tc, timeout_s);
	for (size_t i = 0; i < n; i++)
		if (argc < 2 || strcmp(argv[1], cases[i].name) == 0)
			tcase_add_test(tc, cases[i].test);
	suite_add_tcase(s, tc);
	setenv("CK_FORK", "no", 1);
	return ht_main(s);
}

int ht_main(Suite *s)
{
	signal(SIGPIPE, SIG_IGN);
	char why[256];
	if (bh_sandbox_userns_check(why, sizeof(why)) < 0) {
		/* Every test daemon sandboxes its plugins. */
		printf("SKIP: %s: no sandboxed plugin can start\n", why);
		srunner_free(srunner_create(s)); /* frees the suite */
		return HT_SKIP;
	}
	const char *tmp = getenv("TMPDIR");
	/* Socket paths are at most 107 bytes: keep the base short. */
	if (!tmp || !*tmp || strlen(tmp) > 40)
		tmp = "/tmp";
	snprintf(ht_base, sizeof(ht_base), "%s/bh-integ.XXXXXX", tmp);
	if (!mkdtemp(ht_base)) {
		fprintf(stderr, "mkdtemp %s: %s\n", ht_base, strerror(errno));
		return 1;
	}
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	/* A test that failed left its directory (and its log) behind. */
	print_leftover_logs();
	rm_rf(ht_base);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

/* ---- the client SDK --------------------------------------------------------------- */

bh_client *ht_connect(const struct ht_daemon *d)
{
	bh_client *c = NULL;
	int r = bh_client_connect(d->sock, &c);
	if (r < 0)
		fail_with_log(d, "bh_client_connect %s: %s", d->sock, strerror(-r));
	return c;
}

static void write_ints(bh_writer *w, const int64_t *v, size_t n)
{
	bh_write_array(w, (uint32_t)n);
	for (size_t i = 0; i < n; i++)
		bh_write_int(w, v[i]);
}

int ht_call_ints(bh_client *c, const char *method, int timeout_ms, bh_result **ret,
		 bh_error *err, const int64_t *v, size_t n)
{
	write_ints(bh_client_params(c), v, n);
	return bh_call(c, method, timeout_ms, ret, err);
}

int ht_call_str(bh_client *c, const char *method, int timeout_ms, bh_result **ret,
		bh_error *err, const char *s)
{
	bh_writer *w = bh_client_params(c);
	bh_write_array(w, 1);
	bh_write_cstr(w, s);
	return bh_call(c, method, timeout_ms, ret, err);
}

int64_t ht_call_int_ok(bh_client *c, const char *method, const int64_t *v, size_t n)
{
	write_ints(bh_client_params(c), v, n);
	bh_result *res = NULL;
	bh_error err = {0};
	int r = bh_call(c, method, HT_LONG_MS, &res, &err);
	ck_assert_msg(r == 0, "%s: rc %d, %s (%d): %s", method, r, bh_code_name(err.code),
		      (int)err.code, err.message);
	int64_t got;
	ck_assert_msg(bh_value_get_int(bh_result_value(res), &got) == 0, "%s: not an integer",
		      method);
	bh_result_free(res);
	return got;
}

int64_t ht_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void ht_run_clients(bh_client **cs, size_t n, int deadline_ms)
{
	int64_t end = ht_now_ms() + deadline_ms;
	struct pollfd pfd[64];
	bh_client *busy[64];
	ck_assert_uint_le(n, 64);
	for (;;) {
		/* Only clients with calls outstanding: one that is done may see the daemon
		 * close its connection (shutdown) and that is no failure. A connection that
		 * breaks with calls outstanding fails them through their callbacks. */
		nfds_t nb = 0;
		int timeout = -1;
		for (size_t i = 0; i < n; i++) {
			if (bh_client_pending(cs[i]) == 0)
				continue;
			busy[nb] = cs[i];
			pfd[nb].fd = bh_client_fd(cs[i]);
			pfd[nb].events = POLLIN | (bh_client_want_write(cs[i]) ? POLLOUT : 0);
			pfd[nb].revents = 0;
			int t = bh_client_next_timeout(cs[i]);
			if (t >= 0 && (timeout < 0 || t < timeout))
				timeout = t;
			nb++;
		}
		if (nb == 0)
			return;
		int64_t left = end - ht_now_ms();
		ck_assert_msg(left > 0, "calls still outstanding after %d ms", deadline_ms);
		if (timeout < 0 || timeout > left)
			timeout = (int)left;
		int r = poll(pfd, nb, timeout);
		ck_assert_msg(r >= 0 || errno == EINTR, "poll: %s", strerror(errno));
		for (nfds_t i = 0; i < nb; i++)
			(void)bh_client_step(busy[i]);
	}
}

/* ---- decoded values --------------------------------------------------------------- */

void ht_value_init(struct ht_value *hv)
{
	memset(hv, 0, sizeof(*hv));
	bh_buf_init(&hv->buf, 0);
	bh_arena_init(&hv->arena);
	bh_writer_init(&hv->w, &hv->buf);
}

const bh_value *ht_value_seal(struct ht_value *hv)
{
	ck_assert_int_eq(bh_writer_error(&hv->w), 0);
	struct bh_limits lim;
	bh_limits_default(&lim);
	size_t used;
	int r = bh_decode(hv->buf.data, hv->buf.len, &lim, &hv->arena, &hv->v, &used);
	ck_assert_msg(r == 0, "decoding a test value: %s", bh_proto_strerror(r));
	ck_assert_uint_eq(used, hv->buf.len);
	return hv->v;
}

void ht_value_done(struct ht_value *hv)
{
	bh_arena_done(&hv->arena);
	bh_buf_done(&hv->buf);
}

const bh_value *ht_get(const bh_value *map, const char *key)
{
	ck_assert_msg(map && map->type == BH_MAP, "looking up \"%s\" in a non-map", key);
	const bh_value *v = bh_value_find(map, key);
	ck_assert_msg(v != NULL, "map has no \"%s\"", key);
	return v;
}

uint64_t ht_get_uint(const bh_value *map, const char *key)
{
	uint64_t u;
	ck_assert_msg(bh_value_get_uint(ht_get(map, key), &u) == 0, "\"%s\" is not a uint", key);
	return u;
}

bool ht_get_str_is(const bh_value *map, const char *key, const char *want)
{
	return bh_value_str_eq(ht_get(map, key), want);
}

bool ht_str_has(const bh_value *v, const char *needle)
{
	const char *s;
	size_t len;
	if (bh_value_get_str(v, &s, &len) < 0)
		return false;
	return memmem(s, len, needle, strlen(needle)) != NULL;
}

const char *ht_str(const bh_value *v, char *buf, size_t len)
{
	const char *s;
	size_t n;
	if (bh_value_get_str(v, &s, &n) < 0)
		n = 0;
	if (n >= len)
		n = len - 1;
	if (n)
		memcpy(buf, s, n);
	buf[n] = 0;
	return buf;
}

bh_result *ht_status(bh_client *c)
{
	bh_result *res = NULL;
	bh_error err = {0};
	int r = bh_call(c, "bulkhead.status", HT_LONG_MS, &res, &err);
	ht_assert_ok(r, err);
	ck_assert_int_eq(bh_result_value(res)->type, BH_MAP);
	return res;
}

const bh_value *ht_status_plugin(const bh_value *status, const char *name)
{
	const bh_value *plugins = ht_get(status, "plugins");
	ck_assert_int_eq(plugins->type, BH_ARRAY);
	for (uint32_t i = 0; i < plugins->len; i++) {
		const bh_value *p = &plugins->as.items[i];
		if (ht_get_str_is(p, "name", name))
			return p;
	}
	return NULL;
}

uint64_t ht_instance_pid(bh_client *c, const char *plugin, uint32_t i)
{
	bh_result *st = ht_status(c);
	const bh_value *p = ht_status_plugin(bh_result_value(st), plugin);
	ck_assert_msg(p != NULL, "no plugin %s in the status", plugin);
	const bh_value *insts = ht_get(p, "instances");
	ck_assert_msg(insts->type == BH_ARRAY && i < insts->len, "plugin %s has no instance %u",
		      plugin, i);
	uint64_t pid = ht_get_uint(&insts->as.items[i], "pid");
	bh_result_free(st);
	return pid;
}

bool ht_pid_alive(uint64_t pid)
{
	return kill((pid_t)pid, 0) == 0 || errno != ESRCH;
}

/* ---- raw sockets ------------------------------------------------------------------- */

void ht_raw_open(struct ht_raw *r, const struct ht_daemon *d)
{
	memset(r, 0, sizeof(*r));
	r->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(r->fd, 0);
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", d->sock);
	if (connect(r->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		fail_with_log(d, "connect %s: %s", d->sock, strerror(errno));
	bh_buf_init(&r->in, 0);
	bh_arena_init(&r->arena);
	bh_limits_default(&r->limits);
	r->limits.max_message = 64u << 20;
	r->limits.max_bytes = 64u << 20;
}

void ht_raw_close(struct ht_raw *r)
{
	if (r->fd >= 0)
		close(r->fd);
	r->fd = -1;
	bh_buf_done(&r->in);
	bh_arena_done(&r->arena);
}

int ht_raw_send(struct ht_raw *r, const void *p, size_t n)
{
	const uint8_t *b = p;
	while (n > 0) {
		ssize_t w = send(r->fd, b, n, MSG_NOSIGNAL);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		b += w;
		n -= (size_t)w;
	}
	return 0;
}

/* The text form of an error, what a connection gets unless it asked for maps:
 * exactly what bh_write_error_text writes for the code and message it decodes to. */
static void parse_error_text(const bh_value *err, struct ht_reply *ret)
{
	struct bh_buf raw, again;
	struct bh_writer w;
	bh_error e;
	bh_buf_init(&raw, 0);
	bh_buf_init(&again, 0);
	bh_writer_init(&w, &raw);
	ck_assert_int_eq(bh_write_value(&w, err), 0);
	ck_assert_msg(bh_error_decode(raw.data, raw.len, &e) == 1, "error is not [type, text]");
	bh_writer_init(&w, &again);
	ck_assert_int_eq(bh_write_error_text(&w, e.code, e.message), 0);
	ck_assert_msg(raw.len == again.len && memcmp(raw.data, again.data, raw.len) == 0,
		      "error is not [type, \"NAME (CODE): MESSAGE\"]");
	ret->code = e.code;
	snprintf(ret->name, sizeof(ret->name), "%s", bh_code_name(e.code));
	snprintf(ret->message, sizeof(ret->message), "%s", e.message);
	bh_buf_done(&raw);
	bh_buf_done(&again);
}

static void parse_reply(struct ht_raw *r, const bh_value *m, struct ht_reply *ret)
{
	(void)r;
	memset(ret, 0, sizeof(*ret));
	int64_t type;
	ck_assert_msg(m->type == BH_ARRAY && m->len == 4, "a response is an array of 4");
	ck_assert_msg(bh_value_get_int(&m->as.items[0], &type) == 0 && type == 1,
		      "a response starts with 1");
	const bh_value *id = &m->as.items[1], *err = &m->as.items[2];
	if (id->type == BH_NIL) {
		ret->msgid_nil = true;
	} else {
		uint64_t u;
		ck_assert_msg(bh_value_get_uint(id, &u) == 0 && u <= UINT32_MAX,
			      "msgid is not a uint32");
		ret->msgid = (uint32_t)u;
	}
	if (err->type == BH_NIL) {
		ret->result = &m->as.items[3];
		return;
	}
	if (err->type == BH_ARRAY) {
		parse_error_text(err, ret);
		ck_assert_msg(m->as.items[3].type == BH_NIL, "an error response has a nil result");
		return;
	}
	ck_assert_msg(err->type == BH_MAP, "error is a map or [type, text]");
	int64_t code;
	ck_assert_msg(bh_value_get_int(ht_get(err, "code"), &code) == 0 && code != 0,
		      "error.code is a non-zero int");
	ret->code = (int32_t)code;
	ht_str(ht_get(err, "name"), ret->name, sizeof(ret->name));
	ht_str(ht_get(err, "message"), ret->message, sizeof(ret->message));
	ck_assert_msg(strcmp(ret->name, bh_code_name(ret->code)) == 0,
		      "error name %s does not match code %d", ret->name, (int)code);
	ck_assert_msg(m->as.items[3].type == BH_NIL, "an error response has a nil result");
}

int ht_raw_recv_any(struct ht_raw *r, const bh_value **ret)
{
	bh_buf_consume(&r->in, r->used);
	r->used = 0;
	for (;;) {
		if (r->in.len > 0) {
			const bh_value *m;
			size_t used;
			int e = bh_decode(r->in.data, r->in.len, &r->limits, &r->arena, &m, &used);
			if (e == 0) {
				r->used = used;
				*ret = m;
				return 1;
			}
			ck_assert_msg(e == -EAGAIN, "the daemon sent a malformed message: %s",
				      bh_proto_strerror(e));
		}
		ck_assert_int_eq(bh_buf_reserve(&r->in, 64 * 1024), 0);
		ssize_t n = recv(r->fd, r->in.data + r->in.len, r->in.cap - r->in.len, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == ECONNRESET)
			n = 0;
		ck_assert_msg(n >= 0, "recv: %s", strerror(errno));
		if (n == 0) {
			ck_assert_msg(r->in.len == 0, "end of file in the middle of a message");
			return 0;
		}
		r->in.len += (size_t)n;
	}
}

int ht_raw_recv(struct ht_raw *r, struct ht_reply *ret)
{
	const bh_value *m;
	if (ht_raw_recv_any(r, &m) == 0)
		return 0;
	parse_reply(r, m, ret);
	return 1;
}

void ht_raw_expect_eof(struct ht_raw *r)
{
	struct ht_reply rep;
	int n = ht_raw_recv(r, &rep);
	ck_assert_msg(n == 0, "expected the daemon to close the connection, got a response "
			      "(msgid %u, code %d: %s)",
		      rep.msgid, (int)rep.code, rep.message);
}

static void req_head(bh_writer *w, uint32_t msgid, const char *method, int timeout_ms)
{
	bh_write_array(w, timeout_ms > 0 ? 5 : 4);
	bh_write_int(w, 0);
	bh_write_uint(w, msgid);
	bh_write_cstr(w, method);
}

static void req_tail(bh_writer *w, int timeout_ms)
{
	if (timeout_ms > 0) {
		bh_write_map(w, 1);
		bh_write_cstr(w, "timeout_ms");
		bh_write_uint(w, (uint64_t)timeout_ms);
	}
	ck_assert_int_eq(bh_writer_error(w), 0);
}

void ht_req_ints(struct bh_buf *out, uint32_t msgid, const char *method, int timeout_ms,
		 const int64_t *v, size_t n)
{
	bh_writer w;
	bh_writer_init(&w, out);
	req_head(&w, msgid, method, timeout_ms);
	write_ints(&w, v, n);
	req_tail(&w, timeout_ms);
}

void ht_req_str(struct bh_buf *out, uint32_t msgid, const char *method, const char *s)
{
	bh_writer w;
	bh_writer_init(&w, out);
	req_head(&w, msgid, method, 0);
	bh_write_array(&w, 1);
	bh_write_cstr(&w, s);
	req_tail(&w, 0);
}

bool ht_ver_parse(const bh_value *v, struct ht_ver *ret)
{
	const char *s;
	size_t n;
	memset(ret, 0, sizeof(*ret));
	if (!v || v->type != BH_ARRAY || v->len < 2 ||
	    bh_value_get_str(bh_value_at(v, 0), &s, &n) < 0 || n != 1 ||
	    bh_value_get_int(bh_value_at(v, 1), &ret->born) < 0)
		return false;
	ret->letter = s[0];
	return v->len < 3 || bh_value_get_int(bh_value_at(v, 2), &ret->extra) == 0;
}

struct ht_ver ht_call_ver(bh_client *c, const char *method)
{
	bh_result *res = NULL;
	bh_error err = {0};
	bh_client_params(c);
	ht_assert_ok(bh_call(c, method, HT_LONG_MS, &res, &err), err);
	struct ht_ver a;
	ck_assert_msg(ht_ver_parse(bh_result_value(res), &a), "%s: not a ver answer", method);
	bh_result_free(res);
	return a;
}

/* ---- asynchronous outcomes ------------------------------------------------------------ */

void ht_outcome_cb(void *userdata, uint32_t msgid, const bh_value *result, const bh_error *err)
{
	static uint64_t answers;
	struct ht_outcome *o = userdata;
	(void)msgid;
	o->answered++;
	o->order = ++answers;
	if (err) {
		o->code = err->code;
		snprintf(o->message, sizeof(o->message), "%s", err->message);
		return;
	}
	o->is_int = bh_value_get_int(result, &o->value) == 0;
}

void ht_start_ints(bh_client *c, const char *method, int timeout_ms, struct ht_outcome *o,
		   const int64_t *v, size_t n)
{
	bh_writer *w = bh_client_params(c);
	bh_write_array(w, (uint32_t)n);
	for (size_t i = 0; i < n; i++)
		bh_write_int(w, v[i]);
	memset(o, 0, sizeof(*o));
	ck_assert_int_eq(bh_call_start(c, method, timeout_ms, ht_outcome_cb, o, NULL), 0);
}

int64_t ht_outcome_int(const struct ht_outcome *o, const char *what)
{
	ck_assert_msg(o->answered == 1, "%s answered %d times", what, o->answered);
	ck_assert_msg(o->code == 0, "%s failed: %s (%d): %s", what, bh_code_name(o->code),
		      (int)o->code, o->message);
	ck_assert_msg(o->is_int, "%s: not an int", what);
	return o->value;
}

void ht_outcome_failed(const struct ht_outcome *o, int32_t code, const char *what)
{
	ck_assert_msg(o->answered == 1, "%s answered %d times", what, o->answered);
	ck_assert_msg(o->code == code, "%s: want %s, got %s: %s", what, bh_code_name(code),
		      o->code ? bh_code_name(o->code) : "ok", o->message);
}
