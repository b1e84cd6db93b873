/* Integration: what the daemon sends a client, and when. A response answers a
 * request ([0, uint32 msgid, ...]) and nothing else; notifications, responses and
 * messages of no known shape are never answered, only reported (rate-limited log;
 * bulkhead.error notifications to a client that asked with bulkhead.hello); bytes
 * that cannot be resynchronised close the connection without a word.
 *
 * "Nothing arrives" is proven with a barrier: after the message under test the
 * client sends a request, and the first message it receives must be that request's
 * response. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

#define ECHO_CONF "plugins = ({ name = \"echo\"; path = \"" HT_PLUGIN("echo") "\"; });"

/* The log bucket (supervisor/daemon/conn.h, README "Wire protocol"). */
#define REPORT_BURST 20
#define REPORT_PER_SEC 2

/* One message that must never be answered, and what an opted-in client is told. */
struct unanswerable {
	const char *what;
	const char *bytes;
	size_t len;
	int32_t code; /* of the bulkhead.error notification */
};

#define LIT(s) s, sizeof(s) - 1
static const struct unanswerable unanswerable[] = {
	{"notification whose method is 42: [2, 42, \"x\"]", LIT("\x93\x02\x2a\xa1x"),
	 BH_E_BAD_REQUEST},
	{"a client's response [1, 7, nil, nil]", LIT("\x94\x01\x07\xc0\xc0"), BH_E_PROTOCOL},
	{"a client's error response [1, 8, {}, nil]", LIT("\x94\x01\x08\x80\xc0"),
	 BH_E_PROTOCOL},
	{"a string", LIT("\xa5hello"), BH_E_BAD_REQUEST},
	{"nil", LIT("\xc0"), BH_E_BAD_REQUEST},
	{"[0, 3]", LIT("\x92\x00\x03"), BH_E_BAD_REQUEST},
	{"[7, 5, \"x\", []]", LIT("\x94\x07\x05\xa1x\x90"), BH_E_BAD_REQUEST},
	{"msgid -1", LIT("\x94\x00\xff\xa9" "echo.ping\x90"), BH_E_BAD_REQUEST},
	{"msgid nil", LIT("\x94\x00\xc0\xa9" "echo.ping\x90"), BH_E_BAD_REQUEST},
	{"msgid 2^32", LIT("\x94\x00\xcf\x00\x00\x00\x01\x00\x00\x00\x00\xa9" "echo.ping\x90"),
	 BH_E_BAD_REQUEST},
	{"six elements", LIT("\x96\x00\x06\xa9" "echo.ping\x90\x80\x01"), BH_E_BAD_REQUEST},
	{"notification with params \"y\"", LIT("\x93\x02\xa9" "echo.ping\xa1y"),
	 BH_E_BAD_REQUEST},
	{"notification to no plugin", LIT("\x93\x02\xa8nosuch.x\x90"), BH_E_UNKNOWN_PLUGIN},
	{"notification to no method", LIT("\x93\x02\xab" "echo.nosuch\x90"), BH_E_UNKNOWN_METHOD},
	{"notification not plugin.method", LIT("\x93\x02\xa6noform\x90"), BH_E_BAD_REQUEST},
	{"notification to a control method", LIT("\x93\x02\xaf" "bulkhead.status\x90"),
	 BH_E_BAD_REQUEST},
	/* [2, "echo.fail", [1000, "no"]]: the plugin fails it, after routing */
	{"notification the plugin fails", LIT("\x93\x02\xa9" "echo.fail\x92\xcd\x03\xe8\xa2no"),
	 1000},
};
#define N_UNANSWERABLE (sizeof(unanswerable) / sizeof(unanswerable[0]))

static void send_bytes(struct ht_raw *r, const void *p, size_t n)
{
	ck_assert_int_eq(ht_raw_send(r, p, n), 0);
}

static void send_ping(struct ht_raw *r, uint32_t msgid)
{
	struct bh_buf out;
	bh_buf_init(&out, 0);
	ht_req_ints(&out, msgid, "echo.ping", 0, NULL, 0);
	send_bytes(r, out.data, out.len);
	bh_buf_done(&out);
}

/* m must be the successful response to request msgid. */
static void assert_response(const bh_value *m, uint32_t msgid, const char *after)
{
	uint64_t type = 9, id = 0;
	ck_assert_msg(m->type == BH_ARRAY && m->len == 4 &&
			      bh_value_get_uint(bh_value_at(m, 0), &type) == 0 && type == 1 &&
			      bh_value_get_uint(bh_value_at(m, 1), &id) == 0 && id == msgid &&
			      bh_value_at(m, 2)->type == BH_NIL,
		      "after %s: the first message is not the barrier's response (type %llu, "
		      "msgid %llu, want msgid %u)",
		      after, (unsigned long long)type, (unsigned long long)id, msgid);
}

/* The next message must be the successful response to request msgid. */
static void expect_response(struct ht_raw *r, uint32_t msgid, const char *after)
{
	const bh_value *m;
	ck_assert_msg(ht_raw_recv_any(r, &m) == 1, "after %s: the connection closed", after);
	assert_response(m, msgid, after);
}

/* m must be [2, "bulkhead.error", [{code, name, message}]]. */
static void assert_error_note(const bh_value *m, int32_t code, const char *after)
{
	uint64_t type = 9;
	ck_assert_msg(m->type == BH_ARRAY && m->len == 3 &&
			      bh_value_get_uint(bh_value_at(m, 0), &type) == 0 && type == 2 &&
			      bh_value_str_eq(bh_value_at(m, 1), "bulkhead.error"),
		      "after %s: not a bulkhead.error notification (type %llu)", after,
		      (unsigned long long)type);
	const bh_value *params = bh_value_at(m, 2);
	ck_assert_msg(params && params->type == BH_ARRAY && params->len == 1,
		      "after %s: params are not [error]", after);
	const bh_value *e = bh_value_at(params, 0);
	int64_t got;
	ck_assert(bh_value_get_int(ht_get(e, "code"), &got) == 0);
	char msg[BH_ERROR_MESSAGE_MAX];
	ck_assert_msg(got == code, "after %s: code %lld, want %d (%s)", after, (long long)got,
		      (int)code, ht_str(ht_get(e, "message"), msg, sizeof(msg)));
	ck_assert(ht_get_str_is(e, "name", bh_code_name(code)));
	ck_assert(ht_get(e, "message")->type == BH_STR);
}

/* The next message must be a bulkhead.error notification. */
static void expect_error_note(struct ht_raw *r, int32_t code, const char *after)
{
	const bh_value *m;
	ck_assert_msg(ht_raw_recv_any(r, &m) == 1, "after %s: the connection closed", after);
	assert_error_note(m, code, after);
}

/* bulkhead.hello [{"notifications": [names...]}] on a raw connection; the reply's
 * "enabled" must list exactly `want`. */
static void raw_hello(struct ht_raw *r, uint32_t msgid, const char *const *names, size_t n,
		      const char *want)
{
	struct bh_buf out;
	bh_buf_init(&out, 0);
	bh_writer w;
	bh_writer_init(&w, &out);
	bh_write_array(&w, 4);
	bh_write_uint(&w, 0);
	bh_write_uint(&w, msgid);
	bh_write_cstr(&w, "bulkhead.hello");
	bh_write_array(&w, 1);
	bh_write_map(&w, 1);
	bh_write_cstr(&w, "notifications");
	bh_write_array(&w, (uint32_t)n);
	for (size_t i = 0; i < n; i++)
		bh_write_cstr(&w, names[i]);
	ck_assert_int_eq(bh_writer_error(&w), 0);
	send_bytes(r, out.data, out.len);
	bh_buf_done(&out);
	struct ht_reply rep;
	ck_assert_int_eq(ht_raw_recv(r, &rep), 1);
	ck_assert_msg(rep.code == 0, "hello: %s", rep.message);
	ck_assert_uint_eq(rep.msgid, msgid);
	const bh_value *on = ht_get(ht_get(rep.result, "enabled"), "notifications");
	ck_assert_uint_eq(on->len, want ? 1 : 0);
	if (want)
		ck_assert(bh_value_str_eq(bh_value_at(on, 0), want));
}

static const char *const error_note[] = {"bulkhead.error"};

/* ---- tests ------------------------------------------------------------------------- */

/* Each message a client may send that is no request gets nothing back. */
START_TEST(no_reply_to_what_is_no_request)
{
	struct ht_daemon d;
	ht_start(&d, ECHO_CONF);
	struct ht_raw r;
	ht_raw_open(&r, &d);
	for (size_t i = 0; i < N_UNANSWERABLE; i++) {
		send_bytes(&r, unanswerable[i].bytes, unanswerable[i].len);
		send_ping(&r, (uint32_t)(100 + i));
		expect_response(&r, (uint32_t)(100 + i), unanswerable[i].what);
	}
	/* The same, all in one write. */
	struct bh_buf batch;
	bh_buf_init(&batch, 0);
	for (size_t i = 0; i < N_UNANSWERABLE; i++)
		ck_assert_int_eq(bh_buf_append(&batch, unanswerable[i].bytes, unanswerable[i].len), 0);
	send_bytes(&r, batch.data, batch.len);
	bh_buf_done(&batch);
	send_ping(&r, 999);
	expect_response(&r, 999, "all of them at once");
	ht_raw_close(&r);
	ht_stop(&d);
}
END_TEST

/* A request whose msgid can be read gets its one response, with that msgid, however
 * wrong the rest of it is. */
START_TEST(bad_request_answered_with_its_msgid)
{
	struct ht_daemon d;
	ht_start(&d, ECHO_CONF);
	struct ht_raw r;
	ht_raw_open(&r, &d);
	static const struct unanswerable bad[] = {
		{"method 42", LIT("\x94\x00\x0b\x2a\x90"), BH_E_BAD_REQUEST},
		{"params \"x\"", LIT("\x94\x00\x0c\xa9" "echo.ping\xa1x"), BH_E_BAD_REQUEST},
		{"options \"m\"", LIT("\x95\x00\x0d\xa9" "echo.ping\x90\xa1m"), BH_E_BAD_REQUEST},
		{"no plugin", LIT("\x94\x00\x0e\xa8nosuch.x\x90"), BH_E_UNKNOWN_PLUGIN},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		send_bytes(&r, bad[i].bytes, bad[i].len);
		struct ht_reply rep;
		ck_assert_int_eq(ht_raw_recv(&r, &rep), 1);
		ck_assert_msg(!rep.msgid_nil && rep.msgid == 11 + i, "%s: msgid %u", bad[i].what,
			      rep.msgid);
		ck_assert_msg(rep.code == bad[i].code, "%s: %s: %s", bad[i].what, rep.name,
			      rep.message);
	}
	send_ping(&r, 20);
	expect_response(&r, 20, "the bad requests");
	ht_raw_close(&r);
	ht_stop(&d);
}
END_TEST

/* Bytes that are not MessagePack or break a limit: the connection is closed, nothing
 * is sent, and a request before them is still answered. */
START_TEST(unattributable_bytes_close_silently)
{
	struct ht_daemon d;
	ht_start(&d, "limits = { max_message = \"64K\"; };" ECHO_CONF);
	static const struct unanswerable fatal[] = {
		{"0xc1", LIT("\xc1\x00\x01"), BH_E_BAD_REQUEST},
		{"array32 of 4G", LIT("\xdd\xff\xff\xff\xff\x00"), BH_E_TOO_LARGE},
		{"str32 of 4G in a request", LIT("\x94\x00\x01\xdb\xff\xff\xff\xff" "a"),
		 BH_E_TOO_LARGE},
	};
	for (size_t i = 0; i < sizeof(fatal) / sizeof(fatal[0]); i++) {
		for (int opted_in = 0; opted_in < 2; opted_in++) {
			struct ht_raw r;
			ht_raw_open(&r, &d);
			if (opted_in)
				raw_hello(&r, 1, error_note, 1, "bulkhead.error");
			send_ping(&r, 2);
			/* The daemon may close before reading it all: EPIPE is fine. */
			(void)ht_raw_send(&r, fatal[i].bytes, fatal[i].len);
			/* The response and (opted in) the report, in either order. */
			for (int k = 0; k < 1 + opted_in; k++) {
				const bh_value *m;
				ck_assert_msg(ht_raw_recv_any(&r, &m) == 1, "%s: closed early",
					      fatal[i].what);
				if (m->len == 3)
					assert_error_note(m, fatal[i].code, fatal[i].what);
				else
					assert_response(m, 2, "the request before the bytes");
			}
			const bh_value *m;
			ck_assert_msg(ht_raw_recv_any(&r, &m) == 0,
				      "%s: a message instead of end of file", fatal[i].what);
			ht_raw_close(&r);
		}
	}
	ck_assert(ht_log_has(&d, "closing the connection"));
	bh_client *c = ht_connect(&d);
	ck_assert_int_eq(ht_call_int_ok(c, "echo.echo", HT_INTS(5)), 5);
	bh_client_free(c);
	ht_stop(&d);
}
END_TEST

/* A client that asked for them gets each unanswerable message's error as a
 * bulkhead.error notification, in order, and can turn them off again. */
START_TEST(opted_in_client_gets_error_notifications)
{
	struct ht_daemon d;
	ht_start(&d, ECHO_CONF);
	struct ht_raw r, quiet;
	ht_raw_open(&r, &d);
	ht_raw_open(&quiet, &d);
	raw_hello(&r, 1, error_note, 1, "bulkhead.error");
	/* Asking for names this daemon does not send enables nothing. */
	static const char *const unknown[] = {"bulkhead.nosuch"};
	raw_hello(&quiet, 1, unknown, 1, NULL);
	for (size_t i = 0; i < N_UNANSWERABLE; i++) {
		send_bytes(&r, unanswerable[i].bytes, unanswerable[i].len);
		send_ping(&r, (uint32_t)(100 + i));
		expect_error_note(&r, unanswerable[i].code, unanswerable[i].what);
		expect_response(&r, (uint32_t)(100 + i), unanswerable[i].what);
		send_bytes(&quiet, unanswerable[i].bytes, unanswerable[i].len);
		send_ping(&quiet, (uint32_t)(100 + i));
		expect_response(&quiet, (uint32_t)(100 + i), unanswerable[i].what);
	}
	/* Off again: nothing. */
	raw_hello(&r, 2, NULL, 0, NULL);
	send_bytes(&r, unanswerable[0].bytes, unanswerable[0].len);
	send_ping(&r, 3);
	expect_response(&r, 3, "notifications turned off");
	ht_raw_close(&quiet);
	ht_raw_close(&r);
	ht_stop(&d);
}
END_TEST

/* A notification that times out, or whose instance dies, is reported too: the
 * failures that come after routing, from the deadline and the instance. */
START_TEST(late_notification_failures_reported)
{
	struct ht_daemon d;
	/* "slow" (the echo plugin with a short deadline) takes the hang; "echo" the
	 * barriers, so no barrier meets the hung instance. */
	ht_start(&d, "plugins = ({ name = \"echo\"; path = \"" HT_PLUGIN("echo") "\"; }, "
		     "{ name = \"slow\"; path = \"" HT_PLUGIN("echo") "\"; "
		     "timeout_ms = 100; grace_ms = 50; });");
	struct ht_raw r;
	ht_raw_open(&r, &d);
	raw_hello(&r, 1, error_note, 1, "bulkhead.error");
	/* [2, "echo.crash", []]: the instance dies with it; the barrier waits for the
	 * replacement. */
	send_bytes(&r, LIT("\x93\x02\xaa" "echo.crash\x90"));
	expect_error_note(&r, BH_E_PLUGIN_CRASHED, "a notification that crashes its instance");
	send_ping(&r, 2);
	expect_response(&r, 2, "a notification that crashes its instance");
	/* [2, "slow.hang", []]: the deadline passes. */
	send_bytes(&r, LIT("\x93\x02\xa9" "slow.hang\x90"));
	expect_error_note(&r, BH_E_TIMEOUT, "a notification that hangs");
	send_ping(&r, 3);
	expect_response(&r, 3, "a notification that hangs");
	ht_raw_close(&r);
	ht_stop(&d);
}
END_TEST

/* The reply to bulkhead.hello says what the daemon supports; unknown options are
 * ignored and listed; malformed ones are refused. */
START_TEST(hello_reply)
{
	struct ht_daemon d;
	ht_start(&d, ECHO_CONF);
	bh_client *c = ht_connect(&d);
	bh_writer *w = bh_client_params(c);
	bh_write_array(w, 1);
	bh_write_map(w, 2);
	bh_write_cstr(w, "events");
	bh_write_bool(w, true);
	bh_write_cstr(w, "notifications");
	bh_write_array(w, 1);
	bh_write_cstr(w, "bulkhead.error");
	bh_result *res;
	bh_error err;
	ht_assert_ok(bh_call(c, "bulkhead.hello", HT_LONG_MS, &res, &err), err);
	const bh_value *v = bh_result_value(res);
	ck_assert_uint_eq(ht_get_uint(v, "protocol"), 2);
	ck_assert(ht_get_str_is(ht_get(v, "enabled"), "errors", "text"));
	const bh_value *forms = ht_get(ht_get(v, "options"), "errors");
	ck_assert(forms->len == 2 && bh_value_str_eq(bh_value_at(forms, 1), "map"));
	ck_assert(ht_str_has(ht_get(v, "server"), "bulkhead "));
	const bh_value *sup = ht_get(ht_get(v, "options"), "notifications");
	ck_assert(sup->len == 1 && bh_value_str_eq(bh_value_at(sup, 0), "bulkhead.error"));
	const bh_value *on = ht_get(ht_get(v, "enabled"), "notifications");
	ck_assert(on->len == 1 && bh_value_str_eq(bh_value_at(on, 0), "bulkhead.error"));
	const bh_value *ign = ht_get(v, "ignored");
	ck_assert(ign->len == 1 && bh_value_str_eq(bh_value_at(ign, 0), "events"));
	ck_assert(ht_get(ht_get(v, "enabled"), "callbacks")->type == BH_BOOL &&
		  !ht_get(ht_get(v, "enabled"), "callbacks")->as.b);
	bh_result_free(res);

	/* [] asks and changes nothing. */
	ht_assert_ok(bh_call(c, "bulkhead.hello", HT_LONG_MS, &res, &err), err);
	on = ht_get(ht_get(bh_result_value(res), "enabled"), "notifications");
	ck_assert_uint_eq(on->len, 1);
	bh_result_free(res);

	ht_assert_err(ht_call_ints(c, "bulkhead.hello", HT_LONG_MS, &res, &err, HT_INTS(1)), err,
		      BH_E_INVALID_PARAMS, "hello expects");
	w = bh_client_params(c);
	bh_write_array(w, 1);
	bh_write_map(w, 1);
	bh_write_cstr(w, "notifications");
	bh_write_cstr(w, "bulkhead.error");
	ht_assert_err(bh_call(c, "bulkhead.hello", HT_LONG_MS, &res, &err), err,
		      BH_E_INVALID_PARAMS, "list of method names");
	bh_client_free(c);
	ht_stop(&d);
}
END_TEST

struct reports {
	int n;
	bh_error last;
};

static void on_report(void *userdata, const bh_error *err)
{
	struct reports *r = userdata;
	r->n++;
	r->last = *err;
}

/* The client SDK: bh_client_on_report delivers the daemon's reports to a callback.
 * (The SDK sends no notification itself: the bytes go straight to its socket.) */
START_TEST(sdk_reports)
{
	struct ht_daemon d;
	ht_start(&d, ECHO_CONF);
	bh_client *c = ht_connect(&d);
	struct reports got = {0};
	bh_error err;
	ht_assert_ok(bh_client_on_report(c, HT_LONG_MS, on_report, &got, &err), err);
	static const char note[] = "\x93\x02\xa8nosuch.x\x90";
	ck_assert_int_eq(write(bh_client_fd(c), note, sizeof(note) - 1), (ssize_t)sizeof(note) - 1);
	/* Reported before the call that follows is answered. */
	ck_assert_int_eq(ht_call_int_ok(c, "echo.echo", HT_INTS(1)), 1);
	ck_assert_int_eq(got.n, 1);
	ck_assert_int_eq(got.last.code, BH_E_UNKNOWN_PLUGIN);
	ck_assert_msg(strstr(got.last.message, "nosuch"), "%s", got.last.message);

	/* Off: nothing more. */
	ht_assert_ok(bh_client_on_report(c, HT_LONG_MS, NULL, NULL, &err), err);
	ck_assert_int_eq(write(bh_client_fd(c), note, sizeof(note) - 1), (ssize_t)sizeof(note) - 1);
	ck_assert_int_eq(ht_call_int_ok(c, "echo.echo", HT_INTS(2)), 2);
	ck_assert_int_eq(got.n, 1);
	bh_client_free(c);
	ht_stop(&d);
}
END_TEST

static size_t count_lines_with(const char *log, const char *needle)
{
	size_t n = 0;
	for (const char *p = log; (p = strstr(p, needle)) != NULL; p += strlen(needle))
		n++;
	return n;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A flood of failing notifications: the opted-in client hears of every one, the log
 * of at most the bucket's burst plus its rate over the time the flood took. */
START_TEST(failed_notifications_log_is_rate_limited)
{
	enum { FLOOD = 500 };
	struct ht_daemon d;
	ht_start(&d, ECHO_CONF);
	struct ht_raw r;
	ht_raw_open(&r, &d);
	raw_hello(&r, 1, error_note, 1, "bulkhead.error");
	static const char note[] = "\x93\x02\xa8nosuch.x\x90";
	struct bh_buf flood;
	bh_buf_init(&flood, 0);
	for (int i = 0; i < FLOOD; i++)
		ck_assert_int_eq(bh_buf_append(&flood, note, sizeof(note) - 1), 0);
	double t0 = now_s();
	send_bytes(&r, flood.data, flood.len);
	bh_buf_done(&flood);
	send_ping(&r, 2);
	for (int i = 0; i < FLOOD; i++)
		expect_error_note(&r, BH_E_UNKNOWN_PLUGIN, "the flood");
	expect_response(&r, 2, "the flood");
	double elapsed = now_s() - t0;
	ht_raw_close(&r);

	char *log = ht_read_log(&d);
	size_t lines = count_lines_with(log, "a notification failed");
	size_t bound = REPORT_BURST + (size_t)(elapsed * REPORT_PER_SEC) + 1;
	free(log);
	ck_assert_msg(lines >= 1, "failed notifications are not logged");
	ck_assert_msg(lines <= bound, "%zu log lines for %d failed notifications in %.2f s "
		      "(at most %zu)", lines, FLOOD, elapsed, bound);
	ht_stop(&d);
}
END_TEST

static uint64_t uint_at(const bh_value *v, uint32_t i)
{
	uint64_t u = UINT64_MAX;
	ck_assert_int_eq(bh_value_get_uint(bh_value_at(v, i), &u), 0);
	return u;
}

/* Send [0, msgid, method, params] with params encoded by the caller's writer calls,
 * return the error element of its response (valid until the next receive). */
static const bh_value *raw_call_error(struct ht_raw *r, uint32_t msgid, const char *method,
				      const char *params, size_t params_len)
{
	struct bh_buf out;
	bh_buf_init(&out, 0);
	bh_writer w;
	bh_writer_init(&w, &out);
	bh_write_array(&w, 4);
	bh_write_uint(&w, 0);
	bh_write_uint(&w, msgid);
	bh_write_cstr(&w, method);
	bh_write_raw(&w, params, params_len);
	ck_assert_int_eq(bh_writer_error(&w), 0);
	send_bytes(r, out.data, out.len);
	bh_buf_done(&out);
	const bh_value *m;
	ck_assert_int_eq(ht_raw_recv_any(r, &m), 1);
	uint64_t id = 0;
	ck_assert(m->len == 4 && bh_value_get_uint(bh_value_at(m, 1), &id) == 0 && id == msgid);
	return bh_value_at(m, 2);
}

/* Errors are Neovim's [type, "NAME (CODE): MESSAGE"] unless the connection asks for
 * the map; either way the C client reads the same code and message. */
START_TEST(error_forms)
{
	struct ht_daemon d;
	ht_start(&d, ECHO_CONF);
	struct ht_raw r;
	ht_raw_open(&r, &d);
	static const char fail_params[] = "\x92\xcd\x03\xe9\xa2no"; /* [1001, "no"] */
	const bh_value *e = raw_call_error(&r, 1, "echo.fail", LIT(fail_params));
	ck_assert_msg(e->type == BH_ARRAY && e->len == 2, "the default error is not [type, text]");
	ck_assert_uint_eq(uint_at(e, 0), 0);
	ck_assert(bh_value_str_eq(bh_value_at(e, 1), "application (1001): no"));
	e = raw_call_error(&r, 2, "nosuch.x", LIT("\x90"));
	ck_assert_uint_eq(uint_at(e, 0), 1); /* the request was at fault */
	ck_assert(ht_str_has(bh_value_at(e, 1), "unknown_plugin (1): "));

	e = raw_call_error(&r, 3, "bulkhead.hello", LIT("\x91\x81\xa6" "errors" "\xa4" "maps"));
	ck_assert(ht_str_has(bh_value_at(e, 1), "\"errors\" is \"text\" or \"map\""));
	e = raw_call_error(&r, 4, "bulkhead.hello", LIT("\x91\x81\xa6" "errors" "\xa3" "map"));
	ck_assert(e->type == BH_NIL);
	e = raw_call_error(&r, 5, "echo.fail", LIT(fail_params));
	ck_assert_msg(e->type == BH_MAP, "asked for maps, got no map");
	ck_assert_uint_eq(ht_get_uint(e, "code"), 1001);
	ck_assert(ht_get_str_is(e, "message", "no"));
	ck_assert(ht_get_str_is(e, "name", "application"));
	e = raw_call_error(&r, 6, "bulkhead.hello", LIT("\x91\x81\xa6" "errors" "\xa4" "text"));
	ck_assert(e->type == BH_NIL);
	e = raw_call_error(&r, 7, "echo.fail", LIT(fail_params));
	ck_assert(e->type == BH_ARRAY);
	ht_raw_close(&r);

	/* The C client reads the default form into the same code and message. */
	bh_client *c = ht_connect(&d);
	bh_error err;
	ck_assert_int_lt(ht_call_ints(c, "nosuch.x", HT_LONG_MS, NULL, &err, NULL, 0), 0);
	ck_assert_int_eq(err.code, BH_E_UNKNOWN_PLUGIN);
	ck_assert_msg(err.message[0] && !strstr(err.message, "unknown_plugin (1)"),
		      "the message keeps the prefix: %s", err.message);
	bh_client_free(c);
	ht_stop(&d);
}
END_TEST

/* A plugin's error in real msgpack-rpc clients: client_errors.py (python3-msgpack,
 * pynvim) and Neovim itself. */
static const char *client_mode;

START_TEST(client_errors)
{
	struct ht_daemon d;
	ht_start(&d, ECHO_CONF);
	char cmd[1024];
	snprintf(cmd, sizeof(cmd), "%s %s %s %s", HT_PYTHON, HT_CLIENT_ERRORS, d.sock, client_mode);
	int st = system(cmd);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "client_errors.py %s failed "
		      "(status %d)", client_mode, st);
	ht_stop(&d);
}
END_TEST

/* nvim --headless calls echo.fail with rpcrequest(): the exception carries the
 * plugin's text (before: "unknown error"). */
START_TEST(nvim_errors)
{
	struct ht_daemon d;
	ht_start(&d, ECHO_CONF);
	char script[HT_PATH_MAX + 16], out[HT_PATH_MAX + 16], cmd[3 * HT_PATH_MAX + 128];
	snprintf(script, sizeof(script), "%s/errors.vim", d.dir);
	snprintf(out, sizeof(out), "%s/errors.out", d.dir);
	FILE *f = fopen(script, "w");
	ck_assert_ptr_nonnull(f);
	fprintf(f, "let ch = sockconnect('pipe', $BH_SOCK, {'rpc': v:true})\n"
		   "try\n"
		   "  call rpcrequest(ch, 'echo.fail', 1001, 'the plugin said no')\n"
		   "  call writefile(['no error'], $BH_OUT)\n"
		   "catch\n"
		   "  call writefile(split(v:exception, \"\\n\"), $BH_OUT)\n"
		   "endtry\n"
		   "qa!\n");
	fclose(f);
	snprintf(cmd, sizeof(cmd), "BH_SOCK='%s' BH_OUT='%s' nvim --headless --clean -S '%s' "
		 "</dev/null >/dev/null 2>&1", d.sock, out, script);
	int st = system(cmd);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "nvim failed (status %d)", st);
	char text[2048] = "";
	f = fopen(out, "r");
	ck_assert_msg(f != NULL, "nvim wrote nothing");
	size_t n = fread(text, 1, sizeof(text) - 1, f);
	text[n] = 0;
	fclose(f);
	ck_assert_msg(strstr(text, "application (1001): the plugin said no"),
		      "nvim shows: %s", text);
	ht_stop(&d);
}
END_TEST

/* A node client (client_errors.cjs over npm's @msgpack/msgpack, installed under
 * HT_NPM_PREFIX by client_errors_main) sees the text. */
START_TEST(node_errors)
{
	struct ht_daemon d;
	ht_start(&d, ECHO_CONF);
	char cmd[1024];
	snprintf(cmd, sizeof(cmd), "NODE_PATH='%s/node_modules' node '%s' '%s'", HT_NPM_PREFIX,
		 HT_NODE_CLIENT, d.sock);
	int st = system(cmd);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "client_errors.cjs failed (status %d)",
		      st);
	ht_stop(&d);
}
END_TEST

static int client_errors_main(const char *mode)
{
	if (strcmp(mode, "node") == 0) {
		if (system("command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1")) {
			printf("SKIP: no node or npm (Debian: nodejs, npm)\n");
			return 77;
		}
		if (system("test -d '" HT_NPM_PREFIX "/node_modules/@msgpack/msgpack' || "
			   "npm install --prefix '" HT_NPM_PREFIX "' --no-audit --no-fund --silent "
			   "@msgpack/msgpack >/dev/null 2>&1")) {
			printf("SKIP: npm cannot install @msgpack/msgpack (no registry?)\n");
			return 77;
		}
	} else if (strcmp(mode, "nvim") == 0) {
		if (system("command -v nvim >/dev/null 2>&1") != 0) {
			printf("SKIP: no nvim (Debian: neovim)\n");
			return 77;
		}
	} else {
		const char *module = strcmp(mode, "pynvim") == 0 ? "pynvim" : "msgpack";
		char cmd[256];
		snprintf(cmd, sizeof(cmd), HT_PYTHON " -c 'import %s' 2>/dev/null", module);
		if (access(HT_PYTHON, X_OK) < 0 || system(cmd) != 0) {
			printf("SKIP: %s has no %s module (Debian: python3-%s)\n", HT_PYTHON,
			       module, module);
			return 77;
		}
	}
	client_mode = mode;
	Suite *s = suite_create("integ_errors");
	TCase *tc = ht_tcase("errors");
	tcase_add_test(tc, strcmp(mode, "nvim") == 0   ? nvim_errors
			   : strcmp(mode, "node") == 0 ? node_errors
						       : client_errors);
	suite_add_tcase(s, tc);
	return ht_main(s);
}

/* A real bidirectional msgpack-rpc peer (pynvim's session, which also serves
 * requests and matches every response to one of its own) never receives a response
 * it did not ask for; see pynvim_peer.py. */
START_TEST(pynvim_peer)
{
	struct ht_daemon d;
	ht_start(&d, ECHO_CONF);
	char cmd[1024];
	snprintf(cmd, sizeof(cmd), "%s %s %s", HT_PYTHON, HT_PYNVIM_PEER, d.sock);
	int st = system(cmd);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "pynvim_peer.py failed (status %d)",
		      st);
	ht_stop(&d);
}
END_TEST

static int pynvim_peer_main(void)
{
	if (access(HT_PYTHON, X_OK) < 0) {
		printf("SKIP: no %s\n", HT_PYTHON);
		return 77;
	}
	if (system(HT_PYTHON " -c 'import pynvim.msgpack_rpc' 2>/dev/null") != 0) {
		printf("SKIP: %s has no pynvim module (Debian: python3-pynvim)\n", HT_PYTHON);
		return 77;
	}
	Suite *s = suite_create("integ_replies_pynvim");
	TCase *tc = ht_tcase("pynvim");
	tcase_add_test(tc, pynvim_peer);
	suite_add_tcase(s, tc);
	return ht_main(s);
}

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "--pynvim-peer") == 0)
		return pynvim_peer_main();
	if (argc > 2 && strcmp(argv[1], "--client-errors") == 0)
		return client_errors_main(argv[2]);
	Suite *s = suite_create("integ_replies");
	TCase *tc = ht_tcase("replies");
	tcase_add_test(tc, no_reply_to_what_is_no_request);
	tcase_add_test(tc, bad_request_answered_with_its_msgid);
	tcase_add_test(tc, unattributable_bytes_close_silently);
	tcase_add_test(tc, opted_in_client_gets_error_notifications);
	tcase_add_test(tc, late_notification_failures_reported);
	tcase_add_test(tc, hello_reply);
	tcase_add_test(tc, error_forms);
	tcase_add_test(tc, sdk_reports);
	tcase_add_test(tc, failed_notifications_log_is_rate_limited);
	suite_add_tcase(s, tc);
	return ht_main(s);
}
