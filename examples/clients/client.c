/* A small bulkhead client in C: what an application does with libbulkhead-client.
 *
 *   example-client [SOCKET]
 *
 * SOCKET defaults to $BULKHEAD_SOCKET, then /run/bulkhead/bulkhead.sock. It needs a
 * daemon that runs the example plugin "echo" (examples/plugins/echo.c), e.g. the one
 * examples/demo.sh starts. Build it against an installed library with
 *
 *   cc -o example-client client.c $(pkg-config --cflags --libs bulkhead-client)
 *
 * It shows, in order:
 *   1. connecting;
 *   2. a synchronous call with arguments of several types, and reading its result;
 *   3. a call that fails, and what the error looks like;
 *   4. a pipelined batch: many calls in flight at once, completed through
 *      bh_client_step() from a poll() loop, as in an application's own event loop. */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bulkhead/client.h>

/* ---- 2. a synchronous call ------------------------------------------------------- */

static int sync_call(bh_client *c)
{
	/* Arguments are written into the client's params builder as ONE array: here a
	 * single argument, a map with a string, an integer, a float, a boolean, a nil,
	 * binary data and an array. echo.echo returns its first argument unchanged. */
	static const uint8_t blob[] = { 0xde, 0xad, 0xbe, 0xef };
	bh_writer *w = bh_client_params(c);
	bh_write_array(w, 1);
	bh_write_map(w, 7);
	bh_write_cstr(w, "name");
	bh_write_cstr(w, "bulkhead");
	bh_write_cstr(w, "answer");
	bh_write_int(w, 42);
	bh_write_cstr(w, "pi");
	bh_write_float(w, 3.14159);
	bh_write_cstr(w, "ok");
	bh_write_bool(w, true);
	bh_write_cstr(w, "nothing");
	bh_write_nil(w);
	bh_write_cstr(w, "blob");
	bh_write_bin(w, blob, sizeof blob);
	bh_write_cstr(w, "list");
	bh_write_array(w, 3);
	bh_write_int(w, 1);
	bh_write_int(w, 2);
	bh_write_int(w, 3);
	/* Errors are sticky: one check after all the writes is enough (bh_call would
	 * also refuse to send a half-written array). */
	if (bh_writer_error(w) < 0) {
		fprintf(stderr, "cannot build the arguments\n");
		return -1;
	}

	/* timeout_ms 0: the plugin's default deadline, enforced by the daemon. */
	bh_result *res;
	bh_error err;
	int r = bh_call(c, "echo.echo", 0, &res, &err);
	if (r < 0) {
		fprintf(stderr, "echo.echo: %s (%d): %s\n", bh_code_name(err.code), err.code,
			err.message);
		return -1;
	}

	/* The result is a tree of bh_value that lives until bh_result_free. Strings
	 * point into it and are NOT NUL-terminated: print them with "%.*s". */
	const bh_value *v = bh_result_value(res);
	const char *name;
	size_t name_len;
	int64_t answer;
	double pi;
	bool ok;
	const uint8_t *bytes;
	size_t n_bytes;
	if (bh_value_get_str(bh_value_find(v, "name"), &name, &name_len) < 0 ||
	    bh_value_get_int(bh_value_find(v, "answer"), &answer) < 0 ||
	    bh_value_get_float(bh_value_find(v, "pi"), &pi) < 0 ||
	    bh_value_get_bool(bh_value_find(v, "ok"), &ok) < 0 ||
	    bh_value_get_bin(bh_value_find(v, "blob"), &bytes, &n_bytes) < 0) {
		fprintf(stderr, "echo.echo: the result is not what was sent\n");
		bh_result_free(res);
		return -1;
	}
	printf("echo.echo: name=%.*s answer=%" PRId64 " pi=%g ok=%s blob=%zu bytes",
	       (int)name_len, name, answer, pi, ok ? "true" : "false", n_bytes);
	const bh_value *list = bh_value_find(v, "list");
	printf(" list=[");
	for (uint32_t i = 0; list && i < list->len; i++) {
		int64_t item;
		if (bh_value_get_int(bh_value_at(list, i), &item) == 0)
			printf("%s%" PRId64, i ? ", " : "", item);
	}
	printf("]\n");
	bh_result_free(res);
	return 0;
}

/* ---- 3. a call that fails ------------------------------------------------------------ */

static int failing_call(bh_client *c)
{
	/* echo.fail(code, message) fails on purpose. Codes >= 1000 are the plugin's own
	 * ("application" errors); 1..999 are bulkhead's (enum bh_code in error.h). */
	bh_writer *w = bh_client_params(c);
	bh_write_array(w, 2);
	bh_write_int(w, 1001);
	bh_write_cstr(w, "the plugin said no");
	bh_error err;
	int r = bh_call(c, "echo.fail", 0, NULL, &err);
	/* A remote error returns -err.code; anything else is a local failure (the
	 * connection broke, ...), with err.code BH_E_UNAVAILABLE. */
	if (r != -1001 || err.code != 1001) {
		fprintf(stderr, "echo.fail: expected application error 1001, got %d\n", r);
		return -1;
	}
	printf("echo.fail: error %s (%d): %s\n", bh_code_name(err.code), err.code, err.message);

	/* A method the plugin does not have: a bulkhead error code. */
	r = bh_call(c, "echo.no_such_method", 0, NULL, &err);
	if (r != -BH_E_UNKNOWN_METHOD) {
		fprintf(stderr, "echo.no_such_method: expected unknown_method, got %d\n", r);
		return -1;
	}
	printf("echo.no_such_method: error %s (%d): %s\n", bh_code_name(err.code), err.code,
	       err.message);
	return 0;
}

/* ---- 4. a pipelined batch ---------------------------------------------------------- */

#define BATCH 16

struct batch {
	int done;
	int failed;
	int64_t results[BATCH];
};

/* Runs once per call, from inside bh_client_step(). result and err are borrowed:
 * copy what you need before returning. */
static void on_reply(void *userdata, uint32_t msgid, const bh_value *result,
		     const bh_error *err)
{
	struct batch *b = userdata;
	(void)msgid;
	b->done++;
	int64_t i, v;
	if (err || bh_value_get_int(bh_value_at(result, 0), &i) < 0 ||
	    bh_value_get_int(bh_value_at(result, 1), &v) < 0 || i < 0 || i >= BATCH) {
		b->failed++;
		if (err)
			fprintf(stderr, "batch call failed: %s\n", err->message);
		return;
	}
	b->results[i] = v;
}

static int pipelined_batch(bh_client *c)
{
	struct batch b = { 0 };

	/* Start every call at once: each echoes [i, i * i]. Nothing blocks here; the
	 * requests are queued and sent as the socket accepts them. */
	for (int i = 0; i < BATCH; i++) {
		bh_writer *w = bh_client_params(c);
		bh_write_array(w, 1);
		bh_write_array(w, 2);
		bh_write_int(w, i);
		bh_write_int(w, (int64_t)i * i);
		/* 5000 ms: a local deadline for this call as well as the daemon's. */
		int r = bh_call_start(c, "echo.echo", 5000, on_reply, &b, NULL);
		if (r < 0) {
			fprintf(stderr, "bh_call_start: %s\n", strerror(-r));
			return -1;
		}
	}

	/* The event loop: poll the client's fd for reading, and for writing while it
	 * has queued bytes; its next local deadline bounds the wait. */
	while (bh_client_pending(c) > 0) {
		struct pollfd p = { .fd = bh_client_fd(c), .events = POLLIN };
		if (bh_client_want_write(c))
			p.events |= POLLOUT;
		if (poll(&p, 1, bh_client_next_timeout(c)) < 0 && errno != EINTR) {
			perror("poll");
			return -1;
		}
		int r = bh_client_step(c);
		if (r < 0) {
			/* Every outstanding call has been completed with an error. */
			fprintf(stderr, "connection lost: %s\n", strerror(-r));
			return -1;
		}
	}

	printf("batch: %d calls, %d failed:", b.done, b.failed);
	for (int i = 0; i < BATCH; i++)
		printf(" %" PRId64, b.results[i]);
	printf("\n");
	return b.failed == 0 && b.done == BATCH ? 0 : -1;
}

/* ---- 1. connecting ------------------------------------------------------------------- */

int main(int argc, char **argv)
{
	const char *path = argc > 1 ? argv[1] : bh_default_socket();
	bh_client *c;
	int r = bh_client_connect(path, &c);
	if (r < 0) {
		fprintf(stderr, "cannot connect to %s: %s\n", path, strerror(-r));
		return 1;
	}
	printf("connected to %s\n", path);

	int status = 0;
	if (sync_call(c) < 0 || failing_call(c) < 0 || pipelined_batch(c) < 0)
		status = 1;
	bh_client_free(c); /* would fail any call still outstanding with "unavailable" */
	return status;
}
