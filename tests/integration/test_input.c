/* Integration tests: what input may cost the daemon. Proven by counting, never by
 * timing: `bulkhead.status` reports the bytes the daemon read from clients and
 * channels and the bytes its scanners examined, so a message dripped one byte per
 * write must cost scanning work linear in its size, and a message too large must be
 * refused after its header, not after buffering it. Each test checks that the
 * sibling plugin keeps answering with its pid unchanged. */
#include <check.h>
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"

#define ECHO_ENTRY "{ name = \"echo\"; path = \"" HT_PLUGIN("echo") "\"; }"
/* Large values through the channel's socket, not as memfds (max_payload, bulk.h):
 * what these tests count is the socket path's work. */
#define NO_BULK "limits = { max_payload = 0; };"
/* Scanning work per byte read: headers split across reads are read again (at most 9
 * bytes per read), everything else once. Rescanning from the start costs ~n/2. */
#define SCAN_PER_BYTE_MAX 4
/* Each byte of a drip costs the sender a system call and the daemon a wake-up. */
#define DRIP_NILS (256u << 10)

struct input {
	uint64_t client_read, client_scanned, channel_read, channel_scanned;
};

static struct input input_now(bh_client *c)
{
	bh_result *st = ht_status(c);
	const bh_value *in = ht_get(bh_result_value(st), "input");
	struct input r = {
		.client_read = ht_get_uint(in, "client_bytes_read"),
		.client_scanned = ht_get_uint(in, "client_bytes_scanned"),
		.channel_read = ht_get_uint(in, "channel_bytes_read"),
		.channel_scanned = ht_get_uint(in, "channel_bytes_scanned"),
	};
	bh_result_free(st);
	return r;
}

/* [0, msgid, "echo.echo", [[n_arrays x [per nils]]]]: one byte per value. */
static void nils_request(struct bh_buf *out, uint32_t msgid, uint32_t n_arrays, uint32_t per)
{
	bh_writer w;
	bh_writer_init(&w, out);
	bh_write_array(&w, 4);
	bh_write_int(&w, 0);
	bh_write_uint(&w, msgid);
	bh_write_cstr(&w, "echo.echo");
	bh_write_array(&w, 1);
	bh_write_array(&w, n_arrays);
	for (uint32_t a = 0; a < n_arrays; a++) {
		bh_write_array(&w, per);
		for (uint32_t i = 0; i < per; i++)
			bh_write_nil(&w);
	}
	ck_assert_int_eq(bh_writer_error(&w), 0);
}

static void assert_linear(const char *what, uint64_t read, uint64_t scanned, uint64_t least)
{
	ck_assert_msg(read >= least, "%s: the daemon read %llu bytes, fewer than the %llu sent",
		      what, (unsigned long long)read, (unsigned long long)least);
	ck_assert_msg(scanned <= SCAN_PER_BYTE_MAX * read,
		      "%s: %llu bytes scanned for %llu read (more than %d per byte)", what,
		      (unsigned long long)scanned, (unsigned long long)read, SCAN_PER_BYTE_MAX);
}

/* Since `before`, at least `least` bytes came from a client and from a channel, each
 * scanned in linear work; echo's instance is the one it was. */
static void assert_linear_since(bh_client *c, const struct input *before, uint64_t least,
				uint64_t echo_pid)
{
	struct input after = input_now(c);
	assert_linear("client", after.client_read - before->client_read,
		      after.client_scanned - before->client_scanned, least);
	assert_linear("channel", after.channel_read - before->channel_read,
		      after.channel_scanned - before->channel_scanned, least);
	ck_assert_uint_eq(ht_instance_pid(c, "echo", 0), echo_pid);
}

/* A 256 KiB request written one byte per send(): the daemon's scanning stays linear,
 * the request is answered, and the result (256 KiB of nils from the plugin) too. */
START_TEST(client_drip_is_linear)
{
	struct ht_daemon d;
	ht_start(&d, NO_BULK "plugins = (" ECHO_ENTRY ");");
	bh_client *good = ht_connect(&d);
	uint64_t echo_pid = ht_instance_pid(good, "echo", 0);

	struct bh_buf req;
	bh_buf_init(&req, 0);
	nils_request(&req, 7, 1, DRIP_NILS);
	struct input before = input_now(good);

	struct ht_raw r;
	ht_raw_open(&r, &d);
	for (size_t i = 0; i < req.len; i++)
		ck_assert_int_eq(ht_raw_send(&r, req.data + i, 1), 0);
	struct ht_reply rep;
	ck_assert_int_eq(ht_raw_recv(&r, &rep), 1);
	ck_assert_msg(rep.code == 0, "the dripped request failed: %s", rep.message);
	ck_assert_uint_eq(rep.msgid, 7);
	ck_assert_int_eq(rep.result->type, BH_ARRAY);
	ck_assert_uint_eq(rep.result->as.items[0].len, DRIP_NILS);
	ht_raw_close(&r);

	assert_linear_since(good, &before, DRIP_NILS, echo_pid);
	bh_buf_done(&req);
	bh_client_free(good);
	ht_stop(&d);
}
END_TEST

/* A valid result of 3 Mi nils (3 MiB) through the channel, and its request through
 * the client socket: linear on both sides (and in the client library, which reads
 * it). Every side decodes it to a tree of 3 Mi nodes: more would not fit the
 * plugin's memory limit. tests/bench/bench_input measures 15 Mi. */
START_TEST(large_nil_result_is_linear)
{
	struct ht_daemon d;
	ht_start(&d, NO_BULK "plugins = (" ECHO_ENTRY ");");
	bh_client *good = ht_connect(&d);
	uint64_t echo_pid = ht_instance_pid(good, "echo", 0);
	struct input before = input_now(good);

	bh_writer *w = bh_client_params(good);
	bh_write_array(w, 1);
	bh_write_array(w, 3);
	for (int a = 0; a < 3; a++) {
		bh_write_array(w, 1u << 20);
		for (uint32_t i = 0; i < 1u << 20; i++)
			bh_write_nil(w);
	}
	bh_result *res = NULL;
	bh_error err;
	ht_assert_ok(bh_call(good, "echo.echo", HT_LONG_MS, &res, &err), err);
	ck_assert_uint_eq(bh_result_value(res)->len, 3);
	bh_result_free(res);

	assert_linear_since(good, &before, 3u << 20, echo_pid);
	bh_client_free(good);
	ht_stop(&d);
}
END_TEST

/* Large params and results do not go through the channel's socket: echo of 1 MiB
 * and of 12 MiB comes back whole, while the daemon reads only the small messages
 * that refer to the memfds (the pool buffer grows for the 12 MiB call, and the
 * smaller one after it reuses it). */
START_TEST(large_values_travel_as_memfds)
{
	struct ht_daemon d;
	ht_start(&d, "plugins = (" ECHO_ENTRY ");");
	bh_client *good = ht_connect(&d);
	uint64_t echo_pid = ht_instance_pid(good, "echo", 0);
	static const size_t sizes[] = { 1u << 20, 12u << 20, 1u << 20 };
	for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
		uint8_t *blob = malloc(sizes[k]);
		ck_assert_ptr_nonnull(blob);
		for (size_t i = 0; i < sizes[k]; i++)
			blob[i] = (uint8_t)(i * 7 + k);
		struct input before = input_now(good);
		bh_writer *w = bh_client_params(good);
		bh_write_array(w, 1);
		bh_write_bin(w, blob, sizes[k]);
		bh_result *res = NULL;
		bh_error err;
		ht_assert_ok(bh_call(good, "echo.echo", HT_LONG_MS, &res, &err), err);
		const bh_value *v = bh_result_value(res);
		ck_assert_int_eq(v->type, BH_BIN);
		ck_assert_uint_eq(v->len, sizes[k]);
		ck_assert(memcmp(v->as.bin, blob, sizes[k]) == 0);
		bh_result_free(res);
		struct input after = input_now(good);
		/* The status calls themselves are read too: a few KiB at most. */
		uint64_t channel = after.channel_read - before.channel_read;
		ck_assert_msg(channel < 64 * 1024, "%zu bytes echoed, %llu read from the channel",
			      sizes[k], (unsigned long long)channel);
		free(blob);
	}
	ck_assert_uint_eq(ht_instance_pid(good, "echo", 0), echo_pid);
	bh_client_free(good);
	ht_stop(&d);
}
END_TEST

/* Bytes the daemon read from and sent to clients, in all. */
static void client_bytes(bh_client *c, uint64_t *ret_read, uint64_t *ret_sent)
{
	bh_result *st = ht_status(c);
	const bh_value *v = bh_result_value(st);
	*ret_read = ht_get_uint(ht_get(v, "input"), "client_bytes_read");
	*ret_sent = ht_get_uint(ht_get(v, "output"), "client_bytes_sent");
	bh_result_free(st);
}

/* A C client that asked for memfds (bh_client_use_memfd): 1 MiB and 32 MiB (above
 * max_message) echoed byte-exact, params and result each in a sealed memfd, so that
 * the client socket carries only the envelopes. Counted on another connection,
 * whose own status calls are measured alone first. */
START_TEST(memfd_client_round_trip)
{
	struct ht_daemon d;
	ht_start(&d, "plugins = (" ECHO_ENTRY ");");
	bh_client *mc = ht_connect(&d), *st = ht_connect(&d);
	uint64_t echo_pid = ht_instance_pid(st, "echo", 0);
	bh_error err;
	ht_assert_ok(bh_client_use_memfd(mc, 0, HT_LONG_MS, &err), err);
	uint64_t r0, s0, r1, s1, r2, s2;
	client_bytes(st, &r0, &s0);
	client_bytes(st, &r1, &s1);
	uint64_t status_read = r1 - r0, status_sent = s1 - s0;
	static const size_t sizes[] = { 1u << 20, 32u << 20, 1u << 20 };
	for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
		uint8_t *blob = malloc(sizes[k]);
		ck_assert_ptr_nonnull(blob);
		for (size_t i = 0; i < sizes[k]; i++)
			blob[i] = (uint8_t)(i * 13 + k);
		client_bytes(st, &r1, &s1);
		bh_writer *w = bh_client_params(mc);
		bh_write_array(w, 1);
		bh_write_bin(w, blob, sizes[k]);
		bh_result *res = NULL;
		ht_assert_ok(bh_call(mc, "echo.echo", HT_LONG_MS, &res, &err), err);
		const bh_value *v = bh_result_value(res);
		ck_assert_int_eq(v->type, BH_BIN);
		ck_assert_uint_eq(v->len, sizes[k]);
		ck_assert(memcmp(v->as.bin, blob, sizes[k]) == 0);
		bh_result_free(res);
		client_bytes(st, &r2, &s2);
		uint64_t read = r2 - r1 - status_read, sent = s2 - s1 - status_sent;
		ck_assert_msg(read < 1024 && sent < 1024, "%zu bytes echoed: the client socket "
			      "carried %llu bytes in, %llu out", sizes[k], (unsigned long long)read,
			      (unsigned long long)sent);
		free(blob);
	}
	ck_assert_uint_eq(ht_instance_pid(st, "echo", 0), echo_pid);
	bh_client_free(mc);
	bh_client_free(st);
	ht_stop(&d);
}
END_TEST

/* A request whose header announces a bin of 16 MiB + 1, followed by 16 MiB that the
 * client keeps writing: refused after the first read, the connection closed, and the
 * log names the limit. */
START_TEST(header_over_limit_refused_early)
{
	struct ht_daemon d;
	ht_start(&d, "plugins = (" ECHO_ENTRY ");");
	bh_client *good = ht_connect(&d);
	uint64_t echo_pid = ht_instance_pid(good, "echo", 0);
	struct input before = input_now(good);

	static const uint8_t head[] = { 0x94, 0x00, 0x01, 0xa9, 'e', 'c', 'h', 'o', '.', 'e',
					'c', 'h', 'o', 0x91, 0xc6, 0x01, 0x00, 0x00, 0x01 };
	struct ht_raw r;
	ht_raw_open(&r, &d);
	ck_assert_int_eq(ht_raw_send(&r, head, sizeof(head)), 0);
	/* The rest of the announced 16 MiB, until the daemon hangs up. */
	static uint8_t chunk[64 * 1024];
	size_t sent = sizeof(head);
	while (sent < (16u << 20) && ht_raw_send(&r, chunk, sizeof(chunk)) == 0)
		sent += sizeof(chunk);
	ck_assert_msg(sent < (16u << 20), "the daemon took all 16 MiB of a refused message");
	struct ht_reply rep;
	while (ht_raw_recv(&r, &rep) == 1) /* an error response, or none: then EOF */
		ck_assert_int_ne(rep.code, 0);
	ht_raw_close(&r);

	struct input after = input_now(good);
	uint64_t read = after.client_read - before.client_read;
	/* One read of at most 64 KiB holds the header; a status call is ~40 bytes. */
	ck_assert_msg(read <= 64 * 1024 + 256, "the daemon read %llu bytes of a message refused "
		      "on its header", (unsigned long long)read);
	ck_assert_msg(ht_log_has(&d, "message or string too large"),
		      "the log does not say why the connection was closed");
	ck_assert_uint_eq(ht_instance_pid(good, "echo", 0), echo_pid);
	bh_client_free(good);
	ht_stop(&d);
}
END_TEST

/* Requests held behind a slow call are bounded in bytes, not only in number: past
 * 64 MiB of requests held for one connection the daemon stops reading it (the count
 * alone, max_client_pending 1024, would let it park 16 GiB). The client pipelines 1 MiB
 * requests until the socket stops taking them; the daemon must have read about the
 * budget, not all of them. A slow machine only makes the client stop earlier. */
START_TEST(held_requests_bounded_in_bytes)
{
	struct ht_daemon d;
	ht_start(&d, "shutdown_timeout_ms = 100;\n"
		     "plugins = ({ name = \"echo\"; path = \"" HT_PLUGIN("echo") "\";"
		     " timeout_ms = 60000; max_inflight = 1; });");
	bh_client *good = ht_connect(&d);
	struct input before = input_now(good);

	struct ht_raw r;
	ht_raw_open(&r, &d);
	struct bh_buf req;
	bh_buf_init(&req, 0);
	const int64_t ms = 20000;
	ht_req_ints(&req, 1, "echo.sleep_ms", 60000, &ms, 1);
	ck_assert_int_eq(ht_raw_send(&r, req.data, req.len), 0);
	req.len = 0;
	static uint8_t mib[1 << 20];
	bh_writer w;
	bh_writer_init(&w, &req);
	bh_write_array(&w, 4);
	bh_write_int(&w, 0);
	bh_write_uint(&w, 2);
	bh_write_cstr(&w, "echo.echo");
	bh_write_array(&w, 1);
	bh_write_bin(&w, mib, sizeof(mib));
	ck_assert_int_eq(bh_writer_error(&w), 0);

	const size_t n_requests = 200, total = n_requests * req.len;
	size_t sent = 0;
	while (sent < total) {
		ssize_t n = send(r.fd, req.data + sent % req.len, req.len - sent % req.len,
				 MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n > 0) {
			sent += (size_t)n;
			continue;
		}
		ck_assert_msg(n < 0 && (errno == EAGAIN || errno == EINTR), "send: %s",
			      strerror(errno));
		struct pollfd p = {.fd = r.fd, .events = POLLOUT};
		if (poll(&p, 1, 2000) == 0)
			break; /* the daemon stopped reading */
	}
	uint64_t read = input_now(good).client_read - before.client_read;
	ck_assert_msg(read <= (66u << 20), "the daemon read %llu bytes of requests held behind "
		      "a slow call (budget 64 MiB)", (unsigned long long)read);
	ck_assert_msg(sent < total, "all %zu bytes of requests were taken", total);
	ht_raw_close(&r);
	bh_buf_done(&req);
	bh_client_free(good);
	ht_stop(&d);
}
END_TEST

/* A large response leaves the daemon in many partial sends (a socket takes a few
 * hundred KiB at a time): compacting what is left to send must cost at most what was
 * sent, not a move of the whole rest after every send (15 MB: ~0.5 GB moved). */
START_TEST(response_backlog_drains_linearly)
{
	struct ht_daemon d;
	ht_start(&d, "plugins = (" ECHO_ENTRY ");");
	bh_client *good = ht_connect(&d);
	struct ht_raw r;
	ht_raw_open(&r, &d);
	struct bh_buf req;
	bh_buf_init(&req, 0);
	const int64_t size = 15000000;
	ht_req_ints(&req, 3, "echo.blob", 0, &size, 1);
	ck_assert_int_eq(ht_raw_send(&r, req.data, req.len), 0);
	struct ht_reply rep;
	ck_assert_int_eq(ht_raw_recv(&r, &rep), 1);
	ck_assert_msg(rep.code == 0, "echo.blob failed: %s", rep.message);
	ck_assert_uint_eq(rep.result->len, (uint64_t)size);
	ht_raw_close(&r);

	bh_result *st = ht_status(good);
	const bh_value *out = ht_get(bh_result_value(st), "output");
	uint64_t sent = ht_get_uint(out, "client_bytes_sent");
	uint64_t moved = ht_get_uint(out, "client_bytes_moved");
	ck_assert_msg(sent >= (uint64_t)size, "only %llu bytes sent", (unsigned long long)sent);
	ck_assert_msg(moved <= sent, "%llu bytes moved to send %llu", (unsigned long long)moved,
		      (unsigned long long)sent);
	bh_result_free(st);
	bh_buf_done(&req);
	bh_client_free(good);
	ht_stop(&d);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("integ_input");
	TCase *tc = ht_tcase("input");
	tcase_add_test(tc, client_drip_is_linear);
	tcase_add_test(tc, large_nil_result_is_linear);
	tcase_add_test(tc, large_values_travel_as_memfds);
	tcase_add_test(tc, memfd_client_round_trip);
	tcase_add_test(tc, header_over_limit_refused_early);
	tcase_add_test(tc, held_requests_bounded_in_bytes);
	tcase_add_test(tc, response_backlog_drains_linearly);
	suite_add_tcase(s, tc);
	return ht_main(s);
}
