/* shim-smoke: drives bulkhead-shim the way bulkheadd does (socketpair on fd 3,
 * /dev/null on stdin, a pipe on stdout, empty environment) against the example
 * plugins, and checks every answer byte for byte. Exits 1 on any mismatch.
 *
 *     shim-smoke [SHIM [PLUGIN_DIR]]
 *
 * Every wait has a deadline; nothing sleeps. A plugin that is missing from
 * PLUGIN_DIR (the Rust one without rustc) is reported as skipped. */
#define _GNU_SOURCE /* pipe2, memmem */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bulkhead/channel.h"
#include "bulkhead/error.h"
#include "bulkhead/proto.h"

#define DEADLINE_MS 10000

static const char *shim_path = BH_SMOKE_SHIM;
static const char *plugin_dir = BH_SMOKE_PLUGINS;
static int failures;

#define CHECK(cond, ...)                                                                   \
	do {                                                                               \
		if (!(cond)) {                                                             \
			failures++;                                                        \
			fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);               \
			fprintf(stderr, __VA_ARGS__);                                      \
			fputc('\n', stderr);                                               \
		}                                                                          \
	} while (0)

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* --- encoding helpers ------------------------------------------------------------- */

/* pack(b, fmt, ...): reset b and encode by format:
 *   n nil   t true   f false   i int   I int64_t   u uint64_t   d double
 *   F float32 (passed as double)   s C string   S (ptr, size_t) str
 *   b (ptr, size_t) bin   e (int type, ptr, size_t) ext
 *   r (ptr, size_t) raw   A<n> array header   M<n> map header (count inline: "A2is") */
static const struct bh_buf *pack(struct bh_buf *b, const char *fmt, ...)
{
	struct bh_writer w;
	va_list ap;

	b->len = 0;
	bh_writer_init(&w, b);
	va_start(ap, fmt);
	for (const char *f = fmt; *f; f++) {
		const void *p;
		size_t n;
		int t;
		switch (*f) {
		case 'n': bh_write_nil(&w); break;
		case 't': bh_write_bool(&w, true); break;
		case 'f': bh_write_bool(&w, false); break;
		case 'i': bh_write_int(&w, va_arg(ap, int)); break;
		case 'I': bh_write_int(&w, va_arg(ap, int64_t)); break;
		case 'u': bh_write_uint(&w, va_arg(ap, uint64_t)); break;
		case 'd': bh_write_float(&w, va_arg(ap, double)); break;
		case 'F': bh_write_float32(&w, (float)va_arg(ap, double)); break;
		case 's': bh_write_cstr(&w, va_arg(ap, const char *)); break;
		case 'S':
			p = va_arg(ap, const void *);
			n = va_arg(ap, size_t);
			bh_write_str(&w, p, n);
			break;
		case 'b':
			p = va_arg(ap, const void *);
			n = va_arg(ap, size_t);
			bh_write_bin(&w, p, n);
			break;
		case 'e':
			t = va_arg(ap, int);
			p = va_arg(ap, const void *);
			n = va_arg(ap, size_t);
			bh_write_ext(&w, (int8_t)t, p, n);
			break;
		case 'A':
		case 'M': {
			char *end;
			unsigned long len = strtoul(f + 1, &end, 10);
			if (end == f + 1) {
				fprintf(stderr, "pack: %c without a count\n", *f);
				abort();
			}
			if (*f == 'A')
				bh_write_array(&w, (uint32_t)len);
			else
				bh_write_map(&w, (uint32_t)len);
			f = end - 1;
			break;
		}
		case 'r':
			p = va_arg(ap, const void *);
			n = va_arg(ap, size_t);
			bh_write_raw(&w, p, n);
			break;
		default:
			fprintf(stderr, "pack: bad format %c\n", *f);
			abort();
		}
	}
	va_end(ap);
	if (bh_writer_error(&w) < 0) {
		fprintf(stderr, "pack: %s\n", strerror(-bh_writer_error(&w)));
		abort();
	}
	return b;
}

static struct bh_buf pbuf, ebuf;
#define P(...) pack(&pbuf, __VA_ARGS__)
#define E(...) pack(&ebuf, __VA_ARGS__)

static void hexdump(const char *what, const uint8_t *p, size_t n)
{
	fprintf(stderr, "  %s (%zu bytes):", what, n);
	for (size_t i = 0; i < n && i < 48; i++)
		fprintf(stderr, " %02x", p[i]);
	fprintf(stderr, n > 48 ? " ...\n" : "\n");
}

/* --- one shim process ------------------------------------------------------------- */

struct peer {
	const char *name;
	pid_t pid;
	int fd;     /* our end of the channel */
	int out_fd; /* the shim's stdout */
	struct bh_limits limits;
	struct bh_buf in;
	size_t last; /* size of the last message received, consumed by the next receive */
	struct bh_arena arena;
	const bh_value *msg; /* last message, decoded */
	struct bh_rpc rpc;   /* and its envelope */
	struct bh_buf tx;
	uint32_t next_id;
};

enum fd3 { FD3_SOCKET, FD3_DEVNULL };

static void plugin_path(char *buf, size_t cap, const char *file)
{
	snprintf(buf, cap, "%s/%s", plugin_dir, file);
}

static bool have_plugin(const char *file)
{
	char path[4096];

	plugin_path(path, sizeof(path), file);
	return access(path, R_OK) == 0;
}

/* Start the shim on plugin `file` (in plugin_dir, or a literal path if it has a
 * slash), with the options in opts (NULL-terminated, may be NULL). */
static int peer_spawn(struct peer *p, const char *file, const char *const *opts, enum fd3 mode)
{
	char path[4096];
	int sv[2], out[2];

	memset(p, 0, sizeof(*p));
	p->name = file;
	p->fd = p->out_fd = -1;
	if (strchr(file, '/'))
		snprintf(path, sizeof(path), "%s", file);
	else
		plugin_path(path, sizeof(path), file);
	bh_limits_default(&p->limits);
	bh_buf_init(&p->in, 0);
	bh_buf_init(&p->tx, 0);
	bh_arena_init(&p->arena);
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0 ||
	    pipe2(out, O_CLOEXEC) < 0) {
		perror("socketpair/pipe2");
		exit(2);
	}
	p->pid = fork();
	if (p->pid < 0) {
		perror("fork");
		exit(2);
	}
	if (p->pid == 0) {
		char *argv[16];
		char *envp[] = { NULL };
		int i = 0;
		int ch = mode == FD3_SOCKET ? sv[1] : open("/dev/null", O_RDWR | O_CLOEXEC);
		int nul = open("/dev/null", O_RDWR | O_CLOEXEC);

		/* All our fds are >= 3 and close-on-exec; dup2 clears the flag on 0, 1, 3. */
		if (ch == BH_CHANNEL_FD)
			fcntl(ch, F_SETFD, 0);
		else
			dup2(ch, BH_CHANNEL_FD);
		dup2(nul, 0);
		dup2(out[1], 1);
		argv[i++] = (char *)shim_path;
		for (; opts && *opts && i < 14; opts++)
			argv[i++] = (char *)*opts;
		argv[i++] = path;
		argv[i] = NULL;
		execve(shim_path, argv, envp);
		_exit(127);
	}
	close(sv[1]);
	close(out[1]);
	p->fd = sv[0];
	p->out_fd = out[0];
	return 0;
}

/* With "--max-message max" when max is not NULL. */
static int peer_start(struct peer *p, const char *file, const char *max, enum fd3 mode)
{
	const char *opts[] = { "--max-message", max, NULL };

	return peer_spawn(p, file, max ? opts : NULL, mode);
}

static int peer_start_args(struct peer *p, const char *file, const char *const *opts)
{
	return peer_spawn(p, file, opts, FD3_SOCKET);
}

static void peer_free(struct peer *p)
{
	if (p->fd >= 0)
		close(p->fd);
	if (p->out_fd >= 0)
		close(p->out_fd);
	bh_buf_done(&p->in);
	bh_buf_done(&p->tx);
	bh_arena_done(&p->arena);
	p->fd = p->out_fd = -1;
}

static int send_all(int fd, const void *data, size_t n)
{
	const uint8_t *q = data;

	while (n > 0) {
		ssize_t r = send(fd, q, n, MSG_NOSIGNAL);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		q += r;
		n -= (size_t)r;
	}
	return 0;
}

/* Receive the next message within timeout_ms. 0, -ETIMEDOUT, -EPIPE (end of file)
 * or another negative code. */
static int peer_recv(struct peer *p, int timeout_ms)
{
	int64_t deadline = now_ms() + timeout_ms;

	bh_buf_consume(&p->in, p->last);
	p->last = 0;
	for (;;) {
		struct bh_scan sc;
		int r = p->in.len ? bh_scan(p->in.data, p->in.len, &p->limits, &sc) : -EAGAIN;
		if (r == 0) {
			size_t used;
			const char *why = NULL;
			r = bh_decode(p->in.data, sc.size, &p->limits, &p->arena, &p->msg, &used);
			if (r == 0)
				r = bh_rpc_parse(p->in.data, sc.size, &p->rpc, &why);
			if (r < 0) {
				fprintf(stderr, "%s: bad message from the shim: %s\n", p->name,
					why ? why : bh_proto_strerror(r));
				return r;
			}
			p->last = sc.size;
			return 0;
		}
		if (r != -EAGAIN) {
			fprintf(stderr, "%s: bad message from the shim: %s\n", p->name,
				bh_proto_strerror(r));
			return r;
		}
		int64_t left = deadline - now_ms();
		struct pollfd pfd = { .fd = p->fd, .events = POLLIN };
		if (left <= 0)
			return -ETIMEDOUT;
		r = poll(&pfd, 1, (int)left);
		if (r < 0 && errno == EINTR)
			continue;
		if (r == 0)
			return -ETIMEDOUT;
		if (bh_buf_reserve(&p->in, 256 * 1024) < 0)
			abort();
		ssize_t got = read(p->fd, p->in.data + p->in.len, p->in.cap - p->in.len);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0)
			return -errno;
		if (got == 0)
			return -EPIPE;
		p->in.len += (size_t)got;
	}
}

/* Encode a request [0, id, method, params] into p->tx; returns the id. */
static uint32_t peer_encode_request(struct peer *p, const char *method, const struct bh_buf *params)
{
	struct bh_writer w;
	uint32_t id = ++p->next_id;

	bh_writer_init(&w, &p->tx);
	bh_rpc_write_request(&w, id, method, strlen(method), params->data, params->len);
	if (bh_writer_error(&w) < 0)
		abort();
	return id;
}

struct reply {
	bool failed;         /* an error came back */
	bh_error err;        /* when failed */
	const uint8_t *raw;  /* result bytes */
	size_t len;
	const bh_value *v;   /* result, decoded */
};

static int peer_read_reply(struct peer *p, uint32_t id, struct reply *ret)
{
	int r = peer_recv(p, DEADLINE_MS);

	if (r < 0) {
		fprintf(stderr, "%s: no response to call %" PRIu32 ": %s\n", p->name, id,
			strerror(-r));
		return r;
	}
	if (p->rpc.type != BH_RPC_RESPONSE || p->rpc.msgid != id) {
		fprintf(stderr, "%s: expected the response to %" PRIu32 "\n", p->name, id);
		return -EPROTO;
	}
	memset(ret, 0, sizeof(*ret));
	r = bh_error_decode(p->rpc.error, p->rpc.error_len, &ret->err);
	if (r < 0)
		return r;
	ret->failed = r == 1;
	ret->raw = p->rpc.result;
	ret->len = p->rpc.result_len;
	ret->v = &p->msg->as.items[3];
	return 0;
}

static int peer_call(struct peer *p, const char *method, const struct bh_buf *params,
		     struct reply *ret)
{
	p->tx.len = 0;
	uint32_t id = peer_encode_request(p, method, params);
	int r = send_all(p->fd, p->tx.data, p->tx.len);

	if (r < 0) {
		fprintf(stderr, "%s: sending %s: %s\n", p->name, method, strerror(-r));
		return r;
	}
	return peer_read_reply(p, id, ret);
}

/* The call must succeed with exactly the bytes of `want`. */
static void call_expect(struct peer *p, const char *method, const struct bh_buf *params,
			const struct bh_buf *want, int line)
{
	struct reply r;

	if (peer_call(p, method, params, &r) < 0) {
		CHECK(0, "line %d: %s.%s: no reply", line, p->name, method);
		return;
	}
	if (r.failed) {
		CHECK(0, "line %d: %s.%s failed: %d %s", line, p->name, method, r.err.code,
		      r.err.message);
		return;
	}
	if (r.len != want->len || memcmp(r.raw, want->data, r.len) != 0) {
		CHECK(0, "line %d: %s.%s: wrong result", line, p->name, method);
		hexdump("got", r.raw, r.len);
		hexdump("want", want->data, want->len);
	}
}
#define EXPECT(p, m, params, want) call_expect(p, m, params, want, __LINE__)

/* The call must fail with `code` and a message containing `text`. */
static void call_error(struct peer *p, const char *method, const struct bh_buf *params,
		       int32_t code, const char *text, int line)
{
	struct reply r;

	if (peer_call(p, method, params, &r) < 0) {
		CHECK(0, "line %d: %s.%s: no reply", line, p->name, method);
		return;
	}
	CHECK(r.failed, "line %d: %s.%s succeeded, expected error %d", line, p->name, method,
	      code);
	if (!r.failed)
		return;
	CHECK(r.err.code == code && strstr(r.err.message, text),
	      "line %d: %s.%s: got error %d \"%s\", expected %d containing \"%s\"", line,
	      p->name, method, r.err.code, r.err.message, code, text);
}
#define EXPECT_ERROR(p, m, params, code, text) call_error(p, m, params, code, text, __LINE__)

/* The call must end the process: the channel closes without an answer. */
static void expect_no_reply(struct peer *p, const char *method, const struct bh_buf *params,
			    int line)
{
	p->tx.len = 0;
	peer_encode_request(p, method, params);
	CHECK(send_all(p->fd, p->tx.data, p->tx.len) == 0, "line %d: sending %s", line, method);
	int r = peer_recv(p, DEADLINE_MS);
	CHECK(r == -EPIPE || r == -ECONNRESET, "line %d: %s.%s: expected end of file, got %d",
	      line, p->name, method, r);
}

/* Wait until the shim closes the channel, then reap it; kill it at the deadline. */
static int peer_wait(struct peer *p, int timeout_ms)
{
	int64_t deadline = now_ms() + timeout_ms;
	char sink[4096];
	int status;

	for (;;) {
		int64_t left = deadline - now_ms();
		struct pollfd pfd = { .fd = p->fd, .events = POLLIN };
		if (left <= 0 || poll(&pfd, 1, (int)left) == 0) {
			fprintf(stderr, "%s: still running at the deadline, killing it\n", p->name);
			kill(p->pid, SIGKILL);
			break;
		}
		ssize_t r = read(p->fd, sink, sizeof(sink));
		if (r == 0 || (r < 0 && errno != EINTR && errno != EAGAIN))
			break;
	}
	while (waitpid(p->pid, &status, 0) < 0)
		if (errno != EINTR)
			return -1;
	return status;
}

static void expect_exit(struct peer *p, int code, int line)
{
	int st = peer_wait(p, DEADLINE_MS);

	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == code,
	      "line %d: %s: expected exit status %d, got status 0x%x", line, p->name, code, st);
}
#define EXPECT_EXIT(p, code) expect_exit(p, code, __LINE__)

/* Everything the shim wrote to stdout (call after it exited). */
static size_t peer_stdout(struct peer *p, char *buf, size_t cap)
{
	size_t n = 0;

	while (n + 1 < cap) {
		ssize_t r = read(p->out_fd, buf + n, cap - 1 - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		n += (size_t)r;
	}
	buf[n] = '\0';
	return n;
}

/* Receive and check $hello; returns the params array or NULL. */
static const bh_value *expect_hello(struct peer *p, const char *name, bool has_state)
{
	int r = peer_recv(p, DEADLINE_MS);

	if (r < 0) {
		CHECK(0, "%s: no $hello: %s", p->name, strerror(-r));
		return NULL;
	}
	const bh_value *h = bh_value_at(p->msg, 2);
	CHECK(p->rpc.type == BH_RPC_NOTIFY && p->rpc.method_len == strlen(BH_CH_HELLO) &&
		      memcmp(p->rpc.method, BH_CH_HELLO, p->rpc.method_len) == 0,
	      "%s: first message is not $hello", p->name);
	CHECK(h && h->len == 7, "%s: $hello has %u params", p->name, h ? h->len : 0);
	if (!h || h->len != 7)
		return NULL;
	uint64_t proto = 0, abi = 0;
	bool st = !has_state;
	bh_value_get_uint(bh_value_at(h, 0), &proto);
	bh_value_get_uint(bh_value_at(h, 1), &abi);
	bh_value_get_bool(bh_value_at(h, 6), &st);
	CHECK(proto == BH_PROTOCOL_VERSION, "%s: $hello protocol %" PRIu64, p->name, proto);
	CHECK(abi == 1, "%s: $hello abi %" PRIu64, p->name, abi);
	CHECK(bh_value_str_eq(bh_value_at(h, 2), name), "%s: $hello name", p->name);
	CHECK(bh_value_at(h, 3)->type == BH_STR, "%s: $hello version", p->name);
	CHECK(bh_value_at(h, 4)->type == BH_ARRAY, "%s: $hello methods", p->name);
	CHECK(st == has_state, "%s: $hello has_state", p->name);
	return h;
}

static void expect_fatal(struct peer *p, int32_t code, const char *text, int line)
{
	int r = peer_recv(p, DEADLINE_MS);

	if (r < 0) {
		CHECK(0, "line %d: %s: no $fatal: %s", line, p->name, strerror(-r));
		return;
	}
	const bh_value *a = bh_value_at(p->msg, 2);
	int64_t c = 0;
	const char *msg = "";
	size_t len = 0;
	CHECK(p->rpc.type == BH_RPC_NOTIFY && p->rpc.method_len == strlen(BH_CH_FATAL) &&
		      memcmp(p->rpc.method, BH_CH_FATAL, p->rpc.method_len) == 0,
	      "line %d: %s: expected $fatal", line, p->name);
	bh_value_get_int(bh_value_at(a, 0), &c);
	bh_value_get_str(bh_value_at(a, 1), &msg, &len);
	CHECK(c == code && memmem(msg, len, text, strlen(text)),
	      "line %d: %s: $fatal %" PRId64 " \"%.*s\", expected %d containing \"%s\"", line,
	      p->name, c, (int)len, msg, code, text);
	expect_exit(p, BH_SHIM_EXIT_LOAD_FAILED, line);
}

static void init_ok(struct peer *p, const struct bh_buf *config, int line)
{
	call_expect(p, BH_CH_INIT, config, E("n"), line);
}
#define INIT(p, config) init_ok(p, config, __LINE__)

static void stop(struct peer *p, int line)
{
	p->tx.len = 0;
	struct bh_writer w;
	bh_writer_init(&w, &p->tx);
	bh_rpc_write_notify(&w, BH_CH_STOP, strlen(BH_CH_STOP), P("A0")->data, P("A0")->len);
	CHECK(send_all(p->fd, p->tx.data, p->tx.len) == 0, "line %d: %s: sending $stop", line,
	      p->name);
	expect_exit(p, 0, line);
}
#define STOP(p) stop(p, __LINE__)

/* --- the scenarios ---------------------------------------------------------------- */

static void test_no_channel(void)
{
	struct peer p;

	peer_start(&p, "echo.so", NULL, FD3_DEVNULL);
	EXPECT_EXIT(&p, BH_SHIM_EXIT_LOAD_FAILED);
	peer_free(&p);
}

static void test_load_failures(void)
{
	struct peer p;
	char path[4096];

	peer_start(&p, "/nonexistent/plugin.so", NULL, FD3_SOCKET);
	expect_fatal(&p, BH_E_PLUGIN_ERROR, "dlopen: /nonexistent/plugin.so", __LINE__);
	peer_free(&p);

	plugin_path(path, sizeof(path), "no_symbol.so");
	peer_start(&p, "no_symbol.so", NULL, FD3_SOCKET);
	char want[4200];
	snprintf(want, sizeof(want), "symbol bulkhead_plugin not found in %s", path);
	expect_fatal(&p, BH_E_PLUGIN_ERROR, want, __LINE__);
	peer_free(&p);

	peer_start(&p, "bad_abi.so", NULL, FD3_SOCKET);
	expect_fatal(&p, BH_E_PROTOCOL, "plugin ABI version 999, this shim supports 1", __LINE__);
	peer_free(&p);

	peer_start(&p, "bad_methods.so", NULL, FD3_SOCKET);
	expect_fatal(&p, BH_E_PLUGIN_ERROR, "method twice is defined twice", __LINE__);
	peer_free(&p);

	peer_start(&p, "echo.so", "12", FD3_SOCKET); /* bad usage: no $fatal, exit 2 */
	EXPECT_EXIT(&p, BH_SHIM_EXIT_LOAD_FAILED);
	peer_free(&p);
}

/* echo must give back every kind of value byte for byte. */
static void test_echo_values(struct peer *p)
{
	static uint8_t big[70000];
	static const uint8_t ext16[16] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16 };
	const int64_t ints[] = { 0,      1,      -1,         -32,        -33,       127,
				 128,    255,    256,        65535,      65536,     -128,
				 -129,   -32768, -32769,     INT32_MAX,  INT32_MIN, 4294967295,
				 4294967296, INT64_MAX, INT64_MIN };

	memset(big, 'z', sizeof(big));
	EXPECT(p, "echo", P("A0"), E("n"));
	EXPECT(p, "echo", P("A1n"), E("n"));
	EXPECT(p, "echo", P("A1t"), E("t"));
	EXPECT(p, "echo", P("A1f"), E("f"));
	for (size_t i = 0; i < sizeof(ints) / sizeof(ints[0]); i++)
		EXPECT(p, "echo", P("A1I", ints[i]), E("I", ints[i]));
	EXPECT(p, "echo", P("A1u", UINT64_MAX), E("u", UINT64_MAX));
	EXPECT(p, "echo", P("A1u", (uint64_t)INT64_MAX + 1), E("u", (uint64_t)INT64_MAX + 1));
	EXPECT(p, "echo", P("A1d", 3.5), E("d", 3.5));
	EXPECT(p, "echo", P("A1d", -0.0), E("d", -0.0));
	EXPECT(p, "echo", P("A1F", 1.25), E("F", 1.25));
	EXPECT(p, "echo", P("A1s", ""), E("s", ""));
	EXPECT(p, "echo", P("A1s", "hello"), E("s", "hello"));
	EXPECT(p, "echo", P("A1S", big, (size_t)40), E("S", big, (size_t)40));     /* str8 */
	EXPECT(p, "echo", P("A1S", big, (size_t)300), E("S", big, (size_t)300));   /* str16 */
	EXPECT(p, "echo", P("A1S", big, sizeof(big)), E("S", big, sizeof(big)));   /* str32 */
	EXPECT(p, "echo", P("A1b", big, (size_t)0), E("b", big, (size_t)0));
	EXPECT(p, "echo", P("A1b", big, (size_t)300), E("b", big, (size_t)300));
	EXPECT(p, "echo", P("A1b", big, sizeof(big)), E("b", big, sizeof(big)));
	for (size_t n = 1; n <= 16; n *= 2) /* fixext 1, 2, 4, 8, 16 */
		EXPECT(p, "echo", P("A1e", 5, ext16, n), E("e", 5, ext16, n));
	EXPECT(p, "echo", P("A1e", -3, ext16, (size_t)3), E("e", -3, ext16, (size_t)3));
	EXPECT(p, "echo", P("A1e", 100, big, (size_t)300), E("e", 100, big, (size_t)300));
	EXPECT(p, "echo", P("A1A0"), E("A0"));
	EXPECT(p, "echo", P("A1M0"), E("M0"));
	EXPECT(p, "echo", P("A1A4itA2snM1sn", 1, "x", "k"), E("A4itA2snM1sn", 1, "x", "k"));
	EXPECT(p, "echo", P("A1M3sisA1isd", "a", 1, "b", 0, "c", 2.0),
	       E("M3sisA1isd", "a", 1, "b", 0, "c", 2.0));
	/* only the first argument comes back */
	EXPECT(p, "echo", P("A3iii", 1, 2, 3), E("i", 1));

	/* 40 levels of nesting */
	char fmt[128] = "";
	for (int i = 0; i < 40; i++)
		strcat(fmt, "A1");
	strcat(fmt, "n");
	struct bh_buf nest;
	bh_buf_init(&nest, 0);
	pack(&nest, fmt);
	EXPECT(p, "echo", P("A1r", nest.data, nest.len), &nest);
	bh_buf_done(&nest);

	/* 1 MiB each way */
	size_t mib = 1 << 20;
	uint8_t *m = malloc(mib);
	for (size_t i = 0; i < mib; i++)
		m[i] = (uint8_t)(i * 7);
	EXPECT(p, "echo", P("A1b", m, mib), E("b", m, mib));
	free(m);
}

static void test_echo(void)
{
	struct peer p;
	struct reply r;

	peer_start(&p, "echo.so", NULL, FD3_SOCKET);
	expect_hello(&p, "echo", false);

	EXPECT_ERROR(&p, "ping", P("A0"), BH_E_UNAVAILABLE, "not initialized");
	EXPECT_ERROR(&p, BH_CH_SNAPSHOT, P("A0"), BH_E_UNAVAILABLE, "not initialized");
	EXPECT_ERROR(&p, BH_CH_INIT, P("A1i", 5), BH_E_INVALID_PARAMS, "map");
	INIT(&p, P("A1M0"));
	EXPECT_ERROR(&p, BH_CH_INIT, P("A1M0"), BH_E_BAD_REQUEST, "already initialized");

	test_echo_values(&p);

	EXPECT(&p, "ping", P("A0"), E("s", "pong"));
	EXPECT_ERROR(&p, "nope", P("A0"), BH_E_UNKNOWN_METHOD, "plugin echo has no method nope");
	EXPECT_ERROR(&p, "$nope", P("A0"), BH_E_UNKNOWN_METHOD, "$nope");
	EXPECT_ERROR(&p, BH_CH_SNAPSHOT, P("A0"), BH_E_UNKNOWN_METHOD, "no state");
	EXPECT_ERROR(&p, "fail", P("A2is", 1001, "boom"), 1001, "boom");
	EXPECT_ERROR(&p, "fail", P("A2is", BH_E_INVALID_PARAMS, "bad arg"), BH_E_INVALID_PARAMS,
		     "bad arg");
	/* a plugin cannot pose as the supervisor */
	EXPECT_ERROR(&p, "fail", P("A2is", BH_E_TIMEOUT, "fake"), BH_E_PLUGIN_ERROR, "fake");
	EXPECT_ERROR(&p, "fail", P("A2is", 0, ""), BH_E_PLUGIN_ERROR, "method fail failed");
	EXPECT_ERROR(&p, "fail", P("A0"), BH_E_INVALID_PARAMS, "fail(code");
	EXPECT_ERROR(&p, "noresult", P("A0"), BH_E_PLUGIN_ERROR,
		     "method noresult produced no result");
	EXPECT_ERROR(&p, "tworesults", P("A0"), BH_E_PLUGIN_ERROR, "malformed result");
	EXPECT_ERROR(&p, "partial", P("A0"), BH_E_PLUGIN_ERROR, "malformed result");
	EXPECT(&p, "sleep_ms", P("A1i", 5), E("i", 5));
	EXPECT(&p, "pid", P("A0"), E("I", (int64_t)p.pid));
	EXPECT(&p, "spam", P("A2is", 3, "stdout"), E("i", 3));
	if (peer_call(&p, "blob", P("A1i", 100000), &r) == 0)
		CHECK(!r.failed && r.v->type == BH_BIN && r.v->len == 100000, "blob(100000)");

	/* Two requests and a notification in one write: answered in order, then stop. */
	p.tx.len = 0;
	uint32_t id1 = peer_encode_request(&p, "echo", P("A1s", "first"));
	uint32_t id2 = peer_encode_request(&p, "echo", P("A1s", "second"));
	struct bh_writer w;
	bh_writer_init(&w, &p.tx);
	bh_rpc_write_notify(&w, BH_CH_STOP, strlen(BH_CH_STOP), P("A0")->data, P("A0")->len);
	CHECK(send_all(p.fd, p.tx.data, p.tx.len) == 0, "pipelined send");
	if (peer_read_reply(&p, id1, &r) == 0)
		CHECK(bh_value_str_eq(r.v, "first"), "pipelined first");
	if (peer_read_reply(&p, id2, &r) == 0)
		CHECK(bh_value_str_eq(r.v, "second"), "pipelined second");
	EXPECT_EXIT(&p, 0);

	char out[4096];
	peer_stdout(&p, out, sizeof(out));
	CHECK(strcmp(out, "echo spam stdout 0\necho spam stdout 1\necho spam stdout 2\n") == 0,
	      "spam output: \"%s\"", out);
	peer_free(&p);
}

static void test_echo_limits(void)
{
	struct peer p;

	peer_start(&p, "echo.so", "65536", FD3_SOCKET);
	expect_hello(&p, "echo", false);
	INIT(&p, P("A1M0"));
	EXPECT_ERROR(&p, "blob", P("A1i", 100000), BH_E_TOO_LARGE, "larger than");
	static uint8_t big[100000];
	memset(big, 'x', 1000);
	EXPECT(&p, "blob", P("A1i", 1000), E("b", big, (size_t)1000));
	STOP(&p);
	peer_free(&p);

	/* the other limits apply to results too */
	peer_start_args(&p, "echo.so", (const char *[]){ "--max-bytes", "1000", NULL });
	expect_hello(&p, "echo", false);
	INIT(&p, P("A1M0"));
	EXPECT_ERROR(&p, "blob", P("A1i", 1001), BH_E_TOO_LARGE, "beyond the limits");
	EXPECT(&p, "blob", P("A1i", 1000), E("b", big, (size_t)1000));
	STOP(&p);
	peer_free(&p);
	peer_start_args(&p, "echo.so", (const char *[]){ "--max-items", "5", NULL });
	expect_fatal(&p, BH_E_PLUGIN_ERROR, "exceeds the channel limits", __LINE__);
	peer_free(&p);
	peer_start_args(&p, "echo.so", (const char *[]){ "--max-depth", "2", NULL });
	EXPECT_EXIT(&p, BH_SHIM_EXIT_LOAD_FAILED);
	peer_free(&p);

	peer_start(&p, "echo.so", "65536", FD3_SOCKET);
	expect_hello(&p, "echo", false);
	INIT(&p, P("A1M0"));
	/* a message over the limit is a protocol violation: exit 3 */
	p.tx.len = 0;
	peer_encode_request(&p, "echo", P("A1b", big, sizeof(big)));
	(void)send_all(p.fd, p.tx.data, p.tx.len); /* the shim may close before taking it all */
	EXPECT_EXIT(&p, 3);
	peer_free(&p);
}

static void test_echo_exits(void)
{
	struct peer p;
	struct reply r;
	int st;

	/* crash: the channel closes, SIGSEGV */
	peer_start(&p, "echo.so", NULL, FD3_SOCKET);
	expect_hello(&p, "echo", false);
	INIT(&p, P("A1M0"));
	expect_no_reply(&p, "crash", P("A0"), __LINE__);
	st = peer_wait(&p, DEADLINE_MS);
#ifdef __SANITIZE_ADDRESS__
	/* AddressSanitizer catches the SIGSEGV, reports it and exits 1. */
	CHECK((WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV) || (WIFEXITED(st) && WEXITSTATUS(st)),
	      "crash: status 0x%x", st);
#else
	CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV, "crash: status 0x%x", st);
#endif
	peer_free(&p);

	/* exit(7) */
	peer_start(&p, "echo.so", NULL, FD3_SOCKET);
	expect_hello(&p, "echo", false);
	INIT(&p, P("A1M0"));
	expect_no_reply(&p, "exit", P("A1i", 7), __LINE__);
	EXPECT_EXIT(&p, 7);
	peer_free(&p);

	/* hang: no answer within 200 ms, then killed */
	peer_start(&p, "echo.so", NULL, FD3_SOCKET);
	expect_hello(&p, "echo", false);
	INIT(&p, P("A1M0"));
	p.tx.len = 0;
	peer_encode_request(&p, "hang", P("A0"));
	send_all(p.fd, p.tx.data, p.tx.len);
	CHECK(peer_recv(&p, 200) == -ETIMEDOUT, "hang answered");
	kill(p.pid, SIGKILL);
	st = peer_wait(&p, DEADLINE_MS);
	CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, "hang: status 0x%x", st);
	peer_free(&p);

	/* end of file: exit 0 at once */
	peer_start(&p, "echo.so", NULL, FD3_SOCKET);
	expect_hello(&p, "echo", false);
	INIT(&p, P("A1M0"));
	shutdown(p.fd, SHUT_WR);
	EXPECT_EXIT(&p, 0);
	peer_free(&p);

	/* garbage (0xc1): exit 3 */
	peer_start(&p, "echo.so", NULL, FD3_SOCKET);
	expect_hello(&p, "echo", false);
	send_all(p.fd, "\xc1", 1);
	EXPECT_EXIT(&p, 3);
	peer_free(&p);

	/* a response from the supervisor: exit 3 */
	peer_start(&p, "echo.so", NULL, FD3_SOCKET);
	expect_hello(&p, "echo", false);
	P("A4iinn", 1, 1);
	send_all(p.fd, pbuf.data, pbuf.len);
	EXPECT_EXIT(&p, 3);
	peer_free(&p);

	/* an unknown notification: exit 3 */
	peer_start(&p, "echo.so", NULL, FD3_SOCKET);
	expect_hello(&p, "echo", false);
	P("A3isA0", 2, "$what");
	send_all(p.fd, pbuf.data, pbuf.len);
	EXPECT_EXIT(&p, 3);
	peer_free(&p);

	/* a request with a bad envelope but a readable id: answered, not fatal */
	peer_start(&p, "echo.so", NULL, FD3_SOCKET);
	expect_hello(&p, "echo", false);
	P("A4iiiA0", 0, 77, 5);
	send_all(p.fd, pbuf.data, pbuf.len);
	if (peer_read_reply(&p, 77, &r) == 0)
		CHECK(r.failed && r.err.code == BH_E_BAD_REQUEST, "bad envelope: %d %s", r.err.code,
		      r.err.message);
	STOP(&p);
	peer_free(&p);
}

static void test_bytes(void)
{
	static const struct {
		const char *in;
		const char *sha256;
	} vec[] = {
		/* FIPS 180-4 examples (NIST CSRC) */
		{ "", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" },
		{ "abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" },
		{ "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
		  "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1" },
		{ "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopq"
		  "klmnopqrlmnopqrsmnopqrstnopqrstu",
		  "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1" },
	};
	struct peer p;
	struct reply r;
	char hex[65];

	peer_start(&p, "bytes.so", NULL, FD3_SOCKET);
	expect_hello(&p, "bytes", false);
	INIT(&p, P("A1M0"));
	for (size_t i = 0; i < sizeof(vec) / sizeof(vec[0]); i++) {
		if (peer_call(&p, "sha256", P("A1s", vec[i].in), &r) < 0 || r.failed ||
		    r.v->type != BH_BIN || r.v->len != 32) {
			CHECK(0, "sha256 vector %zu: no digest", i);
			continue;
		}
		for (int k = 0; k < 32; k++)
			snprintf(hex + 2 * k, 3, "%02x", r.v->as.bin[k]);
		CHECK(strcmp(hex, vec[i].sha256) == 0, "sha256 vector %zu: %s", i, hex);
		/* and hex() agrees */
		EXPECT(&p, "hex", P("A1b", r.v->as.bin, (size_t)32), E("s", vec[i].sha256));
	}
	/* one million 'a' (FIPS 180-4), through bin */
	size_t n = 1000000;
	uint8_t *a = malloc(n);
	memset(a, 'a', n);
	if (peer_call(&p, "sha256", P("A1b", a, n), &r) == 0 && !r.failed && r.v->len == 32) {
		for (int k = 0; k < 32; k++)
			snprintf(hex + 2 * k, 3, "%02x", r.v->as.bin[k]);
		CHECK(strcmp(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0") ==
			      0,
		      "sha256 of a million a: %s", hex);
	} else {
		CHECK(0, "sha256 of a million a failed");
	}
	free(a);

	EXPECT(&p, "crc32", P("A1s", "123456789"), E("u", (uint64_t)0xcbf43926));
	EXPECT(&p, "crc32", P("A1s", ""), E("i", 0));
	EXPECT(&p, "reverse", P("A1s", "abc"), E("b", "cba", (size_t)3));
	EXPECT(&p, "hex", P("A1b", "\x01\xab\xff", (size_t)3), E("s", "01abff"));
	EXPECT_ERROR(&p, "sha256", P("A1i", 3), BH_E_INVALID_PARAMS, "bin or a str");
	EXPECT_ERROR(&p, "hex", P("A0"), BH_E_INVALID_PARAMS, "bin or a str");

	/* 1 MiB inputs */
	size_t mib = 1 << 20;
	uint8_t *m = malloc(mib), *rev = malloc(mib);
	for (size_t i = 0; i < mib; i++)
		m[i] = (uint8_t)i;
	for (size_t i = 0; i < mib; i++)
		rev[i] = m[mib - 1 - i];
	EXPECT(&p, "reverse", P("A1b", m, mib), E("b", rev, mib));
	if (peer_call(&p, "count_bytes", P("A1b", m, mib), &r) == 0 && !r.failed &&
	    r.v->type == BH_ARRAY && r.v->len == 256) {
		for (int i = 0; i < 256; i++) {
			int64_t c = -1;
			bh_value_get_int(&r.v->as.items[i], &c);
			CHECK(c == 4096, "count_bytes[%d] = %" PRId64, i, c);
		}
	} else {
		CHECK(0, "count_bytes of 1 MiB failed");
	}
	if (peer_call(&p, "hex", P("A1b", m, mib), &r) == 0 && !r.failed)
		CHECK(r.v->type == BH_STR && r.v->len == 2 * mib &&
			      memcmp(r.v->as.str, "000102", 6) == 0,
		      "hex of 1 MiB");
	else
		CHECK(0, "hex of 1 MiB failed");
	free(m);
	free(rev);
	STOP(&p);
	peer_free(&p);
}

static void test_kv(void)
{
	struct peer p;
	struct reply r;

	peer_start(&p, "kv.so", NULL, FD3_SOCKET);
	expect_hello(&p, "kv", true);
	EXPECT_ERROR(&p, BH_CH_INIT, P("A1M1si", "max_keys", 0), BH_E_INVALID_PARAMS,
		     "max_keys");
	INIT(&p, P("A1M1si", "max_keys", 3));
	EXPECT(&p, "set", P("A2si", "a", 1), E("n"));
	EXPECT(&p, "set", P("A2ss", "b", "two"), E("n"));
	EXPECT(&p, "set", P("A2sA2iM1sn", "c", 1, "x"), E("n"));
	EXPECT(&p, "get", P("A1s", "a"), E("i", 1));
	EXPECT(&p, "get", P("A1s", "b"), E("s", "two"));
	EXPECT(&p, "get", P("A1s", "c"), E("A2iM1sn", 1, "x"));
	EXPECT(&p, "get", P("A1s", "zz"), E("n"));
	EXPECT_ERROR(&p, "set", P("A2si", "d", 4), BH_E_INVALID_PARAMS, "full");
	EXPECT_ERROR(&p, "set", P("A1s", "d"), BH_E_INVALID_PARAMS, "2 arguments");
	EXPECT_ERROR(&p, "get", P("A1i", 1), BH_E_INVALID_PARAMS, "key must be a string");
	EXPECT(&p, "count", P("A0"), E("i", 3));
	EXPECT(&p, "keys", P("A0"), E("A3sss", "a", "b", "c"));
	EXPECT(&p, "del", P("A1s", "b"), E("t"));
	EXPECT(&p, "del", P("A1s", "b"), E("f"));
	EXPECT(&p, "incr", P("A1s", "n"), E("i", 1));
	EXPECT(&p, "incr", P("A2si", "n", 41), E("i", 42));
	EXPECT(&p, "incr", P("A1s", "a"), E("i", 2));
	EXPECT_ERROR(&p, "incr", P("A1s", "c"), BH_E_INVALID_PARAMS, "not an integer");
	EXPECT_ERROR(&p, "incr", P("A2sI", "n", INT64_MAX), BH_E_INVALID_PARAMS, "overflow");
	uint8_t *big = calloc(1, 2 << 20);
	EXPECT_ERROR(&p, "set", P("A2sb", "a", big, (size_t)(2 << 20)), BH_E_INVALID_PARAMS,
		     "limit");
	free(big);
	EXPECT(&p, "get", P("A1s", "a"), E("i", 2)); /* a failed set changes nothing */
	EXPECT(&p, BH_CH_SNAPSHOT, P("A0"),
	       E("A2iM3sisA2iM1snsi", 1, "a", 2, "c", 1, "x", "n", 42));

	/* restore into a fresh instance */
	struct bh_buf blob;
	bh_buf_init(&blob, 0);
	pack(&blob, "M3sisA2iM1snsi", "a", 2, "c", 1, "x", "n", 42);
	STOP(&p);
	peer_free(&p);

	peer_start(&p, "kv.so", NULL, FD3_SOCKET);
	expect_hello(&p, "kv", true);
	INIT(&p, P("A0"));
	EXPECT_ERROR(&p, BH_CH_RESTORE, P("A2ir", 2, blob.data, blob.len), BH_E_PLUGIN_ERROR,
		     "state version 2");
	EXPECT_ERROR(&p, BH_CH_RESTORE, P("A1i", 1), BH_E_INVALID_PARAMS, "state_version, blob");
	EXPECT(&p, BH_CH_RESTORE, P("A2ir", 1, blob.data, blob.len), E("n"));
	EXPECT(&p, "get", P("A1s", "n"), E("i", 42));
	EXPECT(&p, "keys", P("A0"), E("A3sss", "a", "c", "n"));
	(void)r;
	bh_buf_done(&blob);
	STOP(&p);
	peer_free(&p);
}

static void test_counter(void)
{
	struct peer p;
	struct reply r;

	peer_start(&p, "counter_v1.so", NULL, FD3_SOCKET);
	expect_hello(&p, "counter", true);
	INIT(&p, P("A1M0"));
	EXPECT(&p, "incr", P("A0"), E("i", 1));
	EXPECT(&p, "incr", P("A0"), E("i", 2));
	EXPECT(&p, "incr", P("A0"), E("i", 3));
	EXPECT(&p, "version", P("A0"), E("s", "v1"));
	EXPECT(&p, BH_CH_SNAPSHOT, P("A0"), E("A2ii", 1, 3));
	STOP(&p);
	peer_free(&p);

	peer_start(&p, "counter_v2.so", NULL, FD3_SOCKET);
	expect_hello(&p, "counter", true);
	INIT(&p, P("A1M0"));
	EXPECT(&p, BH_CH_RESTORE, P("A2ii", 1, 3), E("n"));
	EXPECT(&p, "get", P("A0"), E("i", 3));
	EXPECT(&p, "incr", P("A0"), E("i", 4));
	EXPECT(&p, "version", P("A0"), E("s", "v2"));
	(void)r;
	STOP(&p);
	peer_free(&p);
}

static void test_greeter(void)
{
	struct peer p;

	peer_start(&p, "greeter.so", NULL, FD3_SOCKET);
	expect_hello(&p, "greeter", false);
	INIT(&p, P("A1M0"));
	EXPECT(&p, "greet", P("A1s", "Ada"), E("s", "Hello, Ada!"));
	EXPECT(&p, "greet", P("A1s", "Bob"), E("s", "Hello, Bob!"));
	EXPECT(&p, "greet", P("A1s", "Ada"), E("s", "Hello, Ada!"));
	EXPECT_ERROR(&p, "throw", P("A0"), BH_E_PLUGIN_ERROR, "greeter threw on purpose");
	EXPECT_ERROR(&p, "greet", P("A1s", ""), BH_E_INVALID_PARAMS, "empty");
	EXPECT_ERROR(&p, "greet", P("A1i", 5), BH_E_INVALID_PARAMS, "must be a string");
	EXPECT(&p, "stats", P("A0"), E("M2sisi", "Ada", 2, "Bob", 1));
	STOP(&p);
	peer_free(&p);
}

static void test_stats(void)
{
	struct peer p;

	if (!have_plugin("stats.so")) {
		printf("SKIP stats: %s/stats.so not built (no rustc)\n", plugin_dir);
		return;
	}
	peer_start(&p, "stats.so", NULL, FD3_SOCKET);
	expect_hello(&p, "stats", false);
	INIT(&p, P("A1M0"));
	EXPECT(&p, "sum", P("A3iii", 1, 2, 3), E("i", 6));
	EXPECT(&p, "sum", P("A0"), E("i", 0));
	EXPECT(&p, "sum", P("A2id", 1, 2.5), E("d", 3.5));
	EXPECT_ERROR(&p, "sum", P("A2II", INT64_MAX, (int64_t)1), BH_E_INVALID_PARAMS, "overflow");
	EXPECT_ERROR(&p, "sum", P("A2is", 1, "x"), BH_E_INVALID_PARAMS, "argument 2");
	EXPECT(&p, "mean", P("A1A4iiii", 1, 2, 3, 4), E("d", 2.5));
	EXPECT_ERROR(&p, "mean", P("A1A0"), BH_E_INVALID_PARAMS, "empty");
	EXPECT_ERROR(&p, "mean", P("A1A1s", "x"), BH_E_INVALID_PARAMS, "element 0");
	EXPECT_ERROR(&p, "mean", P("A0"), BH_E_INVALID_PARAMS, "array of numbers");
	EXPECT(&p, "describe", P("A1A3idi", 3, 1.0, 2),
	       E("M4sisdsdsd", "count", 3, "min", 1.0, "max", 3.0, "mean", 2.0));
	EXPECT(&p, "describe", P("A1A0"), E("M4sisnsnsn", "count", 0, "min", "max", "mean"));
	STOP(&p);
	peer_free(&p);
}

static void test_bad_init(void)
{
	struct peer p;

	peer_start(&p, "bad_init.so", NULL, FD3_SOCKET);
	expect_hello(&p, "bad_init", false);
	EXPECT_ERROR(&p, BH_CH_INIT, P("A1M0"), BH_E_PLUGIN_ERROR, "always fails to start");
	EXPECT_ERROR(&p, BH_CH_INIT, P("A1M1ss", "message", "no database"), BH_E_PLUGIN_ERROR,
		     "no database");
	EXPECT_ERROR(&p, "never", P("A0"), BH_E_UNAVAILABLE, "not initialized");
	STOP(&p);
	peer_free(&p);
}

/* Round trips of a trivial call, for a feel of the per-call cost (not a check). */
static void bench_ping(void)
{
	struct peer p;
	struct reply r;
	const int n = 20000;

	peer_start(&p, "echo.so", NULL, FD3_SOCKET);
	expect_hello(&p, "echo", false);
	INIT(&p, P("A1M0"));
	P("A0");
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int i = 0; i < n; i++)
		if (peer_call(&p, "ping", &pbuf, &r) < 0 || r.failed) {
			CHECK(0, "ping %d failed", i);
			break;
		}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double us = ((double)(t1.tv_sec - t0.tv_sec) * 1e6 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e3) / n;
	printf("ping round trip through the shim: %.1f us\n", us);
	STOP(&p);
	peer_free(&p);
}

int main(int argc, char **argv)
{
	if (argc > 1)
		shim_path = argv[1];
	if (argc > 2)
		plugin_dir = argv[2];
	signal(SIGPIPE, SIG_IGN);
	bh_buf_init(&pbuf, 0);
	bh_buf_init(&ebuf, 0);

	test_no_channel();
	test_load_failures();
	test_echo();
	test_echo_limits();
	test_echo_exits();
	test_bytes();
	test_kv();
	test_counter();
	test_greeter();
	test_stats();
	test_bad_init();
	bench_ping();

	bh_buf_done(&pbuf);
	bh_buf_done(&ebuf);
	if (failures) {
		printf("shim-smoke: %d failure(s)\n", failures);
		return 1;
	}
	printf("shim-smoke: all passed\n");
	return 0;
}
