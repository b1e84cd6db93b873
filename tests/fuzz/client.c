/* Fuzz target: the client SDK on bytes from the daemon, through a real socket (the
 * daemon's end is this process, so every byte arrives in the pieces written). Requests
 * in the stream go to a handler that answers with their params (any other method but
 * "f.fail", which fails), notifications to the same handler.
 *
 * Input, first byte even: the rest is the daemon's byte stream, written in pieces of
 * 1 + data[1] * 61 bytes while two calls are outstanding. No property but "no crash".
 * First byte odd: a well-formed response of a chosen size written in chosen pieces:
 *   le32 n, for a total of 16 + n mod (512 KiB - 16) bytes; then le32 piece sizes
 *   (each mod what is left; the remainder is the last piece).
 * Property: once every byte of a complete response was read, it has been delivered. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/sockios.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "bulkhead/client.h"
#include "bulkhead/proto.h"
#include "fuzz.h"

static char dir[] = "/tmp/bh-fuzz-client-XXXXXX";
static char sock_path[sizeof dir + 8];
static int listen_fd = -1;

static void cleanup(void)
{
	unlink(sock_path);
	rmdir(dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	FUZZ_CHECK(mkdtemp(dir) != NULL);
	snprintf(sock_path, sizeof sock_path, "%s/sock", dir);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	strcpy(sa.sun_path, sock_path);
	listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	FUZZ_CHECK(listen_fd >= 0);
	FUZZ_CHECK(bind(listen_fd, (struct sockaddr *)&sa, sizeof sa) == 0);
	FUZZ_CHECK(listen(listen_fd, 1) == 0);
	atexit(cleanup);
	return 0;
}

struct outcome {
	int calls;
	bool ok;
};

static void record(void *userdata, uint32_t msgid, const bh_value *result, const bh_error *err)
{
	(void)msgid;
	(void)err;
	struct outcome *o = userdata;
	o->calls++;
	o->ok = result != NULL;
}

static int echo_params(void *userdata, const char *method, const bh_value *params,
		       bh_writer *result, bh_error *err)
{
	(void)userdata;
	if (strcmp(method, "f.fail") == 0)
		return bh_fail(err, BH_E_APPLICATION_MIN, "failed");
	return bh_write_value(result, params);
}

/* Write p[0..n) to the daemon's end, stepping the client until it has read all of it
 * (or the connection broke). */
static void feed(bh_client *c, int server, const uint8_t *p, size_t n)
{
	for (;;) {
		if (n > 0) {
			ssize_t w = send(server, p, n, MSG_DONTWAIT | MSG_NOSIGNAL);
			if (w > 0) {
				p += w;
				n -= (size_t)w;
			} else if (w < 0 && errno != EAGAIN && errno != EINTR) {
				return;
			}
		}
		int unread = 0;
		FUZZ_CHECK(ioctl(server, SIOCOUTQ, &unread) == 0);
		if (n == 0 && unread == 0)
			return;
		if (bh_client_step(c) < 0)
			return;
		/* Drain what the client sends (its requests), so it never blocks us. */
		char sink[4096];
		while (recv(server, sink, sizeof sink, MSG_DONTWAIT) > 0)
			;
	}
}

/* Responses of the second form are at most this large (past the client's first buffer
 * sizes, 64 KiB then doubling). */
#define MAX_TOTAL (1u << 19)

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* [1, msgid, nil, bin] of total bytes (total >= 16), or up to two less where no bin has
 * that size (a 258-byte bin 16 would hold 255 bytes, which take a bin 8; a bin 32 of
 * 65 539 or 65 540 bytes would hold what a bin 16 takes). */
static void response(struct bh_buf *m, uint32_t msgid, size_t total)
{
	struct bh_writer w;
	bh_writer_init(&w, m);
	bh_write_array(&w, 4);
	bh_write_int(&w, BH_RPC_RESPONSE);
	bh_write_uint(&w, msgid);
	bh_write_nil(&w);
	static const uint8_t zeros[MAX_TOTAL];
	size_t left = total - m->len, head = left - 2 <= 0xff ? 2 : left - 3 <= 0xffff ? 3 : 5;
	bh_write_bin(&w, zeros, left - head);
	FUZZ_CHECK(bh_writer_error(&w) == 0 && m->len <= total && m->len + 2 >= total);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	bh_client *c = NULL;
	FUZZ_CHECK(bh_client_connect(sock_path, &c) == 0);
	int server = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	FUZZ_CHECK(server >= 0);

	struct outcome o[2] = { 0 };
	uint32_t msgid;
	FUZZ_CHECK(bh_client_handle(c, "*", echo_params, NULL) == 0);
	FUZZ_CHECK(bh_call_start(c, "f.one", 0, record, &o[0], &msgid) == 0);
	FUZZ_CHECK(bh_call_start(c, "f.two", 0, record, &o[1], NULL) == 0);

	if (!(data[0] & 1)) {
		size_t piece = size > 1 ? 1 + (size_t)data[1] * 61 : 1;
		for (size_t off = 2; off < size; off += piece)
			feed(c, server, data + off, size - off < piece ? size - off : piece);
	} else if (size >= 5) {
		size_t total = 16 + le32(data + 1) % (MAX_TOTAL - 16);
		static struct bh_buf m; /* kept across runs: its memory is reused */
		m.len = 0;
		response(&m, msgid, total);
		total = m.len;
		size_t off = 0;
		for (size_t i = 5; i + 4 <= size && off < total; i += 4) {
			size_t n = le32(data + i) % (total - off + 1);
			feed(c, server, m.data + off, n);
			off += n;
		}
		feed(c, server, m.data + off, total - off);
		FUZZ_CHECK(o[0].calls == 1 && o[0].ok);
	}
	bh_client_free(c);
	FUZZ_CHECK(o[0].calls == 1 && o[1].calls == 1);
	close(server);
	return 0;
}
