/* Serving the channel: read one message, dispatch it, answer it (channel.h steps
 * 2-5). Responses are an envelope built in s->hdr followed, without a copy, by the
 * bytes the plugin wrote into its frame's out. A call runs in s->top: frame 0 for
 * the messages of the stream, a frame of its own for a call that re-enters while
 * another one waits for its call out (callout.c). */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "shim.h"

/* Buffers shrink back to this after a large message. */
#define SHIM_BUF_KEEP BH_BUF_KEEP
/* Smallest read; reads grow with the message being received. */
#define SHIM_READ_MIN (64 * 1024)
/* Method names from the supervisor are quoted in messages up to this length. */
#define SHIM_QUOTE_MAX 80

static const bh_value empty_map = { .type = BH_MAP };

static bh_writer *hdr_reset(struct shim *s)
{
	s->hdr.len = 0;
	bh_writer_init(&s->hdr_w, &s->hdr);
	return &s->hdr_w;
}

/* A method's result may go in the result area, or be a slice of its bulk params
 * (bulk.c); anything else not. */
static bh_writer *out_reset_for(struct shim *s, bool bulk)
{
	struct shim_frame *f = s->top;

	shim_bulk_out(s, bulk);
	f->out.len = 0;
	if (!f->out_in_area)
		bh_buf_shrink(&f->out, SHIM_BUF_KEEP);
	bh_writer_init(&f->out_w, &f->out);
	/* Only a value of bulk size is worth a slice: anything smaller goes inline. */
	if (bulk && f->bulk_params)
		bh_writer_lend(&f->out_w, f->bulk_params, f->bulk_params_len, BH_BULK_THRESHOLD);
	return &f->out_w;
}

static bh_writer *out_reset(struct shim *s)
{
	return out_reset_for(s, false);
}

static bool method_is(const struct bh_rpc *rpc, const char *name)
{
	size_t n = strlen(name);

	return rpc->method_len == n && memcmp(rpc->method, name, n) == 0;
}

static int quote_len(const struct bh_rpc *rpc)
{
	return rpc->method_len > SHIM_QUOTE_MAX ? SHIM_QUOTE_MAX : (int)rpc->method_len;
}

static void send_hdr_and_out(struct shim *s, bool with_out)
{
	int r = bh_writer_error(&s->hdr_w);

	if (r < 0)
		shim_die(SHIM_EXIT_IO, "encoding a response: %s", strerror(-r));
	shim_send(s, s->hdr.data, s->hdr.len, s->top->out.data, with_out ? s->top->out.len : 0);
}

/* [1, msgid, {code, name, message}, nil] */
static __attribute__((format(printf, 4, 5))) void
send_error(struct shim *s, uint32_t id, int32_t code, const char *fmt, ...)
{
	char msg[BH_ERROR_MESSAGE_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	bh_rpc_write_error(hdr_reset(s), id, code, msg);
	send_hdr_and_out(s, false);
}

/* Starts [1, msgid, nil, ...: the caller writes or appends the result. */
static bh_writer *result_begin(struct shim *s, uint32_t id)
{
	bh_writer *w = hdr_reset(s);

	bh_write_array(w, 4);
	bh_write_int(w, BH_RPC_RESPONSE);
	bh_write_uint(w, id);
	bh_write_nil(w);
	return w;
}

static void send_nil(struct shim *s, uint32_t id)
{
	bh_write_nil(result_begin(s, id));
	send_hdr_and_out(s, false);
}

/* A callback failed: pass its error on, restricted to the codes a plugin may use
 * (error.h) so that a plugin cannot pose as the supervisor ("timeout", "crashed"). */
static void send_plugin_error(struct shim *s, uint32_t id, bh_error *err, const char *what)
{
	int32_t code = bh_code_from_plugin(err->code);

	err->message[sizeof(err->message) - 1] = '\0';
	if (err->message[0] == '\0')
		send_error(s, id, code, "%s failed", what);
	else
		send_error(s, id, code, "%s", err->message);
}

/* Whether a callback that writes to its out failed. `return bh_write_x(out, ...)` is
 * an idiom: a nonzero return without bh_fail() after a writer error is that writer
 * error, which check_output() reports precisely (e.g. result too large). */
static bool failed(const struct shim *s, int rc, const bh_error *err)
{
	return rc != 0 && !(err->code == BH_OK && bh_writer_error(&s->top->out_w) < 0);
}

/* A callback returned success: check that it wrote exactly one complete value that
 * the supervisor will accept `depth` levels down in a response (plain result 1,
 * snapshot blob 2). 0, or -1 after answering with an error. */
static int check_output(struct shim *s, uint32_t id, uint32_t depth, const char *what)
{
	const struct shim_frame *f = s->top;
	int r = bh_writer_error(&f->out_w);
	size_t lent_off, lent_len;

	if (r == -EMSGSIZE) {
		send_error(s, id, BH_E_TOO_LARGE, "%s produced a result larger than %zu bytes",
			   what, f->out.max);
		return -1;
	}
	if (r < 0) {
		send_error(s, id, BH_E_INTERNAL, "%s: out of memory for its result", what);
		return -1;
	}
	if (bh_writer_lent(&f->out_w, &lent_off, &lent_len))
		return 0; /* one str or bin of the params, as they were checked */
	if (f->out.len == 0) {
		send_error(s, id, BH_E_PLUGIN_ERROR, "%s produced no result", what);
		return -1;
	}

	struct bh_limits lim = s->limits;
	struct bh_scan sc;
	lim.max_message = f->out.max;
	if (f->out_in_area && lim.max_bytes < f->out.max)
		lim.max_bytes = (uint32_t)f->out.max; /* the area is the bulk ceiling */
	lim.max_depth = lim.max_depth > depth ? lim.max_depth - depth : 1;
	r = bh_scan(f->out.data, f->out.len, &lim, &sc);
	if (r == 0 && sc.size == f->out.len)
		return 0;
	if (r == 0)
		send_error(s, id, BH_E_PLUGIN_ERROR,
			   "%s produced a malformed result (more than one value)", what);
	else if (r == -EAGAIN)
		send_error(s, id, BH_E_PLUGIN_ERROR,
			   "%s produced a malformed result (incomplete value)", what);
	else if (r == -EBADMSG)
		send_error(s, id, BH_E_PLUGIN_ERROR, "%s produced a malformed result (%s)", what,
			   bh_proto_strerror(r));
	else
		send_error(s, id, BH_E_TOO_LARGE, "%s produced a result beyond the limits: %s",
			   what, bh_proto_strerror(r));
	return -1;
}

/* [0, id, "$init", [config_map]] */
static void do_init(struct shim *s, uint32_t id, const bh_value *params)
{
	const bh_value *config = bh_value_at(params, 0);

	if (s->ready) {
		send_error(s, id, BH_E_BAD_REQUEST, "plugin %s is already initialized",
			   s->desc.name);
		return;
	}
	shim_bulk_area(s, bh_value_at(params, 1));
	if (!config || config->type == BH_NIL)
		config = &empty_map;
	if (config->type != BH_MAP) {
		send_error(s, id, BH_E_INVALID_PARAMS, "$init: the config must be a map");
		return;
	}
	if (s->desc.init) {
		bh_error err;
		void *state = NULL;
		memset(&err, 0, sizeof(err));
		if (s->desc.init(config, &state, &err) != 0) {
			send_plugin_error(s, id, &err, "init");
			return;
		}
		s->state = state;
	}
	s->ready = true;
	send_nil(s, id);
	/* From here on: an instance that never serves a call never touches the ring's
	 * pages, which a thousand idle ones would otherwise add to the daemon's memory. */
	s->ring_on = s->ring_wanted;
}

/* [0, id, "$snapshot", []] -> [state_version, blob] */
static void do_snapshot(struct shim *s, uint32_t id)
{
	bh_error err;

	memset(&err, 0, sizeof(err));
	if (failed(s, s->desc.snapshot(s->state, out_reset(s), &err), &err)) {
		send_plugin_error(s, id, &err, "snapshot");
		return;
	}
	if (check_output(s, id, 2, "snapshot") < 0)
		return;
	bh_writer *w = result_begin(s, id);
	bh_write_array(w, 2);
	bh_write_uint(w, s->desc.state_version);
	send_hdr_and_out(s, true);
}

/* [0, id, "$restore", [state_version, blob]] */
static void do_restore(struct shim *s, uint32_t id, const bh_value *params)
{
	uint64_t version;
	bh_error err;

	if (params->len != 2 || bh_value_get_uint(bh_value_at(params, 0), &version) < 0 ||
	    version > UINT32_MAX) {
		send_error(s, id, BH_E_INVALID_PARAMS, "$restore wants [state_version, blob]");
		return;
	}
	memset(&err, 0, sizeof(err));
	if (s->desc.restore(s->state, (uint32_t)version, bh_value_at(params, 1), &err) != 0) {
		send_plugin_error(s, id, &err, "restore");
		return;
	}
	send_nil(s, id);
}

/* [0, id, "$health", []] -> nil, or the plugin's error. Without a health callback the
 * answer itself is the probe: the loop still reads and writes its channel. */
static void do_health(struct shim *s, uint32_t id)
{
	bh_error err;

	memset(&err, 0, sizeof(err));
	if (s->desc.health && s->desc.health(s->state, &err) != 0) {
		send_plugin_error(s, id, &err, "health");
		return;
	}
	send_nil(s, id);
}

static void call_method(struct shim *s, uint32_t id, const struct bh_rpc *rpc,
			const bh_value *params)
{
	const struct shim_method *m = shim_find_method(s, rpc->method, rpc->method_len);
	char what[BH_NAME_MAX + 16];
	bh_error err;

	if (!m) {
		send_error(s, id, BH_E_UNKNOWN_METHOD, "plugin %s has no method %.*s",
			   s->desc.name, quote_len(rpc), rpc->method);
		return;
	}
	/* "method NAME" for the error messages, without printf: this is every call's path. */
	size_t n = strnlen(m->name, sizeof(what) - sizeof("method "));
	memcpy(what, "method ", sizeof("method ") - 1);
	memcpy(what + sizeof("method ") - 1, m->name, n);
	what[sizeof("method ") - 1 + n] = '\0';
	memset(&err, 0, sizeof(err));
	if (failed(s, m->fn(s->state, params, out_reset_for(s, true), &err), &err)) {
		send_plugin_error(s, id, &err, what);
		return;
	}
	if (check_output(s, id, 1, what) < 0)
		return;
	struct bh_bulk_ref ref;
	if (bh_bulk_ref_get(s->top->out.data, s->top->out.len, &ref) != -ENOENT) {
		send_error(s, id, BH_E_PLUGIN_ERROR, "%s produced a result of ext type %d, which "
			   "the channel reserves", what, BH_EXT_BULK);
		return;
	}
	result_begin(s, id);
	if (!shim_bulk_send_result(s))
		send_hdr_and_out(s, true);
}

static void serve_request(struct shim *s, const struct bh_rpc *rpc, bool bulk)
{
	uint32_t id = rpc->msgid;
	const bh_value *params;
	size_t used;
	struct bh_limits lim = s->limits;
	if (bulk) /* params in a pool buffer: their ceiling is the supervisor's max_payload */
		lim.max_message = lim.max_bytes = (uint32_t)rpc->params_len;
	int r = bh_decode(rpc->params, rpc->params_len, &lim, &s->top->arena, &params, &used);

	if (r == -ENOMEM) {
		send_error(s, id, BH_E_INTERNAL, "out of memory decoding the parameters");
		return;
	}
	if (r < 0) {
		send_error(s, id, BH_E_BAD_REQUEST, "parameters: %s", bh_proto_strerror(r));
		return;
	}

	bool internal = rpc->method_len > 0 && rpc->method[0] == '$';
	if (internal && method_is(rpc, BH_CH_INIT)) {
		do_init(s, id, params);
		return;
	}
	if (internal && !method_is(rpc, BH_CH_SNAPSHOT) && !method_is(rpc, BH_CH_RESTORE) &&
	    !method_is(rpc, BH_CH_HEALTH)) {
		send_error(s, id, BH_E_UNKNOWN_METHOD, "the shim has no method %.*s",
			   quote_len(rpc), rpc->method);
		return;
	}
	if (!s->ready) {
		send_error(s, id, BH_E_UNAVAILABLE, "plugin %s is not initialized", s->desc.name);
		return;
	}
	if (!internal)
		call_method(s, id, rpc, params);
	else if (method_is(rpc, BH_CH_HEALTH))
		do_health(s, id);
	else if (!s->has_state)
		send_error(s, id, BH_E_UNKNOWN_METHOD, "plugin %s has no state to %s",
			   s->desc.name, method_is(rpc, BH_CH_SNAPSHOT) ? "snapshot" : "restore");
	else if (method_is(rpc, BH_CH_SNAPSHOT))
		do_snapshot(s, id);
	else
		do_restore(s, id, params);
}

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* A request, in s->top. kept: it was read during a wait and kept (its fd set aside). */
static void run_request(struct shim *s, struct bh_rpc *rpc, bool kept)
{
	/* Resolved even for a call that will not run: it may bring a pool buffer. */
	bool bulk = shim_bulk_params(s, rpc->params, rpc->params_len, kept, &rpc->params,
				     &rpc->params_len) > 0;
	if (s->use_claims && !bh_claim_start(&s->claims, rpc->msgid, now_ns()))
		return; /* taken back or past its deadline: it never runs, nobody waits */
	s->top->id = rpc->msgid;
	serve_request(s, rpc, bulk);
	shim_frame_done(s->top);
}

bool shim_is_reentry(const struct bh_rpc *rpc)
{
	return rpc->options_len == BH_CH_REENTER_OPTS_LEN &&
	       memcmp(rpc->options, BH_CH_REENTER_OPTS, BH_CH_REENTER_OPTS_LEN) == 0;
}

void shim_serve_reentry(struct shim *s, struct bh_rpc *rpc, size_t size)
{
	if (s->depth == SHIM_FRAMES_MAX) {
		shim_bulk_drop(s, rpc);
		if (!s->use_claims || bh_claim_start(&s->claims, rpc->msgid, now_ns()))
			send_error(s, rpc->msgid, BH_E_CHAIN_TOO_DEEP,
				   "plugin %s runs %d calls nested already", s->desc.name,
				   SHIM_FRAMES_MAX);
		shim_frame_skip(s, size);
		return;
	}
	shim_frame_push(s, s->top->kept + size);
	run_request(s, rpc, false);
	shim_frame_pop(s);
}

/* One complete message of the stream, msg[0..len-1]; kept: read during a wait. */
static void handle(struct shim *s, const uint8_t *msg, size_t len, bool kept)
{
	struct bh_rpc rpc;
	const char *why = NULL;

	if (bh_rpc_parse_bulk(msg, len, &rpc, &why) < 0) {
		/* Still answer a request we can correlate: every request gets a response. */
		uint32_t id;
		if (bh_rpc_request_msgid(msg, len, &id) == 0) {
			send_error(s, id, BH_E_BAD_REQUEST, "bad message: %s",
				   why ? why : "malformed envelope");
			return;
		}
		shim_die(SHIM_EXIT_PROTOCOL, "bad message from the supervisor: %s",
			 why ? why : "malformed envelope");
	}
	switch (rpc.type) {
	case BH_RPC_REQUEST:
		/* One marked re-entering may come after the answer that ended the wait it was
		 * meant for (the supervisor answers a call out early when its call ends, and
		 * a call it wrote later may follow): it runs like any other. */
		s->frames[0].msg_end = len;
		s->depth = 1;
		run_request(s, &rpc, kept);
		s->depth = 0;
		return;
	case BH_RPC_NOTIFY:
		if (method_is(&rpc, BH_CH_STOP)) {
			if (s->ready && s->desc.shutdown)
				s->desc.shutdown(s->state);
			exit(SHIM_EXIT_OK); /* a clean stop: stdio flushed, destructors run */
		}
		shim_die(SHIM_EXIT_PROTOCOL, "unknown notification %.*s from the supervisor",
			 quote_len(&rpc), rpc.method);
	default:
		shim_die(SHIM_EXIT_PROTOCOL, "unexpected response from the supervisor");
	}
}

/* One read into b, waiting for bytes or not; false only when none were there. Reads
 * grow with the message being received, so a large one takes O(log n) reads when the
 * supervisor writes it faster than we read. */
static bool read_into(struct shim *s, struct bh_buf *b, size_t partial, bool wait)
{
	/* > 0: bh_scan says -EMSGSIZE at max; a wait buffer has none (max 0) */
	size_t room = b->max ? b->max - b->len : SIZE_MAX - b->len;
	size_t want = partial > SHIM_READ_MIN ? partial : SHIM_READ_MIN;
	size_t got;

	if (want > room)
		want = room;
	int r = bh_buf_reserve(b, want);
	if (r < 0)
		shim_die(SHIM_EXIT_IO, "receive buffer: %s", strerror(-r));
	size_t space = b->cap - b->len;
	if (space > room)
		space = room;
	shim_hot_before_read(s);
	r = shim_recv(s, b->data + b->len, space, &got, wait);
	if (r == -EAGAIN && !wait)
		return false;
	if (r == -ECONNRESET)
		shim_exit_quietly();
	if (r < 0)
		shim_die(SHIM_EXIT_IO, "reading the channel: %s", strerror(-r));
	if (got == 0)
		shim_exit_quietly(); /* the supervisor is gone: do not call into the plugin */
	b->len += got;
	return true;
}

void shim_read_more(struct shim *s, struct bh_buf *b, size_t partial)
{
	(void)read_into(s, b, partial, true);
}

bool shim_read_ready(struct shim *s, struct bh_buf *b)
{
	return read_into(s, b, 0, false);
}

void shim_serve(struct shim *s)
{
	for (;;) {
		struct bh_scan sc;
		/* Resumed where the last read stopped: linear however the message is split. */
		int r = s->in.len > 0 ? bh_scanner_feed(&s->scan, s->in.data, s->in.len, &s->limits, &sc)
				      : -EAGAIN;

		if (r == -EAGAIN) {
			if (s->in.len == 0)
				shim_hot_wait(s, &s->in);
			else
				shim_read_more(s, &s->in, s->in.len);
			continue;
		}
		if (r < 0)
			shim_die(SHIM_EXIT_PROTOCOL, "malformed message from the supervisor: %s",
				 bh_proto_strerror(r));
		/* The decoded params point into s->in: consume only after answering. */
		bool kept = s->in_kept > 0;
		handle(s, s->in.data, sc.size, kept);
		bh_buf_consume(&s->in, sc.size);
		if (kept)
			s->in_kept -= sc.size;
		if (s->frames[0].waited)
			shim_frame_resume(s); /* what the call's waits read comes next */
		if (s->in.len == 0) {
			shim_bulk_check_fds(s);
			bh_buf_shrink(&s->in, SHIM_BUF_KEEP);
		}
	}
}
