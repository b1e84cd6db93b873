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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

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

	/* No daemon on that path: exit 3. */
	r = run_prog(&d, NULL,
		     (const char *const[]){HT_CLI, "-s", "/nonexistent/bh.sock", "status", NULL});
	assert_run(r, 3, "", "error: ");
	run_free(&r);
	ht_stop(&d);
}
END_TEST

/* ---- the Python example ------------------------------------------------------------- */

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
	suite_add_tcase(s, tc);
	return ht_main(s);
}
