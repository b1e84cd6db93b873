/* Integration tests: what input may cost the daemon. Proven by counting, never by
 * timing: `bulkhead.status` reports the bytes the daemon read from clients and
 * channels and the bytes its scanners examined, so a message dripped one byte per
 * write must cost scanning work linear in its size, and a message too large must be
 * refused after its header, not after buffering it. Each test checks that the
 * sibling plugin keeps answering with its pid unchanged. */
#define _GNU_SOURCE
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bulkhead/bulk.h"
#include "bulkhead/ring.h"
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
	uint64_t ring_read, ring_late;
	uint64_t result_staged;
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
		.ring_read = ht_get_uint(in, "ring_bytes_read"),
		.ring_late = ht_get_uint(in, "ring_reads_at_deadline"),
		.result_staged = ht_get_uint(ht_get(bh_result_value(st), "output"),
					     "result_bytes_staged"),
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
		/* The result goes from the result area straight into the client's output. */
		ck_assert_msg(after.result_staged == before.result_staged, "%zu bytes echoed, %llu "
			      "staged in the daemon on the way", sizes[k],
			      (unsigned long long)(after.result_staged - before.result_staged));
		free(blob);
	}
	ck_assert_uint_eq(ht_instance_pid(good, "echo", 0), echo_pid);
	bh_client_free(good);
	ht_stop(&d);
}
END_TEST

/* A client's large params are copied once, from the daemon's read buffer to the pool
 * buffer of the instance they go to; the request itself then holds only a reference.
 * They must still come whole to wherever the call ends up: queued behind a full
 * instance (copied into the request then), moved from a busy instance to an idle one
 * (back from the first instance's pool buffer, into the second's). Every echo comes
 * back byte-exact, and status shows the moves happened. */
/* One large echo: what it must come back as, and how it came back. */
struct echo_check {
	const uint8_t *want;
	size_t len;
	int answered;
	bool same;
	char why[BH_ERROR_MESSAGE_MAX];
};

static void echo_checked(void *userdata, uint32_t msgid, const bh_value *result,
			 const bh_error *err)
{
	struct echo_check *e = userdata;
	(void)msgid;
	e->answered++;
	if (err) {
		snprintf(e->why, sizeof e->why, "%s", err->message);
		return;
	}
	e->same = result->type == BH_BIN && result->len == e->len &&
		  memcmp(result->as.bin, e->want, e->len) == 0;
}

START_TEST(large_params_survive_queues_and_moves)
{
	struct ht_daemon d;
	ht_start(&d, "plugins = ({ name = \"echo\"; path = \"" HT_PLUGIN("echo") "\"; "
		     "instances = 2; max_inflight = 3; });");
	bh_client *c = ht_connect(&d);
	ck_assert_int_gt(ht_call_int_ok(c, "echo.pid", NULL, 0), 0);

	/* One instance hangs; calls pile up behind it, and past both instances' room,
	 * in the queue. */
	struct ht_outcome hang;
	memset(&hang, 0, sizeof hang);
	bh_write_array(bh_client_params(c), 0);
	ck_assert_int_eq(bh_call_start(c, "echo.hang", 3000, ht_outcome_cb, &hang, NULL), 0);
	enum { N = 10, SIZE = 256 * 1024 };
	struct echo_check e[N];
	uint8_t *blob[N];
	for (int k = 0; k < N; k++) {
		ck_assert_ptr_nonnull(blob[k] = malloc(SIZE));
		for (size_t i = 0; i < SIZE; i++)
			blob[k][i] = (uint8_t)(i * 13 + (size_t)k * 101);
		bh_writer *w = bh_client_params(c);
		bh_write_array(w, 1);
		bh_write_bin(w, blob[k], SIZE);
		e[k] = (struct echo_check){ .want = blob[k], .len = SIZE };
		ck_assert_int_eq(bh_call_start(c, "echo.echo", HT_LONG_MS, echo_checked, &e[k],
					       NULL), 0);
	}
	ck_assert_int_eq(bh_client_wait_all(c, HT_LONG_MS), 0);
	for (int k = 0; k < N; k++) {
		ck_assert_msg(e[k].answered == 1 && e[k].same, "call %d: answered %d, %s", k,
			      e[k].answered, e[k].why[0] ? e[k].why : "came back changed");
		free(blob[k]);
	}
	bh_result *st = ht_status(c);
	ck_assert_uint_gt(ht_get_uint(ht_status_plugin(bh_result_value(st), "echo"), "moved"), 0);
	bh_result_free(st);
	bh_client_free(c);
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

/* A bin written with bh_client_write_bin_lent, as echo.echo gives it back inside
 * ["head", bin, 7]: its length and its first and last bytes. */
static void assert_lent_echo(const bh_value *v, size_t len, uint8_t first, uint8_t last)
{
	ck_assert_msg(v->type == BH_ARRAY && v->len == 3, "not [head, bin, 7]");
	const bh_value *h = &v->as.items[0], *b = &v->as.items[1], *n = &v->as.items[2];
	ck_assert(h->type == BH_STR && h->len == 4 && memcmp(h->as.str, "head", 4) == 0);
	ck_assert_int_eq(b->type, BH_BIN);
	ck_assert_uint_eq(b->len, len);
	ck_assert_uint_eq(b->as.bin[0], first);
	ck_assert_uint_eq(b->as.bin[len - 1], last);
	ck_assert(n->type == BH_INT && n->as.i == 7);
}

static bh_result *echo_lent(bh_client *c, const uint8_t *blob, size_t len, uint8_t *change)
{
	bh_writer *w = bh_client_params(c);
	bh_write_array(w, 1);
	bh_write_array(w, 3);
	bh_write_cstr(w, "head");
	ck_assert_int_eq(bh_client_write_bin_lent(c, blob, len), 0);
	bh_write_int(w, 7);
	if (change) /* after the write, before the call */
		change[0] = 0xab, change[len - 1] = 0xcd;
	bh_result *res = NULL;
	bh_error err;
	ht_assert_ok(bh_call(c, "echo.echo", HT_LONG_MS, &res, &err), err);
	return res;
}

/* bh_client_write_bin_lent: on a memfd client the bytes are taken at the call, from
 * the caller's buffer into the memfd, placed between the values around them; a second
 * lent bin of the same call, and any on a plain client, are copied at once; params
 * that end up over max_payload go inline with the bytes put in place. */
START_TEST(lent_bin_sent_from_the_callers_buffer)
{
	struct ht_daemon d;
	ht_start(&d, "limits = { max_payload = \"3M\"; };\nplugins = (" ECHO_ENTRY ", { name = "
		 "\"bytes\"; path = \"" HT_PLUGIN("bytes") "\"; });");
	bh_client *mc = ht_connect(&d), *pc = ht_connect(&d), *st = ht_connect(&d);
	bh_error err;
	ht_assert_ok(bh_client_use_memfd(mc, 0, HT_LONG_MS, &err), err);
	enum { LEN = 1 << 20 };
	uint8_t *blob = malloc(LEN), *other = malloc(LEN);
	ck_assert(blob && other);
	memset(blob, 0x11, LEN);
	memset(other, 0x22, LEN);

	/* Read at the call: the change made after the write is what travels, and the
	 * client socket carries only the envelopes. */
	uint64_t r0, s0, r1, s1, r2, s2;
	client_bytes(st, &r0, &s0);
	client_bytes(st, &r1, &s1);
	bh_result *res = echo_lent(mc, blob, LEN, blob);
	assert_lent_echo(bh_result_value(res), LEN, 0xab, 0xcd);
	bh_result_free(res);
	client_bytes(st, &r2, &s2);
	ck_assert_msg(r2 - r1 - (r1 - r0) < 1024, "the socket carried %llu bytes in",
		      (unsigned long long)(r2 - r1 - (r1 - r0)));

	/* A plain client copies at the write. */
	memset(blob, 0x11, LEN);
	res = echo_lent(pc, blob, LEN, blob);
	assert_lent_echo(bh_result_value(res), LEN, 0x11, 0x11);
	bh_result_free(res);

	/* Two in one call: the first lent, the second copied; both in place. */
	memset(blob, 0x11, LEN);
	bh_writer *w = bh_client_params(mc);
	bh_write_array(w, 1);
	bh_write_array(w, 2);
	ck_assert_int_eq(bh_client_write_bin_lent(mc, blob, LEN), 0);
	ck_assert_int_eq(bh_client_write_bin_lent(mc, other, LEN), 0);
	blob[0] = other[0] = 0x33;
	ht_assert_ok(bh_call(mc, "echo.echo", HT_LONG_MS, &res, &err), err);
	const bh_value *v = bh_result_value(res);
	ck_assert(v->type == BH_ARRAY && v->len == 2);
	ck_assert(v->as.items[0].len == LEN && v->as.items[0].as.bin[0] == 0x33);
	ck_assert(v->as.items[1].len == LEN && v->as.items[1].as.bin[0] == 0x22);
	ck_assert(v->as.items[1].as.bin[LEN - 1] == 0x22);
	bh_result_free(res);

	/* A lent bin within max_payload in params over it: no memfd, so its bytes go
	 * into params in its place (still read at the call) and the call goes inline,
	 * under max_message. */
	enum { BIG = (3 << 20) - 2 };
	uint8_t *big = malloc(BIG);
	ck_assert_ptr_nonnull(big);
	memset(big, 0x44, BIG);
	client_bytes(st, &r1, &s1);
	w = bh_client_params(mc);
	bh_write_array(w, 1);
	ck_assert_int_eq(bh_client_write_bin_lent(mc, big, BIG), 0);
	big[BIG - 1] = 0x55;
	ht_assert_ok(bh_call(mc, "bytes.count_bytes", HT_LONG_MS, &res, &err), err);
	v = bh_result_value(res);
	ck_assert(v->type == BH_ARRAY && v->len == 256);
	ck_assert(v->as.items[0x44].as.i == BIG - 1 && v->as.items[0x55].as.i == 1);
	bh_result_free(res);
	client_bytes(st, &r2, &s2);
	ck_assert_msg(r2 - r1 >= BIG, "%llu bytes in: not inline", (unsigned long long)(r2 - r1));

	free(big);
	free(blob);
	free(other);
	bh_client_free(mc);
	bh_client_free(pc);
	bh_client_free(st);
	ht_stop(&d);
}
END_TEST

/* ---- memfds from a client that is not the C SDK ---- */

#define MFD_LEN (128u * 1024)
/* BH_CONN_PASSED_MAX (supervisor/daemon/conn.h). */
#define BH_CONN_PASSED_MAX_TEST 64

static int fd_count(pid_t pid)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	DIR *dir = opendir(path);
	ck_assert_msg(dir, "%s: %s", path, strerror(errno));
	int n = 0;
	for (struct dirent *e; (e = readdir(dir));)
		n += e->d_name[0] != '.';
	closedir(dir);
	return n;
}

/* All of p[0 .. n-1], with fds[0 .. nfds-1] attached to the first byte. */
static void send_fd_list(struct ht_raw *r, const void *p, size_t n, const int *fds, int nfds)
{
	union {
		char buf[CMSG_SPACE(16 * sizeof(int))];
		struct cmsghdr align;
	} u;
	struct iovec iov = { (void *)p, n };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	if (nfds > 0) {
		ck_assert_int_le(nfds, 16);
		mh.msg_control = u.buf;
		mh.msg_controllen = CMSG_SPACE((size_t)nfds * sizeof(int));
		struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN((size_t)nfds * sizeof(int));
		memcpy(CMSG_DATA(c), fds, (size_t)nfds * sizeof(int));
	}
	ssize_t w = sendmsg(r->fd, &mh, MSG_NOSIGNAL);
	ck_assert_msg(w == (ssize_t)n, "sendmsg: %zd: %s", w, strerror(errno));
	if (w < (ssize_t)n)
		ck_assert_int_eq(ht_raw_send(r, (const uint8_t *)p + w, n - (size_t)w), 0);
}

/* The same with nfds copies of fd. */
static void send_fds(struct ht_raw *r, const void *p, size_t n, int fd, int nfds)
{
	int fds[16];
	ck_assert_int_le(nfds, 16);
	for (int i = 0; i < nfds; i++)
		fds[i] = fd;
	send_fd_list(r, p, n, fds, nfds);
}

/* [0, msgid, method, reference to len bytes of a memfd]. */
static size_t memfd_request_to(uint8_t *out, size_t cap, uint32_t msgid, const char *method,
			       uint32_t len)
{
	struct bh_buf b;
	bh_buf_init(&b, 0);
	bh_writer w;
	bh_writer_init(&w, &b);
	bh_write_array(&w, 4);
	bh_write_int(&w, 0);
	bh_write_uint(&w, msgid);
	bh_write_cstr(&w, method);
	uint8_t ref[BH_BULK_REF_SIZE];
	bh_bulk_ref_put(ref, &(struct bh_bulk_ref){ .kind = BH_BULK_MEMFD, .len = len });
	bh_write_raw(&w, ref, sizeof(ref));
	ck_assert_int_eq(bh_writer_error(&w), 0);
	ck_assert_uint_le(b.len, cap);
	memcpy(out, b.data, b.len);
	size_t n = b.len;
	bh_buf_done(&b);
	return n;
}

static size_t memfd_request(uint8_t *out, size_t cap, uint32_t msgid, uint32_t len)
{
	return memfd_request_to(out, cap, msgid, "echo.echo", len);
}

/* A memfd of size bytes holding [bin] (of what fits) in its first `filled` bytes,
 * with these seals. */
static int params_memfd(size_t size, size_t filled, unsigned seals)
{
	int fd = memfd_create("test-params", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(ftruncate(fd, (off_t)size), 0);
	uint8_t *p = malloc(filled);
	ck_assert_ptr_nonnull(p);
	uint32_t bin = (uint32_t)size - 6;
	uint8_t head[6] = { 0x91, 0xc6, (uint8_t)(bin >> 24), (uint8_t)(bin >> 16),
			    (uint8_t)(bin >> 8), (uint8_t)bin };
	memset(p, 0x5a, filled);
	memcpy(p, head, sizeof(head));
	ck_assert_int_eq(pwrite(fd, p, filled, 0), (ssize_t)filled);
	free(p);
	if (seals)
		ck_assert_int_eq(fcntl(fd, F_ADD_SEALS, (int)seals), 0);
	return fd;
}

static void expect_error(struct ht_raw *r, uint32_t msgid, const char *text)
{
	struct ht_reply rep;
	ck_assert_int_eq(ht_raw_recv(r, &rep), 1);
	ck_assert_uint_eq(rep.msgid, msgid);
	ck_assert_msg(rep.code != 0 && strstr(rep.message, text), "msgid %u: want an error "
		      "naming \"%s\", got %d \"%s\"", msgid, text, rep.code, rep.message);
}

/* Append [0, msgid, "bulkhead.hello", [{"memfd": on}]] to out. */
static void hello_memfd_request(struct bh_buf *out, uint32_t msgid, bool on)
{
	bh_writer w;
	bh_writer_init(&w, out);
	bh_write_array(&w, 4);
	bh_write_int(&w, 0);
	bh_write_uint(&w, msgid);
	bh_write_cstr(&w, "bulkhead.hello");
	bh_write_array(&w, 1);
	bh_write_map(&w, 1);
	bh_write_cstr(&w, "memfd");
	bh_write_bool(&w, on);
	ck_assert_int_eq(bh_writer_error(&w), 0);
}

static void raw_hello_memfd(struct ht_raw *r)
{
	struct bh_buf b;
	bh_buf_init(&b, 0);
	hello_memfd_request(&b, 1, true);
	ck_assert_int_eq(ht_raw_send(r, b.data, b.len), 0);
	bh_buf_done(&b);
	struct ht_reply rep;
	ck_assert_int_eq(ht_raw_recv(r, &rep), 1);
	ck_assert_int_eq(rep.code, 0);
	const bh_value *on = ht_get(ht_get(rep.result, "enabled"), "memfd");
	ck_assert(on && on->type == BH_BOOL && on->as.b);
	ck_assert_uint_eq(ht_get_uint(ht_get(ht_get(rep.result, "options"), "memfd"),
				      "max_fds"), BH_FDQ_MAX);
}

/* One whole response read with the fds that come with it: its result's bulk
 * reference (which it must be) and the fd. */
static void raw_recv_memfd_result(struct ht_raw *r, uint32_t msgid, struct bh_bulk_ref *ref,
				  int *ret_fd)
{
	struct bh_fdq q;
	bh_fdq_init(&q);
	uint8_t buf[256];
	size_t len = 0;
	struct bh_rpc rpc;
	const char *why;
	for (;;) {
		ssize_t n = bh_recv_fds(r->fd, buf + len, sizeof(buf) - len, &q, 0);
		ck_assert_int_gt(n, 0);
		len += (size_t)n;
		struct bh_scan sc;
		struct bh_limits lim;
		bh_limits_default(&lim);
		if (bh_scan(buf, len, &lim, &sc) == 0) {
			ck_assert_uint_eq(sc.size, len);
			break;
		}
	}
	ck_assert_int_eq(bh_rpc_parse_bulk(buf, len, &rpc, &why), 0);
	ck_assert_uint_eq(rpc.msgid, msgid);
	ck_assert_int_eq(bh_bulk_ref_get(rpc.result, rpc.result_len, ref), 0);
	ck_assert_uint_eq(ref->kind, BH_BULK_MEMFD);
	ck_assert_uint_eq(q.n, 1);
	ck_assert_int_eq(bh_fdq_take(&q, ret_fd), 0);
}

static ino_t inode_of(int fd)
{
	struct stat st;
	ck_assert_int_eq(fstat(fd, &st), 0);
	return st.st_ino;
}

/* A plugin that returns a large str or bin of its params unchanged returns it
 * without a copy: a memfd client gets its own memfd back, the reference naming
 * where the value starts in it; a result the plugin makes comes in a new memfd; a
 * connection that turned memfds off meanwhile gets the slice inline. */
START_TEST(memfd_result_slice_of_params)
{
	struct ht_daemon d;
	ht_start(&d, "plugins = (" ECHO_ENTRY ");");
	struct ht_raw r;
	ht_raw_open(&r, &d);
	raw_hello_memfd(&r);
	uint8_t msg[64];
	int fd = params_memfd(MFD_LEN, MFD_LEN, BH_MEMFD_SEALS_HOSTILE);
	size_t n = memfd_request(msg, sizeof(msg), 2, MFD_LEN);
	send_fds(&r, msg, n, fd, 1);
	struct bh_bulk_ref ref;
	int back;
	raw_recv_memfd_result(&r, 2, &ref, &back);
	ck_assert_uint_eq(inode_of(back), inode_of(fd));
	ck_assert_uint_eq(ref.off, 1); /* after the params' array header: the bin */
	ck_assert_uint_eq(ref.len, MFD_LEN - 1);
	uint8_t head[6];
	ck_assert_int_eq(pread(back, head, sizeof(head), ref.off), (ssize_t)sizeof(head));
	ck_assert_uint_eq(head[0], 0xc6);
	ck_assert_uint_eq(head[5], 0x5a);
	close(back);
	close(fd);

	/* blob(n) makes its result: a memfd of the daemon's, the value all of it. */
	struct bh_buf b;
	bh_buf_init(&b, 0);
	ht_req_ints(&b, 3, "echo.blob", 0, (const int64_t[]){ MFD_LEN }, 1);
	ck_assert_int_eq(ht_raw_send(&r, b.data, b.len), 0);
	bh_buf_done(&b);
	raw_recv_memfd_result(&r, 3, &ref, &back);
	ck_assert_uint_eq(ref.off, 0);
	ck_assert_uint_eq(ref.len, MFD_LEN + 5);
	ck_assert_int_eq(lseek(back, 0, SEEK_END), (off_t)ref.len);
	close(back);

	/* Params at an offset in a memfd: the daemon sends that form, it takes none. */
	uint8_t at_off[64] = { 0x94, 0x00, 0x06, 0xa9, 'e', 'c', 'h', 'o', '.', 'e', 'c', 'h', 'o' };
	size_t at_len = 13 + bh_bulk_ref_put(at_off + 13, &(struct bh_bulk_ref){
						       .kind = BH_BULK_MEMFD, .off = 1,
						       .len = MFD_LEN - 1 });
	fd = params_memfd(MFD_LEN, MFD_LEN, BH_MEMFD_SEALS_HOSTILE);
	send_fds(&r, at_off, at_len, fd, 1);
	close(fd);
	expect_error(&r, 6, "params: malformed memfd reference");

	/* Memfds turned off while the call runs (the hello in the same write, handled
	 * before the answer comes): the slice comes back inline, copied. */
	uint8_t both[256];
	n = memfd_request(both, sizeof(both), 4, MFD_LEN);
	bh_buf_init(&b, 0);
	hello_memfd_request(&b, 5, false);
	ck_assert_uint_le(n + b.len, sizeof(both));
	memcpy(both + n, b.data, b.len);
	fd = params_memfd(MFD_LEN, MFD_LEN, BH_MEMFD_SEALS_HOSTILE);
	send_fds(&r, both, n + b.len, fd, 1);
	close(fd);
	bh_buf_done(&b);
	for (int k = 0; k < 2; k++) {
		struct ht_reply rep;
		ck_assert_int_eq(ht_raw_recv(&r, &rep), 1);
		ck_assert_msg(rep.code == 0, "%u: %s", rep.msgid, rep.message);
		if (rep.msgid == 5)
			continue;
		ck_assert_uint_eq(rep.msgid, 4);
		const uint8_t *bin;
		size_t blen;
		ck_assert_int_eq(bh_value_get_bin(rep.result, &bin, &blen), 0);
		ck_assert_uint_eq(blen, MFD_LEN - 6);
		ck_assert(bin[0] == 0x5a && bin[blen - 1] == 0x5a);
	}
	ht_raw_close(&r);
	ht_stop(&d);
}
END_TEST

/* A request refused before its params are looked at (a method without a dot) still
 * takes its memfd: the next request, read with it, gets its own (100 and 200 bytes,
 * so the echo says which). On the old code the second took the first's memfd. */
START_TEST(memfd_refused_request_takes_its_fd)
{
	struct ht_daemon d;
	ht_start(&d, "plugins = (" ECHO_ENTRY ");");
	struct ht_raw r;
	ht_raw_open(&r, &d);
	raw_hello_memfd(&r);
	int fds[2] = { params_memfd(100, 100, BH_MEMFD_SEALS_HOSTILE),
		       params_memfd(200, 200, BH_MEMFD_SEALS_HOSTILE) };
	uint8_t msg[128];
	size_t n = memfd_request_to(msg, sizeof(msg), 2, "nodot", 100);
	n += memfd_request_to(msg + n, sizeof(msg) - n, 3, "echo.echo", 200);
	send_fd_list(&r, msg, n, fds, 2);
	close(fds[0]);
	close(fds[1]);
	expect_error(&r, 2, "plugin.method");
	struct ht_reply rep;
	ck_assert_int_eq(ht_raw_recv(&r, &rep), 1);
	ck_assert_uint_eq(rep.msgid, 3);
	ck_assert_msg(rep.code == 0, "the second request failed: %s", rep.message);
	const uint8_t *bin;
	size_t len;
	ck_assert_int_eq(bh_value_get_bin(rep.result, &bin, &len), 0);
	ck_assert_uint_eq(len, 200 - 6);
	ht_raw_close(&r);
	ht_stop(&d);
}
END_TEST

/* A client that asked for memfds and sends bad ones: each request is refused with
 * the reason (not sealed, sparse, of another size, no fd, not an array), fds that
 * come with a request that uses none are closed, a good memfd is echoed; a flood of
 * fds ahead of any request closes the connection; a client that did not ask gets
 * its fds dropped by the kernel. The daemon holds as many fds after as before. */
START_TEST(memfd_client_hostile)
{
	struct ht_daemon d;
	ht_start(&d, "plugins = (" ECHO_ENTRY ");");
	bh_client *good = ht_connect(&d);
	uint64_t echo_pid = ht_instance_pid(good, "echo", 0);
	/* A large call first: the instance's pool buffer exists before the count. */
	uint8_t *blob = calloc(1, MFD_LEN);
	ck_assert_ptr_nonnull(blob);
	bh_writer *pw = bh_client_params(good);
	bh_write_array(pw, 1);
	bh_write_bin(pw, blob, MFD_LEN);
	free(blob);
	bh_error err;
	ht_assert_ok(bh_call(good, "echo.echo", HT_LONG_MS, NULL, &err), err);
	int fds0 = fd_count(d.pid);
	struct ht_raw r;
	ht_raw_open(&r, &d);
	raw_hello_memfd(&r);
	const unsigned all = BH_MEMFD_SEALS_HOSTILE;
	uint8_t msg[64];
	size_t n;
	int fd;

	fd = params_memfd(MFD_LEN, MFD_LEN, F_SEAL_SHRINK | F_SEAL_GROW);
	n = memfd_request(msg, sizeof(msg), 2, MFD_LEN);
	send_fds(&r, msg, n, fd, 1);
	close(fd);
	expect_error(&r, 2, "not sealed");

	fd = params_memfd(MFD_LEN, 4096, all);
	n = memfd_request(msg, sizeof(msg), 3, MFD_LEN);
	send_fds(&r, msg, n, fd, 1);
	close(fd);
	expect_error(&r, 3, "pages missing");

	fd = params_memfd(2 * MFD_LEN, 2 * MFD_LEN, all);
	n = memfd_request(msg, sizeof(msg), 4, MFD_LEN);
	send_fds(&r, msg, n, fd, 1);
	close(fd);
	expect_error(&r, 4, "size is not the length announced");

	n = memfd_request(msg, sizeof(msg), 5, MFD_LEN);
	send_fds(&r, msg, n, -1, 0);
	expect_error(&r, 5, "without its fd");

	fd = params_memfd(MFD_LEN, MFD_LEN, all);
	ck_assert_int_eq(pwrite(fd, "\xc4", 1, 0), -1); /* sealed: cannot be rewritten */
	close(fd);
	fd = params_memfd(MFD_LEN, MFD_LEN, 0);
	ck_assert_int_eq(pwrite(fd, "\xc0", 1, 0), 1); /* nil, not an array */
	ck_assert_int_eq(fcntl(fd, F_ADD_SEALS, (int)all), 0);
	n = memfd_request(msg, sizeof(msg), 6, MFD_LEN);
	send_fds(&r, msg, n, fd, 1);
	close(fd);
	expect_error(&r, 6, "not exactly one MessagePack array");

	/* A plain request with fds it does not use: answered, the fds closed. */
	struct bh_buf b;
	bh_buf_init(&b, 0);
	ht_req_str(&b, 7, "echo.echo", "plain");
	send_fds(&r, b.data, b.len, 2, 3);
	struct ht_reply rep;
	ck_assert_int_eq(ht_raw_recv(&r, &rep), 1);
	ck_assert_uint_eq(rep.msgid, 7);
	ck_assert_int_eq(rep.code, 0);
	bh_buf_done(&b);

	fd = params_memfd(MFD_LEN, MFD_LEN, all);
	n = memfd_request(msg, sizeof(msg), 8, MFD_LEN);
	send_fds(&r, msg, n, fd, 1);
	close(fd);
	ck_assert_int_eq(ht_raw_recv(&r, &rep), 1);
	ck_assert_uint_eq(rep.msgid, 8);
	ck_assert_msg(rep.code == 0, "a good memfd refused: %s", rep.message);

	/* More fds than the queue holds, ahead of a request begun and never ended. */
	send_fds(&r, "\x94", 1, 2, BH_FDQ_MAX + 1);
	ht_raw_expect_eof(&r);
	ht_raw_close(&r);

	/* A client that did not ask for memfds: its fds never reach the daemon. */
	ht_raw_open(&r, &d);
	bh_buf_init(&b, 0);
	ht_req_str(&b, 9, "echo.echo", "plain");
	send_fds(&r, b.data, b.len, 2, 16);
	ck_assert_int_eq(ht_raw_recv(&r, &rep), 1);
	ck_assert_int_eq(rep.code, 0);
	bh_buf_done(&b);
	ht_raw_close(&r);

	ck_assert_uint_eq(ht_instance_pid(good, "echo", 0), echo_pid);
	int fds = fd_count(d.pid);
	ck_assert_msg(fds == fds0, "the daemon held %d fds before, %d after", fds0, fds);
	bh_client_free(good);
	ht_stop(&d);
}
END_TEST

/* Calls that hold the memfd of their params are capped per connection: with the one
 * echo instance asleep, BH_CONN_PASSED_MAX calls wait with theirs, the next is refused
 * as overloaded at once. */
START_TEST(memfd_calls_capped)
{
	struct ht_daemon d;
	ht_start(&d, "plugins = (" ECHO_ENTRY ");");
	struct ht_raw r;
	ht_raw_open(&r, &d);
	raw_hello_memfd(&r);
	/* [2000] in a sealed memfd: echo.sleep_ms(2000). */
	int fd = memfd_create("test-sleep", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(pwrite(fd, "\x91\xcd\x07\xd0", 4, 0), 4);
	ck_assert_int_eq(fcntl(fd, F_ADD_SEALS, (int)BH_MEMFD_SEALS_HOSTILE), 0);
	struct bh_buf b;
	bh_buf_init(&b, 0);
	for (uint32_t i = 0; i <= BH_CONN_PASSED_MAX_TEST; i++) {
		bh_writer w;
		b.len = 0;
		bh_writer_init(&w, &b);
		bh_write_array(&w, 4);
		bh_write_int(&w, 0);
		bh_write_uint(&w, 100 + i);
		bh_write_cstr(&w, "echo.sleep_ms");
		uint8_t ref[BH_BULK_REF_SIZE];
		bh_bulk_ref_put(ref, &(struct bh_bulk_ref){ .kind = BH_BULK_MEMFD, .len = 4 });
		bh_write_raw(&w, ref, sizeof(ref));
		send_fds(&r, b.data, b.len, fd, 1);
	}
	close(fd);
	expect_error(&r, 100 + BH_CONN_PASSED_MAX_TEST, "calls with params in a memfd");
	bh_buf_done(&b);
	ht_raw_close(&r);
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
/* A client that sends many requests answered at once (status, a large answer with
 * 40 plugins) and reads nothing: its output passes the hard cap while the daemon
 * answers one of them in the middle of a batch. The connection is closed after the
 * batch, not under the call being answered (which freed that call twice), and the
 * daemon serves everyone else. */
START_TEST(reader_that_never_reads_closed_after_its_batch)
{
	struct ht_daemon d;
	char conf[8192] = "plugins = (";
	for (int i = 0; i < 40; i++)
		snprintf(conf + strlen(conf), sizeof conf - strlen(conf),
			 "%s{ name = \"p%d\"; path = \"%s\"; }", i ? "," : "", i,
			 HT_PLUGIN("echo"));
	strcat(conf, ");");
	ht_start(&d, "%s", conf);
	bh_client *good = ht_connect(&d);
	bh_result *st = ht_status(good);
	bh_result_free(st);

	struct ht_raw r;
	ht_raw_open(&r, &d);
	struct bh_buf req;
	bh_buf_init(&req, 0);
	for (uint32_t i = 0; i < 4000; i++)
		ht_req_ints(&req, i, "bulkhead.status", 0, NULL, 0);
	(void)ht_raw_send(&r, req.data, req.len); /* may find the connection closed */
	bh_buf_done(&req);
	int64_t v = 9;
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(ht_call_int_ok(good, "p0.echo", &v, 1), 9);
	ck_assert(ht_log_has(&d, "does not read its responses"));
	ht_raw_close(&r);
	bh_client_free(good);
	ht_stop(&d);
}
END_TEST

/* An initialised shim answers through its ring (bulkhead/ring.h): pipelined calls all
 * come back once, read from the ring and never at a deadline (a lost wake-up would
 * leave them there until then); an answer too large for the ring comes on the socket
 * between them. */
START_TEST(answers_come_through_the_ring)
{
	enum { CALLS = 200 };
	struct ht_daemon d;
	ht_start(&d, "plugins = (" ECHO_ENTRY ");");
	bh_client *c = ht_connect(&d);
	struct input before = input_now(c);

	static struct ht_outcome o[CALLS];
	for (int i = 0; i < CALLS; i++)
		ht_start_ints(c, "echo.pid", HT_LONG_MS, &o[i], NULL, 0);
	bh_client *cs[] = { c };
	ht_run_clients(cs, 1, HT_LONG_MS);
	for (int i = 0; i < CALLS; i++) /* its pid in its namespace: the same every time */
		ck_assert_int_eq(ht_outcome_int(&o[i], "echo.pid"), ht_outcome_int(&o[0], "echo.pid"));
	struct input mid = input_now(c);
	/* [1, msgid, nil, 1]: at least 5 bytes each; the socket carried at most wake-ups */
	uint64_t ring = mid.ring_read - before.ring_read;
	uint64_t socket = mid.channel_read - before.channel_read - ring;
	ck_assert_msg(ring >= CALLS * 5 && socket < CALLS,
		      "%llu bytes of %d answers came through the ring, %llu through the socket",
		      (unsigned long long)ring, CALLS, (unsigned long long)socket);
	ck_assert_uint_eq(mid.ring_late, 0);

	const int64_t size = BH_RING_ENTRY_MAX + 1000;
	bh_result *res = NULL;
	bh_error err;
	ht_assert_ok(ht_call_ints(c, "echo.blob", HT_LONG_MS, &res, &err, &size, 1), err);
	ck_assert_uint_eq(bh_result_value(res)->len, (uint64_t)size);
	bh_result_free(res);
	struct input after = input_now(c);
	ck_assert_msg((after.channel_read - after.ring_read) - (mid.channel_read - mid.ring_read) >=
			      (uint64_t)size,
		      "the large answer did not come through the socket");
	ck_assert_uint_eq(after.ring_late, 0);
	bh_client_free(c);
	ht_stop(&d);
}
END_TEST

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
	tcase_add_test(tc, large_params_survive_queues_and_moves);
	tcase_add_test(tc, memfd_client_round_trip);
	tcase_add_test(tc, lent_bin_sent_from_the_callers_buffer);
	tcase_add_test(tc, memfd_client_hostile);
	tcase_add_test(tc, memfd_result_slice_of_params);
	tcase_add_test(tc, memfd_refused_request_takes_its_fd);
	tcase_add_test(tc, memfd_calls_capped);
	tcase_add_test(tc, header_over_limit_refused_early);
	tcase_add_test(tc, held_requests_bounded_in_bytes);
	tcase_add_test(tc, response_backlog_drains_linearly);
	tcase_add_test(tc, answers_come_through_the_ring);
	tcase_add_test(tc, reader_that_never_reads_closed_after_its_batch);
	suite_add_tcase(s, tc);
	return ht_main(s);
}
