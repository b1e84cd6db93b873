/* Integration: the `bulkhead` command line against a real daemon (output, exit
 * statuses, the JSON mapping), and the Python example client.
 *
 *   test_integ_cli                   the CLI suite
 *   test_integ_cli --python-client   examples/clients/client.py against a test daemon;
 *                                    exit 77 (SKIP) when the example, python3 or its
 *                                    msgpack module is missing */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bulkhead/plugin.h" /* BH_PLUGIN_ABI_VERSION */
#include "harness.h"
#include "../log_record.h"
#include "../raw_control.h"

#ifndef HT_CLI
#error "HT_CLI (path of the bulkhead CLI) must be defined by the build"
#endif

#define ECHO_KV                                                                            \
	"plugins = ({ name = \"echo\"; path = \"" HT_PLUGIN("echo") "\"; },"               \
	"{ name = \"kv\"; path = \"" HT_PLUGIN("kv") "\"; });"

struct run {
	int status; /* exit status, or 128 + signal */
	char *out, *err;
};

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "re");
	ck_assert_ptr_nonnull(f);
	char *s = NULL;
	size_t cap = 0;
	ssize_t n = getdelim(&s, &cap, '\0', f);
	fclose(f);
	if (n < 0) {
		free(s);
		s = strdup("");
	}
	ck_assert_ptr_nonnull(s);
	return s;
}

/* Run argv[0] with argv, stdout and stderr captured in the test's directory.
 * env_socket: value for $BULKHEAD_SOCKET, or NULL to unset it. */
static struct run run_prog(const struct ht_daemon *d, const char *env_socket,
			   const char *const *argv)
{
	char out_path[HT_PATH_MAX + 16], err_path[HT_PATH_MAX + 16];
	snprintf(out_path, sizeof(out_path), "%s/out", d->dir);
	snprintf(err_path, sizeof(err_path), "%s/err", d->dir);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		int o = open(out_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		int e = open(err_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		int n = open("/dev/null", O_RDONLY | O_CLOEXEC);
		if (o < 0 || e < 0 || n < 0 || dup2(n, 0) < 0 || dup2(o, 1) < 0 || dup2(e, 2) < 0)
			_exit(126);
		if (env_socket)
			setenv(BH_SOCKET_ENV, env_socket, 1);
		else
			unsetenv(BH_SOCKET_ENV);
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	int st;
	while (waitpid(pid, &st, 0) < 0)
		ck_assert_int_eq(errno, EINTR);
	struct run r = {
		.status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st),
		.out = slurp(out_path),
		.err = slurp(err_path),
	};
	return r;
}

#define cli(d, ...) run_prog((d), NULL, (const char *const[]){HT_CLI, "-s", (d)->sock, __VA_ARGS__, NULL})

static void run_free(struct run *r)
{
	free(r->out);
	free(r->err);
}

#define assert_run(r, want_status, want_out, err_prefix)                                   \
	do {                                                                               \
		ck_assert_msg((r).status == (want_status),                                 \
			      "exit %d, want %d; stdout: %s; stderr: %s", (r).status,        \
			      (want_status), (r).out, (r).err);                            \
		if ((want_out) != NULL)                                                    \
			ck_assert_msg(strcmp((r).out, ht_or_empty(want_out)) == 0,         \
				      "stdout \"%s\", want \"%s\"", (r).out,                 \
				      ht_or_empty(want_out));                              \
		if ((err_prefix) != NULL)                                                  \
			ck_assert_msg(strncmp((r).err, ht_or_empty(err_prefix),            \
					      strlen(ht_or_empty(err_prefix))) == 0,      \
				      "stderr \"%s\" does not start with \"%s\"", (r).err,   \
				      ht_or_empty(err_prefix));                            \
	} while (0)

START_TEST(cli_call)
{
	struct ht_daemon d;
	ht_start(&d, ECHO_KV);
	struct run r;

	/* The argument array is the params: echo returns its first argument. */
	r = cli(&d, "call", "echo.echo", "[[1,\"a\",{\"$bin\":\"AAE=\"}]]");
	assert_run(r, 0, "[1,\"a\",{\"$bin\":\"AAE=\"}]\n", "");
	run_free(&r);
	r = cli(&d, "call", "echo.echo", "[1,\"a\",{\"$bin\":\"AAE=\"}]");
	assert_run(r, 0, "1\n", "");
	run_free(&r);
	/* Wrapped types survive a round trip through a plugin's storage. */
	r = cli(&d, "call", "kv.set",
		"[\"k\", [{\"$uint\":\"18446744073709551615\"}, -9223372036854775808, 0.5, null, "
		"{\"$ext\": 5, \"data\": \"AQI=\"}, {\"nested\": [true, false]}]]");
	assert_run(r, 0, "null\n", "");
	run_free(&r);
	r = cli(&d, "call", "kv.get", "[\"k\"]");
	assert_run(r, 0,
		   "[{\"$uint\":\"18446744073709551615\"},-9223372036854775808,0.5,null,"
		   "{\"$ext\":5,\"data\":\"AQI=\"},{\"nested\":[true,false]}]\n",
		   "");
	run_free(&r);
	r = cli(&d, "call", "echo.ping");
	assert_run(r, 0, "\"pong\"\n", "");
	run_free(&r);

	/* Errors: `error: NAME (CODE): MESSAGE` on stderr, exit 1. */
	r = cli(&d, "call", "nope.x");
	assert_run(r, 1, "", "error: unknown_plugin (1): ");
	run_free(&r);
	r = cli(&d, "call", "echo.nosuch");
	assert_run(r, 1, "", "error: unknown_method (2): ");
	run_free(&r);
	r = cli(&d, "call", "echo.fail", "[1001, \"the application said no\"]");
	assert_run(r, 1, "", "error: application (1001): the application said no");
	run_free(&r);
	r = cli(&d, "-t", "300", "call", "echo.hang");
	assert_run(r, 1, "", "error: timeout (5): ");
	run_free(&r);

	/* $BULKHEAD_SOCKET when there is no -s. */
	r = run_prog(&d, d.sock, (const char *const[]){HT_CLI, "call", "echo.ping", NULL});
	assert_run(r, 0, "\"pong\"\n", "");
	run_free(&r);

	/* Usage errors are found before connecting: exit 2. */
	r = cli(&d, "call", "echo.echo", "[1,");
	assert_run(r, 2, "", "error: ");
	run_free(&r);
	r = cli(&d, "call", "echo.echo", "{\"not\": \"an array\"}");
	assert_run(r, 2, "", "error: ");
	run_free(&r);
	r = cli(&d, "frobnicate");
	assert_run(r, 2, "", "error: ");
	run_free(&r);
	ht_stop(&d);
}
END_TEST

/* bulkhead.describe and `bulkhead describe NAME`: what a plugin offers. */
START_TEST(cli_describe)
{
	struct ht_daemon d;
	ht_start(&d, "plugins = ({ name = \"counter\"; path = \"" HT_PLUGIN("counter_v2") "\";"
		     " instances = 2; timeout_ms = 1234; sandbox = { pids = 33; }; },"
		     "{ name = \"echo\"; path = \"" HT_PLUGIN("echo") "\"; });");
	bh_client *c = ht_connect(&d);
	bh_result *res;
	bh_error err;
	/* Once an instance answered, its hello has been seen. */
	ht_assert_ok(bh_call(c, "counter.get", HT_LONG_MS, &res, &err), err);
	bh_result_free(res);
	bh_writer *w = bh_client_params(c);
	bh_write_array(w, 1);
	bh_write_map(w, 1);
	bh_write_cstr(w, "plugin");
	bh_write_cstr(w, "counter");
	ht_assert_ok(bh_call(c, "bulkhead.describe", HT_LONG_MS, &res, &err), err);
	const bh_value *v = bh_result_value(res);
	ck_assert(ht_get_str_is(v, "name", "counter"));
	ck_assert(ht_get_str_is(v, "version", "2.0.0"));
	ck_assert_uint_eq(ht_get_uint(v, "abi_version"), BH_PLUGIN_ABI_VERSION);
	ck_assert_uint_eq(ht_get_uint(v, "state_version"), 1);
	const bh_value *m = ht_get(v, "methods");
	ck_assert_uint_eq(m->len, 3);
	ck_assert(bh_value_str_eq(bh_value_at(m, 0), "get") &&
		  bh_value_str_eq(bh_value_at(m, 1), "incr") &&
		  bh_value_str_eq(bh_value_at(m, 2), "version"));
	ck_assert_uint_eq(ht_get_uint(ht_get(v, "limits"), "timeout_ms"), 1234);
	ck_assert_uint_eq(ht_get_uint(ht_get(v, "limits"), "pids"), 33);
	ck_assert_uint_eq(ht_get_uint(ht_get(v, "instances"), "configured"), 2);
	bh_result_free(res);
	ht_assert_err(ht_call_str(c, "bulkhead.describe", HT_LONG_MS, NULL, &err, "nope"), err,
		      BH_E_UNKNOWN_PLUGIN, "no plugin named \"nope\"");
	ht_assert_err(ht_call_ints(c, "bulkhead.describe", HT_LONG_MS, NULL, &err, HT_INTS(1)),
		      err, BH_E_INVALID_PARAMS, "describe expects");
	bh_client_free(c);

	struct run r = cli(&d, "describe", "counter");
	assert_run(r, 0, NULL, "");
	ck_assert_msg(strstr(r.out, "methods       get, incr, version\n") &&
			      strstr(r.out, "state_version 1\n") &&
			      strstr(r.out, "version       2.0.0\n") &&
			      strstr(r.out, "timeout_ms 1234"),
		      "describe printed:\n%s", r.out);
	run_free(&r);
	r = cli(&d, "describe", "echo");
	assert_run(r, 0, NULL, "");
	ck_assert_msg(strstr(r.out, "state_version -\n"), "describe printed:\n%s", r.out);
	run_free(&r);
	r = cli(&d, "--json", "describe", "echo");
	assert_run(r, 0, NULL, "");
	ck_assert_msg(strstr(r.out, "\"state_version\":null") && strstr(r.out, "\"abi_version\":1"),
		      "describe --json printed:\n%s", r.out);
	run_free(&r);
	r = cli(&d, "describe", "nope");
	assert_run(r, 1, "", "error: unknown_plugin (1): no plugin named \"nope\"");
	run_free(&r);
	r = cli(&d, "describe");
	assert_run(r, 2, "", "error: ");
	run_free(&r);
	ht_stop(&d);
}
END_TEST

START_TEST(cli_admin)
{
	struct ht_daemon d;
	ht_start(&d, ECHO_KV);
	struct run r;

	/* Both plugins answer, so both are ready for the status below. */
	r = cli(&d, "call", "echo.ping");
	assert_run(r, 0, "\"pong\"\n", "");
	run_free(&r);
	r = cli(&d, "call", "kv.count");
	assert_run(r, 0, "0\n", "");
	run_free(&r);
	r = cli(&d, "status");
	assert_run(r, 0, NULL, "");
	ck_assert_msg(strstr(r.out, "echo") && strstr(r.out, "kv") && strstr(r.out, "ready"),
		      "status output: %s", r.out);
	run_free(&r);
	r = cli(&d, "--json", "status");
	assert_run(r, 0, NULL, "");
	ck_assert_msg(strncmp(r.out, "{\"version\":\"" BH_VERSION "\"", 12 + strlen(BH_VERSION)) == 0,
		      "status --json: %s", r.out);
	ck_assert(strstr(r.out, "\"plugins\":[") && strstr(r.out, "\"name\":\"echo\""));
	run_free(&r);
	r = cli(&d, "version");
	assert_run(r, 0, NULL, "");
	ck_assert_msg(strstr(r.out, BH_VERSION), "version: %s", r.out);
	run_free(&r);

	r = cli(&d, "load", "store", HT_PLUGIN("kv"));
	assert_run(r, 0, NULL, "");
	run_free(&r);
	r = cli(&d, "call", "store.count");
	assert_run(r, 0, "0\n", "");
	run_free(&r);
	r = cli(&d, "load", "store", HT_PLUGIN("kv"));
	assert_run(r, 1, NULL, "error: conflict (16): ");
	run_free(&r);
	r = cli(&d, "unload", "store");
	assert_run(r, 0, NULL, "");
	run_free(&r);
	r = cli(&d, "call", "store.count");
	assert_run(r, 1, "", "error: unknown_plugin (1): ");
	run_free(&r);
	/* A configured plugin comes back by its name alone, with its settings. */
	r = cli(&d, "unload", "kv");
	assert_run(r, 0, NULL, "");
	run_free(&r);
	r = cli(&d, "load", "kv");
	assert_run(r, 0, NULL, "");
	run_free(&r);
	r = cli(&d, "call", "kv.count");
	assert_run(r, 0, "0\n", "");
	run_free(&r);
	r = cli(&d, "load", "nosuch");
	assert_run(r, 1, "", "error: invalid_params (4): ");
	run_free(&r);

	/* No daemon on that path: exit 3. */
	r = run_prog(&d, NULL,
		     (const char *const[]){HT_CLI, "-s", "/nonexistent/bh.sock", "status", NULL});
	assert_run(r, 3, "", "error: ");
	run_free(&r);
	ht_stop(&d);
}
END_TEST

/* ---- hostile text ------------------------------------------------------------------- */

#define assert_inert(what, s, newlines)                                                    \
	do {                                                                               \
		size_t at_;                                                                \
		const char *why_ =                                                         \
			raw_control((const unsigned char *)(s), strlen(s), (newlines), &at_); \
		size_t from_ = at_ > 120 ? at_ - 120 : 0;                                  \
		ck_assert_msg(!why_, "%s: %s at byte %zu, in: ...%.240s", (what), why_, at_, \
			      (s) + from_);                                                \
	} while (0)

/* Every line of the log is one record of the daemon: "TIME LEVEL " and a
 * message that is not a forged record (INJ_TEXT's "bulkhead: forged record" and
 * "second forged record" never start a message). */
static void assert_log_records(const char *log)
{
	size_t lines = 0;
	for (const char *line = log; *line; lines++) {
		const char *end = strchr(line, '\n');
		ck_assert_msg(end, "the log ends without a newline: %s", line);
		ck_assert_msg(log_record_prefix(line, (size_t)(end - line)),
			      "log line %zu is not a daemon record: %.*s", lines + 1,
			      (int)(end - line), line);
		const char *msg = line + LOG_RECORD_MSG_AT;
		ck_assert_msg(strncmp(msg, "bulkhead: forged", 16) != 0 &&
				      strncmp(msg, "second forged", 13) != 0,
			      "forged record in the log: %.*s", (int)(end - line), line);
		line = end + 1;
	}
	ck_assert_uint_gt(lines, 0);
}

/* The log has the escaped form of INJ_TEXT's start in a record containing where. */
static void assert_logged(const char *log, const char *where)
{
	static const char esc[] = "INJ \\x1b[31mred\\x1b[0m \\x1b]52;c;SU5KRUNURUQ=\\x07";
	const char *p = strstr(log, where);
	const char *eol = p ? strchr(p, '\n') : NULL;
	const char *e = p ? strstr(p, esc) : NULL;
	ck_assert_msg(p && e && (!eol || e < eol), "no record with \"%s\" then \"%s\" in the log",
		      where, esc);
}

#define INJECT_CONF                                                                        \
	"log_level = \"debug\";"                                                           \
	"plugins = ({ name = \"echo\"; path = \"" HT_PLUGIN("echo") "\"; },"               \
	"{ name = \"inject\"; path = \"" HT_PLUGIN("inject") "\"; },"                      \
	"{ name = \"inject_init\"; path = \"" HT_PLUGIN("inject") "\";"                    \
	"  config = { fail_init = true; }; });"                                            \
	"restart = { backoff_min_ms = 1; backoff_max_ms = 20; quarantine_crashes = 3; };"

/* A plugin's errors (call, init, snapshot), output lines and version carry ESC/CSI/OSC 52 sequences, CR, BS, BEL, DEL, C1 controls, bidirectional
 * overrides, invalid UTF-8 and newlines followed by forged records: none reaches the
 * log or the CLI's output raw, and the sibling plugin is never disturbed. (The shim
 * refuses descriptor and method names that are not identifiers without quoting them;
 * a forged $hello or $fatal is the hostile suite's log_inject case.) */
START_TEST(cli_escapes_peer_text)
{
	struct ht_daemon d;
	ht_start(&d, INJECT_CONF);
	bh_client *c = ht_connect(&d);
	uint64_t echo_pid = ht_instance_pid(c, "echo", 0);
	struct run r;

	r = cli(&d, "call", "inject.say");
	assert_run(r, 0, NULL, "");
	assert_inert("call (JSON)", r.out, true);
	ck_assert_msg(strstr(r.out, "\"INJ \\u001b[31mred") && strstr(r.out, "\\u202e") &&
			      strstr(r.out, "\\u009b") && strstr(r.out, "{\"$str\":"),
		      "call output: %s", r.out);
	run_free(&r);
	r = cli(&d, "call", "--pretty", "inject.say");
	assert_run(r, 0, NULL, "");
	assert_inert("call --pretty", r.out, true);
	run_free(&r);

	r = cli(&d, "call", "inject.fail");
	assert_run(r, 1, "", "error: plugin_error (7): INJ \\x1b[31mred\\x1b[0m \\x1b]52;c;");
	assert_inert("call error", r.err, true);
	ck_assert_msg(strchr(r.err, '\n') == r.err + strlen(r.err) - 1, "stderr: %s", r.err);
	run_free(&r);

	/* The last stderr line before the crash becomes the exit reason in status. */
	r = cli(&d, "call", "inject.crash");
	assert_run(r, 1, "", "error: plugin_crashed (6): ");
	assert_inert("crash error", r.err, true);
	run_free(&r);
	/* init: the call waits until the daemon gives up on that plugin. */
	r = cli(&d, "call", "inject_init.say");
	assert_run(r, 1, "", "error: unavailable (9): ");
	assert_inert("init error", r.err, true);
	ck_assert_msg(strstr(r.err, "INJ \\x1b[31m"), "stderr: %s", r.err);
	run_free(&r);
	/* The snapshot fails: the swap rolls back with the plugin's message. */
	r = cli(&d, "swap", "inject");
	assert_run(r, 1, "", "error: ");
	assert_inert("swap error", r.err, true);
	run_free(&r);

	r = cli(&d, "status");
	assert_run(r, 0, NULL, "");
	assert_inert("status", r.out, true);
	run_free(&r);
	r = cli(&d, "status", "inject");
	assert_run(r, 0, NULL, "");
	assert_inert("status inject", r.out, true);
	ck_assert_msg(strstr(r.out, "version: INJ \\x1b[31mred") && strstr(r.out, "\\u202e"),
		      "status: %s", r.out);
	run_free(&r);
	r = cli(&d, "--json", "status");
	assert_run(r, 0, NULL, "");
	assert_inert("status --json", r.out, true);
	ck_assert_msg(strstr(r.out, "\"last_swap\":\"rolled back: snapshot failed: INJ \\u001b[31mred"),
		      "status: %s", r.out);
	run_free(&r);

	/* The sibling answered throughout, from the same process. */
	r = cli(&d, "call", "echo.ping");
	assert_run(r, 0, "\"pong\"\n", "");
	run_free(&r);
	ck_assert_uint_eq(ht_instance_pid(c, "echo", 0), echo_pid);
	bh_client_free(c);

	/* The whole log, once the daemon has drained its children's output and exited. */
	ht_sigterm(&d);
	int st = ht_wait(&d);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "daemon wait status 0x%x", st);
	char *log = ht_read_log(&d);
	assert_inert("daemon log", log, true);
	assert_log_records(log);
	assert_logged(log, "stderr] ");
	assert_logged(log, "stdout] ");
	assert_logged(log, "init failed: ");
	assert_logged(log, "loaded plugin \"inject\" ");
	free(log);
	ht_cleanup(&d);
}
END_TEST

/* ---- the Python example ------------------------------------------------------------- */

/* `bulkhead events` (and --json) prints the events of loads it is subscribed to;
 * when the daemon goes, it says so and exits 3. Loads are repeated until one shows,
 * since the CLI subscribes at its own pace; each read is bounded by a deadline. */
static void cli_events_mode(bool json)
{
	struct ht_daemon d;
	ht_start(&d, ECHO_KV);
	int out[2];
	ck_assert_int_eq(pipe2(out, O_CLOEXEC), 0);
	char err_path[HT_PATH_MAX + 16];
	snprintf(err_path, sizeof err_path, "%s/err", d.dir);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		int e = open(err_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		if (e < 0 || dup2(out[1], 1) < 0 || dup2(e, 2) < 0)
			_exit(126);
		execl(HT_CLI, HT_CLI, "-s", d.sock, "events", json ? "--json" : NULL, (char *)NULL);
		_exit(127);
	}
	close(out[1]);
	ck_assert_int_eq(fcntl(out[0], F_SETFL, O_NONBLOCK), 0);
	bh_client *c = ht_connect(&d);
	char text[16384] = "";
	size_t len = 0;
	const char *want = json ? "\"kind\":\"plugin.loaded\"" : " plugin.loaded plugin=store";
	for (int i = 0; i < 200 && !strstr(text, want); i++) {
		struct run r = cli(&d, "load", "store", HT_PLUGIN("kv"));
		run_free(&r);
		r = cli(&d, "unload", "store");
		run_free(&r);
		struct pollfd p = { .fd = out[0], .events = POLLIN };
		while (poll(&p, 1, 100) == 1 && len + 1 < sizeof text) {
			ssize_t n = read(out[0], text + len, sizeof text - 1 - len);
			if (n <= 0)
				break;
			len += (size_t)n;
			text[len] = '\0';
		}
	}
	ck_assert_msg(strstr(text, want), "no %s in: %s", want, text);
	if (json)
		ck_assert_msg(strstr(text, "{\"seq\":") && strstr(text, "\"plugin\":\"store\""),
			      "events --json: %s", text);
	else /* a date, a time with milliseconds, a zone */
		ck_assert_msg(text[4] == '-' && text[10] == 'T' && text[19] == '.' &&
				      (text[23] == '+' || text[23] == '-'),
			      "events: %s", text);
	bh_client_free(c);
	ht_stop(&d);
	int st;
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 3);
	close(out[0]);
}

/* A dozen plugins read at 80 columns: one line each, none longer; `status NAME` has
 * the details; an unknown NAME is an error, as JSON with --json. */
START_TEST(cli_status_80_columns)
{
	struct ht_daemon d;
	char conf[4096] = "plugins = (";
	for (int i = 0; i < 12; i++)
		snprintf(conf + strlen(conf), sizeof conf - strlen(conf),
			 "%s{ name = \"plugin%d\"; path = \"%s\"; }", i ? "," : "", i,
			 HT_PLUGIN("echo"));
	strcat(conf, ");");
	ht_start(&d, "%s", conf);
	struct run r = cli(&d, "call", "plugin3.crash"); /* a long LAST EXIT */
	run_free(&r);
	r = run_prog(&d, NULL, (const char *const[]){ "/usr/bin/env", "COLUMNS=80", HT_CLI, "-s",
						      d.sock, "status", NULL });
	assert_run(r, 0, NULL, "");
	int lines = 0;
	for (char *l = r.out, *nl; *l; l = nl + 1, lines++) {
		ck_assert_ptr_nonnull(nl = strchr(l, '\n'));
		ck_assert_msg(nl - l <= 80, "a line of %d bytes: %.*s", (int)(nl - l), (int)(nl - l), l);
	}
	ck_assert_msg(lines == 1 + 1 + 1 + 12, "%d lines:\n%s", lines, r.out); /* +blank, head */
	ck_assert_msg(strstr(r.out, "~\n") && !strstr(r.out, "PID  "), "%s", r.out);
	run_free(&r);
	r = cli(&d, "status", "plugin3");
	assert_run(r, 0, NULL, "");
	ck_assert_msg(strstr(r.out, "plugin3 (") && strstr(r.out, "PID") &&
			      strstr(r.out, "last_exit: plugin3 instance pid"), "%s", r.out);
	run_free(&r);
	r = cli(&d, "status", "nosuch");
	assert_run(r, 1, NULL, NULL);
	ck_assert_msg(strstr(r.err, "error: unknown_plugin (1): no plugin named \"nosuch\""), "%s",
		      r.err);
	run_free(&r);
	r = cli(&d, "--json", "call", "nosuch.x");
	assert_run(r, 1, "", "{\"error\":{\"code\":1,\"name\":\"unknown_plugin\",\"message\":");
	run_free(&r);
	ht_stop(&d);
}
END_TEST

START_TEST(cli_events)
{
	cli_events_mode(false);
}
END_TEST

START_TEST(cli_events_json)
{
	cli_events_mode(true);
}
END_TEST

START_TEST(python_client)
{
	struct ht_daemon d;
	ht_start(&d, ECHO_KV);
	struct run r = run_prog(&d, d.sock,
				(const char *const[]){HT_PYTHON, HT_PYTHON_CLIENT, d.sock, NULL});
	ck_assert_msg(r.status == 0, "client.py exited %d\nstdout:\n%s\nstderr:\n%s", r.status,
		      r.out, r.err);
	run_free(&r);
	ht_stop(&d);
}
END_TEST

static int python_client_main(void)
{
	if (access(HT_PYTHON_CLIENT, R_OK) < 0) {
		printf("SKIP: %s does not exist\n", HT_PYTHON_CLIENT);
		return 77;
	}
	if (access(HT_PYTHON, X_OK) < 0) {
		printf("SKIP: no %s\n", HT_PYTHON);
		return 77;
	}
	int st = system(HT_PYTHON " -c 'import msgpack' 2>/dev/null");
	if (st != 0) {
		printf("SKIP: %s has no msgpack module (python3-msgpack)\n", HT_PYTHON);
		return 77;
	}
	Suite *s = suite_create("integ_python_client");
	TCase *tc = ht_tcase("python");
	tcase_add_test(tc, python_client);
	suite_add_tcase(s, tc);
	return ht_main(s);
}

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "--python-client") == 0)
		return python_client_main();
	Suite *s = suite_create("integ_cli");
	TCase *tc = ht_tcase("cli");
	tcase_add_test(tc, cli_call);
	tcase_add_test(tc, cli_admin);
	tcase_add_test(tc, cli_describe);
	tcase_add_test(tc, cli_escapes_peer_text);
	tcase_add_test(tc, cli_status_80_columns);
	tcase_add_test(tc, cli_events);
	tcase_add_test(tc, cli_events_json);
	suite_add_tcase(s, tc);
	return ht_main(s);
}
