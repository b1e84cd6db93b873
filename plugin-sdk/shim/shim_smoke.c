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
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bulkhead/bulk.h"
#include "bulkhead/channel.h"
#include "bulkhead/claims.h"
#include "bulkhead/error.h"
#include "bulkhead/proto.h"

#define DEADLINE_MS 10000
/* The shim's SHIM_FRAMES_MAX and SHIM_EXIT_PROTOCOL (shim.h), as the tests see them. */
#define SHIM_FRAMES_MAX_SMOKE 64
#define SHIM_EXIT_PROTOCOL_SMOKE 3

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
	struct bh_claims *claims; /* started with --claims: calls are offered there */
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
 * slash), with the options in opts (NULL-terminated, may be NULL), and the claim
 * table claims_fd on fd 4 when it is not -1. */
static int peer_spawn_fd4(struct peer *p, const char *file, const char *const *opts,
			  enum fd3 mode, int claims_fd)
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
		int table = claims_fd >= 0 ? fcntl(claims_fd, F_DUPFD_CLOEXEC, 10) : -1;
		if (ch == BH_CHANNEL_FD)
			fcntl(ch, F_SETFD, 0);
		else
			dup2(ch, BH_CHANNEL_FD);
		dup2(nul, 0);
		dup2(out[1], 1);
		if (table >= 0)
			dup2(table, BH_CLAIMS_FD);
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

static int peer_spawn(struct peer *p, const char *file, const char *const *opts, enum fd3 mode)
{
	return peer_spawn_fd4(p, file, opts, mode, -1);
}

/* With --claims and a table of t's: calls are offered before they are sent. */
static int peer_start_claims(struct peer *p, const char *file, struct bh_claims *t)
{
	static const char *const opts[] = { "--claims", "--spin-us", "0", NULL };
	int fd;

	if (bh_claims_create(t, 64, &fd) < 0) {
		perror("bh_claims_create");
		exit(2);
	}
	int r = peer_spawn_fd4(p, file, opts, FD3_SOCKET, fd);
	close(fd);
	p->claims = t;
	return r;
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
	if (p->claims)
		bh_claim_offer(p->claims, id, 0);
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
	if (p->claims)
		bh_claim_release(p->claims, id);
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

	p->tx.len = 0;

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
	p->tx.len = 0;
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
	EXPECT_ERROR(&p, "set", P("A1s", "d"), BH_E_INVALID_PARAMS, "want 2 params, got 1");
	EXPECT_ERROR(&p, "get", P("A1i", 1), BH_E_INVALID_PARAMS, "params[0] (key): want str, got int");
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
	EXPECT_ERROR(&p, "greet", P("A1i", 5), BH_E_INVALID_PARAMS,
		     "params[0] (name): want str, got int");
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
	expect_hello(&p, "stats", true);
	INIT(&p, P("A1M0"));
	EXPECT(&p, "sum", P("A3iii", 1, 2, 3), E("i", 6));
	EXPECT(&p, "sum", P("A0"), E("i", 0));
	EXPECT(&p, "sum", P("A2id", 1, 2.5), E("d", 3.5));
	EXPECT_ERROR(&p, "sum", P("A2II", INT64_MAX, (int64_t)1), BH_E_INVALID_PARAMS, "overflow");
	EXPECT_ERROR(&p, "sum", P("A2is", 1, "x"), BH_E_INVALID_PARAMS,
		     "params[1] (addend): want number, got str");
	EXPECT(&p, "mean", P("A1A4iiii", 1, 2, 3, 4), E("d", 2.5));
	EXPECT_ERROR(&p, "mean", P("A1A0"), BH_E_INVALID_PARAMS, "empty");
	EXPECT_ERROR(&p, "mean", P("A1A1s", "x"), BH_E_INVALID_PARAMS, "element 0");
	EXPECT_ERROR(&p, "mean", P("A0"), BH_E_INVALID_PARAMS, "params[0] (numbers): missing");
	EXPECT_ERROR(&p, "panic", P("A0"), BH_E_PLUGIN_ERROR, "stats panicked on purpose");
	EXPECT(&p, "sum", P("A2ii", 1, 2), E("i", 3)); /* still serving after the panic */
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

/* --- calls out (channel.h step 6), the fake supervisor answering ------------------ */

/* Append [0, id, method, params] to p->tx, with the re-entry mark when reenter;
 * offered in the claim table when the peer has one. The id. */
static uint32_t queue_call(struct peer *p, const char *method, const struct bh_buf *params,
			   bool reenter)
{
	struct bh_writer w;
	uint32_t id = ++p->next_id;

	bh_writer_init(&w, &p->tx);
	bh_write_array(&w, reenter ? 5 : 4);
	bh_write_int(&w, BH_RPC_REQUEST);
	bh_write_uint(&w, id);
	bh_write_cstr(&w, method);
	bh_write_raw(&w, params->data, params->len);
	if (reenter)
		bh_write_raw(&w, BH_CH_REENTER_OPTS, BH_CH_REENTER_OPTS_LEN);
	if (bh_writer_error(&w) < 0)
		abort();
	if (p->claims)
		bh_claim_offer(p->claims, id, 0);
	return id;
}

/* [1, oid, nil, result] or [1, oid, {code, name, message}, nil] to p->tx. */
static void queue_answer(struct peer *p, uint32_t oid, const struct bh_buf *result)
{
	struct bh_writer w;
	bh_writer_init(&w, &p->tx);
	bh_rpc_write_result(&w, oid, result->data, result->len);
}

static void queue_error(struct peer *p, uint32_t oid, int32_t code, const char *msg)
{
	struct bh_writer w;
	bh_writer_init(&w, &p->tx);
	bh_rpc_write_error(&w, oid, code, msg);
}

static void flush(struct peer *p)
{
	CHECK(send_all(p->fd, p->tx.data, p->tx.len) == 0, "%s: sending", p->name);
	p->tx.len = 0;
}

static uint32_t send_call(struct peer *p, const char *method, const struct bh_buf *params,
			  bool reenter)
{
	uint32_t id = queue_call(p, method, params, reenter);
	flush(p);
	return id;
}

static void answer(struct peer *p, uint32_t oid, const struct bh_buf *result)
{
	queue_answer(p, oid, result);
	flush(p);
}

/* The next message must be a call out to target with exactly these params, made
 * from call iid (a notification to the caller when notify). Its oid (0 if not). */
static uint32_t expect_callout(struct peer *p, const char *target, const struct bh_buf *params,
			       uint32_t iid, bool notify, int line)
{
	int r = peer_recv(p, DEADLINE_MS);
	if (r < 0) {
		CHECK(0, "line %d: %s: no call out to %s: %s", line, p->name, target, strerror(-r));
		return 0;
	}
	if (p->rpc.type != BH_RPC_REQUEST || p->rpc.method_len != strlen(target) ||
	    memcmp(p->rpc.method, target, p->rpc.method_len) != 0) {
		bh_error e = { 0 };
		if (p->rpc.type == BH_RPC_RESPONSE)
			bh_error_decode(p->rpc.error, p->rpc.error_len, &e);
		CHECK(0, "line %d: %s: expected a call out to %s, got type %d %.*s%s", line, p->name,
		      target, p->rpc.type, (int)p->rpc.method_len,
		      p->rpc.method ? p->rpc.method : "", e.message);
		return 0;
	}
	if (p->rpc.params_len != params->len || memcmp(p->rpc.params, params->data, params->len)) {
		CHECK(0, "line %d: %s: call out to %s: wrong params", line, p->name, target);
		hexdump("got", p->rpc.params, p->rpc.params_len);
		hexdump("want", params->data, params->len);
	}
	const bh_value *opts = bh_value_at(p->msg, 4);
	uint64_t in = 0;
	bool nt = false;
	CHECK(opts && opts->type == BH_MAP && opts->len == (notify ? 2u : 1u),
	      "line %d: call out to %s: options are not {in%s}", line, target,
	      notify ? ", notify" : "");
	bh_value_get_uint(bh_value_find(opts, "in"), &in);
	CHECK(in == iid, "line %d: call out to %s: in %" PRIu64 ", want %" PRIu32, line, target,
	      in, iid);
	if (notify) {
		bh_value_get_bool(bh_value_find(opts, "notify"), &nt);
		CHECK(nt, "line %d: call out to %s: not a notification", line, target);
	}
	return p->rpc.msgid;
}
#define EXPECT_CALLOUT(p, target, params, iid) expect_callout(p, target, params, iid, false, __LINE__)

/* The next message must be the response to id: the bytes of want. */
static void expect_reply(struct peer *p, uint32_t id, const struct bh_buf *want, int line)
{
	struct reply r;
	if (peer_read_reply(p, id, &r) < 0) {
		CHECK(0, "line %d: %s: no response to %" PRIu32, line, p->name, id);
		return;
	}
	if (r.failed) {
		CHECK(0, "line %d: %s: call %" PRIu32 " failed: %d %s", line, p->name, id,
		      r.err.code, r.err.message);
		return;
	}
	if (r.len != want->len || memcmp(r.raw, want->data, r.len) != 0) {
		CHECK(0, "line %d: %s: call %" PRIu32 ": wrong result", line, p->name, id);
		hexdump("got", r.raw, r.len);
		hexdump("want", want->data, want->len);
	}
}
#define EXPECT_REPLY(p, id, want) expect_reply(p, id, want, __LINE__)

static void expect_reply_error(struct peer *p, uint32_t id, int32_t code, const char *text,
			       int line)
{
	struct reply r;
	if (peer_read_reply(p, id, &r) < 0) {
		CHECK(0, "line %d: %s: no response to %" PRIu32, line, p->name, id);
		return;
	}
	CHECK(r.failed && r.err.code == code && strstr(r.err.message, text),
	      "line %d: %s: call %" PRIu32 ": got %s %d \"%s\", expected %d containing \"%s\"",
	      line, p->name, id, r.failed ? "error" : "success", r.err.code, r.err.message, code,
	      text);
}
#define EXPECT_REPLY_ERROR(p, id, code, text) expect_reply_error(p, id, code, text, __LINE__)

static void start_callout(struct peer *p, struct bh_claims *claims)
{
	if (claims)
		peer_start_claims(p, "callout.so", claims);
	else
		peer_start(p, "callout.so", NULL, FD3_SOCKET);
	expect_hello(p, "callout", false);
	INIT(p, P("A1M0"));
}

/* One call out and its answer; an error answer; the caller and its notifications;
 * a call out from outside a callback. */
static void test_callout_basic(void)
{
	struct peer p;
	uint32_t id, oid;
	char out[256];

	start_callout(&p, NULL);
	id = send_call(&p, "relay", P("A3sii", "other.add", 1, 2), false);
	oid = EXPECT_CALLOUT(&p, "other.add", P("A2ii", 1, 2), id);
	answer(&p, oid, E("A2si", "sum", 3));
	EXPECT_REPLY(&p, id, E("A2si", "sum", 3));

	/* no params written: [] */
	id = send_call(&p, "relay", P("A1s", "other.none"), false);
	uint32_t oid2 = EXPECT_CALLOUT(&p, "other.none", P("A0"), id);
	CHECK(oid2 != oid, "two calls out with the same oid %" PRIu32, oid);
	answer(&p, oid2, E("n"));
	EXPECT_REPLY(&p, id, E("n"));

	/* errors reach the plugin with their code as sent */
	id = send_call(&p, "try", P("A1s", "other.slow"), false);
	oid = EXPECT_CALLOUT(&p, "other.slow", P("A0"), id);
	queue_error(&p, oid, BH_E_TIMEOUT, "other.slow took too long");
	flush(&p);
	EXPECT_REPLY(&p, id, E("M2siss", "code", BH_E_TIMEOUT, "message", "other.slow took too long"));
	id = send_call(&p, "try", P("A1s", "other.app"), false);
	oid = EXPECT_CALLOUT(&p, "other.app", P("A0"), id);
	queue_error(&p, oid, 1234, "no such order");
	flush(&p);
	EXPECT_REPLY(&p, id, E("M2siss", "code", 1234, "message", "no such order"));
	/* a method that fails with it: the code a plugin may use, the message kept */
	id = send_call(&p, "relay", P("A1s", "other.slow"), false);
	oid = EXPECT_CALLOUT(&p, "other.slow", P("A0"), id);
	queue_error(&p, oid, BH_E_TIMEOUT, "other.slow took too long");
	flush(&p);
	EXPECT_REPLY_ERROR(&p, id, BH_E_PLUGIN_ERROR, "other.slow took too long");

	/* the caller */
	id = send_call(&p, "caller", P("A3sis", "ask", 7, "x"), false);
	oid = EXPECT_CALLOUT(&p, "$caller.ask", P("A2is", 7, "x"), id);
	answer(&p, oid, E("s", "yes"));
	EXPECT_REPLY(&p, id, E("s", "yes"));
	id = send_call(&p, "notify", P("A3ssi", "progress", "half", 50), false);
	oid = expect_callout(&p, "$caller.progress", P("A2si", "half", 50), id, true, __LINE__);
	answer(&p, oid, E("n"));
	EXPECT_REPLY(&p, id, E("t"));

	/* bad names are refused before anything is sent */
	char longname[300];
	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	EXPECT(&p, "try", P("A1s", ""),
	       E("M2siss", "code", BH_E_INVALID_PARAMS, "message",
		 "call out: the method name must have 1 to 256 bytes"));
	EXPECT(&p, "try", P("A1s", longname),
	       E("M2siss", "code", BH_E_INVALID_PARAMS, "message",
		 "call out: the method name must have 1 to 256 bytes"));

	/* from the plugin's ELF constructor, outside any callback */
	EXPECT(&p, "outside", P("A0"),
	       E("A3isi", BH_E_BAD_REQUEST, "call out: only from inside a callback", -EPERM));
	STOP(&p);
	peer_stdout(&p, out, sizeof(out));
	char want[64];
	snprintf(want, sizeof(want), "shutdown call out: %d\n", BH_E_BAD_REQUEST);
	CHECK(strstr(out, want), "shutdown's call out: stdout \"%s\"", out);
	peer_free(&p);
}

/* A call that re-enters while the outer one waits runs nested, sees and changes the
 * plugin's state, and is answered first; the outer call's result so far survives. */
static void test_callout_reenter(void)
{
	struct peer p;
	uint32_t id, oid, rid;

	start_callout(&p, NULL);
	id = send_call(&p, "wrap", P("A2ss", "other.x", "v"), false);
	oid = EXPECT_CALLOUT(&p, "other.x", P("A1s", "v"), id);
	rid = send_call(&p, "bump", P("A1i", 5), true);
	EXPECT_REPLY(&p, rid, E("i", 5));
	rid = send_call(&p, "bump", P("A1i", 2), true);
	EXPECT_REPLY(&p, rid, E("i", 7));
	answer(&p, oid, E("s", "r"));
	EXPECT_REPLY(&p, id, E("A3sss", "v", "r", "v"));
	EXPECT(&p, "counter", P("A0"), E("i", 7));

	/* two levels: chain(2) -> chain(1) -> chain(0), each re-entering */
	const char *t = "callout.chain";
	id = send_call(&p, "chain", P("A2is", 2, t), false);
	oid = EXPECT_CALLOUT(&p, t, P("A2is", 1, t), id);
	uint32_t r1 = send_call(&p, "chain", P("A2is", 1, t), true);
	uint32_t oid1 = EXPECT_CALLOUT(&p, t, P("A2is", 0, t), r1); /* in: the innermost */
	uint32_t r2 = send_call(&p, "chain", P("A2is", 0, t), true);
	EXPECT_REPLY(&p, r2, E("i", 9));
	answer(&p, oid1, E("i", 9));
	EXPECT_REPLY(&p, r1, E("i", 10));
	answer(&p, oid, E("i", 10));
	EXPECT_REPLY(&p, id, E("i", 11));

	/* as deep as the frames go: the call beyond is refused, not run */
	int depth = 0;
	uint32_t ids[SHIM_FRAMES_MAX_SMOKE + 1], oids[SHIM_FRAMES_MAX_SMOKE + 1];
	ids[0] = send_call(&p, "chain", P("A2is", 100, t), false);
	for (;;) {
		oids[depth] = EXPECT_CALLOUT(&p, t, P("A2is", 99 - depth, t), ids[depth]);
		if (!oids[depth] || depth == SHIM_FRAMES_MAX_SMOKE)
			break;
		ids[depth + 1] = send_call(&p, "chain", P("A2is", 99 - depth, t), true);
		depth++;
		if (depth == SHIM_FRAMES_MAX_SMOKE) {
			EXPECT_REPLY_ERROR(&p, ids[depth], BH_E_CHAIN_TOO_DEEP, "64 calls nested");
			depth--;
			break;
		}
	}
	CHECK(depth == SHIM_FRAMES_MAX_SMOKE - 1, "nested %d calls", depth);
	for (; depth >= 0; depth--) {
		queue_error(&p, oids[depth], BH_E_CHAIN_TOO_DEEP, "too deep");
		flush(&p);
		EXPECT_REPLY_ERROR(&p, ids[depth], BH_E_PLUGIN_ERROR, "too deep");
	}
	EXPECT(&p, "counter", P("A0"), E("i", 9 + SHIM_FRAMES_MAX_SMOKE));

	/* an answer nobody waits for, while one waits: a protocol error */
	id = send_call(&p, "relay", P("A1s", "other.x"), false);
	oid = EXPECT_CALLOUT(&p, "other.x", P("A0"), id);
	answer(&p, oid + 1, E("n"));
	EXPECT_EXIT(&p, SHIM_EXIT_PROTOCOL_SMOKE);
	peer_free(&p);

	/* a re-entering call that comes after the answer that ended the wait it was
	 * meant for: run once the waiting call returned, like any other */
	start_callout(&p, NULL);
	id = send_call(&p, "relay", P("A1s", "other.x"), false);
	oid = EXPECT_CALLOUT(&p, "other.x", P("A0"), id);
	queue_error(&p, oid, BH_E_UNAVAILABLE, "the call it was made from has ended");
	rid = queue_call(&p, "bump", P("A1i", 3), true);
	flush(&p);
	EXPECT_REPLY_ERROR(&p, id, BH_E_PLUGIN_ERROR, "has ended");
	EXPECT_REPLY(&p, rid, E("i", 3));
	rid = send_call(&p, "counter", P("A0"), true);
	EXPECT_REPLY(&p, rid, E("i", 3));
	STOP(&p);
	peer_free(&p);

	/* the supervisor gone while a call waits: a quiet exit */
	start_callout(&p, NULL);
	id = send_call(&p, "relay", P("A1s", "other.x"), false);
	EXPECT_CALLOUT(&p, "other.x", P("A0"), id);
	shutdown(p.fd, SHUT_WR);
	EXPECT_EXIT(&p, 0);
	peer_free(&p);
}

/* Calls that are not marked are kept until the waiting call returned: not claimed
 * meanwhile (a revoked one is skipped), then run in stream order. */
static void test_callout_kept(void)
{
	struct peer p;
	struct bh_claims t;
	uint32_t id, oid, k1, k2, k3, rid;

	start_callout(&p, &t);
	/* k1 follows the outer call in the same write: in the shim's buffer already */
	id = queue_call(&p, "relay", P("A1s", "other.x"), false);
	k1 = queue_call(&p, "bump", P("A1i", 10), false);
	flush(&p);
	oid = EXPECT_CALLOUT(&p, "other.x", P("A0"), id);
	k2 = send_call(&p, "bump", P("A1i", 100), false);
	k3 = send_call(&p, "bump", P("A1i", 1000), false);
	rid = send_call(&p, "counter", P("A0"), true); /* read after k1..k3 */
	EXPECT_REPLY(&p, rid, E("i", 0));
	CHECK(bh_claim_state(&t, k1) == BH_CLAIM_OFFERED, "kept k1 claimed during the wait");
	CHECK(bh_claim_state(&t, k2) == BH_CLAIM_OFFERED, "kept k2 claimed during the wait");
	CHECK(bh_claim_revoke(&t, k2) == BH_CLAIM_OFFERED, "k2 cannot be taken back");
	/* the answer, and a call right behind it in the same write */
	queue_answer(&p, oid, E("s", "done"));
	uint32_t k4 = queue_call(&p, "counter", P("A0"), false);
	flush(&p);
	EXPECT_REPLY(&p, id, E("s", "done"));
	EXPECT_REPLY(&p, k1, E("i", 10));
	EXPECT_REPLY(&p, k3, E("i", 1010)); /* k2 taken back: skipped, never answered */
	EXPECT_REPLY(&p, k4, E("i", 1010));
	bh_claim_release(&t, k2);

	/* a kept call that calls out in turn, with more kept behind it */
	id = send_call(&p, "relay", P("A1s", "other.a"), false);
	oid = EXPECT_CALLOUT(&p, "other.a", P("A0"), id);
	k1 = queue_call(&p, "relay", P("A1s", "other.b"), false);
	k2 = queue_call(&p, "bump", P("A0"), false);
	queue_answer(&p, oid, E("i", 1));
	flush(&p);
	EXPECT_REPLY(&p, id, E("i", 1));
	oid = EXPECT_CALLOUT(&p, "other.b", P("A0"), k1);
	CHECK(bh_claim_state(&t, k2) == BH_CLAIM_OFFERED, "kept k2 claimed during k1's wait");
	k3 = send_call(&p, "bump", P("A0"), false);
	answer(&p, oid, E("i", 2));
	EXPECT_REPLY(&p, k1, E("i", 2));
	EXPECT_REPLY(&p, k2, E("i", 1011));
	EXPECT_REPLY(&p, k3, E("i", 1012));

	/* $stop during a wait: kept, the waiting call finishes first */
	id = send_call(&p, "relay", P("A1s", "other.x"), false);
	oid = EXPECT_CALLOUT(&p, "other.x", P("A0"), id);
	struct bh_writer w;
	bh_writer_init(&w, &p.tx);
	bh_rpc_write_notify(&w, BH_CH_STOP, strlen(BH_CH_STOP), (const uint8_t *)"\x90", 1);
	flush(&p);
	rid = send_call(&p, "counter", P("A0"), true);
	EXPECT_REPLY(&p, rid, E("i", 1012));
	answer(&p, oid, E("i", 3));
	EXPECT_REPLY(&p, id, E("i", 3));
	EXPECT_EXIT(&p, 0);
	peer_free(&p);
	bh_claims_unmap(&t);
}

/* init calls out; a call that re-enters before init is done finds it not ready. */
static void test_callout_init(void)
{
	struct peer p;

	peer_start(&p, "callout.so", NULL, FD3_SOCKET);
	expect_hello(&p, "callout", false);
	uint32_t id = send_call(&p, BH_CH_INIT, P("A1M1ss", "init_call", "seed.get"), false);
	uint32_t oid = EXPECT_CALLOUT(&p, "seed.get", P("A0"), id);
	uint32_t rid = send_call(&p, "counter", P("A0"), true);
	EXPECT_REPLY_ERROR(&p, rid, BH_E_UNAVAILABLE, "not initialized");
	answer(&p, oid, E("i", 41));
	EXPECT_REPLY(&p, id, E("n"));
	EXPECT(&p, "init_result", P("A0"), E("i", 41));
	STOP(&p);
	peer_free(&p);

	/* init fails with its call out's error */
	peer_start(&p, "callout.so", NULL, FD3_SOCKET);
	expect_hello(&p, "callout", false);
	id = send_call(&p, BH_CH_INIT, P("A1M1ss", "init_call", "seed.get"), false);
	oid = EXPECT_CALLOUT(&p, "seed.get", P("A0"), id);
	queue_error(&p, oid, BH_E_PERMISSION_DENIED, "callout may not call seed.get");
	flush(&p);
	EXPECT_REPLY_ERROR(&p, id, BH_E_PLUGIN_ERROR, "callout may not call seed.get");
	STOP(&p);
	peer_free(&p);
}

/* Values larger than a read, everywhere at once: the outer call's params and result
 * so far, a nested call's, both calls out and their answers, and calls kept behind. */
static void test_callout_large(void)
{
	struct peer p;
	struct bh_buf x, y, r1, r2, want;
	size_t nx = 200000, ny = 300000, n1 = 150000, n2 = 250000;
	uint8_t *m = malloc(ny);

	for (size_t i = 0; i < ny; i++)
		m[i] = (uint8_t)(i * 13 + 7);
	bh_buf_init(&x, 0);
	bh_buf_init(&y, 0);
	bh_buf_init(&r1, 0);
	bh_buf_init(&r2, 0);
	bh_buf_init(&want, 0);
	pack(&x, "b", m, nx);
	pack(&y, "b", m + 1, ny - 1);
	pack(&r1, "A2sb", "r1", m + 2, n1);
	pack(&r2, "A2sb", "r2", m + 3, n2);

	start_callout(&p, NULL);
	uint32_t id = queue_call(&p, "wrap", P("A2sr", "other.x", x.data, x.len), false);
	uint32_t k = queue_call(&p, "echo_missing", P("A1r", y.data, y.len), false);
	flush(&p);
	uint32_t oid = EXPECT_CALLOUT(&p, "other.x", P("A1r", x.data, x.len), id);
	uint32_t rid = send_call(&p, "wrap", P("A2sr", "other.y", y.data, y.len), true);
	uint32_t oid2 = EXPECT_CALLOUT(&p, "other.y", P("A1r", y.data, y.len), rid);
	uint32_t k2 = send_call(&p, "relay", P("A2sr", "other.z", x.data, x.len), false);
	answer(&p, oid2, &r2);
	pack(&want, "A3rrr", y.data, y.len, r2.data, r2.len, y.data, y.len);
	EXPECT_REPLY(&p, rid, &want);
	answer(&p, oid, &r1);
	pack(&want, "A3rrr", x.data, x.len, r1.data, r1.len, x.data, x.len);
	EXPECT_REPLY(&p, id, &want);
	EXPECT_REPLY_ERROR(&p, k, BH_E_UNKNOWN_METHOD, "echo_missing");
	oid = EXPECT_CALLOUT(&p, "other.z", P("A1r", x.data, x.len), k2);
	answer(&p, oid, &r2);
	EXPECT_REPLY(&p, k2, &r2);
	STOP(&p);
	peer_free(&p);
	bh_buf_done(&x);
	bh_buf_done(&y);
	bh_buf_done(&r1);
	bh_buf_done(&r2);
	bh_buf_done(&want);
	free(m);
}

/* Send msg with fd attached to its first byte. */
static void send_with_fd(struct peer *p, const struct bh_buf *msg, int fd)
{
	struct iovec iov = { .iov_base = msg->data, .iov_len = msg->len };
	ssize_t r = bh_send_fd(p->fd, &iov, 1, fd, MSG_NOSIGNAL);
	CHECK(r > 0, "%s: sending with an fd: %zd", p->name, r);
	if (r > 0 && (size_t)r < msg->len)
		CHECK(send_all(p->fd, msg->data + r, msg->len - (size_t)r) == 0, "%s: sending",
		      p->name);
}

/* A memfd holding data[0..len-1] (the mapping dropped): its fd. */
static int memfd_with(const void *data, size_t len)
{
	int fd;
	void *map;
	if (bh_memfd_new("smoke", len, false, &fd, &map) < 0)
		abort();
	memcpy(map, data, len);
	munmap(map, len);
	return fd;
}

/* A call whose params come in a memfd of their own (the passed slot, as for a
 * client's memfd), marked when reenter. Its id. */
static uint32_t send_call_memfd(struct peer *p, const char *method, const struct bh_buf *params,
				bool reenter)
{
	uint8_t ref[BH_BULK_REF_SIZE];
	struct bh_buf msg;
	struct bh_writer w;
	uint32_t id = ++p->next_id;
	int fd = memfd_with(params->data, params->len);

	bh_bulk_ref_put(ref, &(struct bh_bulk_ref){ .kind = BH_BULK_POOL_NEW,
						    .slot = BH_BULK_SLOT_PASSED,
						    .len = (uint32_t)params->len });
	bh_buf_init(&msg, 0);
	bh_writer_init(&w, &msg);
	bh_write_array(&w, reenter ? 5 : 4);
	bh_write_int(&w, BH_RPC_REQUEST);
	bh_write_uint(&w, id);
	bh_write_cstr(&w, method);
	bh_write_raw(&w, ref, sizeof(ref));
	if (reenter)
		bh_write_raw(&w, BH_CH_REENTER_OPTS, BH_CH_REENTER_OPTS_LEN);
	send_with_fd(p, &msg, fd);
	close(fd);
	bh_buf_done(&msg);
	return id;
}

/* Bulk values while calls nest: params in memfds of the passed slot (a nested call's
 * must not replace the waiting call's, a kept call's fd is its own), and the result
 * area (a nested call must not write into the result the waiting call is writing). */
static void test_callout_bulk(void)
{
	struct peer p;
	struct bh_buf x, y, big, want, init;
	size_t area_len = 1 << 20;
	uint8_t *m = malloc(200000);

	for (size_t i = 0; i < 200000; i++)
		m[i] = (uint8_t)(i * 31 + 5);
	bh_buf_init(&x, 0);
	bh_buf_init(&y, 0);
	bh_buf_init(&big, 0);
	bh_buf_init(&want, 0);
	bh_buf_init(&init, 0);

	/* $init with a result area */
	int afd;
	void *amap;
	if (bh_memfd_new("area", BH_BULK_AREA_HEAD + area_len, false, &afd, &amap) < 0)
		abort();
	uint8_t aref[BH_BULK_REF_SIZE];
	bh_bulk_ref_put(aref, &(struct bh_bulk_ref){ .kind = BH_BULK_AREA_NEW,
						     .len = (uint32_t)area_len });
	peer_start(&p, "callout.so", NULL, FD3_SOCKET);
	expect_hello(&p, "callout", false);
	uint32_t id = ++p.next_id;
	struct bh_writer w;
	bh_writer_init(&w, &init);
	const struct bh_buf *ip = P("A2M0r", aref, sizeof(aref));
	bh_rpc_write_request(&w, id, BH_CH_INIT, strlen(BH_CH_INIT), ip->data, ip->len);
	send_with_fd(&p, &init, afd);
	close(afd);
	EXPECT_REPLY(&p, id, E("n"));

	pack(&x, "A2sb", "other.x", m, (size_t)150000);
	pack(&y, "A2sb", "other.y", m + 1, (size_t)120000);
	id = send_call_memfd(&p, "wrap", &x, false);
	uint32_t oid = EXPECT_CALLOUT(&p, "other.x", P("A1b", m, (size_t)150000), id);
	uint32_t k = send_call_memfd(&p, "relay", P("A2sb", "other.k", m + 2, (size_t)70000), false);
	uint32_t rid = send_call_memfd(&p, "wrap", &y, true);
	uint32_t oid2 = EXPECT_CALLOUT(&p, "other.y", P("A1b", m + 1, (size_t)120000), rid);
	pack(&big, "b", m + 3, (size_t)100000);
	answer(&p, oid2, &big);
	/* the nested result is inline: the area holds the waiting call's result so far */
	pack(&want, "A3brb", m + 1, (size_t)120000, big.data, big.len, m + 1, (size_t)120000);
	EXPECT_REPLY(&p, rid, &want);
	answer(&p, oid, E("s", "r"));
	struct reply r;
	pack(&want, "A3bsb", m, (size_t)150000, "r", m, (size_t)150000);
	struct bh_bulk_ref ref;
	if (peer_read_reply(&p, id, &r) == 0 && !r.failed &&
	    bh_bulk_ref_get(r.raw, r.len, &ref) == 0 && ref.kind == BH_BULK_AREA) {
		CHECK(ref.len == want.len &&
			      memcmp((uint8_t *)amap + BH_BULK_AREA_HEAD, want.data, want.len) == 0,
		      "the waiting call's result in the area is wrong");
		__atomic_store_n((uint32_t *)amap, 0, __ATOMIC_RELEASE);
	} else {
		CHECK(0, "the waiting call's result did not come in the area");
	}
	/* the kept call, with its own memfd */
	oid = EXPECT_CALLOUT(&p, "other.k", P("A1b", m + 2, (size_t)70000), k);
	answer(&p, oid, E("i", 1));
	EXPECT_REPLY(&p, k, E("i", 1));
	STOP(&p);
	peer_free(&p);
	munmap(amap, BH_BULK_AREA_HEAD + area_len);
	bh_buf_done(&x);
	bh_buf_done(&y);
	bh_buf_done(&big);
	bh_buf_done(&want);
	bh_buf_done(&init);
	free(m);
}

static void test_callout(void)
{
	if (!have_plugin("callout.so")) {
		CHECK(0, "%s/callout.so not built", plugin_dir);
		return;
	}
	test_callout_basic();
	test_callout_reenter();
	test_callout_kept();
	test_callout_init();
	test_callout_large();
	test_callout_bulk();
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
	test_callout();
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
