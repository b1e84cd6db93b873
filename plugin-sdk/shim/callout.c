/* Calls out (plugin.h "Calling out", channel.h step 6), and the frames that make the
 * shim re-entrant.
 *
 * A call that calls out sends [0, oid, target, params, {"in": id}] and reads the
 * channel until the answer [1, oid, ...] comes. Meanwhile the calls that re-enter
 * (marked with BH_CH_REENTER_OPTS) run at once, nested, each in a frame of its own;
 * everything else is kept, in order, until the waiting call has returned.
 *
 * Nothing that a waiting call references moves: its message (its params point into
 * it, or into a pool buffer), its decoded params (its frame's arena), its result so
 * far (its frame's out: the plugin holds &out_w). So a frame that calls out first
 * moves the bytes that follow its message in the buffer below (s->in, or the wait
 * buffer of the frame it is nested on) into a wait buffer of its own, and reads the
 * stream on into it. Its layout:
 *
 *     wait: [kept messages][last answer][not scanned yet]
 *            0 ......... kept ... kept+answer ......... len
 *
 * A re-entering call runs from its place in there (at `kept`); its own waits read
 * into the next frame's buffer. When a nested call returns, its message is cut out
 * and what its frame read and did not handle (kept messages, then the unscanned
 * rest: its last answer is dropped) takes its place: the messages it kept stay kept.
 * When frame 0's call returns, its wait buffer becomes s->in, kept messages first,
 * and the serve loop handles them in stream order (claiming each only then). So a
 * copy happens only for the bytes that follow a message that calls out, and only
 * when there are some.
 *
 * The fds that come with kept messages (bulk params) are set aside in stream order
 * (s->kept_fds) so that a call that runs before them takes its own. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#include "bulkhead/bulk.h"

#include "shim.h"

/* "plugin.method" is at most 2 * BH_NAME_MAX + 1; a caller's or a provider's method
 * names are the supervisor's to check: this only bounds what goes on the wire. */
#define CALLOUT_TARGET_MAX 256
/* Room in a message for the envelope around a call out's params. */
#define CALLOUT_ENVELOPE_MAX (CALLOUT_TARGET_MAX + 64)

/* The plugin API has no context argument: the one shim of this process. */
static struct shim *the_shim;

static void frame_init(struct shim *s, struct shim_frame *f)
{
	size_t max = s->limits.max_message;

	bh_arena_init(&f->arena);
	bh_buf_init(&f->out, max - SHIM_ENVELOPE_SLACK);
	bh_writer_init(&f->out_w, &f->out);
	bh_buf_init(&f->params, max - CALLOUT_ENVELOPE_MAX);
	bh_writer_init(&f->params_w, &f->params);
	bh_arena_init(&f->result);
	bh_buf_init(&f->wait, 0); /* kept messages are not bounded by one message's size */
	f->ready = true;
}

void shim_callout_init(struct shim *s)
{
	the_shim = s;
	s->top = &s->frames[0];
	frame_init(s, s->top);
	bh_buf_init(&s->kept_fds, 0);
	bh_buf_init(&s->early, 0);
}

struct shim_frame *shim_frame_push(struct shim *s, size_t msg_end)
{
	struct shim_frame *f = &s->frames[s->depth++];

	if (!f->ready)
		frame_init(s, f);
	f->msg_end = msg_end;
	s->top = f;
	return f;
}

/* Cut buf[at .. at+n) out. */
static void cut(struct bh_buf *b, size_t at, size_t n)
{
	memmove(b->data + at, b->data + at + n, b->len - at - n);
	b->len -= n;
}

static void drop_answer(struct shim_frame *f)
{
	if (f->answer)
		cut(&f->wait, f->kept, f->answer);
	f->answer = 0;
}

void shim_frame_skip(struct shim *s, size_t size)
{
	cut(&s->top->wait, s->top->kept, size);
}

void shim_frame_pop(struct shim *s)
{
	struct shim_frame *f = s->top;
	struct shim_frame *below = f - 1;
	struct bh_buf *src = &below->wait;
	size_t at = below->kept;

	s->depth--;
	s->top = below;
	if (f->passed.p) { /* the params of a call that is over */
		munmap(f->passed.p, f->passed.len);
		f->passed.p = NULL;
	}
	if (!f->waited) {
		cut(src, at, f->msg_end - at);
		return;
	}
	/* Its message was the last thing in src: its waits moved what followed. */
	src->len = at;
	drop_answer(f);
	if (bh_buf_append(src, f->wait.data, f->wait.len) < 0)
		shim_die(SHIM_EXIT_IO, "out of memory");
	below->kept += f->kept;
	f->wait.len = f->kept = 0;
	f->waited = false;
	bh_buf_shrink(&f->wait, BH_BUF_KEEP);
}

void shim_frame_resume(struct shim *s)
{
	struct shim_frame *f = &s->frames[0];

	drop_answer(f);
	struct bh_buf w = f->wait;
	/* s->in is empty: trade storage, each keeps its ceiling. */
	f->wait.data = s->in.data;
	f->wait.cap = s->in.cap;
	f->wait.len = 0;
	s->in.data = w.data;
	s->in.cap = w.cap;
	s->in.len = w.len;
	s->in_kept = f->kept;
	f->kept = 0;
	f->waited = false;
	bh_buf_shrink(&f->wait, BH_BUF_KEEP);
}

/* Before the first call out of s->top's call: the stream after its message goes to
 * its wait buffer. */
static void begin_wait(struct shim *s, struct shim_frame *f)
{
	if (f->waited) {
		drop_answer(f); /* the last call out's result is no longer valid */
		return;
	}
	struct bh_buf *src = f == s->frames ? &s->in : &(f - 1)->wait;
	size_t tail = src->len - f->msg_end;
	f->kept = 0;
	if (f == s->frames && s->in_kept > f->msg_end)
		f->kept = s->in_kept - f->msg_end; /* kept before, and still */
	if (tail && bh_buf_append(&f->wait, src->data + f->msg_end, tail) < 0)
		shim_die(SHIM_EXIT_IO, "out of memory");
	src->len = f->msg_end;
	if (f == s->frames)
		s->in_kept = s->in_kept > f->msg_end ? f->msg_end : s->in_kept;
	f->waited = true;
}

/* Whether a frame below f waits for the answer to oid. */
static bool outer_waits(const struct shim *s, const struct shim_frame *f, uint32_t oid)
{
	for (const struct shim_frame *o = s->frames; o < f; o++)
		if (o->waiting && o->oid == oid)
			return true;
	return false;
}

/* The answer to oid, if it came early (s->early), goes to f->wait[f->kept ..], where
 * wait_answer reads next. Only between messages: the scanner holds none half read. */
static void take_early(struct shim *s, struct shim_frame *f, uint32_t oid)
{
	struct bh_buf *e = &s->early, *w = &f->wait;
	for (size_t at = 0; at < e->len;) {
		struct bh_scan sc;
		struct bh_rpc rpc;
		if (bh_scan(e->data + at, e->len - at, &s->limits, &sc) < 0 ||
		    bh_rpc_parse_bulk(e->data + at, sc.size, &rpc, NULL) < 0)
			shim_die(SHIM_EXIT_PROTOCOL, "the answers kept for outer calls out are corrupt");
		if (rpc.msgid != oid) {
			at += sc.size;
			continue;
		}
		if (bh_buf_reserve(w, sc.size) < 0)
			shim_die(SHIM_EXIT_IO, "out of memory");
		memmove(w->data + f->kept + sc.size, w->data + f->kept, w->len - f->kept);
		memcpy(w->data + f->kept, e->data + at, sc.size);
		w->len += sc.size;
		cut(e, at, sc.size);
		return;
	}
}

/* Read on until the answer to oid; run the calls that re-enter meanwhile, keep the
 * rest. The answer's envelope in *ret, its bytes at f->wait[f->kept ..]. */
static void wait_answer(struct shim *s, struct shim_frame *f, uint32_t oid, struct bh_rpc *ret)
{
	struct bh_buf *w = &f->wait;

	f->waiting = true;
	f->oid = oid;
	take_early(s, f, oid);
	for (;;) {
		struct bh_scan sc;
		size_t at = f->kept;
		int r = w->len > at ? bh_scanner_feed(&s->scan, w->data + at, w->len - at,
						      &s->limits, &sc)
				    : -EAGAIN;
		if (r == -EAGAIN) {
			if (w->len == at)
				shim_hot_wait(s, w);
			else
				shim_read_more(s, w, w->len - at);
			continue;
		}
		if (r < 0)
			shim_die(SHIM_EXIT_PROTOCOL, "malformed message from the supervisor: %s",
				 bh_proto_strerror(r));

		struct bh_rpc rpc;
		const char *why = NULL;
		uint32_t id;
		if (bh_rpc_parse_bulk(w->data + at, sc.size, &rpc, &why) < 0) {
			if (bh_rpc_request_msgid(w->data + at, sc.size, &id) < 0)
				shim_die(SHIM_EXIT_PROTOCOL, "bad message from the supervisor: %s",
					 why ? why : "malformed envelope");
			f->kept += sc.size; /* answered with its error once its turn comes */
			continue;
		}
		if (rpc.type == BH_RPC_RESPONSE && rpc.msgid != oid) {
			if (!outer_waits(s, f, rpc.msgid))
				shim_die(SHIM_EXIT_PROTOCOL, "an answer to call out %" PRIu32
					 ", which does not wait (%" PRIu32 " does)", rpc.msgid, oid);
			if (bh_buf_append(&s->early, w->data + at, sc.size) < 0)
				shim_die(SHIM_EXIT_IO, "out of memory");
			cut(w, at, sc.size);
			continue;
		}
		if (rpc.type == BH_RPC_RESPONSE) {
			f->waiting = false;
			f->answer = sc.size;
			*ret = rpc;
			return;
		}
		if (rpc.type == BH_RPC_REQUEST && rpc.options && shim_is_reentry(&rpc)) {
			shim_serve_reentry(s, &rpc, sc.size);
			take_early(s, f, oid);
			continue;
		}
		shim_bulk_keep(s, &rpc);
		f->kept += sc.size;
	}
}

/* A bad call out: -1 and err (may be NULL). */
static __attribute__((format(printf, 3, 4))) int refuse(bh_error *err, int32_t code,
							 const char *fmt, ...)
{
	va_list ap;
	if (!err)
		return -1;
	va_start(ap, fmt);
	err->code = code;
	vsnprintf(err->message, sizeof(err->message), fmt, ap);
	va_end(ap);
	return -1;
}

/* The params written for this call out (none: []): 0, or -1 and err. */
static int take_params(struct shim *s, struct shim_frame *f, const uint8_t **ret,
		       size_t *ret_len, bh_error *err)
{
	static const uint8_t empty[] = { 0x90 };
	int r = bh_writer_error(&f->params_w);
	struct bh_scan sc;

	if (r == -EMSGSIZE)
		return refuse(err, BH_E_TOO_LARGE, "call out: params larger than %zu bytes",
			      f->params.max);
	if (r < 0)
		return refuse(err, BH_E_INTERNAL, "call out: out of memory for the params");
	if (f->params.len == 0) {
		*ret = empty;
		*ret_len = sizeof(empty);
		return 0;
	}
	uint8_t b = f->params.data[0];
	r = bh_scan(f->params.data, f->params.len, &s->limits, &sc);
	if (r < 0 || sc.size != f->params.len || !((b >= 0x90 && b <= 0x9f) || b == 0xdc ||
						   b == 0xdd))
		return refuse(err, BH_E_INVALID_PARAMS,
			      "call out: the params must be exactly one array");
	*ret = f->params.data;
	*ret_len = f->params.len;
	return 0;
}

/* Send [0, oid, target, params, {"in": id[, "notify": true]}], wait for its answer
 * and hand over its result. */
static int call_out(const char *prefix, const char *method, bool notify,
		    const bh_value **ret, bh_error *err)
{
	struct shim *s = the_shim;
	if (!s || s->depth == 0)
		return refuse(err, BH_E_BAD_REQUEST, "call out: only from inside a callback");
	struct shim_frame *f = s->top;
	size_t plen = prefix ? strlen(prefix) + 1 : 0;
	size_t mlen = method ? strnlen(method, CALLOUT_TARGET_MAX + 1) : 0;
	const uint8_t *params = NULL;
	size_t params_len = 0;
	int r = -1;

	if (mlen == 0 || plen + mlen > CALLOUT_TARGET_MAX) {
		refuse(err, BH_E_INVALID_PARAMS, "call out: the method name must have 1 to %d bytes",
		       CALLOUT_TARGET_MAX - (int)plen);
		goto out;
	}
	if (take_params(s, f, &params, &params_len, err) < 0)
		goto out;

	char target[CALLOUT_TARGET_MAX + 1];
	if (prefix)
		snprintf(target, sizeof(target), "%s.%s", prefix, method);
	else
		memcpy(target, method, mlen + 1);
	uint32_t oid = ++s->next_oid;
	bh_writer *w = &s->hdr_w;
	s->hdr.len = 0;
	bh_writer_init(w, &s->hdr);
	bh_write_array(w, 5);
	bh_write_int(w, BH_RPC_REQUEST);
	bh_write_uint(w, oid);
	bh_write_str(w, target, plen + mlen);
	size_t head = s->hdr.len;
	bh_write_map(w, notify ? 2 : 1);
	bh_write_cstr(w, "in");
	bh_write_uint(w, f->id);
	if (notify) {
		bh_write_cstr(w, "notify");
		bh_write_bool(w, true);
	}
	if (bh_writer_error(w) < 0)
		shim_die(SHIM_EXIT_IO, "encoding a call out: %s", strerror(-bh_writer_error(w)));
	struct iovec iov[3] = {
		{ .iov_base = s->hdr.data, .iov_len = head },
		{ .iov_base = (void *)params, .iov_len = params_len },
		{ .iov_base = s->hdr.data + head, .iov_len = s->hdr.len - head },
	};
	begin_wait(s, f);
	shim_sendv(s, iov, 3);

	struct bh_rpc ans;
	wait_answer(s, f, oid, &ans);
	bh_error e;
	r = bh_error_decode(ans.error, ans.error_len, &e);
	if (r < 0) {
		r = refuse(err, BH_E_PROTOCOL, "call out %s: the supervisor's error cannot be read",
			   target);
		goto out;
	}
	if (r == 1) {
		if (err)
			*err = e; /* the code as sent: the callee's, or the supervisor's */
		r = -1;
		goto out;
	}
	struct bh_bulk_ref ref;
	if (bh_bulk_ref_get(ans.result, ans.result_len, &ref) != -ENOENT)
		shim_die(SHIM_EXIT_PROTOCOL, "a bulk reference in the answer to call out %" PRIu32
			 ": answers are inline", oid);
	const bh_value *v;
	size_t used;
	r = bh_decode(ans.result, ans.result_len, &s->limits, &f->result, &v, &used);
	if (r < 0) {
		r = refuse(err, r == -ENOMEM ? BH_E_INTERNAL : BH_E_PROTOCOL,
			   "call out %s: its result: %s", target, bh_proto_strerror(r));
		goto out;
	}
	if (ret)
		*ret = v;
	r = 0;
out:
	shim_frame_done(f);
	return r;
}

bh_writer *bh_callout_params(void)
{
	/* Outside a callback: a writer that refuses every write. */
	static struct bh_buf nowhere;
	static bh_writer refusing = { .buf = &nowhere, .err = -EPERM };
	struct shim *s = the_shim;

	if (!s || s->depth == 0) {
		refusing.err = -EPERM;
		return &refusing;
	}
	return &s->top->params_w;
}

int bh_callout(const char *method, const bh_value **ret, bh_error *err)
{
	return call_out(NULL, method, false, ret, err);
}

int bh_callout_caller(const char *method, const bh_value **ret, bh_error *err)
{
	return call_out(BH_CH_CALLER, method, false, ret, err);
}

int bh_notify_caller(const char *method, bh_error *err)
{
	return call_out(BH_CH_CALLER, method, true, NULL, err);
}
