/* Integration: the Prometheus endpoint (metrics = { listen = ...; }).
 *
 *   - calls a client made are counted per method and outcome, with their latency,
 *     an undeclared method as "other", a crash as a restart by its cause; the page
 *     is served on a Unix socket with the configured mode, 404 elsewhere;
 *   - libmicrohttpd is loaded only when metrics are configured, libsystemd only for a
 *     service manager, and a daemon that cannot load one it needs does not start;
 *   - `promtool check metrics` accepts a scrape (suite "prometheus");
 *   - a real Prometheus server scrapes a daemon and a query returns the count of
 *     calls a client made (suite "prometheus").
 *
 * The prometheus suite needs Debian's prometheus package (promtool, prometheus):
 * without it, it reports SKIP with the reason. Prometheus is waited for by polling
 * its readiness and its query API against a deadline, never by sleeping a guess. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
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

#include "harness.h"

#define PROMTOOL "/usr/bin/promtool"
#define PROMETHEUS "/usr/bin/prometheus"
#define ECHO_ENTRY "{ name = \"echo\"; path = \"" HT_PLUGIN("echo") "\"; }"

/* ---- a small HTTP client: one GET, HTTP/1.0 (no chunking), read to end of file ---- */

struct http_reply {
	int status;
	char *text; /* the whole reply, NUL-terminated; free() it */
	const char *body;
};

static int http_get(const struct sockaddr *sa, socklen_t len, const char *path,
		    struct http_reply *ret)
{
	memset(ret, 0, sizeof(*ret));
	int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	struct timeval tv = {.tv_sec = 30}; /* bounds a broken test, never reached otherwise */
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (connect(fd, sa, len) < 0) {
		int r = -errno;
		close(fd);
		return r;
	}
	char req[512];
	int n = snprintf(req, sizeof(req), "GET %s HTTP/1.0\r\nHost: localhost\r\n\r\n", path);
	if (write(fd, req, (size_t)n) != n) {
		close(fd);
		return -EIO;
	}
	size_t cap = 1 << 16, used = 0;
	char *buf = malloc(cap);
	for (;;) {
		if (cap - used < 4096)
			buf = realloc(buf, cap *= 2);
		ssize_t k = read(fd, buf + used, cap - used - 1);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			break;
		used += (size_t)k;
	}
	close(fd);
	buf[used] = '\0';
	ret->text = buf;
	if (sscanf(buf, "HTTP/1.%*c %d", &ret->status) != 1)
		return -EPROTO;
	const char *b = strstr(buf, "\r\n\r\n");
	ret->body = b ? b + 4 : "";
	return 0;
}

static void unix_addr(const char *path, struct sockaddr_un *un)
{
	memset(un, 0, sizeof(*un));
	un->sun_family = AF_UNIX;
	snprintf(un->sun_path, sizeof(un->sun_path), "%s", path);
}

static void tcp_addr(uint16_t port, struct sockaddr_in *in)
{
	memset(in, 0, sizeof(*in));
	in->sin_family = AF_INET;
	in->sin_port = htons(port);
	in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
}

/* A loopback port nobody listens on right now. */
static uint16_t free_port(void)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in in;
	tcp_addr(0, &in);
	socklen_t len = sizeof(in);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&in, sizeof(in)), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&in, &len), 0);
	close(fd);
	return ntohs(in.sin_port);
}

/* The page, which must be served with 200. free() page->text. */
static void scrape(const struct sockaddr *sa, socklen_t len, struct http_reply *page)
{
	int r = http_get(sa, len, "/metrics", page);
	ck_assert_msg(r == 0, "GET /metrics: %s", strerror(-r));
	ck_assert_msg(page->status == 200, "GET /metrics: status %d", page->status);
	ck_assert_msg(strstr(page->text, "text/plain; version=0.0.4"), "content type: %s",
		      page->text);
}

/* The value of the series written exactly as `series` ("name{labels}"), or -1. */
static double value_of(const char *page, const char *series)
{
	size_t n = strlen(series);
	for (const char *p = page; (p = strstr(p, series)); p += n)
		if ((p == page || p[-1] == '\n') && p[n] == ' ')
			return strtod(p + n + 1, NULL);
	return -1;
}

#define assert_value(page, series, want)                                                   \
	do {                                                                               \
		double v_ = value_of((page), (series));                                    \
		ck_assert_msg(v_ == (double)(want), "%s: want %g, got %g\n%s", (series),  \
			      (double)(want), v_, (page));                                 \
	} while (0)

static void call_fail(bh_client *c, int64_t code)
{
	bh_writer *w = bh_client_params(c);
	bh_write_array(w, 2);
	bh_write_int(w, code);
	bh_write_cstr(w, "as asked");
	bh_error err = {0};
	ck_assert_int_eq(bh_call(c, "echo.fail", HT_LONG_MS, NULL, &err), -code);
}

/* ---- counts --------------------------------------------------------------------------- */

START_TEST(calls_counted_by_method_and_outcome)
{
	char dir[] = "/tmp/bhm.XXXXXX", path[64];
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/metrics.sock", dir);
	struct ht_daemon d;
	ht_start(&d, "metrics = { listen = \"%s\"; mode = \"0600\"; };\nplugins = (" ECHO_ENTRY ");",
		 path);
	struct stat st;
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_msg((st.st_mode & 0777) == 0600, "socket mode %o", st.st_mode & 0777);
	struct sockaddr_un un;
	unix_addr(path, &un);

	bh_client *c = ht_connect(&d);
	enum { PINGS = 5 };
	for (int i = 0; i < PINGS; i++) {
		bh_result *res = NULL;
		bh_error err = {0};
		ht_assert_ok(bh_call(c, "echo.ping", HT_LONG_MS, &res, &err), err);
		bh_result_free(res);
	}
	call_fail(c, BH_E_INVALID_PARAMS);
	call_fail(c, 1234);
	call_fail(c, 5678); /* application codes are one bucket */
	bh_error err = {0};
	ht_assert_err(bh_call(c, "echo.nope", HT_LONG_MS, NULL, &err), err, BH_E_UNKNOWN_METHOD,
		      NULL);
	uint64_t pid = ht_instance_pid(c, "echo", 0);
	ht_assert_err(bh_call(c, "echo.crash", HT_LONG_MS, NULL, &err), err, BH_E_PLUGIN_CRASHED,
		      NULL);

	struct http_reply page;
	scrape((struct sockaddr *)&un, sizeof(un), &page);
	const char *p = page.body;
	assert_value(p, "bulkhead_calls_total{plugin=\"echo\",method=\"ping\",outcome=\"ok\"}", PINGS);
	assert_value(p, "bulkhead_calls_total{plugin=\"echo\",method=\"fail\",outcome=\"invalid_params\"}", 1);
	assert_value(p, "bulkhead_calls_total{plugin=\"echo\",method=\"fail\",outcome=\"application\"}", 2);
	assert_value(p, "bulkhead_calls_total{plugin=\"echo\",method=\"other\",outcome=\"unknown_method\"}", 1);
	assert_value(p, "bulkhead_calls_total{plugin=\"echo\",method=\"crash\",outcome=\"plugin_crashed\"}", 1);
	assert_value(p, "bulkhead_call_duration_seconds_count{plugin=\"echo\",method=\"ping\"}", PINGS);
	assert_value(p, "bulkhead_call_duration_seconds_bucket{plugin=\"echo\",method=\"ping\",le=\"+Inf\"}", PINGS);
	assert_value(p, "bulkhead_call_duration_seconds_bucket{plugin=\"echo\",method=\"fail\",le=\"10\"}", 3);
	/* The crash: the instance ended by it is replaced, counted by its cause. */
	assert_value(p, "bulkhead_plugin_instance_exits_total{plugin=\"echo\",cause=\"crashed\"}", 1);
	assert_value(p, "bulkhead_plugin_restarts_total{plugin=\"echo\",cause=\"crashed\"}", 1);
	assert_value(p, "bulkhead_plugin_limit_kills_total{plugin=\"echo\",limit=\"memory\"}", 0);
	assert_value(p, "bulkhead_plugin_queued_calls{plugin=\"echo\"}", 0);
	assert_value(p, "bulkhead_plugin_calls_in_flight{plugin=\"echo\"}", 0);
	assert_value(p, "bulkhead_plugin_breaker_state{plugin=\"echo\",state=\"closed\"}", 1);
	assert_value(p, "bulkhead_plugin_breaker_state{plugin=\"echo\",state=\"open\"}", 0);
	assert_value(p, "bulkhead_plugin_recycled_total{plugin=\"echo\"}", 0);
	assert_value(p, "bulkhead_clients", 1);
	assert_value(p, "bulkhead_plugins", 1);
	assert_value(p, "bulkhead_build_info{version=\"" BH_VERSION "\"}", 1);
	ck_assert_msg(value_of(p, "bulkhead_client_received_bytes_total") > 0, "%s", p);
	ck_assert_msg(value_of(p, "bulkhead_process_resident_memory_bytes") > 0, "%s", p);
	/* The crashed instance is gone from the per-instance figures. */
	char series[128];
	snprintf(series, sizeof(series),
		 "bulkhead_instance_uptime_seconds{plugin=\"echo\",generation=\"1\",pid=\"%llu\"}",
		 (unsigned long long)pid);
	ck_assert_msg(value_of(p, series) < 0, "%s still listed\n%s", series, p);
	free(page.text);

	/* Anything but /metrics is not found; anything but GET or HEAD not allowed. */
	ck_assert_int_eq(http_get((struct sockaddr *)&un, sizeof(un), "/", &page), 0);
	ck_assert_int_eq(page.status, 404);
	free(page.text);

	bh_client_free(c);
	ht_stop(&d);
	ck_assert_msg(access(path, F_OK) < 0, "the metrics socket was left behind");
	rmdir(dir);
}
END_TEST

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "re");
	if (!f)
		return strdup("");
	char *s = calloc(1, 1 << 20);
	size_t n = fread(s, 1, (1 << 20) - 1, f);
	s[n] = '\0';
	fclose(f);
	return s;
}

/* Whether process pid maps a file whose path holds name. */
static bool maps_file(pid_t pid, const char *name)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
	char *maps = slurp(path);
	bool found = strstr(maps, name) != NULL;
	free(maps);
	return found;
}

/* The HTTP library (with gnutls and the rest it brings) is in memory only when metrics
 * are served; libsystemd only when a service manager's environment asks for it. */
START_TEST(libraries_loaded_when_configured)
{
	unsetenv("NOTIFY_SOCKET");
	unsetenv("LISTEN_FDS");
	struct ht_daemon d;
	ht_start(&d, "plugins = (" ECHO_ENTRY ");");
	ck_assert_msg(!maps_file(d.pid, "libmicrohttpd"), "libmicrohttpd loaded without metrics");
	ck_assert_msg(!maps_file(d.pid, "libgnutls"), "gnutls loaded without metrics");
	ck_assert_msg(!maps_file(d.pid, "libsystemd"), "libsystemd loaded without a manager");
	ht_stop(&d);

	char dir[] = "/tmp/bhm.XXXXXX", path[64];
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/metrics.sock", dir);
	ht_start(&d, "metrics = { listen = \"%s\"; };\nplugins = (" ECHO_ENTRY ");", path);
	ck_assert_msg(maps_file(d.pid, "libmicrohttpd"), "metrics served without libmicrohttpd?");
	struct sockaddr_un un;
	unix_addr(path, &un);
	struct http_reply page;
	scrape((struct sockaddr *)&un, sizeof(un), &page);
	free(page.text);
	ht_stop(&d);
	rmdir(dir);
}
END_TEST

/* A library the daemon needs and cannot load (here: an empty file by its soname first
 * in LD_LIBRARY_PATH) is named, and the daemon does not start. */
static void refused_without(const char *soname, const char *conf, const char *want)
{
	char dir[] = "/tmp/bhl.XXXXXX", path[128];
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/%s", dir, soname);
	int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	ck_assert_int_ge(fd, 0);
	close(fd);
	setenv("LD_LIBRARY_PATH", dir, 1);
	struct ht_daemon d;
	ht_setup(&d, NULL, "%s", conf);
	ck_assert_msg(!ht_spawn(&d), "started without %s", soname);
	ck_assert_msg(ht_log_has(&d, want) && ht_log_has(&d, soname), "want \"%s\" in:\n%s", want,
		      ht_read_log(&d));
	ht_cleanup(&d);
	unsetenv("LD_LIBRARY_PATH");
	unlink(path);
	rmdir(dir);
}

START_TEST(missing_library_named)
{
	unsetenv("NOTIFY_SOCKET");
	unsetenv("LISTEN_FDS");
	refused_without(HT_MHD_SONAME, "metrics = { listen = \"/tmp/bhl-never.sock\"; };",
			"need libmicrohttpd: cannot load");
#ifdef HT_SYSTEMD_SONAME
	/* A manager waiting for READY=1 would wait in vain: better not to start. */
	setenv("NOTIFY_SOCKET", "/tmp/bhl-never-notify.sock", 1);
	refused_without(HT_SYSTEMD_SONAME, "", "NOTIFY_SOCKET is set, but cannot load");
	unsetenv("NOTIFY_SOCKET");
#endif
}
END_TEST

/* A non-loopback address is refused unless written out; a name is never resolved. */
START_TEST(listen_setting_checked_at_load)
{
	struct ht_daemon d;
	static const struct {
		const char *setting, *message;
	} bad[] = {
		{"listen = \"localhost:9464\";", "must be numeric"},
		{"listen = \"127.0.0.1:0\";", "port must be a number from 1 to 65535"},
		{"listen = \"127.0.0.1\";", "expected \"ADDRESS:PORT\""},
		{"listen = \"run/m.sock\";", "must be absolute"},
		{"listen = \"127.0.0.1:9464\"; mode = \"0600\";", "applies to a socket path only"},
		{"listen = \"/tmp/m.sock\"; mode = \"0999\";", "octal"},
		{"port = 9464;", "port"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ht_setup(&d, NULL, "metrics = { %s };", bad[i].setting);
		ck_assert_msg(!ht_spawn(&d), "started with metrics = { %s }", bad[i].setting);
		ck_assert_msg(ht_log_has(&d, "metrics") && ht_log_has(&d, bad[i].message),
			      "metrics = { %s }: want \"%s\" in:\n%s", bad[i].setting,
			      bad[i].message, ht_read_log(&d));
		ht_cleanup(&d);
	}
}
END_TEST

/* ---- promtool and a Prometheus server ------------------------------------------------ */

/* Run argv with stdin from in_path (or /dev/null), output to out_path; its exit status. */
static int run(char *const argv[], const char *in_path, const char *out_path, pid_t *ret_pid)
{
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		int in = open(in_path ? in_path : "/dev/null", O_RDONLY);
		int out = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (in < 0 || out < 0)
			_exit(127);
		dup2(in, 0);
		dup2(out, 1);
		dup2(out, 2);
		execv(argv[0], argv);
		_exit(127);
	}
	if (ret_pid) {
		*ret_pid = pid;
		return 0;
	}
	int status;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

START_TEST(promtool_accepts_a_scrape)
{
	uint16_t port = free_port();
	struct ht_daemon d;
	ht_start(&d, "metrics = { listen = \"127.0.0.1:%u\"; };\nplugins = (" ECHO_ENTRY ");",
		 port);
	bh_client *c = ht_connect(&d);
	ck_assert_int_gt(ht_call_int_ok(c, "echo.pid", NULL, 0), 0);
	call_fail(c, 1234);
	bh_error err = {0};
	ht_assert_err(bh_call(c, "echo.nope", HT_LONG_MS, NULL, &err), err, BH_E_UNKNOWN_METHOD,
		      NULL);
	struct sockaddr_in in;
	tcp_addr(port, &in);
	struct http_reply page;
	scrape((struct sockaddr *)&in, sizeof(in), &page);
	char in_path[HT_PATH_MAX + 16], out_path[HT_PATH_MAX + 16];
	snprintf(in_path, sizeof(in_path), "%s/scrape.txt", d.dir);
	snprintf(out_path, sizeof(out_path), "%s/promtool.txt", d.dir);
	FILE *f = fopen(in_path, "we");
	fputs(page.body, f);
	fclose(f);
	char *argv[] = {PROMTOOL, "check", "metrics", NULL};
	int status = run(argv, in_path, out_path, NULL);
	char *out = slurp(out_path);
	ck_assert_msg(status == 0 && !out[0], "promtool check metrics: status %d:\n%s\non:\n%s",
		      status, out, page.body);
	free(out);
	free(page.text);
	bh_client_free(c);
	ht_stop(&d);
}
END_TEST

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Poll pause: polling against a deadline, not a guess of how long anything takes. */
static void pause_ms(long ms)
{
	struct timespec ts = {.tv_sec = 0, .tv_nsec = ms * 1000000};
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

START_TEST(prometheus_scrapes_the_call_count)
{
	uint16_t port = free_port(), prom_port = free_port();
	ck_assert_int_ne(port, prom_port);
	struct ht_daemon d;
	ht_start(&d, "metrics = { listen = \"127.0.0.1:%u\"; };\nplugins = (" ECHO_ENTRY ");",
		 port);
	bh_client *c = ht_connect(&d);
	enum { CALLS = 7 };
	for (int i = 0; i < CALLS; i++)
		ck_assert_int_gt(ht_call_int_ok(c, "echo.pid", NULL, 0), 0);

	char conf[HT_PATH_MAX + 16], data[HT_PATH_MAX + 16], log[HT_PATH_MAX + 16];
	snprintf(conf, sizeof(conf), "%s/prometheus.yml", d.dir);
	snprintf(data, sizeof(data), "%s/tsdb", d.dir);
	snprintf(log, sizeof(log), "%s/prometheus.log", d.dir);
	FILE *f = fopen(conf, "we");
	fprintf(f, "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
		   "scrape_configs:\n  - job_name: bulkhead\n    static_configs:\n"
		   "      - targets: ['127.0.0.1:%u']\n", port);
	fclose(f);
	char a_conf[HT_PATH_MAX + 32], a_data[HT_PATH_MAX + 32], a_listen[64];
	snprintf(a_conf, sizeof(a_conf), "--config.file=%s", conf);
	snprintf(a_data, sizeof(a_data), "--storage.tsdb.path=%s", data);
	snprintf(a_listen, sizeof(a_listen), "--web.listen-address=127.0.0.1:%u", prom_port);
	char *argv[] = {PROMETHEUS, a_conf, a_data, a_listen, NULL};
	pid_t prom;
	run(argv, NULL, log, &prom);

	struct sockaddr_in in;
	tcp_addr(prom_port, &in);
	const char *query = "/api/v1/query?query=bulkhead_calls_total%7Bplugin%3D%22echo%22%2C"
			    "method%3D%22pid%22%2Coutcome%3D%22ok%22%7D";
	char want[32];
	snprintf(want, sizeof(want), ",\"%d\"]", CALLS);
	uint64_t deadline = now_ms() + 90000;
	bool found = false;
	struct http_reply r = {0};
	while (!found && now_ms() < deadline) {
		free(r.text);
		r.text = NULL;
		int status;
		ck_assert_msg(waitpid(prom, &status, WNOHANG) == 0, "prometheus exited:\n%s",
			      slurp(log));
		if (http_get((struct sockaddr *)&in, sizeof(in), query, &r) == 0 && r.status == 200 &&
		    strstr(r.body, want))
			found = true;
		else
			pause_ms(100);
	}
	kill(prom, SIGTERM);
	int status;
	while (waitpid(prom, &status, 0) < 0 && errno == EINTR)
		;
	ck_assert_msg(found, "no %d from the query within 90 s; last answer: %s\nlog:\n%s", CALLS,
		      r.text ? r.body : "(none)", slurp(log));
	free(r.text);
	bh_client_free(c);
	ht_stop(&d);
}
END_TEST

int main(int argc, char **argv)
{
	bool prom = argc > 1 && strcmp(argv[1], "prometheus") == 0;
	if (prom && (access(PROMTOOL, X_OK) < 0 || access(PROMETHEUS, X_OK) < 0)) {
		printf("SKIP: %s not installed (Debian package prometheus)\n",
		       access(PROMTOOL, X_OK) < 0 ? PROMTOOL : PROMETHEUS);
		return HT_SKIP;
	}
	Suite *s = suite_create(prom ? "integ_metrics_prometheus" : "integ_metrics");
	TCase *tc = ht_tcase("metrics");
	if (prom) {
		tcase_set_timeout(tc, 150);
		tcase_add_test(tc, promtool_accepts_a_scrape);
		tcase_add_test(tc, prometheus_scrapes_the_call_count);
	} else {
		tcase_add_test(tc, calls_counted_by_method_and_outcome);
		tcase_add_test(tc, listen_setting_checked_at_load);
		tcase_add_test(tc, libraries_loaded_when_configured);
		tcase_add_test(tc, missing_library_named);
	}
	suite_add_tcase(s, tc);
	return ht_main(s);
}
