/* Unit tests of libbulkhead-client against a fake daemon.
 *
 * The fake daemon is a thread serving one connection on a Unix socket in a temporary
 * directory, with blocking I/O and the proto library. It handles requests strictly in
 * order, so the protocol itself sequences every test: a request the client sends
 * after another is seen by the server after it, and "t.release" answers everything
 * held before it. No test sleeps to wait for something to happen.
 *
 * Methods of the fake:
 *   t.echo [v]          -> v (nil without params)
 *   t.error [code, msg] -> the error map {code, name, message}
 *   t.hold [v]          -> nothing yet; answered (v) by the next t.release
 *   t.release []        -> answers all held calls, last held first, then the number
 *   t.opts []           -> the request's options map, or nil
 *   t.big [n]           -> a bin of n bytes (byte i = i * 7 mod 251)
 *   t.notify [v]        -> a notification, then v
 *   t.garbage []        -> a byte that starts no MessagePack type
 *   t.badid []          -> a response for a msgid that was never sent
 *   t.dup []            -> two responses with the request's msgid
 *   t.close []          -> the server closes the connection
 *   t.raw []            -> RAW_RESULT below, a value with every awkward corner
 *   t.params [...]      -> the request's params bytes, as a hex string
 *   t.ask [m, p, n]     -> calls the client back: a notification [2, "t.note", [1]]
 *                          first when n is true, then the request [0, ASK_CID, m, p];
 *                          answers with a bin of the first message the client sends
 *                          next (its answer), so t.ask must be the last request the
 *                          client sent (nothing pipelined behind it)
 *   t.flood [n, size]   -> n requests "app.big" [size] to the client in one write,
 *                          then waits for a byte on the gate pipe (the test writes it
 *                          once the client handled them all), then reads the n
 *                          answers: [bins of size bytes, overloaded errors]
 *   bulkhead.hello [o]  -> {"enabled": o}, or {"enabled": {}} when refuse_hello; with
 *                          "memfd" in o also its options (FAKE_MEMFD_THRESHOLD,
 *                          FAKE_MAX_PAYLOAD); it takes no fds, so only params that go
 *                          inline work then
 *   bulkhead.status     -> STATUS below
 *   bulkhead.version    -> "bulkhead 9.9.9"
 *   bulkhead.* [...]    -> {"method": name, "params": params}
 *
 * The fake serves connections one after another until fake_stop().
 *
 * The second test case runs the `bulkhead` CLI (BH_CLI_PATH) against the same fake. */
#define _GNU_SOURCE
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <stdarg.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/sockios.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bulkhead/client.h"
#include "bulkhead/proto.h"

/* ---- the fake daemon ------------------------------------------------------------ */

struct held {
	uint32_t msgid;
	struct bh_buf value; /* encoded */
};

struct fake {
	char dir[64];
	char path[128];
	int lfd;
	pthread_t thread;
	/* server side, touched only by the thread */
	int fd;
	struct bh_buf in;
	struct held *held;
	size_t nheld, capheld;
	size_t requests; /* seen so far; read by tests after the thread ended */
	bool refuse_hello; /* set before the client connects */
	int gate[2];       /* t.flood waits for a byte on gate[0] */
};

/* The msgid of the fake's requests to the client. */
#define ASK_CID 0x7a7a7a7au
/* What the fake's hello announces for memfds. */
#define FAKE_MEMFD_THRESHOLD 65536
#define FAKE_MAX_PAYLOAD 100000

static void send_all(int fd, const void *p, size_t n)
{
	const uint8_t *b = p;
	while (n > 0) {
		ssize_t w = send(fd, b, n, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return; /* the client went away: the test says what that means */
		b += w;
		n -= (size_t)w;
	}
}

static void send_buf(struct fake *f, struct bh_buf *b)
{
	send_all(f->fd, b->data, b->len);
	b->len = 0;
}

static void reply_raw(struct fake *f, uint32_t msgid, const uint8_t *raw, size_t len)
{
	struct bh_buf b;
	struct bh_writer w;
	bh_buf_init(&b, 0);
	bh_writer_init(&w, &b);
	ck_assert_int_eq(bh_rpc_write_result(&w, msgid, raw, len), 0);
	send_buf(f, &b);
	bh_buf_done(&b);
}

static void reply_value(struct fake *f, uint32_t msgid, const bh_value *v)
{
	struct bh_buf b;
	struct bh_writer w;
	bh_buf_init(&b, 0);
	bh_writer_init(&w, &b);
	if (v)
		bh_write_value(&w, v);
	else
		bh_write_nil(&w);
	ck_assert_int_eq(bh_writer_error(&w), 0);
	reply_raw(f, msgid, b.data, b.len);
	bh_buf_done(&b);
}

/* [1.5f32, ext(-128, 01 02), str ff, 2^64-1, {1: "a"}, {"a": 1, "a": 2}, {"$bin": "x"},
 *  NaN, bin "hi", -0.0, {"k": [true, nil]}, "t\u00e9\n"] */
static const uint8_t raw_result[] =
	"\x9c"
	"\xca\x3f\xc0\x00\x00"
	"\xd5\x80\x01\x02"
	"\xa1\xff"
	"\xcf\xff\xff\xff\xff\xff\xff\xff\xff"
	"\x81\x01\xa1" "a"
	"\x82\xa1" "a" "\x01\xa1" "a" "\x02"
	"\x81\xa4" "$bin" "\xa1" "x"
	"\xcb\x7f\xf8\x00\x00\x00\x00\x00\x00"
	"\xc4\x02" "hi"
	"\xcb\x80\x00\x00\x00\x00\x00\x00\x00"
	"\x81\xa1" "k" "\x92\xc3\xc0"
	"\xa4t\xc3\xa9\n";

static const char raw_result_json[] =
	"[1.5,{\"$ext\":-128,\"data\":\"AQI=\"},{\"$str\":\"/w==\"},"
	"{\"$uint\":\"18446744073709551615\"},{\"$map\":[[1,\"a\"]]},"
	"{\"$map\":[[\"a\",1],[\"a\",2]]},{\"$map\":[[\"$bin\",\"x\"]]},"
	"{\"$float\":\"nan\"},{\"$bin\":\"aGk=\"},-0.0,{\"k\":[true,null]},\"t\u00e9\\n\"]\n";

/* The daemon's status: one plugin with one instance and keys the CLI does not know. */
static const uint8_t *status_map(struct bh_buf *b)
{
	struct bh_writer w;
	bh_writer_init(&w, b);
	bh_write_map(&w, 5);
	bh_write_cstr(&w, "version");
	bh_write_cstr(&w, "9.9.9");
	bh_write_cstr(&w, "pid");
	bh_write_int(&w, 4242);
	bh_write_cstr(&w, "uptime_ms");
	bh_write_int(&w, 7384000);
	bh_write_cstr(&w, "workers");
	bh_write_int(&w, 3);
	bh_write_cstr(&w, "plugins");
	bh_write_array(&w, 1);
	bh_write_map(&w, 10);
	bh_write_cstr(&w, "name");
	bh_write_cstr(&w, "echo\x1b[2J");
	bh_write_cstr(&w, "state");
	bh_write_cstr(&w, "running");
	bh_write_cstr(&w, "path");
	bh_write_cstr(&w, "/lib/echo.so");
	bh_write_cstr(&w, "generation");
	bh_write_int(&w, 2);
	bh_write_cstr(&w, "calls");
	bh_write_int(&w, 1234);
	bh_write_cstr(&w, "errors");
	bh_write_int(&w, 3);
	bh_write_cstr(&w, "restarts");
	bh_write_int(&w, 1);
	bh_write_cstr(&w, "last_exit");
	bh_write_cstr(&w, "killed by SIGSEGV \xe2\x80\xae\xc2\x9b");
	bh_write_cstr(&w, "queue_max");
	bh_write_int(&w, 64);
	bh_write_cstr(&w, "instances");
	bh_write_array(&w, 1);
	bh_write_map(&w, 9);
	bh_write_cstr(&w, "pid");
	bh_write_int(&w, 4321);
	bh_write_cstr(&w, "generation");
	bh_write_int(&w, 2);
	bh_write_cstr(&w, "state");
	bh_write_cstr(&w, "ready");
	bh_write_cstr(&w, "uptime_ms");
	bh_write_int(&w, 303000);
	bh_write_cstr(&w, "rss_kb");
	bh_write_int(&w, 1234);
	bh_write_cstr(&w, "calls");
	bh_write_int(&w, 1200);
	bh_write_cstr(&w, "errors");
	bh_write_int(&w, 1);
	bh_write_cstr(&w, "inflight");
	bh_write_int(&w, 0);
	bh_write_cstr(&w, "cpu_ms");
	bh_write_int(&w, 12);
	ck_assert_int_eq(bh_writer_error(&w), 0);
	return b->data;
}

static bool serve_one(struct fake *f, const uint8_t *msg, size_t len);

/* Read until b starts with a whole message; its size. */
static size_t read_message(struct fake *f, struct bh_buf *b)
{
	struct bh_limits lim;
	bh_limits_default(&lim);
	struct bh_scan s;
	while (b->len == 0 || bh_scan(b->data, b->len, &lim, &s) == -EAGAIN) {
		ck_assert_int_eq(bh_buf_reserve(b, 65536), 0);
		ssize_t n = recv(f->fd, b->data + b->len, b->cap - b->len, 0);
		if (n < 0 && errno == EINTR)
			continue;
		ck_assert_int_gt(n, 0);
		b->len += (size_t)n;
	}
	ck_assert_int_eq(bh_scan(b->data, b->len, &lim, &s), 0);
	return s.size;
}

/* Read the client's next answer into b (b->len is its size). The requests it sends
 * before (calls its handler started) are served on the way. */
static void read_answer(struct fake *f, struct bh_buf *b)
{
	for (;;) {
		size_t size = read_message(f, b);
		if (b->data[1] != BH_RPC_REQUEST) {
			ck_assert_uint_eq(size, b->len); /* nothing behind the answer */
			return;
		}
		ck_assert(serve_one(f, b->data, size));
		bh_buf_consume(b, size);
	}
}

/* t.ask: see the top of the file. */
static void ask(struct fake *f, uint32_t msgid, const bh_value *params)
{
	const char *m;
	size_t ml;
	ck_assert_int_eq(bh_value_get_str(bh_value_at(params, 0), &m, &ml), 0);
	const bh_value *p = bh_value_at(params, 1);
	bool note = false;
	(void)bh_value_get_bool(bh_value_at(params, 2), &note);

	struct bh_buf b, pb;
	struct bh_writer w, pw;
	bh_buf_init(&b, 0);
	bh_buf_init(&pb, 0);
	bh_writer_init(&w, &b);
	bh_writer_init(&pw, &pb);
	bh_write_value(&pw, p);
	ck_assert_int_eq(bh_writer_error(&pw), 0);
	if (note)
		bh_rpc_write_notify(&w, "t.note", 6, (const uint8_t *)"\x91\x01", 2);
	bh_rpc_write_request(&w, ASK_CID, m, ml, pb.data, pb.len);
	ck_assert_int_eq(bh_writer_error(&w), 0);
	send_buf(f, &b);

	read_answer(f, &b);
	pb.len = 0;
	bh_write_bin(&pw, b.data, b.len);
	ck_assert_int_eq(bh_writer_error(&pw), 0);
	reply_raw(f, msgid, pb.data, pb.len);
	bh_buf_done(&b);
	bh_buf_done(&pb);
}

/* t.flood: see the top of the file. */
static void flood(struct fake *f, uint32_t msgid, const bh_value *params)
{
	int64_t n, size;
	ck_assert_int_eq(bh_value_get_int(bh_value_at(params, 0), &n), 0);
	ck_assert_int_eq(bh_value_get_int(bh_value_at(params, 1), &size), 0);
	struct bh_buf b;
	struct bh_writer w;
	bh_buf_init(&b, 0);
	bh_writer_init(&w, &b);
	for (int64_t i = 0; i < n; i++) {
		uint8_t p[10] = { 0x91, 0xce, (uint8_t)(size >> 24), (uint8_t)(size >> 16),
				  (uint8_t)(size >> 8), (uint8_t)size };
		bh_rpc_write_request(&w, (uint32_t)i, "app.big", 7, p, 6);
	}
	send_buf(f, &b);
	char byte;
	ck_assert_int_eq(read(f->gate[0], &byte, 1), 1);

	struct bh_limits lim;
	struct bh_arena arena;
	bh_limits_default(&lim);
	bh_arena_init(&arena);
	int64_t ok = 0, overloaded = 0;
	for (int64_t i = 0; i < n; i++) {
		size_t len = read_message(f, &b);
		struct bh_rpc rpc;
		bh_error e;
		const bh_value *v;
		ck_assert_int_eq(bh_rpc_parse(b.data, len, &rpc, NULL), 0);
		ck_assert_int_eq(rpc.type, BH_RPC_RESPONSE);
		ck_assert_uint_eq(rpc.msgid, (uint32_t)i); /* in order, each once */
		if (bh_error_decode(rpc.error, rpc.error_len, &e) == 1) {
			ck_assert_int_eq(e.code, BH_E_OVERLOADED);
			overloaded++;
		} else {
			ck_assert_int_eq(bh_decode(rpc.result, rpc.result_len, &lim, &arena, &v,
						   NULL), 0);
			ck_assert_int_eq(v->type, BH_BIN);
			ck_assert_uint_eq(v->len, (uint64_t)size);
			ok++;
		}
		bh_buf_consume(&b, len);
	}
	ck_assert_uint_eq(b.len, 0);
	b.len = 0;
	bh_write_array(&w, 2);
	bh_write_int(&w, ok);
	bh_write_int(&w, overloaded);
	reply_raw(f, msgid, b.data, b.len);
	bh_arena_done(&arena);
	bh_buf_done(&b);
}

/* Handle one request. Returns false when the connection is to end. */
static bool serve_one(struct fake *f, const uint8_t *msg, size_t len)
{
	struct bh_rpc rpc;
	ck_assert_int_eq(bh_rpc_parse(msg, len, &rpc, NULL), 0);
	ck_assert_int_eq(rpc.type, BH_RPC_REQUEST);
	f->requests++;

	struct bh_limits lim;
	struct bh_arena arena;
	const bh_value *params;
	bh_limits_default(&lim);
	bh_arena_init(&arena);
	ck_assert_int_eq(bh_decode(rpc.params, rpc.params_len, &lim, &arena, &params, NULL), 0);
	const bh_value *p0 = bh_value_at(params, 0);
	char method[64];
	ck_assert_uint_lt(rpc.method_len, sizeof method);
	memcpy(method, rpc.method, rpc.method_len);
	method[rpc.method_len] = '\0';

	bool go_on = true;
	struct bh_buf b;
	struct bh_writer w;
	bh_buf_init(&b, 0);
	bh_writer_init(&w, &b);

	if (strcmp(method, "t.echo") == 0) {
		reply_value(f, rpc.msgid, p0);
	} else if (strcmp(method, "t.error") == 0) {
		int64_t code;
		const char *m;
		size_t ml;
		ck_assert_int_eq(bh_value_get_int(p0, &code), 0);
		ck_assert_int_eq(bh_value_get_str(bh_value_at(params, 1), &m, &ml), 0);
		char text[256];
		snprintf(text, sizeof text, "%.*s", (int)ml, m);
		bh_rpc_write_error(&w, rpc.msgid, (int32_t)code, text);
		send_buf(f, &b);
	} else if (strcmp(method, "t.hold") == 0) {
		if (f->nheld == f->capheld) {
			f->capheld = f->capheld ? 2 * f->capheld : 16;
			f->held = realloc(f->held, f->capheld * sizeof *f->held);
			ck_assert_ptr_nonnull(f->held);
		}
		struct held *h = &f->held[f->nheld++];
		h->msgid = rpc.msgid;
		bh_buf_init(&h->value, 0);
		struct bh_writer hw;
		bh_writer_init(&hw, &h->value);
		if (p0)
			bh_write_value(&hw, p0);
		else
			bh_write_nil(&hw);
	} else if (strcmp(method, "t.release") == 0) {
		size_t n = f->nheld;
		/* Every held answer in one send, then the release's own. */
		while (f->nheld > 0) {
			struct held *h = &f->held[--f->nheld];
			bh_rpc_write_result(&w, h->msgid, h->value.data, h->value.len);
			bh_buf_done(&h->value);
		}
		bh_write_array(&w, 4);
		bh_write_int(&w, 1);
		bh_write_uint(&w, rpc.msgid);
		bh_write_nil(&w);
		bh_write_uint(&w, n);
		ck_assert_int_eq(bh_writer_error(&w), 0);
		send_buf(f, &b);
	} else if (strcmp(method, "t.opts") == 0) {
		if (rpc.options)
			reply_raw(f, rpc.msgid, rpc.options, rpc.options_len);
		else
			reply_value(f, rpc.msgid, NULL);
	} else if (strcmp(method, "t.big") == 0) {
		int64_t n;
		ck_assert_int_eq(bh_value_get_int(p0, &n), 0);
		uint8_t *data = malloc((size_t)n);
		ck_assert_ptr_nonnull(data);
		for (int64_t i = 0; i < n; i++)
			data[i] = (uint8_t)(i * 7 % 251);
		bh_write_bin(&w, data, (size_t)n);
		free(data);
		ck_assert_int_eq(bh_writer_error(&w), 0);
		struct bh_buf m;
		struct bh_writer mw;
		bh_buf_init(&m, 0);
		bh_writer_init(&mw, &m);
		bh_rpc_write_result(&mw, rpc.msgid, b.data, b.len);
		/* Dribble it out so the client sees many partial reads. */
		for (size_t off = 0; off < m.len; off += 100000)
			send_all(f->fd, m.data + off, m.len - off < 100000 ? m.len - off : 100000);
		bh_buf_done(&m);
	} else if (strcmp(method, "t.notify") == 0) {
		bh_rpc_write_notify(&w, "t.event", 7, (const uint8_t *)"\x91\x01", 2);
		send_buf(f, &b);
		reply_value(f, rpc.msgid, p0);
	} else if (strcmp(method, "t.garbage") == 0) {
		send_all(f->fd, "\xc1\xc1\xc1", 3);
	} else if (strcmp(method, "t.badid") == 0) {
		reply_value(f, rpc.msgid ^ 0x5a5a0000u, NULL);
	} else if (strcmp(method, "t.dup") == 0) {
		reply_value(f, rpc.msgid, NULL);
		reply_value(f, rpc.msgid, NULL);
	} else if (strcmp(method, "t.close") == 0) {
		go_on = false;
	} else if (strcmp(method, "t.raw") == 0) {
		reply_raw(f, rpc.msgid, raw_result, sizeof raw_result - 1);
	} else if (strcmp(method, "t.params") == 0) {
		char hex[2 * 256 + 1] = "";
		for (size_t i = 0; i < rpc.params_len && i < 256; i++)
			snprintf(hex + 2 * i, 3, "%02x", rpc.params[i]);
		bh_write_cstr(&w, hex);
		reply_raw(f, rpc.msgid, b.data, b.len);
	} else if (strcmp(method, "t.ask") == 0) {
		ask(f, rpc.msgid, params);
	} else if (strcmp(method, "t.flood") == 0) {
		flood(f, rpc.msgid, params);
	} else if (strcmp(method, "bulkhead.hello") == 0) {
		bool memfd = !f->refuse_hello && bh_value_find(p0, "memfd");
		bh_write_map(&w, memfd ? 2 : 1);
		bh_write_cstr(&w, "enabled");
		if (f->refuse_hello || !p0)
			bh_write_map(&w, 0);
		else
			bh_write_value(&w, p0);
		if (memfd) {
			bh_write_cstr(&w, "options");
			bh_write_map(&w, 1);
			bh_write_cstr(&w, "memfd");
			bh_write_map(&w, 2);
			bh_write_cstr(&w, "threshold");
			bh_write_uint(&w, FAKE_MEMFD_THRESHOLD);
			bh_write_cstr(&w, "max_payload");
			bh_write_uint(&w, FAKE_MAX_PAYLOAD);
		}
		reply_raw(f, rpc.msgid, b.data, b.len);
	} else if (strcmp(method, "bulkhead.status") == 0) {
		const uint8_t *st = status_map(&b);
		reply_raw(f, rpc.msgid, st, b.len);
	} else if (strcmp(method, "bulkhead.version") == 0) {
		bh_write_cstr(&w, "bulkhead 9.9.9");
		reply_raw(f, rpc.msgid, b.data, b.len);
	} else if (strncmp(method, "bulkhead.", 9) == 0) {
		bh_write_map(&w, 2);
		bh_write_cstr(&w, "method");
		bh_write_cstr(&w, method);
		bh_write_cstr(&w, "params");
		bh_write_raw(&w, rpc.params, rpc.params_len);
		reply_raw(f, rpc.msgid, b.data, b.len);
	} else {
		bh_rpc_write_error(&w, rpc.msgid, BH_E_UNKNOWN_METHOD, method);
		send_buf(f, &b);
	}
	bh_buf_done(&b);
	bh_arena_done(&arena);
	return go_on;
}

static void serve_connection(struct fake *f)
{
	struct bh_limits lim;
	bh_limits_default(&lim);
	bh_buf_init(&f->in, 0);
	bool go_on = true;
	while (go_on) {
		ck_assert_int_eq(bh_buf_reserve(&f->in, 65536), 0);
		ssize_t n = recv(f->fd, f->in.data + f->in.len, f->in.cap - f->in.len, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		f->in.len += (size_t)n;
		size_t off = 0;
		struct bh_scan s;
		while (go_on && bh_scan(f->in.data + off, f->in.len - off, &lim, &s) == 0) {
			go_on = serve_one(f, f->in.data + off, s.size);
			off += s.size;
		}
		bh_buf_consume(&f->in, off);
	}
	close(f->fd);
	bh_buf_done(&f->in);
	for (size_t i = 0; i < f->nheld; i++)
		bh_buf_done(&f->held[i].value);
	free(f->held);
	f->held = NULL;
	f->nheld = f->capheld = 0;
}

static void *serve(void *arg)
{
	struct fake *f = arg;
	/* Until fake_stop() shuts the listening socket down, which fails accept(). */
	while ((f->fd = accept4(f->lfd, NULL, NULL, SOCK_CLOEXEC)) >= 0)
		serve_connection(f);
	return NULL;
}

static struct fake *fake_start(void)
{
	struct fake *f = calloc(1, sizeof *f);
	ck_assert_ptr_nonnull(f);
	strcpy(f->dir, "/tmp/bh-client-test-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(f->dir));
	snprintf(f->path, sizeof f->path, "%s/sock", f->dir);

	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	strcpy(sa.sun_path, f->path);
	f->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(f->lfd, 0);
	ck_assert_int_eq(bind(f->lfd, (struct sockaddr *)&sa, sizeof sa), 0);
	ck_assert_int_eq(listen(f->lfd, 4), 0);
	ck_assert_int_eq(pipe2(f->gate, O_CLOEXEC), 0);
	ck_assert_int_eq(pthread_create(&f->thread, NULL, serve, f), 0);
	return f;
}

/* Ends the server thread once the connection it serves, if any, is closed. */
static void fake_stop(struct fake *f)
{
	shutdown(f->lfd, SHUT_RDWR);
	pthread_join(f->thread, NULL);
	close(f->lfd);
	unlink(f->path);
	rmdir(f->dir);
	close(f->gate[0]);
	close(f->gate[1]);
	free(f);
}

static bh_client *connect_to(struct fake *f)
{
	bh_client *c = NULL;
	ck_assert_int_eq(bh_client_connect(f->path, &c), 0);
	ck_assert_ptr_nonnull(c);
	return c;
}

/* ---- reply recording ------------------------------------------------------------ */

struct outcome {
	int calls;      /* how often the callback ran: must end up 1 */
	int order;      /* position among all completions */
	uint32_t msgid;
	bool ok;
	int64_t i;      /* an integer result */
	bh_error err;
};

static int completions;

static void record(void *userdata, uint32_t msgid, const bh_value *result, const bh_error *err)
{
	struct outcome *o = userdata;
	o->calls++;
	o->order = completions++;
	o->msgid = msgid;
	ck_assert((result == NULL) != (err == NULL));
	o->ok = result != NULL;
	if (result) {
		o->i = -1;
		(void)bh_value_get_int(result, &o->i);
	} else {
		o->err = *err;
	}
}

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A lent bin on a memfd client whose params end up over the payload ceiling: its
 * bytes are put in place at the call (read then, not at the write) and the params go
 * inline, the values around the bin intact. */
START_TEST(test_lent_bin_inline)
{
	struct fake *f = fake_start();
	bh_client *c = connect_to(f);
	bh_error err;
	ck_assert_int_eq(bh_client_use_memfd(c, 0, 5000, &err), 0);
	enum { LEN = FAKE_MAX_PAYLOAD - 10 }; /* with the rest: over FAKE_MAX_PAYLOAD */
	uint8_t *blob = malloc(LEN);
	ck_assert_ptr_nonnull(blob);
	memset(blob, 0x5a, LEN);
	bh_writer *w = bh_client_params(c);
	bh_write_array(w, 1);
	bh_write_array(w, 3);
	ck_assert_int_eq(bh_client_write_bin_lent(c, blob, LEN), 0);
	bh_write_cstr(w, "tail");
	bh_write_int(w, 7);
	blob[0] = 0xab;
	bh_result *res = NULL;
	ck_assert_int_eq(bh_call(c, "t.echo", 0, &res, &err), 0);
	const bh_value *v = bh_result_value(res);
	const uint8_t *bin;
	size_t n;
	int64_t i;
	ck_assert(v->type == BH_ARRAY && v->len == 3);
	ck_assert_int_eq(bh_value_get_bin(bh_value_at(v, 0), &bin, &n), 0);
	ck_assert_uint_eq(n, LEN);
	ck_assert(bin[0] == 0xab && bin[1] == 0x5a && bin[LEN - 1] == 0x5a);
	ck_assert(bh_value_str_eq(bh_value_at(v, 1), "tail"));
	ck_assert(bh_value_get_int(bh_value_at(v, 2), &i) == 0 && i == 7);
	bh_result_free(res);

	/* The next call's params owe nothing to it. */
	w = bh_client_params(c);
	bh_write_array(w, 1);
	bh_write_cstr(w, "next");
	ck_assert_int_eq(bh_call(c, "t.echo", 0, &res, &err), 0);
	ck_assert(bh_value_str_eq(bh_result_value(res), "next"));
	bh_result_free(res);
	free(blob);
	bh_client_free(c);
	fake_stop(f);
}
END_TEST

/* ---- tests -------------------------------------------------------------------------- */

START_TEST(test_sync_echo)
{
	struct fake *f = fake_start();
	bh_client *c = connect_to(f);
	bh_writer *w = bh_client_params(c);
	static const uint8_t blob[] = { 0, 1, 2, 0xff };

	/* [[ "hello", 42, -7, 3.5, true, nil, bin, {"k": [1, 2]}, 2^64-1 ]] */
	bh_write_array(w, 1);
	bh_write_array(w, 9);
	bh_write_cstr(w, "hello");
	bh_write_int(w, 42);
	bh_write_int(w, -7);
	bh_write_float(w, 3.5);
	bh_write_bool(w, true);
	bh_write_nil(w);
	bh_write_bin(w, blob, sizeof blob);
	bh_write_map(w, 1);
	bh_write_cstr(w, "k");
	bh_write_array(w, 2);
	bh_write_int(w, 1);
	bh_write_int(w, 2);
	bh_write_uint(w, UINT64_MAX);
	ck_assert_int_eq(bh_writer_error(w), 0);

	bh_result *res = NULL;
	bh_error err;
	ck_assert_int_eq(bh_call(c, "t.echo", 0, &res, &err), 0);
	ck_assert_int_eq(err.code, BH_OK);
	const bh_value *v = bh_result_value(res);
	ck_assert_int_eq(v->type, BH_ARRAY);
	ck_assert_uint_eq(v->len, 9);
	ck_assert(bh_value_str_eq(bh_value_at(v, 0), "hello"));
	int64_t i;
	ck_assert_int_eq(bh_value_get_int(bh_value_at(v, 1), &i), 0);
	ck_assert_int_eq(i, 42);
	ck_assert_int_eq(bh_value_get_int(bh_value_at(v, 2), &i), 0);
	ck_assert_int_eq(i, -7);
	double d;
	ck_assert_int_eq(bh_value_get_float(bh_value_at(v, 3), &d), 0);
	ck_assert(d == 3.5);
	ck_assert_int_eq(bh_value_at(v, 4)->type, BH_BOOL);
	ck_assert_int_eq(bh_value_at(v, 5)->type, BH_NIL);
	const uint8_t *bin;
	size_t binlen;
	ck_assert_int_eq(bh_value_get_bin(bh_value_at(v, 6), &bin, &binlen), 0);
	ck_assert_uint_eq(binlen, sizeof blob);
	ck_assert_mem_eq(bin, blob, sizeof blob);
	const bh_value *k = bh_value_find(bh_value_at(v, 7), "k");
	ck_assert_ptr_nonnull(k);
	ck_assert_uint_eq(k->len, 2);
	uint64_t u;
	ck_assert_int_eq(bh_value_get_uint(bh_value_at(v, 8), &u), 0);
	ck_assert(u == UINT64_MAX);

	/* Results are independent of the client and of each other. */
	bh_result *res2 = NULL;
	bh_write_array(w, 1);
	bh_write_cstr(w, "second");
	ck_assert_int_eq(bh_call(c, "t.echo", 0, &res2, &err), 0);
	ck_assert(bh_value_str_eq(bh_result_value(res2), "second"));
	ck_assert(bh_value_str_eq(bh_value_at(bh_result_value(res), 0), "hello"));

	/* No params means an empty array: echo of nothing is nil. ret may be NULL. */
	bh_result *res3 = NULL;
	ck_assert_int_eq(bh_call(c, "t.echo", 0, &res3, &err), 0);
	ck_assert_int_eq(bh_result_value(res3)->type, BH_NIL);
	ck_assert_int_eq(bh_call(c, "t.echo", 0, NULL, NULL), 0);

	bh_client_free(c);
	ck_assert_int_eq(bh_value_at(bh_result_value(res), 1)->as.i, 42); /* outlives c */
	bh_result_free(res);
	bh_result_free(res2);
	bh_result_free(res3);
	bh_result_free(NULL);
	fake_stop(f);
}
END_TEST

START_TEST(test_sync_errors)
{
	struct fake *f = fake_start();
	bh_client *c = connect_to(f);
	bh_writer *w = bh_client_params(c);
	bh_error err;
	bh_result *res = (bh_result *)&err; /* must stay untouched on failure */

	bh_write_array(w, 2);
	bh_write_int(w, BH_E_PLUGIN_ERROR);
	bh_write_cstr(w, "boom");
	ck_assert_int_eq(bh_call(c, "t.error", 0, &res, &err), -BH_E_PLUGIN_ERROR);
	ck_assert_int_eq(err.code, BH_E_PLUGIN_ERROR);
	ck_assert_str_eq(err.message, "boom");
	ck_assert_ptr_eq(res, (bh_result *)&err);

	bh_write_array(w, 2);
	bh_write_int(w, 1234);
	bh_write_cstr(w, "application says no");
	ck_assert_int_eq(bh_call(c, "t.error", 0, NULL, &err), -1234);
	ck_assert_int_eq(err.code, 1234);

	ck_assert_int_eq(bh_call(c, "t.nosuch", 0, NULL, &err), -BH_E_UNKNOWN_METHOD);
	ck_assert_str_eq(err.message, "t.nosuch");

	/* Params that are not exactly one array: refused locally, builder reset. */
	bh_write_int(w, 1);
	ck_assert_int_eq(bh_call(c, "t.echo", 0, NULL, &err), -EINVAL);
	ck_assert_int_eq(err.code, BH_E_UNAVAILABLE);
	bh_write_array(w, 0);
	bh_write_array(w, 0);
	ck_assert_int_eq(bh_call(c, "t.echo", 0, NULL, &err), -EINVAL);
	ck_assert_int_eq(bh_call(c, "", 0, NULL, &err), -EINVAL);
	ck_assert_int_eq(bh_call(c, "t.echo", 0, NULL, &err), 0);

	/* A notification before the reply is skipped. */
	bh_write_array(w, 1);
	bh_write_int(w, 5);
	ck_assert_int_eq(bh_call(c, "t.notify", 0, &res, &err), 0);
	ck_assert_int_eq(bh_result_value(res)->as.i, 5);
	bh_result_free(res);

	bh_client_free(c);
	fake_stop(f);
}
END_TEST

#define NPIPE 64

START_TEST(test_async_out_of_order)
{
	struct fake *f = fake_start();
	bh_client *c = connect_to(f);
	struct outcome o[NPIPE] = { 0 };
	uint32_t ids[NPIPE];
	completions = 0;

	for (int i = 0; i < NPIPE; i++) {
		bh_writer *w = bh_client_params(c);
		bh_write_array(w, 1);
		bh_write_int(w, 1000 + i);
		ck_assert_int_eq(bh_call_start(c, "t.hold", 0, record, &o[i], &ids[i]), 0);
	}
	ck_assert_uint_eq(bh_client_pending(c), NPIPE);
	ck_assert_int_eq(bh_client_next_timeout(c), -1);

	/* The release answers the held calls last-first; bh_call delivers them to their
	 * callbacks while it waits for its own answer. */
	bh_result *res;
	ck_assert_int_eq(bh_call(c, "t.release", 0, &res, NULL), 0);
	ck_assert_int_eq(bh_result_value(res)->as.i, NPIPE);
	bh_result_free(res);
	ck_assert_uint_eq(bh_client_pending(c), 0);
	for (int i = 0; i < NPIPE; i++) {
		ck_assert_int_eq(o[i].calls, 1);
		ck_assert(o[i].ok);
		ck_assert_int_eq(o[i].i, 1000 + i);
		ck_assert_uint_eq(o[i].msgid, ids[i]);
		ck_assert_int_eq(o[i].order, NPIPE - 1 - i);
	}

	bh_client_free(c);
	fake_stop(f);
}
END_TEST

/* A caller's own event loop: poll on the fd with the client's interest and timeout. */
static void run_loop(bh_client *c)
{
	while (bh_client_pending(c) > 0) {
		struct pollfd p = { .fd = bh_client_fd(c), .events = POLLIN };
		if (bh_client_want_write(c))
			p.events |= POLLOUT;
		int n = poll(&p, 1, bh_client_next_timeout(c));
		ck_assert_int_ge(n, 0);
		ck_assert_int_eq(bh_client_step(c), 0);
	}
}

struct chain {
	bh_client *c;
	struct outcome first, second;
	int call_rc;
};

/* A callback may start calls, but not block in bh_call. */
static void chain_cb(void *userdata, uint32_t msgid, const bh_value *result, const bh_error *err)
{
	struct chain *ch = userdata;
	record(&ch->first, msgid, result, err);
	bh_error e;
	ch->call_rc = bh_call(ch->c, "t.echo", 0, NULL, &e);
	ck_assert_int_eq(bh_client_step(ch->c), -EDEADLK);
	bh_writer *w = bh_client_params(ch->c);
	bh_write_array(w, 1);
	bh_write_int(w, 77);
	ck_assert_int_eq(bh_call_start(ch->c, "t.echo", 0, record, &ch->second, NULL), 0);
}

START_TEST(test_async_event_loop)
{
	struct fake *f = fake_start();
	bh_client *c = connect_to(f);
	struct outcome o[NPIPE] = { 0 };
	completions = 0;

	/* Params big enough that the requests outgrow the socket buffer: the loop has to
	 * wait for POLLOUT while the server reads. */
	static char big[64 * 1024];
	memset(big, 'x', sizeof big);
	for (int i = 0; i < NPIPE; i++) {
		bh_writer *w = bh_client_params(c);
		bh_write_array(w, 2);
		bh_write_int(w, i);
		bh_write_str(w, big, sizeof big);
		ck_assert_int_eq(bh_call_start(c, "t.echo", 0, record, &o[i], NULL), 0);
	}
	run_loop(c);
	for (int i = 0; i < NPIPE; i++) {
		ck_assert_int_eq(o[i].calls, 1);
		ck_assert_int_eq(o[i].i, i);
		ck_assert_int_eq(o[i].order, i);
	}

	struct chain ch = { .c = c };
	ck_assert_int_eq(bh_call_start(c, "t.echo", 0, chain_cb, &ch, NULL), 0);
	ck_assert_int_eq(bh_client_wait_all(c, -1), 0);
	ck_assert_int_eq(ch.first.calls, 1);
	ck_assert_int_eq(ch.call_rc, -EDEADLK);
	ck_assert_int_eq(ch.second.calls, 1);
	ck_assert_int_eq(ch.second.i, 77);

	bh_client_free(c);
	fake_stop(f);
}
END_TEST

START_TEST(test_local_timeout)
{
	struct fake *f = fake_start();
	bh_client *c = connect_to(f);
	bh_error err;
	bh_result *res;

	/* The deadline travels as the fifth element. */
	ck_assert_int_eq(bh_call(c, "t.opts", 1234, &res, &err), 0);
	int64_t t;
	ck_assert_int_eq(bh_value_get_int(bh_value_find(bh_result_value(res), "timeout_ms"), &t), 0);
	ck_assert_int_eq(t, 1234);
	bh_result_free(res);
	ck_assert_int_eq(bh_call(c, "t.opts", 0, &res, &err), 0);
	ck_assert_int_eq(bh_result_value(res)->type, BH_NIL);
	bh_result_free(res);

	/* Held by the server: the local deadline answers. */
	int64_t t0 = mono_ms();
	ck_assert_int_eq(bh_call(c, "t.hold", 50, NULL, &err), -BH_E_TIMEOUT);
	ck_assert_int_ge(mono_ms() - t0, 50);
	ck_assert_int_eq(err.code, BH_E_TIMEOUT);
	ck_assert_str_eq(err.message, "no answer within 50 ms");

	/* Same for an async call, through wait_all. */
	struct outcome o = { 0 };
	ck_assert_int_eq(bh_call_start(c, "t.hold", 30, record, &o, NULL), 0);
	ck_assert_int_ge(bh_client_next_timeout(c), 0);
	ck_assert_int_le(bh_client_next_timeout(c), 30);
	ck_assert_int_eq(bh_client_wait_all(c, -1), 0);
	ck_assert_int_eq(o.calls, 1);
	ck_assert_int_eq(o.err.code, BH_E_TIMEOUT);
	ck_assert_uint_eq(bh_client_pending(c), 0);

	/* wait_all's own limit. */
	struct outcome o2 = { 0 };
	ck_assert_int_eq(bh_call_start(c, "t.hold", 0, record, &o2, NULL), 0);
	ck_assert_int_eq(bh_client_wait_all(c, 20), -ETIMEDOUT);
	ck_assert_int_eq(o2.calls, 0);

	/* The late answers to both timed-out calls arrive before the release's: they are
	 * dropped, not a protocol error, and o2 completes normally. */
	ck_assert_int_eq(bh_call(c, "t.release", 0, &res, &err), 0);
	ck_assert_int_eq(bh_result_value(res)->as.i, 3);
	bh_result_free(res);
	ck_assert_int_eq(o.calls, 1);
	ck_assert_int_eq(o2.calls, 1);
	ck_assert(o2.ok);
	ck_assert_int_eq(bh_call(c, "t.echo", 0, NULL, &err), 0);

	bh_client_free(c);
	fake_stop(f);
}
END_TEST

START_TEST(test_connection_break)
{
	struct fake *f = fake_start();
	bh_client *c = connect_to(f);
	struct outcome o[5] = { 0 };
	bh_error err;

	for (int i = 0; i < 5; i++)
		ck_assert_int_eq(bh_call_start(c, "t.hold", i == 0 ? 60000 : 0, record, &o[i],
					       NULL), 0);
	int rc = bh_call(c, "t.close", 0, NULL, &err);
	ck_assert_int_lt(rc, 0);
	ck_assert_int_ne(rc, -err.code); /* local, not a remote "unavailable" */
	ck_assert_int_eq(err.code, BH_E_UNAVAILABLE);
	for (int i = 0; i < 5; i++) {
		ck_assert_int_eq(o[i].calls, 1);
		ck_assert(!o[i].ok);
		ck_assert_int_eq(o[i].err.code, BH_E_UNAVAILABLE);
	}
	ck_assert_uint_eq(bh_client_pending(c), 0);
	ck_assert_int_eq(bh_client_next_timeout(c), -1);

	/* Everything after fails at once. */
	ck_assert_int_eq(bh_client_step(c), rc);
	ck_assert_int_eq(bh_call(c, "t.echo", 0, NULL, &err), rc);
	ck_assert_int_eq(err.code, BH_E_UNAVAILABLE);
	struct outcome late = { 0 };
	ck_assert_int_eq(bh_call_start(c, "t.echo", 0, record, &late, NULL), rc);
	bh_client_free(c);
	ck_assert_int_eq(late.calls, 0);
	fake_stop(f);
}
END_TEST

START_TEST(test_free_fails_pending)
{
	struct fake *f = fake_start();
	bh_client *c = connect_to(f);
	struct outcome o[3] = { 0 };
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(bh_call_start(c, "t.hold", 0, record, &o[i], NULL), 0);
	ck_assert_int_eq(bh_call(c, "t.echo", 0, NULL, NULL), 0); /* server has them all */
	bh_client_free(c);
	for (int i = 0; i < 3; i++) {
		ck_assert_int_eq(o[i].calls, 1);
		ck_assert_int_eq(o[i].err.code, BH_E_UNAVAILABLE);
		ck_assert_str_eq(o[i].err.message, "connection closed");
	}
	fake_stop(f);
}
END_TEST

static void protocol_case(const char *method)
{
	struct fake *f = fake_start();
	bh_client *c = connect_to(f);
	struct outcome o[3] = { 0 };
	bh_error err;
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(bh_call_start(c, "t.hold", 0, record, &o[i], NULL), 0);
	ck_assert_int_eq(bh_call(c, method, 0, NULL, &err), -EPROTO);
	ck_assert_int_eq(err.code, BH_E_PROTOCOL);
	ck_assert_ptr_nonnull(strstr(err.message, "protocol"));
	for (int i = 0; i < 3; i++) {
		ck_assert_int_eq(o[i].calls, 1);
		ck_assert_int_eq(o[i].err.code, BH_E_PROTOCOL);
	}
	ck_assert_int_eq(bh_client_step(c), -EPROTO);
	ck_assert_int_eq(bh_call(c, "t.echo", 0, NULL, &err), -EPROTO);
	bh_client_free(c);
	fake_stop(f);
}

START_TEST(test_garbage)
{
	protocol_case("t.garbage");
}
END_TEST

START_TEST(test_unknown_msgid)
{
	protocol_case("t.badid");
}
END_TEST

START_TEST(test_duplicate_reply)
{
	/* The first answer completes t.dup; the second is for a msgid no longer known. */
	struct fake *f = fake_start();
	bh_client *c = connect_to(f);
	bh_error err;
	ck_assert_int_eq(bh_call(c, "t.dup", 0, NULL, &err), 0);
	ck_assert_int_eq(bh_call(c, "t.echo", 0, NULL, &err), -EPROTO);
	ck_assert_int_eq(err.code, BH_E_PROTOCOL);
	bh_client_free(c);
	fake_stop(f);
}
END_TEST

START_TEST(test_big_reply)
{
	struct fake *f = fake_start();
	bh_client *c = connect_to(f);
	const int64_t n = 6 * 1024 * 1024 + 17;
	bh_writer *w = bh_client_params(c);
	bh_write_array(w, 1);
	bh_write_int(w, n);
	bh_result *res;
	bh_error err;
	ck_assert_int_eq(bh_call(c, "t.big", 0, &res, &err), 0);
	const uint8_t *bin;
	size_t len;
	ck_assert_int_eq(bh_value_get_bin(bh_result_value(res), &bin, &len), 0);
	ck_assert_uint_eq(len, (size_t)n);
	for (int64_t i = 0; i < n; i += 4099)
		ck_assert_uint_eq(bin[i], (uint8_t)(i * 7 % 251));
	ck_assert_uint_eq(bin[n - 1], (uint8_t)((n - 1) * 7 % 251));
	bh_result_free(res);

	/* A big request: sent in pieces from the poll loop while the server reads. */
	size_t big = 3 * 1024 * 1024;
	char *s = malloc(big);
	ck_assert_ptr_nonnull(s);
	memset(s, 'q', big);
	bh_write_array(w, 1);
	bh_write_str(w, s, big);
	free(s);
	ck_assert_int_eq(bh_call(c, "t.echo", 0, &res, &err), 0);
	ck_assert_uint_eq(bh_result_value(res)->len, big);
	bh_result_free(res);

	bh_client_free(c);
	fake_stop(f);
}
END_TEST

/* Steps c until the peer end `server` has nothing left unread: each step reads what
 * the socket holds, so the client sees the bytes in exactly the pieces written. */
static void step_until_read(bh_client *c, int server)
{
	for (;;) {
		int unread = -1;
		ck_assert_int_eq(ioctl(server, SIOCOUTQ, &unread), 0);
		if (unread == 0)
			return;
		ck_assert_int_eq(bh_client_step(c), 0);
	}
}

/* A response whose last piece fills the receive buffer's free room exactly, after more
 * than 64 KiB of it arrived, is delivered at once: the pieces of 65536 + 65536 + 10000 +
 * 121072 bytes leave the 262144-byte buffer full, and nothing else will ever arrive. */
START_TEST(test_reply_fills_buffer)
{
	char dir[] = "/tmp/bh-client-test-XXXXXX", path[64];
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof path, "%s/sock", dir);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	strcpy(sa.sun_path, path);
	int lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(lfd, 0);
	ck_assert_int_eq(bind(lfd, (struct sockaddr *)&sa, sizeof sa), 0);
	ck_assert_int_eq(listen(lfd, 1), 0);
	bh_client *c = NULL;
	ck_assert_int_eq(bh_client_connect(path, &c), 0);
	int server = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	ck_assert_int_ge(server, 0);

	struct outcome o = { 0 };
	uint32_t msgid;
	ck_assert_int_eq(bh_call_start(c, "t.x", 0, record, &o, &msgid), 0);
	uint8_t req[256];
	ck_assert_int_gt(recv(server, req, sizeof req, 0), 0);

	/* [1, msgid, nil, bin] of 262144 bytes in all. */
	const size_t total = 262144, pieces[] = { 65536, 65536, 10000, 121072 };
	struct bh_buf m;
	struct bh_writer w;
	bh_buf_init(&m, 0);
	bh_writer_init(&w, &m);
	bh_write_array(&w, 4);
	bh_write_int(&w, BH_RPC_RESPONSE);
	bh_write_uint(&w, msgid);
	bh_write_nil(&w);
	size_t n = total - m.len - 5; /* bin 32 head */
	uint8_t *bin = calloc(1, n);
	ck_assert_ptr_nonnull(bin);
	bh_write_bin(&w, bin, n);
	ck_assert_int_eq(bh_writer_error(&w), 0);
	ck_assert_uint_eq(m.len, total);
	free(bin);

	size_t off = 0;
	for (size_t i = 0; i < sizeof pieces / sizeof pieces[0]; i++) {
		ck_assert_int_eq(send(server, m.data + off, pieces[i], 0), (ssize_t)pieces[i]);
		off += pieces[i];
		step_until_read(c, server);
	}
	ck_assert_uint_eq(off, total);
	ck_assert_msg(o.calls == 1, "the complete response was not delivered");
	ck_assert(o.ok);

	bh_buf_done(&m);
	bh_client_free(c);
	close(server);
	close(lfd);
	unlink(path);
	rmdir(dir);
}
END_TEST

START_TEST(test_too_many_pending)
{
	struct fake *f = fake_start();
	bh_client *c = connect_to(f);
	static struct outcome o[65536 + 1];
	completions = 0;
	int i, r = 0;
	for (i = 0; i <= 65536; i++) {
		r = bh_call_start(c, "t.hold", 0, record, &o[i], NULL);
		if (r < 0)
			break;
		if (i % 1024 == 0)
			ck_assert_int_eq(bh_client_step(c), 0); /* keep the socket moving */
	}
	ck_assert_int_eq(r, -ENOBUFS);
	ck_assert_int_eq(i, 65536);
	ck_assert_uint_eq(bh_client_pending(c), 65536);
	bh_client_free(c);
	ck_assert_int_eq(completions, 65536);
	ck_assert_int_eq(o[65535].err.code, BH_E_UNAVAILABLE);
	ck_assert_int_eq(o[65536].calls, 0);
	fake_stop(f);
}
END_TEST

START_TEST(test_connect_errors)
{
	bh_client *c = (bh_client *)&c;
	char dir[] = "/tmp/bh-client-test-XXXXXX";
	ck_assert_ptr_nonnull(mkdtemp(dir));
	char path[128];
	snprintf(path, sizeof path, "%s/sock", dir);

	ck_assert_int_eq(bh_client_connect(path, &c), -ENOENT);
	ck_assert_ptr_eq(c, (bh_client *)&c); /* untouched */

	/* A socket nobody listens on. */
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	strcpy(sa.sun_path, path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
	ck_assert_int_eq(bh_client_connect(path, &c), -ECONNREFUSED);
	close(fd);
	unlink(path);
	rmdir(dir);

	char long_path[200];
	memset(long_path, 'a', sizeof long_path - 1);
	long_path[sizeof long_path - 1] = '\0';
	ck_assert_int_eq(bh_client_connect(long_path, &c), -ENAMETOOLONG);
	ck_assert_int_eq(bh_client_connect("", &c), -EINVAL);

	setenv(BH_SOCKET_ENV, "/x/y.sock", 1);
	ck_assert_str_eq(bh_default_socket(), "/x/y.sock");
	setenv(BH_SOCKET_ENV, "", 1);
	ck_assert_str_eq(bh_default_socket(), BH_DEFAULT_SOCKET);
	unsetenv(BH_SOCKET_ENV);
	ck_assert_str_eq(bh_default_socket(), BH_DEFAULT_SOCKET);
	bh_client_free(NULL);
}
END_TEST


/* ---- the CLI ---------------------------------------------------------------------------- */

#ifdef BH_CLI_PATH

struct cli_run {
	int status;
	char out[16384];
	char err[4096];
};

static void slurp(int fd, char *buf, size_t cap)
{
	size_t len = 0;
	ssize_t n;
	lseek(fd, 0, SEEK_SET);
	while (len < cap - 1 && (n = read(fd, buf + len, cap - 1 - len)) > 0)
		len += (size_t)n;
	buf[len] = '\0';
	close(fd);
}

/* Run `bulkhead ARGS...` (NULL-terminated) with stdout and stderr captured. */
static void run_cli(struct cli_run *r, ...)
{
	char *argv[32] = { "bulkhead" };
	int argc = 1;
	va_list ap;
	va_start(ap, r);
	while (argc < 31 && (argv[argc] = va_arg(ap, char *)))
		argc++;
	va_end(ap);
	argv[argc] = NULL;

	char outp[] = "/tmp/bh-cli-out-XXXXXX", errp[] = "/tmp/bh-cli-err-XXXXXX";
	int ofd = mkstemp(outp), efd = mkstemp(errp);
	ck_assert_int_ge(ofd, 0);
	ck_assert_int_ge(efd, 0);
	unlink(outp);
	unlink(errp);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		dup2(ofd, STDOUT_FILENO);
		dup2(efd, STDERR_FILENO);
		unsetenv(BH_SOCKET_ENV);
		execv(BH_CLI_PATH, argv);
		_exit(127);
	}
	int st;
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert_msg(WIFEXITED(st), "bulkhead died with status %#x", st);
	r->status = WEXITSTATUS(st);
	slurp(ofd, r->out, sizeof r->out);
	slurp(efd, r->err, sizeof r->err);
}

START_TEST(test_cli_call)
{
	struct fake *f = fake_start();
	struct cli_run r;

	run_cli(&r, "-s", f->path, "call", "t.echo", "[{\"a\": [1, 2.5, \"x\", null, true]}]", NULL);
	ck_assert_msg(r.status == 0, "status %d: %s", r.status, r.err);
	ck_assert_str_eq(r.out, "{\"a\":[1,2.5,\"x\",null,true]}\n");
	ck_assert_str_eq(r.err, "");

	/* Output mapping: every awkward MessagePack value, exactly. */
	run_cli(&r, "call", "--socket", f->path, "t.raw", NULL);
	ck_assert_int_eq(r.status, 0);
	ck_assert_str_eq(r.out, raw_result_json);

	/* ... and reading that JSON back gives the same value. */
	char args[1024];
	snprintf(args, sizeof args, "[%.*s]", (int)strlen(raw_result_json) - 1, raw_result_json);
	run_cli(&r, "-s", f->path, "call", "t.echo", args, NULL);
	ck_assert_int_eq(r.status, 0);
	ck_assert_str_eq(r.out, raw_result_json);

	run_cli(&r, "-s", f->path, "call", "--pretty", "t.echo", "[{\"a\": [1, {}], \"b\": []}]", NULL);
	ck_assert_int_eq(r.status, 0);
	ck_assert_str_eq(r.out, "{\n  \"a\": [\n    1,\n    {}\n  ],\n  \"b\": []\n}\n");

	/* Floats: the fewest digits that read back, always recognisable as floats. */
	run_cli(&r, "-s", f->path, "call", "t.echo",
		"[[0.1, 0.30000000000000004, 100.0, 1e300, 5e-324, -0.0]]", NULL);
	ck_assert_int_eq(r.status, 0);
	ck_assert_str_eq(r.out, "[0.1,0.30000000000000004,100.0,1e+300,5e-324,-0.0]\n");

	run_cli(&r, "-s", f->path, "-t", "250", "call", "t.opts", NULL);
	ck_assert_int_eq(r.status, 0);
	ck_assert_str_eq(r.out, "{\"timeout_ms\":250}\n");
	fake_stop(f);
}
END_TEST

START_TEST(test_cli_input_mapping)
{
	struct fake *f = fake_start();
	struct cli_run r;
	run_cli(&r, "-s", f->path, "call", "t.params",
		"[1, -1, 2.5, \"s\", null, true, {\"$bin\": \"aGk=\"}, {\"$ext\": -128, \"data\": \"AQI\"},"
		" {\"$uint\": \"18446744073709551615\"}, {\"$float\": \"-inf\"},"
		" {\"$map\": [[1, \"a\"], [\"a\", 1], [\"a\", 2]]}, {\"$str\": \"/w==\"}, {\"$foo\": 1},"
		" {\"k\": []}, \"\\u0000\"]", NULL);
	ck_assert_msg(r.status == 0, "status %d: %s", r.status, r.err);

	struct bh_buf b;
	struct bh_writer w;
	bh_buf_init(&b, 0);
	bh_writer_init(&w, &b);
	bh_write_array(&w, 15);
	bh_write_int(&w, 1);
	bh_write_int(&w, -1);
	bh_write_float(&w, 2.5);
	bh_write_cstr(&w, "s");
	bh_write_nil(&w);
	bh_write_bool(&w, true);
	bh_write_bin(&w, "hi", 2);
	bh_write_ext(&w, -128, "\x01\x02", 2);
	bh_write_uint(&w, UINT64_MAX);
	bh_write_float(&w, -INFINITY);
	bh_write_map(&w, 3);
	bh_write_int(&w, 1);
	bh_write_cstr(&w, "a");
	bh_write_cstr(&w, "a");
	bh_write_int(&w, 1);
	bh_write_cstr(&w, "a");
	bh_write_int(&w, 2);
	bh_write_str(&w, "\xff", 1);
	bh_write_map(&w, 1);
	bh_write_cstr(&w, "$foo");
	bh_write_int(&w, 1);
	bh_write_map(&w, 1);
	bh_write_cstr(&w, "k");
	bh_write_array(&w, 0);
	bh_write_str(&w, "", 1);
	ck_assert_int_eq(bh_writer_error(&w), 0);
	char want[1024] = "\"";
	for (size_t i = 0; i < b.len; i++)
		snprintf(want + 1 + 2 * i, 3, "%02x", b.data[i]);
	strcat(want, "\"\n");
	bh_buf_done(&b);
	ck_assert_str_eq(r.out, want);

	/* Wrappers with the wrong insides are errors, not maps. */
	run_cli(&r, "-s", f->path, "call", "t.params", "[{\"k\": [{\"$bin\": \"@@\"}]}]", NULL);
	ck_assert_int_eq(r.status, 2);
	ck_assert_str_eq(r.err, "error: invalid JSON arguments at [0].k[0]: $bin: invalid base64\n"
				"usage: bulkhead call [--pretty] PLUGIN.METHOD [JSON-ARRAY]\n"
				"Try 'bulkhead call --help'.\n");
	fake_stop(f);
}
END_TEST

START_TEST(test_cli_errors)
{
	struct fake *f = fake_start();
	struct cli_run r;

	run_cli(&r, "-s", f->path, "call", "t.error", "[7, \"boom\"]", NULL);
	ck_assert_int_eq(r.status, 1);
	ck_assert_str_eq(r.out, "");
	ck_assert_str_eq(r.err, "error: plugin_error (7): boom\n");

	run_cli(&r, "-s", f->path, "call", "t.error", "[1001, \"custom\"]", NULL);
	ck_assert_int_eq(r.status, 1);
	ck_assert_str_eq(r.err, "error: application (1001): custom\n");

	run_cli(&r, "-s", f->path, "call", "t.close", NULL);
	ck_assert_int_eq(r.status, 3);
	ck_assert_str_eq(r.err, "error: unavailable (9): the daemon closed the connection\n");

	run_cli(&r, "-s", f->path, "call", "t.garbage", NULL);
	ck_assert_int_eq(r.status, 3);
	ck_assert_ptr_nonnull(strstr(r.err, "error: protocol (14): "));

	/* Unreachable. */
	char nowhere[200];
	snprintf(nowhere, sizeof nowhere, "%s/none", f->dir);
	run_cli(&r, "-s", nowhere, "status", NULL);
	ck_assert_int_eq(r.status, 3);
	char want[300];
	snprintf(want, sizeof want,
		 "error: unavailable (9): cannot connect to %s: No such file or directory\n", nowhere);
	ck_assert_str_eq(r.err, want);
	fake_stop(f);
}
END_TEST

START_TEST(test_cli_usage)
{
	struct cli_run r;
	/* None of these reaches a daemon: there is none. */
	run_cli(&r, "-s", "/nonexistent/sock", "call", "a.b", "[1,", NULL);
	ck_assert_int_eq(r.status, 2);
	ck_assert_str_eq(r.err, "error: invalid JSON arguments at line 1, column 3: "
				"']' expected near end of file\n"
				"usage: bulkhead call [--pretty] PLUGIN.METHOD [JSON-ARRAY]\n"
				"Try 'bulkhead call --help'.\n");
	run_cli(&r, "call", "a.b", "{\"x\": 1}", NULL);
	ck_assert_int_eq(r.status, 2);
	run_cli(&r, "call", "ab", NULL);
	ck_assert_int_eq(r.status, 2);
	run_cli(&r, "call", NULL);
	ck_assert_int_eq(r.status, 2);
	run_cli(&r, NULL);
	ck_assert_int_eq(r.status, 2);
	ck_assert_ptr_nonnull(strstr(r.err, "usage: bulkhead"));
	run_cli(&r, "frobnicate", NULL);
	ck_assert_int_eq(r.status, 2);
	run_cli(&r, "--frob", "status", NULL);
	ck_assert_int_eq(r.status, 2);
	run_cli(&r, "-t", "soon", "status", NULL);
	ck_assert_int_eq(r.status, 2);
	run_cli(&r, "status", "one", "two", NULL);
	ck_assert_int_eq(r.status, 2);
	run_cli(&r, "call", "--watch", "x.y", NULL);
	ck_assert_int_eq(r.status, 2);
	run_cli(&r, "load", "x", "--canary", "5", "y.so", NULL);
	ck_assert_int_eq(r.status, 2);
	run_cli(&r, "swap", "x", "--canary", "101", NULL);
	ck_assert_int_eq(r.status, 2);

	run_cli(&r, "--help", NULL);
	ck_assert_int_eq(r.status, 0);
	ck_assert_int_eq(strncmp(r.out, "usage: bulkhead ", 16), 0);
	const char *cmds[] = { "status", "call", "load", "unload", "swap", "promote", "rollback",
			       "version", "help" };
	for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
		char want[64];
		run_cli(&r, cmds[i], "--help", NULL);
		ck_assert_int_eq(r.status, 0);
		snprintf(want, sizeof want, "usage: bulkhead %s", cmds[i]);
		ck_assert_int_eq(strncmp(r.out, want, strlen(want)), 0);
		ck_assert_ptr_nonnull(strstr(r.out, "--socket"));
	}
	run_cli(&r, "help", "swap", NULL);
	ck_assert_int_eq(r.status, 0);
	ck_assert_ptr_nonnull(strstr(r.out, "--canary PCT"));
}
END_TEST

START_TEST(test_cli_status)
{
	struct fake *f = fake_start();
	struct cli_run r;
	run_cli(&r, "-s", f->path, "status", NULL);
	ck_assert_msg(r.status == 0, "status %d: %s", r.status, r.err);
	/* One line per plugin; the daemon's other figures are in --json. */
	ck_assert_str_eq(r.out,
		"bulkheadd 9.9.9, pid 4242, up 2h03m\n"
		"\n"
		"PLUGIN       STATE    GEN  INSTANCES  CALLS  ERRORS  RESTARTS  LAST EXIT\n"
		"echo\\x1b[2J  running  2    1          1234   3       1         killed by SIGSEGV \\u202e\\u009b\n");

	run_cli(&r, "-s", f->path, "status", "echo\x1b[2J", NULL);
	ck_assert_msg(r.status == 0, "status %d: %s", r.status, r.err);
	ck_assert_str_eq(r.out,
		"bulkheadd 9.9.9, pid 4242, up 2h03m\n"
		"\n"
		"echo\\x1b[2J (/lib/echo.so)\n"
		"  state: running\n"
		"  generation: 2\n"
		"  calls: 1234\n"
		"  errors: 3\n"
		"  restarts: 1\n"
		"  last_exit: killed by SIGSEGV \\u202e\\u009b\n"
		"  PID   GEN  STATE  UPTIME  RSS      CALLS  ERRORS  INFLIGHT  CPU_MS\n"
		"  4321  2    ready  5m03s   1.2 MiB  1200   1       0         12\n"
		"  queue_max: 64\n");

	run_cli(&r, "-s", f->path, "status", "--json", NULL);
	ck_assert_int_eq(r.status, 0);
	ck_assert_str_eq(r.out,
		"{\"version\":\"9.9.9\",\"pid\":4242,\"uptime_ms\":7384000,\"workers\":3,\"plugins\":"
		"[{\"name\":\"echo\\u001b[2J\",\"state\":\"running\",\"path\":\"/lib/echo.so\","
		"\"generation\":2,\"calls\":1234,\"errors\":3,\"restarts\":1,\"last_exit\":"
		"\"killed by SIGSEGV \\u202e\\u009b\",\"queue_max\":64,\"instances\":[{\"pid\":4321,"
		"\"generation\":2,\"state\":\"ready\",\"uptime_ms\":303000,\"rss_kb\":1234,"
		"\"calls\":1200,\"errors\":1,\"inflight\":0,\"cpu_ms\":12}]}]}\n");
	fake_stop(f);
}
END_TEST

START_TEST(test_cli_control)
{
	struct fake *f = fake_start();
	struct cli_run r;
	char cwd[512], want[1024];
	ck_assert_ptr_nonnull(getcwd(cwd, sizeof cwd));

	run_cli(&r, "-s", f->path, "load", "kv", "./plugins/kv.so", NULL);
	ck_assert_msg(r.status == 0, "status %d: %s", r.status, r.err);
	snprintf(want, sizeof want,
		 "loaded kv\n  method: bulkhead.load\n  params: [\"kv\",\"%s/plugins/kv.so\"]\n", cwd);
	ck_assert_str_eq(r.out, want);

	run_cli(&r, "-s", f->path, "--json", "unload", "kv", NULL);
	ck_assert_int_eq(r.status, 0);
	ck_assert_str_eq(r.out, "{\"method\":\"bulkhead.unload\",\"params\":[\"kv\"]}\n");

	run_cli(&r, "-s", f->path, "swap", "kv", "/x/kv2.so", "--canary", "10", "--json", NULL);
	ck_assert_int_eq(r.status, 0);
	ck_assert_str_eq(r.out, "{\"method\":\"bulkhead.swap\",\"params\":[\"kv\",\"/x/kv2.so\","
				"{\"canary\":10}]}\n");
	run_cli(&r, "-s", f->path, "swap", "kv", "--json", NULL);
	ck_assert_str_eq(r.out, "{\"method\":\"bulkhead.swap\",\"params\":[\"kv\",null]}\n");
	run_cli(&r, "-s", f->path, "promote", "kv", "--json", NULL);
	ck_assert_str_eq(r.out, "{\"method\":\"bulkhead.promote\",\"params\":[\"kv\"]}\n");
	run_cli(&r, "-s", f->path, "rollback", "kv", "--json", NULL);
	ck_assert_str_eq(r.out, "{\"method\":\"bulkhead.rollback\",\"params\":[\"kv\"]}\n");

	run_cli(&r, "-s", f->path, "version", NULL);
	ck_assert_int_eq(r.status, 0);
	ck_assert_str_eq(r.out, "client: bulkhead " BH_PROJECT_VERSION "\ndaemon: bulkhead 9.9.9\n");
	run_cli(&r, "-s", f->path, "version", "--json", NULL);
	ck_assert_str_eq(r.out, "{\"client\":\"bulkhead " BH_PROJECT_VERSION
				"\",\"daemon\":\"bulkhead 9.9.9\"}\n");
	fake_stop(f);
}
END_TEST

#endif /* BH_CLI_PATH */

/* ---- the daemon's requests: callbacks --------------------------------------------- */

/* The client's answer to t.ask, as the fake received it. */
struct answer {
	uint32_t msgid;
	bool failed;
	bh_error err;
	char err_name[32]; /* the error map's "name" */
	int64_t i;         /* an integer result, else -1 */
	bool nil;          /* the result is nil */
};

static void parse_answer(const uint8_t *msg, size_t len, struct answer *a)
{
	struct bh_rpc rpc;
	struct bh_limits lim;
	struct bh_arena arena;
	const bh_value *v;
	bh_limits_default(&lim);
	bh_arena_init(&arena);
	*a = (struct answer){ .i = -1 };
	ck_assert_int_eq(bh_rpc_parse(msg, len, &rpc, NULL), 0);
	ck_assert_int_eq(rpc.type, BH_RPC_RESPONSE);
	a->msgid = rpc.msgid;
	int r = bh_error_decode(rpc.error, rpc.error_len, &a->err);
	ck_assert_int_ge(r, 0);
	a->failed = r == 1;
	if (a->failed) {
		const char *n;
		size_t nl;
		ck_assert_int_eq(bh_decode(rpc.error, rpc.error_len, &lim, &arena, &v, NULL), 0);
		ck_assert_int_eq(bh_value_get_str(bh_value_find(v, "name"), &n, &nl), 0);
		snprintf(a->err_name, sizeof a->err_name, "%.*s", (int)nl, n);
	}
	ck_assert_int_eq(bh_decode(rpc.result, rpc.result_len, &lim, &arena, &v, NULL), 0);
	a->nil = v->type == BH_NIL;
	(void)bh_value_get_int(v, &a->i);
	bh_arena_done(&arena);
}

/* t.ask [method, [args...], note]: the fake calls the client back during the call. */
static void write_ask(bh_client *c, const char *method, bool note, int nargs,
		      const int64_t *args)
{
	bh_writer *w = bh_client_params(c);
	bh_write_array(w, 3);
	bh_write_cstr(w, method);
	bh_write_array(w, (uint32_t)nargs);
	for (int i = 0; i < nargs; i++)
		bh_write_int(w, args[i]);
	bh_write_bool(w, note);
}

static int ask_sync(bh_client *c, const char *method, bool note, int nargs,
		    const int64_t *args, struct answer *a)
{
	write_ask(c, method, note, nargs, args);
	bh_result *res = NULL;
	bh_error err;
	int r = bh_call(c, "t.ask", 0, &res, &err);
	if (r < 0)
		return r;
	const bh_value *bin = bh_result_value(res);
	ck_assert_int_eq(bin->type, BH_BIN);
	parse_answer(bin->as.bin, bin->len, a);
	bh_result_free(res);
	return 0;
}

/* What the handlers saw. */
struct served {
	int calls, notes;
	int notes_before_call; /* notes seen when the last call arrived */
	char method[300];
	int64_t note_arg;
	int mode;              /* what misbehave does */
	bh_client *c;
	int inner_rc;          /* misbehave's bh_call on its own client */
	bh_error inner_err;
	struct outcome started; /* misbehave's bh_call_start */
};

/* app.add [a, b...] -> their sum. */
static int add(void *userdata, const char *method, const bh_value *params, bh_writer *result,
	       bh_error *err)
{
	struct served *sv = userdata;
	sv->calls++;
	sv->notes_before_call = sv->notes;
	snprintf(sv->method, sizeof sv->method, "%s", method);
	int64_t sum = 0;
	for (uint32_t i = 0; i < params->len; i++) {
		int64_t v;
		if (bh_value_get_int(bh_value_at(params, i), &v) < 0)
			return bh_fail(err, BH_E_INVALID_PARAMS, "integers only");
		sum += v;
	}
	return bh_write_int(result, sum);
}

static int note(void *userdata, const char *method, const bh_value *params, bh_writer *result,
		bh_error *err)
{
	(void)err;
	struct served *sv = userdata;
	ck_assert_str_eq(method, "t.note");
	sv->notes++;
	ck_assert_int_eq(bh_value_get_int(bh_value_at(params, 0), &sv->note_arg), 0);
	return bh_write_cstr(result, "discarded");
}

START_TEST(test_callback_in_call)
{
	struct fake *f = fake_start();
	bh_client *c = connect_to(f);
	struct served sv = { 0 };
	bh_error err;
	ck_assert_int_eq(bh_client_handle(c, "app.add", add, &sv), 0);
	ck_assert_int_eq(bh_client_handle(c, "t.note", note, &sv), 0);
	ck_assert_int_eq(bh_client_enable_callbacks(c, 0, &err), 0);

	/* The fake's notification, then its request, arrive while bh_call waits for
	 * t.ask: both are handled there, in order; the first message the client sends
	 * back is the request's answer (the notification is not answered). */
	struct answer a;
	ck_assert_int_eq(ask_sync(c, "app.add", true, 3, (int64_t[]){ 2, 3, 4 }, &a), 0);
	ck_assert_uint_eq(a.msgid, ASK_CID);
	ck_assert(!a.failed);
	ck_assert_int_eq(a.i, 9);
	ck_assert_int_eq(sv.calls, 1);
	ck_assert_str_eq(sv.method, "app.add");
	ck_assert_int_eq(sv.notes, 1);
	ck_assert_int_eq(sv.note_arg, 1);
	ck_assert_int_eq(sv.notes_before_call, 1);

	/* A handler's own failure: its error map. */
	ck_assert_int_eq(ask_sync(c, "app.add", false, 0, NULL, &a), 0);
	ck_assert(!a.failed && a.i == 0);
	bh_writer *w = bh_client_params(c);
	bh_write_array(w, 3);
	bh_write_cstr(w, "app.add");
	bh_write_array(w, 1);
	bh_write_cstr(w, "x");
	bh_write_bool(w, false);
	bh_result *res;
	ck_assert_int_eq(bh_call(c, "t.ask", 0, &res, &err), 0);
	parse_answer(bh_result_value(res)->as.bin, bh_result_value(res)->len, &a);
	bh_result_free(res);
	ck_assert(a.failed);
	ck_assert_int_eq(a.err.code, BH_E_INVALID_PARAMS);
	ck_assert_str_eq(a.err_name, "invalid_params");
	ck_assert_str_eq(a.err.message, "integers only");

	/* The connection goes on. */
	ck_assert_int_eq(bh_call(c, "t.echo", 0, NULL, &err), 0);
	bh_client_free(c);
	fake_stop(f);
}
END_TEST

/* bh_call_start's completion: the client's answer to t.ask, kept. */
struct kept {
	bool done;
	struct answer a;
};

static void keep_answer(void *userdata, uint32_t msgid, const bh_value *result,
			const bh_error *err)
{
	(void)msgid;
	struct kept *k = userdata;
	ck_assert_ptr_null(err);
	ck_assert_int_eq(result->type, BH_BIN);
	parse_answer(result->as.bin, result->len, &k->a);
	k->done = true;
}

START_TEST(test_callback_from_step)
{
	struct fake *f = fake_start();
	bh_client *c = connect_to(f);
	struct served sv = { 0 };
	ck_assert_int_eq(bh_client_handle(c, "app.add", add, &sv), 0);
	ck_assert_int_eq(bh_client_handle(c, "t.note", note, &sv), 0);

	/* The caller's own event loop: the request is served from bh_client_step. */
	struct kept k = { 0 };
	write_ask(c, "app.add", true, 2, (int64_t[]){ 40, 2 });
	ck_assert_int_eq(bh_call_start(c, "t.ask", 0, keep_answer, &k, NULL), 0);
	run_loop(c);
	ck_assert(k.done);
	ck_assert_uint_eq(k.a.msgid, ASK_CID);
	ck_assert(!k.a.failed);
	ck_assert_int_eq(k.a.i, 42);
	ck_assert_int_eq(sv.calls, 1);
	ck_assert_int_eq(sv.notes, 1);
	ck_assert_int_eq(sv.notes_before_call, 1);
	bh_client_free(c);
	fake_stop(f);
}
END_TEST

START_TEST(test_callback_unknown_method)
{
	struct fake *f = fake_start();
	bh_client *c = connect_to(f);
	struct answer a;

	/* No handler at all: answered unknown_method, and the connection goes on (the
	 * client used to take any request as a broken protocol). */
	ck_assert_int_eq(ask_sync(c, "nosuch.x", true, 0, NULL, &a), 0);
	ck_assert_uint_eq(a.msgid, ASK_CID);
	ck_assert(a.failed);
	ck_assert_int_eq(a.err.code, BH_E_UNKNOWN_METHOD);
	ck_assert_str_eq(a.err_name, "unknown_method");
	ck_assert_str_eq(a.err.message, "the client has no handler for nosuch.x");
	ck_assert(a.nil);

	/* The fallback gets every other method; a removed handler's method goes there. */
	struct served sv = { 0 }, fb = { 0 };
	ck_assert_int_eq(bh_client_handle(c, "app.add", add, &sv), 0);
	ck_assert_int_eq(bh_client_handle(c, "*", add, &fb), 0);
	ck_assert_int_eq(ask_sync(c, "any.thing", false, 1, (int64_t[]){ 7 }, &a), 0);
	ck_assert(!a.failed && a.i == 7);
	ck_assert_str_eq(fb.method, "any.thing");
	ck_assert_int_eq(ask_sync(c, "app.add", false, 1, (int64_t[]){ 8 }, &a), 0);
	ck_assert(!a.failed && a.i == 8);
	ck_assert_int_eq(sv.calls, 1);
	ck_assert_int_eq(bh_client_handle(c, "app.add", NULL, NULL), 0);
	ck_assert_int_eq(ask_sync(c, "app.add", false, 1, (int64_t[]){ 9 }, &a), 0);
	ck_assert(!a.failed && a.i == 9);
	ck_assert_int_eq(sv.calls, 1);
	ck_assert_int_eq(fb.calls, 2);

	/* A method no handler can have: not even the fallback's. */
	char longname[BH_HANDLER_METHOD_MAX + 2];
	memset(longname, 'm', sizeof longname - 1);
	longname[sizeof longname - 1] = '\0';
	ck_assert_int_eq(bh_client_handle(c, longname, add, &sv), -EINVAL);
	ck_assert_int_eq(bh_client_handle(c, "", add, &sv), -EINVAL);
	ck_assert_int_eq(ask_sync(c, longname, false, 0, NULL, &a), 0);
	ck_assert_int_eq(a.err.code, BH_E_UNKNOWN_METHOD);
	ck_assert_int_eq(fb.calls, 2);
	longname[BH_HANDLER_METHOD_MAX] = '\0';
	ck_assert_int_eq(ask_sync(c, longname, false, 0, NULL, &a), 0);
	ck_assert(!a.failed);
	ck_assert_int_eq(fb.calls, 3);

	ck_assert_int_eq(bh_client_handle(c, NULL, NULL, NULL), 0);
	ck_assert_int_eq(ask_sync(c, "any.thing", false, 0, NULL, &a), 0);
	ck_assert_int_eq(a.err.code, BH_E_UNKNOWN_METHOD);
	bh_client_free(c);
	fake_stop(f);
}
END_TEST

static int nothing(void *userdata, const char *method, const bh_value *params,
		   bh_writer *result, bh_error *err)
{
	(void)userdata, (void)method, (void)params, (void)result, (void)err;
	return 0;
}

enum { M_FAIL, M_FAIL_SILENT, M_TWO_VALUES, M_TOO_LARGE, M_REENTER };

/* Handlers that fail or misbehave, per sv->mode. */
static int misbehave(void *userdata, const char *method, const bh_value *params,
		     bh_writer *result, bh_error *err)
{
	(void)method;
	(void)params;
	struct served *sv = userdata;
	sv->calls++;
	switch (sv->mode) {
	case M_FAIL:
		return bh_fail(err, 1234, "no such key: %d", 17);
	case M_FAIL_SILENT:
		bh_write_int(result, 1); /* dropped: the handler failed */
		return -1;
	case M_TWO_VALUES:
		bh_write_array(result, 2);
		bh_write_int(result, 1);
		return 0;
	case M_TOO_LARGE: {
		static uint8_t big[16 << 20];
		bh_write_bin(result, big, sizeof big);
		ck_assert_int_eq(bh_writer_error(result), -EMSGSIZE);
		return 0;
	}
	case M_REENTER: {
		/* A blocking call on the same client fails; an async one is fine. */
		sv->inner_rc = bh_call(sv->c, "t.echo", 0, NULL, &sv->inner_err);
		ck_assert_int_eq(bh_client_step(sv->c), -EDEADLK);
		ck_assert_int_eq(bh_client_wait_all(sv->c, 0), -EDEADLK);
		bh_writer *w = bh_client_params(sv->c);
		bh_write_array(w, 1);
		bh_write_int(w, 77);
		ck_assert_int_eq(bh_call_start(sv->c, "t.echo", 0, record, &sv->started, NULL),
				 0);
		return bh_write_int(result, 42);
	}
	}
	return -1;
}

START_TEST(test_callback_errors)
{
	struct fake *f = fake_start();
	bh_client *c = connect_to(f);
	struct served sv = { .c = c };
	struct answer a;
	ck_assert_int_eq(bh_client_handle(c, "app.x", misbehave, &sv), 0);

	sv.mode = M_FAIL;
	ck_assert_int_eq(ask_sync(c, "app.x", false, 0, NULL, &a), 0);
	ck_assert(a.failed);
	ck_assert_int_eq(a.err.code, 1234);
	ck_assert_str_eq(a.err_name, "application");
	ck_assert_str_eq(a.err.message, "no such key: 17");

	sv.mode = M_FAIL_SILENT;
	ck_assert_int_eq(ask_sync(c, "app.x", false, 0, NULL, &a), 0);
	ck_assert_int_eq(a.err.code, BH_E_INTERNAL);
	ck_assert_str_eq(a.err.message, "the client's handler for app.x failed without an error");

	sv.mode = M_TWO_VALUES;
	ck_assert_int_eq(ask_sync(c, "app.x", false, 0, NULL, &a), 0);
	ck_assert_int_eq(a.err.code, BH_E_INTERNAL);
	ck_assert_str_eq(a.err.message, "the client's handler for app.x wrote no single value");

	sv.mode = M_TOO_LARGE;
	ck_assert_int_eq(ask_sync(c, "app.x", false, 0, NULL, &a), 0);
	ck_assert_int_eq(a.err.code, BH_E_TOO_LARGE);
	ck_assert_str_eq(a.err.message, "the client's answer is larger than 16777216 bytes");

	completions = 0;
	sv.mode = M_REENTER;
	ck_assert_int_eq(ask_sync(c, "app.x", false, 0, NULL, &a), 0);
	ck_assert(!a.failed && a.i == 42);
	ck_assert_int_eq(sv.inner_rc, -EDEADLK);
	ck_assert_int_eq(sv.inner_err.code, BH_E_UNAVAILABLE);
	ck_assert_str_eq(sv.inner_err.message, "bh_call() from inside a callback or handler "
					       "of the same client is not supported");
	/* The fake answered the handler's async call before taking the client's answer. */
	ck_assert_int_eq(sv.started.calls, 1);
	ck_assert(sv.started.ok);
	ck_assert_int_eq(sv.started.i, 77);
	ck_assert_int_eq(sv.calls, 5);

	/* A handler that writes nothing answers nil. */
	ck_assert_int_eq(bh_client_handle(c, "app.nil", nothing, NULL), 0);
	ck_assert_int_eq(ask_sync(c, "app.nil", false, 0, NULL, &a), 0);
	ck_assert(!a.failed && a.nil);
	bh_client_free(c);
	fake_stop(f);
}
END_TEST

START_TEST(test_enable_callbacks)
{
	struct fake *f = fake_start();
	bh_client *c = connect_to(f);
	bh_error err;
	ck_assert_int_eq(bh_client_enable_callbacks(c, 0, &err), 0);
	ck_assert_int_eq(err.code, BH_OK);
	bh_client_free(c);

	/* A daemon that does not enable them: a clear failure, the connection goes on. */
	f->refuse_hello = true;
	c = connect_to(f);
	ck_assert_int_eq(bh_client_enable_callbacks(c, 0, &err), -EOPNOTSUPP);
	ck_assert_int_eq(err.code, BH_E_UNAVAILABLE);
	ck_assert_str_eq(err.message, "the daemon does not serve callbacks");
	ck_assert_int_eq(bh_call(c, "t.echo", 0, NULL, &err), 0);
	bh_client_free(c);
	ck_assert_int_eq(bh_client_enable_callbacks(NULL, 0, &err), -EINVAL);
	ck_assert_int_eq(bh_client_handle(NULL, "x", nothing, NULL), -EINVAL);
	fake_stop(f);
}
END_TEST

/* app.big [n] -> a bin of n bytes. */
static int big_answer(void *userdata, const char *method, const bh_value *params,
		      bh_writer *result, bh_error *err)
{
	(void)method, (void)err;
	int *calls = userdata;
	(*calls)++;
	int64_t n;
	ck_assert_int_eq(bh_value_get_int(bh_value_at(params, 0), &n), 0);
	static uint8_t zeros[16 << 20];
	ck_assert_int_le(n, (int64_t)sizeof zeros);
	return bh_write_bin(result, zeros, (size_t)n);
}

/* t.flood's answer [ok, overloaded] into counts[0..1]; counts[2] counts calls. */
static void keep_counts(void *userdata, uint32_t msgid, const bh_value *result,
			const bh_error *err)
{
	(void)msgid;
	int64_t *counts = userdata;
	ck_assert_ptr_null(err);
	ck_assert_int_eq(bh_value_get_int(bh_value_at(result, 0), &counts[0]), 0);
	ck_assert_int_eq(bh_value_get_int(bh_value_at(result, 1), &counts[1]), 0);
	counts[2]++;
}

/* Answers queue under the output queue's ceiling (4 x max_message): when a daemon
 * sends more requests than the queue holds answers for while it does not read, the
 * ones that do not fit are answered overloaded, each exactly once, in order. */
START_TEST(test_callback_answers_bounded)
{
	enum { N = 14, SIZE = 6 << 20 };
	struct fake *f = fake_start();
	bh_client *c = connect_to(f);
	int calls = 0;
	ck_assert_int_eq(bh_client_handle(c, "app.big", big_answer, &calls), 0);
	bh_writer *w = bh_client_params(c);
	bh_write_array(w, 2);
	bh_write_int(w, N);
	bh_write_int(w, SIZE);
	int64_t counts[3] = { -1, -1, 0 };
	ck_assert_int_eq(bh_call_start(c, "t.flood", 0, keep_counts, counts, NULL), 0);
	/* Step until the N requests were handled (they come in one write, so one step
	 * handles them all), then let the fake read. */
	while (calls < N) {
		struct pollfd p = { .fd = bh_client_fd(c), .events = POLLIN };
		ck_assert_int_eq(poll(&p, 1, -1), 1);
		ck_assert_int_eq(bh_client_step(c), 0);
	}
	ck_assert_int_eq(write(f->gate[1], "g", 1), 1);
	run_loop(c);
	ck_assert_int_eq(counts[2], 1);
	ck_assert_int_ge(counts[0], 1);
	ck_assert_int_ge(counts[1], 1);
	ck_assert_int_eq(counts[0] + counts[1], N);
	/* The connection goes on. */
	bh_error err;
	ck_assert_int_eq(bh_call(c, "t.echo", 0, NULL, &err), 0);
	bh_client_free(c);
	fake_stop(f);
}
END_TEST

static Suite *client_suite(void)
{
	Suite *s = suite_create("client");
	TCase *tc = tcase_create("core");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_sync_echo);
	tcase_add_test(tc, test_lent_bin_inline);
	tcase_add_test(tc, test_sync_errors);
	tcase_add_test(tc, test_async_out_of_order);
	tcase_add_test(tc, test_async_event_loop);
	tcase_add_test(tc, test_local_timeout);
	tcase_add_test(tc, test_connection_break);
	tcase_add_test(tc, test_free_fails_pending);
	tcase_add_test(tc, test_garbage);
	tcase_add_test(tc, test_unknown_msgid);
	tcase_add_test(tc, test_duplicate_reply);
	tcase_add_test(tc, test_big_reply);
	tcase_add_test(tc, test_reply_fills_buffer);
	tcase_add_test(tc, test_too_many_pending);
	tcase_add_test(tc, test_connect_errors);
	tcase_add_test(tc, test_callback_in_call);
	tcase_add_test(tc, test_callback_from_step);
	tcase_add_test(tc, test_callback_unknown_method);
	tcase_add_test(tc, test_callback_errors);
	tcase_add_test(tc, test_enable_callbacks);
	tcase_add_test(tc, test_callback_answers_bounded);
	suite_add_tcase(s, tc);
#ifdef BH_CLI_PATH
	TCase *cli = tcase_create("cli");
	tcase_set_timeout(cli, 60);
	tcase_add_test(cli, test_cli_call);
	tcase_add_test(cli, test_cli_input_mapping);
	tcase_add_test(cli, test_cli_errors);
	tcase_add_test(cli, test_cli_usage);
	tcase_add_test(cli, test_cli_status);
	tcase_add_test(cli, test_cli_control);
	suite_add_tcase(s, cli);
#endif
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(client_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
