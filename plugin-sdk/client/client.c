/* bulkhead client SDK: one connection to the daemon, pipelined calls, local deadlines.
 *
 * Shape of a connection:
 *   - out: requests waiting for the socket (out_off bytes of it already sent), after
 *          hdr, the envelope of a request whose params buffer became out (below);
 *   - in:  bytes received and not yet consumed; complete messages are found with
 *          bh_scan (default limits: the daemon is as untrusted as any peer);
 *   - calls: the table of outstanding calls. A msgid is (generation << 16 | slot):
 *          the slot gives an O(1) lookup with no hashing, the generation makes a
 *          reply for a previous user of the slot an unknown msgid;
 *   - heap: the local deadlines, an indexed min-heap of slots, so that completing a
 *          call removes its deadline in O(log n) and nothing stale accumulates.
 *
 * A call whose local deadline passed is completed with BH_E_TIMEOUT at once, but its
 * slot stays reserved (state EXPIRED) until the daemon's late answer arrives and is
 * dropped: the daemon answers every request, and an answer for a msgid we never
 * sent, or already answered, is a protocol error that ends the connection.
 *
 * The synchronous path is the asynchronous one plus a poll() loop, written so that a
 * call with no other traffic costs one sendmsg(), one poll() and one recv(), and no
 * allocation unless a result is handed back (then exactly one, the bh_result). When
 * nothing is queued, the params buffer itself is sent (it swaps roles with the empty
 * queue buffer) behind a separately encoded envelope: arguments are never copied.
 * Buffers keep their memory between calls, up to KEEP_BYTES.
 *
 * The daemon's own requests (callbacks, host services) are served from the same
 * read path, so they are answered inside a blocking bh_call() as from
 * bh_client_step(): the handler's result is built in `reply`, checked (one value,
 * within max_message) and queued in out behind the client's requests. A response
 * costs the calls nothing: the response path of handle_message is the first test.
 *
 * Reentrancy: callbacks (reply callbacks, report callbacks and request handlers) run
 * from inside bh_client_step() / bh_call() / bh_client_wait_all() / bh_client_free().
 * They may start calls with bh_call_start(); bh_call(), bh_client_step() and
 * bh_client_wait_all() from a callback fail with -EDEADLK, since they would consume
 * the input the callback's borrowed values point into. A callback must not free the
 * client.
 *
 * A local failure is never reported as -EBADF (-9), so a caller can tell it from a
 * remote BH_E_UNAVAILABLE (9) by comparing bh_call's return value with -err->code. */
#define _GNU_SOURCE /* secure_getenv */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "bulkhead/bulk.h"
#include "bulkhead/client.h"
#include "bulkhead/proto.h"

/* The msgid layout fixes the ceiling on outstanding calls (timed-out calls whose late
 * answer has not arrived yet included). */
#define SLOT_BITS 16
#define SLOT_MASK ((1u << SLOT_BITS) - 1)
#define MAX_SLOTS (1u << SLOT_BITS)
#define FIRST_SLOTS 16u
#define NO_POS UINT32_MAX

/* One recv() asks for at least this much room. */
#define READ_CHUNK (64u * 1024)
/* Empty buffers keep up to this much memory, so that a run of large messages does
 * not reallocate for each one, and one huge message does not pin its size. */
#define KEEP_BYTES (4u << 20)

enum call_state {
	CALL_FREE = 0,
	CALL_ASYNC,   /* cb + userdata */
	CALL_SYNC,    /* userdata is the struct sync_wait of the bh_call() waiting */
	CALL_EXPIRED, /* completed locally with a timeout; the late answer is dropped */
};

struct call {
	uint32_t msgid;
	uint8_t state;
	uint32_t heap_pos;  /* index in c->heap, NO_POS when it has no local deadline */
	uint32_t next_free; /* free list link while CALL_FREE */
	int timeout_ms;
	int64_t deadline_ns; /* CLOCK_MONOTONIC */
	bh_reply_fn cb;
	void *userdata;
};

/* A handler of the daemon's requests for one method (bh_client_handle). */
struct handler {
	char *method; /* owned; NULL for the fallback */
	size_t method_len;
	bh_handler_fn fn;
	void *userdata;
};

/* What bh_call() waits for; lives on its stack. */
struct sync_wait {
	bool done;
	int rc;
	bh_result **ret; /* NULL when the result is not wanted */
	bh_error *err;   /* never NULL (bh_call points it at a local when needed) */
};

struct bh_result {
	const bh_value *value;
	struct bh_memfd_bytes bulk; /* a result that came as a memfd: its bytes (size 0: none) */
	/* followed by the tree's nodes, then a copy of the result's bytes */
	bh_value nodes[];
};

struct bh_client {
	int fd;
	int broken;      /* 0, or the -errno that ended the connection */
	int deferred;    /* a send error seen inside bh_call_start, acted on later */
	bool draining;   /* handling received messages: calls started meanwhile are
			  * sent together once the batch is handled */
	int dispatching; /* > 0 while a callback runs */
	struct bh_limits limits;

	/* The output queue is hdr[hdr_off..] then out[out_off..]. hdr holds the envelope
	 * of a request whose params went out by swapping the params buffer in as out
	 * (only when the queue was empty): a large argument is never copied. */
	struct bh_buf hdr;
	size_t hdr_off;
	struct bh_buf out;
	size_t out_off; /* bytes of out already sent */
	size_t sndbuf;  /* what the socket takes (bh_sock_fit_sndbuf) */
	struct bh_buf in;
	struct bh_scanner scan; /* over the message at the front of in, resumed per read */

	struct bh_buf params;
	struct bh_writer params_w;
	struct bh_arena arena; /* trees handed to callbacks */

	struct call *calls;
	uint32_t ncalls;    /* slots allocated (grows to MAX_SLOTS) */
	uint32_t free_head; /* first free slot, NO_POS when none */
	uint32_t live;      /* CALL_ASYNC + CALL_SYNC */
	uint32_t *heap;     /* slot indexes ordered by deadline; ncalls entries of room */
	uint32_t heap_len;

	bh_report_fn report_fn; /* bh_client_on_report: bulkhead.error notifications */
	void *report_userdata;

	/* bh_client_handle: the daemon's requests and notifications, by method (a short
	 * list searched linearly), else the fallback. reply: a response being built. */
	struct handler *handlers;
	uint32_t n_handlers;
	struct handler fallback_handler;
	struct bh_buf reply;

	/* bh_client_use_memfd: params of memfd_threshold bytes or more go as sealed
	 * memfds, each sent with the first byte of its request (out_fd: at is an offset
	 * in out); results may come as memfds (fdq: received, not yet claimed). */
	bool memfd;
	size_t memfd_threshold, max_payload;
	/* bh_client_write_bin_lent: a bin of the params being built whose bytes stay the
	 * caller's until the call is queued; an empty bin (2 bytes) holds its place in
	 * params at lent_at. NULL: none. */
	const uint8_t *lent;
	size_t lent_len, lent_at;
	struct bh_fdq fdq;
	struct {
		size_t at;
		int fd;
	} out_fd[BH_FDQ_MAX];
	unsigned n_out_fd;
};

/* ---- time ---------------------------------------------------------------------- */

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Milliseconds until deadline, rounded up so poll() never wakes before it. */
static int ms_until(int64_t deadline_ns, int64_t now)
{
	if (deadline_ns <= now)
		return 0;
	int64_t ms = (deadline_ns - now + 999999) / 1000000;
	return ms > INT32_MAX ? INT32_MAX : (int)ms;
}

/* ---- the deadline heap ------------------------------------------------------------ */

static bool heap_less(const bh_client *c, uint32_t a, uint32_t b)
{
	return c->calls[c->heap[a]].deadline_ns < c->calls[c->heap[b]].deadline_ns;
}

static void heap_swap(bh_client *c, uint32_t a, uint32_t b)
{
	uint32_t t = c->heap[a];
	c->heap[a] = c->heap[b];
	c->heap[b] = t;
	c->calls[c->heap[a]].heap_pos = a;
	c->calls[c->heap[b]].heap_pos = b;
}

static void heap_up(bh_client *c, uint32_t i)
{
	while (i > 0) {
		uint32_t parent = (i - 1) / 2;
		if (!heap_less(c, i, parent))
			break;
		heap_swap(c, i, parent);
		i = parent;
	}
}

static void heap_down(bh_client *c, uint32_t i)
{
	for (;;) {
		uint32_t l = 2 * i + 1, r = l + 1, m = i;
		if (l < c->heap_len && heap_less(c, l, m))
			m = l;
		if (r < c->heap_len && heap_less(c, r, m))
			m = r;
		if (m == i)
			break;
		heap_swap(c, i, m);
		i = m;
	}
}

static void heap_push(bh_client *c, uint32_t slot)
{
	uint32_t i = c->heap_len++;
	c->heap[i] = slot;
	c->calls[slot].heap_pos = i;
	heap_up(c, i);
}

static void heap_remove(bh_client *c, uint32_t slot)
{
	uint32_t i = c->calls[slot].heap_pos;
	if (i == NO_POS)
		return;
	c->calls[slot].heap_pos = NO_POS;
	uint32_t last = --c->heap_len;
	if (i == last)
		return;
	c->heap[i] = c->heap[last];
	c->calls[c->heap[i]].heap_pos = i;
	heap_down(c, i);
	heap_up(c, i);
}

/* ---- the call table ------------------------------------------------------------- */

static int calls_grow(bh_client *c)
{
	if (c->ncalls >= MAX_SLOTS)
		return -ENOBUFS;
	uint32_t n = c->ncalls ? c->ncalls * 2 : FIRST_SLOTS;
	struct call *calls = realloc(c->calls, n * sizeof *calls);
	if (!calls)
		return -ENOMEM;
	c->calls = calls;
	uint32_t *heap = realloc(c->heap, n * sizeof *heap);
	if (!heap)
		return -ENOMEM; /* calls stays larger than ncalls says: harmless */
	c->heap = heap;

	/* New slots go on the free list in index order; generation 0. */
	for (uint32_t i = n; i-- > c->ncalls;) {
		calls[i] = (struct call){ .msgid = i, .heap_pos = NO_POS,
					  .next_free = c->free_head };
		c->free_head = i;
	}
	c->ncalls = n;
	return 0;
}

static int call_alloc(bh_client *c, uint32_t *ret_slot)
{
	if (c->free_head == NO_POS) {
		int r = calls_grow(c);
		if (r < 0)
			return r;
	}
	uint32_t slot = c->free_head;
	c->free_head = c->calls[slot].next_free;
	*ret_slot = slot;
	return 0;
}

/* Back to the free list with the next generation, so the old msgid is unknown. */
static void call_release(bh_client *c, uint32_t slot)
{
	struct call *k = &c->calls[slot];
	heap_remove(c, slot);
	if (k->state == CALL_ASYNC || k->state == CALL_SYNC)
		c->live--;
	uint32_t gen = (k->msgid >> SLOT_BITS) + 1;
	*k = (struct call){ .msgid = gen << SLOT_BITS | slot, .heap_pos = NO_POS,
			    .next_free = c->free_head };
	c->free_head = slot;
}

static struct call *call_find(bh_client *c, uint32_t msgid)
{
	uint32_t slot = msgid & SLOT_MASK;
	if (slot >= c->ncalls)
		return NULL;
	struct call *k = &c->calls[slot];
	return (k->state != CALL_FREE && k->msgid == msgid) ? k : NULL;
}

/* ---- completion ------------------------------------------------------------------ */

/* Hand one outcome to whoever waits for it. The slot must already be released or
 * expired: the callback may start calls that reuse it. */
static void deliver(bh_client *c, const struct call *k, const bh_value *result,
		    const bh_error *err)
{
	if (k->state == CALL_SYNC) {
		struct sync_wait *w = k->userdata;
		w->done = true;
		if (err) {
			*w->err = *err;
			w->rc = -err->code;
		}
		return;
	}
	c->dispatching++;
	k->cb(k->userdata, k->msgid, result, err);
	c->dispatching--;
}

static void deliver_error(bh_client *c, const struct call *k, int32_t code, const char *fmt,
			  ...) __attribute__((format(printf, 4, 5)));

static void deliver_error(bh_client *c, const struct call *k, int32_t code, const char *fmt,
			  ...)
{
	bh_error e = { .code = code };
	va_list ap;
	va_start(ap, fmt);
	(void)vsnprintf(e.message, sizeof e.message, fmt, ap);
	va_end(ap);
	deliver(c, k, NULL, &e);
}

/* Complete every outstanding call with one error and forget the expired ones. Used
 * once the connection is unusable, so the callbacks cannot add calls (c->broken makes
 * bh_call_start fail). */
static void fail_all(bh_client *c, int32_t code, const char *message)
{
	for (uint32_t slot = 0; slot < c->ncalls; slot++) {
		struct call k = c->calls[slot];
		if (k.state == CALL_FREE)
			continue;
		call_release(c, slot);
		if (k.state == CALL_SYNC) {
			/* A local failure: bh_call returns the -errno, not -code. */
			struct sync_wait *w = k.userdata;
			w->done = true;
			w->rc = c->broken;
			bh_fail(w->err, code, "%s", message);
		} else if (k.state == CALL_ASYNC) {
			deliver_error(c, &k, code, "%s", message);
		}
	}
}

/* The connection is over: remember why, stop the socket (the fd stays ours until
 * bh_client_free, so a caller's poll set never sees a recycled number) and fail
 * everything outstanding. Returns err. */
static int conn_break(bh_client *c, int err, int32_t code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int conn_break(bh_client *c, int err, int32_t code, const char *fmt, ...)
{
	if (c->broken)
		return c->broken;
	if (err == -EBADF)
		err = -EIO; /* keep the promise at the top of this file */
	c->broken = err;
	(void)shutdown(c->fd, SHUT_RDWR);
	c->hdr.len = c->hdr_off = 0;
	c->out.len = c->out_off = 0;
	c->in.len = 0;
	for (unsigned i = 0; i < c->n_out_fd; i++)
		close(c->out_fd[i].fd);
	c->n_out_fd = 0;
	bh_fdq_clear(&c->fdq);

	char message[BH_ERROR_MESSAGE_MAX];
	va_list ap;
	va_start(ap, fmt);
	(void)vsnprintf(message, sizeof message, fmt, ap);
	va_end(ap);
	fail_all(c, code, message);
	return err;
}

static int conn_lost(bh_client *c, int err)
{
	if (err == -ECONNRESET)
		return conn_break(c, err, BH_E_UNAVAILABLE, "the daemon closed the connection");
	return conn_break(c, err, BH_E_UNAVAILABLE, "connection to the daemon lost: %s",
			  strerror(-err));
}

/* Deliver every call whose local deadline has passed. */
static void expire(bh_client *c)
{
	if (c->heap_len == 0)
		return;
	int64_t now = now_ns();
	while (c->heap_len > 0 && !c->broken) {
		uint32_t slot = c->heap[0];
		struct call *k = &c->calls[slot];
		if (k->deadline_ns > now)
			break;
		heap_remove(c, slot);
		c->live--;
		struct call done = *k;
		k->state = CALL_EXPIRED;
		deliver_error(c, &done, BH_E_TIMEOUT, "no answer within %d ms", done.timeout_ms);
	}
}

/* bh_call() asked for the result: one block holding the tree and its bytes. */
static int result_new(bh_client *c, const uint8_t *raw, size_t len, bh_result **ret)
{
	struct bh_scan s;
	int r = bh_scan(raw, len, &c->limits, &s);
	if (r < 0)
		return r;
	if (s.nodes > (SIZE_MAX - sizeof(bh_result) - s.size) / sizeof(bh_value))
		return -ENOMEM;
	bh_result *res = malloc(sizeof *res + s.nodes * sizeof(bh_value) + s.size);
	if (!res)
		return -ENOMEM;
	res->bulk = (struct bh_memfd_bytes){ 0 };
	uint8_t *bytes = (uint8_t *)&res->nodes[s.nodes];
	memcpy(bytes, raw, s.size);

	/* An arena borrowing the block: it is exactly as large as the scan says the tree
	 * needs (struct bh_scan's contract), so bh_decode never reallocates it. */
	struct bh_arena arena = { .nodes = res->nodes, .cap = s.nodes };
	r = bh_decode(bytes, s.size, &c->limits, &arena, &res->value, NULL);
	if (r < 0) {
		free(res);
		return r;
	}
	*ret = res;
	return 0;
}

/* A result that came as a memfd: the tree points into its bytes, which the bh_result
 * owns (nothing more copied). Takes bulk whatever the outcome. */
static int result_bulk(bh_client *c, const struct bh_memfd_bytes *bulk, size_t len,
		       bh_result **ret)
{
	const uint8_t *map = bulk->p;
	struct bh_limits lim = c->limits;
	lim.max_message = lim.max_bytes = (uint32_t)len;
	struct bh_scan s;
	int r = bh_scan(map, len, &lim, &s);
	bh_result *res = NULL;
	if (r == 0 && s.nodes > (SIZE_MAX - sizeof(bh_result)) / sizeof(bh_value))
		r = -ENOMEM;
	if (r == 0 && !(res = malloc(sizeof *res + s.nodes * sizeof(bh_value))))
		r = -ENOMEM;
	if (r == 0) {
		struct bh_arena arena = { .nodes = res->nodes, .cap = s.nodes };
		r = bh_decode(map, len, &lim, &arena, &res->value, NULL);
	}
	if (r < 0) {
		free(res);
		munmap(bulk->base, bulk->size);
		return r;
	}
	res->bulk = *bulk;
	*ret = res;
	return 0;
}

/* A result that is a reference to a memfd (BH_BULK_MEMFD): its fd, checked like
 * any peer's, its value mapped. 0 when the result is inline, 1 with
 * *ret and *ret_len, or the connection's -errno. */
static int protocol_error(bh_client *c, const char *what, const char *why);
static int load_result(bh_client *c, const uint8_t *raw, size_t len,
		       struct bh_memfd_bytes *ret, size_t *ret_len)
{
	struct bh_bulk_ref ref;
	int r = bh_bulk_ref_get(raw, len, &ref);
	if (r == -ENOENT || !c->memfd)
		return 0;
	if (r < 0 || ref.kind != BH_BULK_MEMFD || ref.len == 0)
		return protocol_error(c, "malformed memfd reference in a result", NULL);
	int fd;
	if (c->fdq.overflow || bh_fdq_take(&c->fdq, &fd) < 0)
		return protocol_error(c, "a memfd reference came without its fd", NULL);
	/* The value may be a slice of a larger memfd: one of our params memfds back. */
	r = bh_memfd_check_slice(fd, ref.off, ref.len, c->max_payload, BH_MEMFD_SEALS_HOSTILE);
	if (r == 0)
		r = bh_memfd_map_slice(fd, ref.off, ref.len, ret) < 0 ? -ENOMEM : 0;
	close(fd);
	if (r < 0)
		return protocol_error(c, "unusable memfd in a result", bh_memfd_strerror(r));
	*ret_len = ref.len;
	return 1;
}

static int protocol_error(bh_client *c, const char *what, const char *why)
{
	return conn_break(c, -EPROTO, BH_E_PROTOCOL, "the daemon broke the protocol: %s%s%s",
			  what, why ? ": " : "", why ? why : "");
}

#define REPORT_METHOD "bulkhead.error"

/* [2, "bulkhead.error", [error map]] goes to the report callback. */
static int handle_report(bh_client *c, const struct bh_rpc *rpc)
{
	bh_error e;
	/* The daemon writes the params as a fixarray of one element: 0x91, then the map. */
	if (rpc->params_len < 2 || rpc->params[0] != 0x91 ||
	    bh_error_decode(rpc->params + 1, rpc->params_len - 1, &e) != 1)
		return protocol_error(c, "malformed " REPORT_METHOD " notification", NULL);
	c->dispatching++;
	c->report_fn(c->report_userdata, &e);
	c->dispatching--;
	return 0;
}

/* ---- the daemon's requests and notifications ---------------------------------------- */

/* The output queue (I/O, below). */
static int flush(bh_client *c, bool defer);
static void buf_trim(struct bh_buf *b);
static void queue_reclaim(bh_client *c, size_t n);

static struct handler *handler_find(bh_client *c, const char *method, size_t len)
{
	for (uint32_t i = 0; i < c->n_handlers; i++) {
		struct handler *h = &c->handlers[i];
		if (h->method_len == len && memcmp(h->method, method, len) == 0)
			return h;
	}
	return NULL;
}

/* Queue the response built in c->reply behind whatever waits to be sent, under the
 * queue's ceiling: when it does not fit, what the socket takes now is sent first;
 * when it still does not fit, the request is answered `overloaded` instead; when not
 * even that fits, the daemon reads none of its answers and the connection ends. */
static int queue_reply(bh_client *c, uint32_t cid)
{
	for (int attempt = 0; attempt < 3; attempt++) {
		if (attempt == 1 && !c->deferred)
			(void)flush(c, true);
		if (attempt == 2) {
			struct bh_writer w;
			c->reply.len = 0;
			bh_writer_init(&w, &c->reply);
			bh_rpc_write_error(&w, cid, BH_E_OVERLOADED,
					   "the client's output queue is full");
		}
		queue_reclaim(c, c->reply.len);
		if (bh_buf_append(&c->out, c->reply.data, c->reply.len) == 0) {
			c->reply.len = 0;
			buf_trim(&c->reply);
			return 0;
		}
	}
	c->reply.len = 0;
	return conn_break(c, -ENOBUFS, BH_E_OVERLOADED,
			  "the daemon does not read the answers to its requests");
}

/* The answer to request cid when the handler's result cannot be sent: err, or code
 * and message when err has no code. */
static int reply_error(bh_client *c, uint32_t cid, const bh_error *err, int32_t code,
		       const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static int reply_error(bh_client *c, uint32_t cid, const bh_error *err, int32_t code,
		       const char *fmt, ...)
{
	bh_error e = { .code = code };
	if (err && err->code > 0) {
		e = *err;
	} else {
		va_list ap;
		va_start(ap, fmt);
		(void)vsnprintf(e.message, sizeof e.message, fmt, ap);
		va_end(ap);
	}
	struct bh_writer w;
	c->reply.len = 0;
	bh_writer_init(&w, &c->reply);
	bh_rpc_write_error(&w, cid, e.code, e.message);
	return queue_reply(c, cid);
}

/* A request [0, cid, method, params] or a notification [2, method, params] from the
 * daemon: to its handler. A request is answered exactly once, whatever the handler
 * does; a notification never. 0 or the -errno that broke the connection. */
static int serve(bh_client *c, const struct bh_rpc *rpc)
{
	bool request = rpc->type == BH_RPC_REQUEST;
	if (!request && c->report_fn && rpc->method_len == strlen(REPORT_METHOD) &&
	    memcmp(rpc->method, REPORT_METHOD, rpc->method_len) == 0)
		return handle_report(c, rpc);
	char method[BH_HANDLER_METHOD_MAX + 1];
	const struct handler *h = NULL;
	if (rpc->method_len <= BH_HANDLER_METHOD_MAX &&
	    !memchr(rpc->method, '\0', rpc->method_len)) {
		memcpy(method, rpc->method, rpc->method_len);
		method[rpc->method_len] = '\0';
		h = handler_find(c, rpc->method, rpc->method_len);
		if (!h && c->fallback_handler.fn)
			h = &c->fallback_handler;
	}
	if (!h && !request)
		return 0; /* ignored: older clients keep working with newer daemons */
	if (!h) {
		int shown = rpc->method_len > 128 ? 128 : (int)rpc->method_len;
		return reply_error(c, rpc->msgid, NULL, BH_E_UNKNOWN_METHOD,
				   "the client has no handler for %.*s", shown, rpc->method);
	}

	/* Params come inline (bh_rpc_parse: an array), already scanned with these limits:
	 * decoding can only run out of memory. */
	const bh_value *args;
	int r = bh_decode(rpc->params, rpc->params_len, &c->limits, &c->arena, &args, NULL);
	if (r < 0 && !request)
		return 0;
	if (r < 0)
		return reply_error(c, rpc->msgid, NULL, BH_E_INTERNAL,
				   "the client cannot decode the params: %s", bh_proto_strerror(r));

	/* [1, cid, nil, result]: the handler writes the result behind the envelope. */
	struct bh_writer w;
	c->reply.len = 0;
	bh_writer_init(&w, &c->reply);
	if (request) {
		bh_write_array(&w, 4);
		bh_write_uint(&w, BH_RPC_RESPONSE);
		bh_write_uint(&w, rpc->msgid);
		bh_write_nil(&w);
	}
	size_t start = c->reply.len;
	bh_handler_fn fn = h->fn; /* h may move: the handler may register others */
	void *userdata = h->userdata;
	bh_error e = { .code = BH_OK };
	c->dispatching++;
	int failed = fn(userdata, method, args, &w, &e);
	c->dispatching--;
	if (!request) {
		c->reply.len = 0;
		buf_trim(&c->reply);
		return 0;
	}

	if (failed)
		return reply_error(c, rpc->msgid, &e, BH_E_INTERNAL,
				   "the client's handler for %s failed without an error", method);
	r = bh_writer_error(&w);
	if (r == -EMSGSIZE)
		return reply_error(c, rpc->msgid, NULL, BH_E_TOO_LARGE,
				   "the client's answer is larger than %zu bytes",
				   c->limits.max_message);
	if (r < 0)
		return reply_error(c, rpc->msgid, NULL, BH_E_INTERNAL,
				   "the client cannot build its answer: %s", strerror(-r));
	if (c->reply.len == start)
		(void)bh_write_nil(&w); /* fits: the ceiling is max_message, far above */
	struct bh_scan sc;
	const uint8_t *result = c->reply.data + start;
	size_t result_len = c->reply.len - start;
	if (bh_scan(result, result_len, &c->limits, &sc) < 0 || sc.size != result_len)
		return reply_error(c, rpc->msgid, NULL, BH_E_INTERNAL,
				   "the client's handler for %s wrote no single value", method);
	return queue_reply(c, rpc->msgid);
}

/* One complete message from the daemon. Returns 0 or the -errno that broke the
 * connection. */
static int handle_message(bh_client *c, const uint8_t *msg, size_t len)
{
	struct bh_rpc rpc;
	const char *why = NULL;
	if (bh_rpc_parse(msg, len, &rpc, &why) < 0)
		return protocol_error(c, "malformed message", why);
	if (rpc.type != BH_RPC_RESPONSE)
		return serve(c, &rpc);

	struct call *k = call_find(c, rpc.msgid);
	if (!k) {
		char what[64];
		snprintf(what, sizeof what, "response for unknown msgid %u", rpc.msgid);
		return protocol_error(c, what, NULL);
	}
	uint32_t slot = rpc.msgid & SLOT_MASK;
	if (k->state == CALL_EXPIRED) {
		call_release(c, slot);
		return 0;
	}

	bh_error e;
	int r = bh_error_decode(rpc.error, rpc.error_len, &e);
	if (r < 0)
		return protocol_error(c, "undecodable error in a response", NULL);
	if (r > 0 && e.code <= 0) {
		/* An error that claims success would make bh_call() return 0. */
		e.code = BH_E_PROTOCOL;
	}

	struct call done = *k;
	call_release(c, slot);
	if (r > 0) {
		deliver(c, &done, NULL, &e);
		return 0;
	}
	struct bh_memfd_bytes bulk = { 0 };
	size_t bulk_len = 0;
	r = load_result(c, rpc.result, rpc.result_len, &bulk, &bulk_len);
	if (r < 0)
		return r;
	struct bh_limits lim = c->limits;
	if (bulk.size) {
		rpc.result = bulk.p;
		rpc.result_len = bulk_len;
		lim.max_message = lim.max_bytes = (uint32_t)bulk_len;
	}

	if (done.state == CALL_SYNC) {
		struct sync_wait *w = done.userdata;
		w->done = true;
		w->rc = 0;
		int rr = 0;
		if (w->ret && bulk.size)
			rr = result_bulk(c, &bulk, bulk_len, w->ret);
		else if (w->ret)
			rr = result_new(c, rpc.result, rpc.result_len, w->ret);
		else if (bulk.size)
			munmap(bulk.base, bulk.size);
		if (rr < 0) {
			w->rc = rr;
			bh_fail(w->err, BH_E_UNAVAILABLE, "cannot keep the result: %s",
				strerror(-rr));
		}
		return 0;
	}

	const bh_value *v;
	r = bh_decode(rpc.result, rpc.result_len, &lim, &c->arena, &v, NULL);
	if (r < 0)
		deliver_error(c, &done, BH_E_INTERNAL, "cannot decode the result: %s",
			      bh_proto_strerror(r));
	else
		deliver(c, &done, v, NULL);
	if (bulk.size)
		munmap(bulk.base, bulk.size);
	return 0;
}

/* ---- I/O --------------------------------------------------------------------------- */

/* Send what is queued, without blocking. 0 or the connection's -errno; with defer,
 * a failure is only remembered (bh_call_start must not run callbacks). */
static bool out_pending(const bh_client *c)
{
	return c->hdr_off < c->hdr.len || c->out_off < c->out.len;
}

static void buf_trim(struct bh_buf *b)
{
	if (b->len == 0 && b->cap > KEEP_BYTES)
		bh_buf_shrink(b, KEEP_BYTES);
}

/* Drop the sent front of out; the memfds waiting keep their place. */
static void out_consume(bh_client *c)
{
	for (unsigned i = 0; i < c->n_out_fd; i++)
		c->out_fd[i].at -= c->out_off;
	bh_buf_consume(&c->out, c->out_off);
	c->out_off = 0;
}

/* Before n more bytes are queued: the sent front of out still counts against its
 * ceiling, so drop it when the bytes would not fit beside it (a memmove, only then). */
static void queue_reclaim(bh_client *c, size_t n)
{
	if (c->out_off > 0 && c->hdr.len == 0 && c->out.len + n > c->out.max)
		out_consume(c);
}

static int flush(bh_client *c, bool defer)
{
	bh_sock_fit_sndbuf(c->fd, c->hdr.len - c->hdr_off + c->out.len - c->out_off, &c->sndbuf);
	while (out_pending(c)) {
		struct iovec iov[2];
		int n_iov = 0;
		if (c->hdr_off < c->hdr.len)
			iov[n_iov++] = (struct iovec){ c->hdr.data + c->hdr_off,
						       c->hdr.len - c->hdr_off };
		/* A memfd goes with the first byte of its request, and only with it. */
		size_t end = c->out.len;
		int fd = -1;
		if (c->n_out_fd > 0 && n_iov == 0 && c->out_fd[0].at == c->out_off) {
			fd = c->out_fd[0].fd;
			if (c->n_out_fd > 1)
				end = c->out_fd[1].at;
		} else if (c->n_out_fd > 0) {
			end = c->out_fd[0].at;
		}
		if (c->out_off < end)
			iov[n_iov++] = (struct iovec){ c->out.data + c->out_off, end - c->out_off };
		ssize_t n = bh_send_fd(c->fd, iov, n_iov, fd, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0)
			errno = (int)-n;
		if (n > 0 && fd >= 0) {
			close(fd);
			c->n_out_fd--;
			memmove(c->out_fd, c->out_fd + 1, c->n_out_fd * sizeof(c->out_fd[0]));
		}
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			if (defer) {
				c->deferred = -errno;
				return 0;
			}
			return conn_lost(c, -errno);
		}
		size_t sent = (size_t)n, from_hdr = c->hdr.len - c->hdr_off;
		if (from_hdr > sent)
			from_hdr = sent;
		c->hdr_off += from_hdr;
		c->out_off += sent - from_hdr;
	}
	if (c->hdr_off == c->hdr.len)
		c->hdr.len = c->hdr_off = 0;
	if (c->out_off == c->out.len) {
		c->out.len = c->out_off = 0;
		buf_trim(&c->out);
	} else if (c->hdr.len == 0 && c->out_off >= c->out.len / 2) {
		out_consume(c);
	}
	return 0;
}

/* Scan and handle the complete messages at the front of in. The scanner resumes
 * where the previous read left it, so a large message costs work linear in its size
 * however the socket splits it. */
static int drain_input(bh_client *c)
{
	size_t off = 0;
	int r = 0;
	bool nested = c->draining;
	c->draining = true;
	while (off < c->in.len && !c->broken) {
		struct bh_scan s;
		r = bh_scanner_feed(&c->scan, c->in.data + off, c->in.len - off, &c->limits, &s);
		if (r == -EAGAIN) {
			r = 0;
			break;
		}
		if (r < 0)
			return protocol_error(c, "invalid message", bh_proto_strerror(r));
		r = handle_message(c, c->in.data + off, s.size);
		if (r < 0)
			break;
		off += s.size;
	}
	c->draining = nested;
	/* One write for every call the callbacks started (pipelined clients). */
	if (!nested && !c->broken && out_pending(c) && !c->deferred)
		(void)flush(c, true);
	if (r < 0)
		return r;
	if (c->broken)
		return c->broken;
	if (off == c->in.len) {
		c->in.len = 0;
		buf_trim(&c->in);
		/* An fd comes with the first byte of the message that uses it: with no
		 * message begun, what is left was sent for nothing. */
		bh_fdq_clear(&c->fdq);
	} else if (off > 0) {
		bh_buf_consume(&c->in, off);
	}
	return r;
}

/* One recv() and whatever it completes. 0 (also when nothing was there) or the
 * connection's -errno. */
static int read_once(bh_client *c)
{
	size_t room = READ_CHUNK;
	size_t ceiling = c->in.max - c->in.len;
	if (room > ceiling)
		room = ceiling;
	if (room == 0)
		return drain_input(c); /* over max_message: the scan says so */
	int r = bh_buf_reserve(&c->in, room);
	if (r < 0)
		return conn_lost(c, r);
	room = c->in.cap - c->in.len;

	ssize_t n;
	if (c->memfd) {
		n = bh_recv_fds(c->fd, c->in.data + c->in.len, room, &c->fdq, MSG_DONTWAIT);
		if (n < 0)
			errno = (int)-n;
	} else {
		n = recv(c->fd, c->in.data + c->in.len, room, MSG_DONTWAIT);
	}
	if (n < 0) {
		if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)
			return 0;
		return conn_lost(c, -errno);
	}
	if (n == 0)
		return conn_lost(c, -ECONNRESET);
	c->in.len += (size_t)n;
	return drain_input(c);
}

static int io(bh_client *c, short revents)
{
	int r = 0;
	if (c->deferred)
		return conn_lost(c, c->deferred);
	if ((revents & POLLOUT) && out_pending(c))
		r = flush(c, false);
	if (r == 0 && (revents & (POLLIN | POLLHUP | POLLERR)))
		r = read_once(c);
	if (r == 0)
		expire(c);
	return c->broken ? c->broken : r;
}

/* poll() once for at most timeout_ms (-1: no limit) and do the I/O it allows.
 * 0 or the connection's -errno. */
static int wait_once(bh_client *c, int timeout_ms)
{
	if (c->deferred)
		return conn_lost(c, c->deferred);
	struct pollfd p = { .fd = c->fd, .events = POLLIN };
	if (out_pending(c))
		p.events |= POLLOUT;
	int n = poll(&p, 1, timeout_ms);
	if (n < 0) {
		if (errno == EINTR)
			return 0;
		return conn_lost(c, -errno);
	}
	if (n == 0) {
		expire(c);
		return c->broken;
	}
	return io(c, p.revents);
}

/* ---- calls ----------------------------------------------------------------------- */

/* Envelope bytes before the params: [0, msgid, method, ... */
static void write_head(struct bh_writer *w, uint32_t msgid, const char *method,
		       size_t method_len, int timeout_ms)
{
	bh_write_array(w, timeout_ms > 0 ? 5 : 4);
	bh_write_int(w, BH_RPC_REQUEST);
	bh_write_uint(w, msgid);
	bh_write_str(w, method, method_len);
}

/* ... and after them: {"timeout_ms": t}] when t > 0 (at most TAIL_MAX bytes). */
#define TAIL_MAX 24
static void write_tail(struct bh_writer *w, int timeout_ms)
{
	if (timeout_ms > 0) {
		bh_write_map(w, 1);
		bh_write_cstr(w, "timeout_ms");
		bh_write_uint(w, (uint64_t)timeout_ms);
	}
}

/* The lent bin's bytes into params in place of its placeholder (params that do not
 * go as a memfd). 0 or -errno. */
static int unlend(bh_client *c, const uint8_t *lent, size_t len, size_t at)
{
	uint8_t head[5];
	size_t hn = bh_body_header(false, len, head), tail = c->params.len - at - 2;
	int r = bh_buf_reserve(&c->params, hn + len - 2);
	if (r < 0)
		return r;
	uint8_t *p = c->params.data + at;
	memmove(p + hn + len, p + 2, tail);
	memcpy(p, head, hn);
	memcpy(p + hn, lent, len);
	c->params.len += hn + len - 2;
	return 0;
}

/* Queue [0, msgid, method, params] (+ {"timeout_ms": t} when t > 0) and send it if
 * nothing is queued before it. Consumes the params builder, whatever the outcome. */
static int call_queue(bh_client *c, const char *method, int timeout_ms, uint8_t state,
		      bh_reply_fn cb, void *userdata, uint32_t *ret_msgid)
{
	int perr = bh_writer_error(&c->params_w);
	c->params_w.err = 0;
	int r = 0;
	const uint8_t *lent = c->lent;
	size_t lent_len = c->lent_len, lent_at = c->lent_at;
	c->lent = NULL;

	if (c->broken)
		r = c->broken;
	else if (c->dispatching && state == CALL_SYNC)
		r = -EDEADLK;
	else if (perr < 0)
		r = perr;
	else if (!method || !*method || timeout_ms < 0)
		r = -EINVAL;
	else if (c->live >= MAX_SLOTS)
		r = -ENOBUFS;
	else if (c->params.len == 0)
		r = bh_buf_append(&c->params, "\x90", 1); /* no params: [] */
	if (r < 0) {
		c->params.len = 0;
		return r;
	}

	/* With a lent bin, what goes is params with its bytes in place of the
	 * placeholder: whole_len bytes. */
	uint8_t lent_head[5];
	size_t lent_hn = lent ? bh_body_header(false, lent_len, lent_head) : 0;
	size_t whole_len = lent ? c->params.len - 2 + lent_hn + lent_len : c->params.len;
	size_t method_len = strlen(method);
	/* Large params as a sealed memfd: the request carries a reference instead. */
	bool as_memfd = c->memfd && whole_len >= c->memfd_threshold &&
			c->n_out_fd < BH_FDQ_MAX && whole_len <= c->max_payload;
	if (lent && !as_memfd && (r = unlend(c, lent, lent_len, lent_at)) < 0) {
		c->params.len = 0;
		return r;
	}
	/* Checked as written: a lent bin's placeholder is one value like the bin. */
	const uint8_t *params = c->params.data;
	size_t params_len = c->params.len;
	struct bh_limits lim = c->limits;
	if (as_memfd)
		lim.max_message = lim.max_bytes = (uint32_t)params_len;
	/* The envelope around method and params takes at most 32 + TAIL_MAX bytes. */
	if (!as_memfd && (params_len > c->limits.max_message ||
			  method_len + 32 + TAIL_MAX > c->limits.max_message - params_len))
		r = -EMSGSIZE;
	else {
		/* Exactly one array: anything else would be a malformed request. */
		struct bh_scan s;
		uint8_t t = params[0];
		bool is_array = (t & 0xf0) == 0x90 || t == 0xdc || t == 0xdd;
		if (!is_array || bh_scan(params, params_len, &lim, &s) < 0 ||
		    s.size != params_len)
			r = -EINVAL;
	}
	int memfd = -1;
	uint8_t ref[BH_BULK_REF_SIZE];
	if (r == 0 && as_memfd) {
		struct iovec iov[4] = { { (void *)params, params_len } };
		int n = 1;
		if (lent) { /* the bytes from where they are: no copy into params */
			iov[0].iov_len = lent_at;
			iov[n++] = (struct iovec){ lent_head, lent_hn };
			iov[n++] = (struct iovec){ (void *)lent, lent_len };
			iov[n++] = (struct iovec){ (void *)(params + lent_at + 2),
						   params_len - lent_at - 2 };
		}
		r = bh_memfd_sealedv("bulkhead-params", iov, n, &memfd);
		bh_bulk_ref_put(ref, &(struct bh_bulk_ref){ .kind = BH_BULK_MEMFD,
							    .len = (uint32_t)whole_len });
		params = ref;
		params_len = sizeof(ref);
	}
	uint32_t slot = 0;
	if (r == 0)
		r = call_alloc(c, &slot);
	if (r < 0) {
		if (memfd >= 0)
			close(memfd);
		c->params.len = 0;
		return r;
	}
	struct call *k = &c->calls[slot];
	bool was_idle = !out_pending(c);
	/* The memfd is sent with the request's first byte, which must be in out. */
	size_t memfd_at = 0;
	struct bh_writer w;

	if (was_idle && memfd < 0) {
		/* Envelope into hdr, and the params buffer becomes the queue: the old,
		 * empty queue buffer is the next params buffer (capacities stay, the
		 * ceilings stay with their roles). */
		bh_writer_init(&w, &c->hdr);
		write_head(&w, k->msgid, method, method_len, timeout_ms);
		r = bh_writer_error(&w);
		if (r == 0)
			r = bh_buf_reserve(&c->params, TAIL_MAX);
		if (r == 0) {
			struct bh_buf q = c->out;
			c->out.data = c->params.data;
			c->out.len = c->params.len;
			c->out.cap = c->params.cap;
			c->params.data = q.data;
			c->params.cap = q.cap;
			c->out_off = c->hdr_off = 0;
			bh_writer_init(&w, &c->out);
			write_tail(&w, timeout_ms); /* fits: reserved above */
		} else {
			c->hdr.len = 0;
		}
	} else {
		queue_reclaim(c, method_len + params_len + 32 + TAIL_MAX);
		memfd_at = c->out.len;
		bh_writer_init(&w, &c->out);
		write_head(&w, k->msgid, method, method_len, timeout_ms);
		bh_write_raw(&w, params, params_len);
		write_tail(&w, timeout_ms);
		r = bh_writer_error(&w);
		if (r < 0)
			c->out.len = memfd_at;
		/* The message fits max_message (checked above): the queue is full. */
		if (r == -EMSGSIZE)
			r = -ENOBUFS;
	}
	c->params.len = 0;
	/* Params that went as a memfd keep their buffer for the next large call: filling
	 * fresh pages costs far more than the copy (a page fault each). */
	if (memfd < 0)
		buf_trim(&c->params);
	if (r == 0 && memfd >= 0) {
		c->out_fd[c->n_out_fd].at = memfd_at;
		c->out_fd[c->n_out_fd++].fd = memfd;
	} else if (memfd >= 0) {
		close(memfd);
	}
	if (r < 0) {
		/* The slot was never used: back on the free list as it was. */
		k->next_free = c->free_head;
		c->free_head = slot;
		return r;
	}

	k->state = state;
	k->cb = cb;
	k->userdata = userdata;
	k->timeout_ms = timeout_ms;
	c->live++;
	if (timeout_ms > 0) {
		k->deadline_ns = now_ns() + (int64_t)timeout_ms * 1000000;
		heap_push(c, slot);
	}
	uint32_t msgid = k->msgid;

	/* Only the first queued request sends: later ones wait for POLLOUT, and those
	 * started by callbacks for the end of the batch (drain_input). A failure is
	 * acted on by the next step, which fails this call with the others. */
	if (was_idle && !c->deferred && !c->draining)
		(void)flush(c, true);
	if (ret_msgid)
		*ret_msgid = msgid;
	return 0;
}

/* ---- public API ---------------------------------------------------------------------- */

const char *bh_default_socket(void)
{
	/* secure_getenv: a set-uid program linking this library is not redirected to a
	 * socket of the invoking user's choice. */
	const char *p = secure_getenv(BH_SOCKET_ENV);
	return (p && *p) ? p : BH_DEFAULT_SOCKET;
}

static int unix_connect(const char *path, int *ret_fd)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	size_t len = strlen(path);
	if (len == 0)
		return -EINVAL;
	if (len >= sizeof sa.sun_path)
		return -ENAMETOOLONG;
	memcpy(sa.sun_path, path, len + 1);

	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
		int err = errno;
		if (err == EINTR) {
			/* The connection goes on asynchronously: wait for its outcome. */
			struct pollfd p = { .fd = fd, .events = POLLOUT };
			socklen_t sl = sizeof err;
			while (poll(&p, 1, -1) < 0 && errno == EINTR)
				;
			if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &sl) < 0)
				err = errno;
		}
		if (err) {
			close(fd);
			return -err;
		}
	}
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) {
		int err = errno;
		close(fd);
		return -err;
	}
	*ret_fd = fd;
	return 0;
}

int bh_client_connect(const char *path, bh_client **ret)
{
	if (!ret)
		return -EINVAL;
	if (!path)
		path = bh_default_socket();

	bh_client *c = calloc(1, sizeof *c);
	if (!c)
		return -ENOMEM;
	c->fd = -1;
	c->free_head = NO_POS;
	bh_limits_default(&c->limits);
	/* Pipelining may queue several messages; the queue has a ceiling too. */
	bh_buf_init(&c->hdr, 0);
	bh_buf_init(&c->out, 4 * c->limits.max_message);
	bh_buf_init(&c->in, c->limits.max_message + READ_CHUNK);
	bh_scanner_init(&c->scan);
	bh_buf_init(&c->params, c->limits.max_message);
	bh_writer_init(&c->params_w, &c->params);
	bh_arena_init(&c->arena);
	/* A response is one message: the handler's result fits max_message with it. */
	bh_buf_init(&c->reply, c->limits.max_message);

	int r = calls_grow(c);
	if (r == 0)
		r = unix_connect(path, &c->fd);
	if (r < 0) {
		bh_client_free(c);
		return r;
	}
	*ret = c;
	return 0;
}

void bh_client_free(bh_client *c)
{
	if (!c)
		return;
	int saved = errno;
	if (!c->broken && c->fd >= 0)
		(void)conn_break(c, -ENOTCONN, BH_E_UNAVAILABLE, "connection closed");
	if (c->fd >= 0)
		close(c->fd);
	bh_buf_done(&c->hdr);
	bh_buf_done(&c->out);
	bh_buf_done(&c->in);
	bh_buf_done(&c->params);
	bh_buf_done(&c->reply);
	bh_arena_done(&c->arena);
	for (uint32_t i = 0; i < c->n_handlers; i++)
		free(c->handlers[i].method);
	free(c->handlers);
	free(c->calls);
	free(c->heap);
	free(c);
	errno = saved;
}

bh_writer *bh_client_params(bh_client *c)
{
	return &c->params_w;
}

int bh_client_write_bin_lent(bh_client *c, const void *p, size_t len)
{
	bh_writer *w = &c->params_w;
	/* Only large params of a memfd client go from where they are; one per call. */
	if (!c->memfd || c->lent || !p || len < c->memfd_threshold || len > c->max_payload)
		return bh_write_bin(w, p, len);
	size_t at = c->params.len;
	int r = bh_write_bin(w, "", 0);
	if (r == 0) {
		c->lent = p;
		c->lent_len = len;
		c->lent_at = at;
	}
	return r;
}

const bh_value *bh_result_value(const bh_result *r)
{
	return r ? r->value : NULL;
}

void bh_result_free(bh_result *r)
{
	if (r && r->bulk.size)
		munmap(r->bulk.base, r->bulk.size);
	free(r);
}

static int local_failure(bh_client *c, int rc, bh_error *err)
{
	if (rc == -EBADF)
		rc = -EIO; /* keep the promise at the top of this file */
	switch (rc) {
	case -EDEADLK:
		bh_fail(err, BH_E_UNAVAILABLE, "bh_call() from inside a callback or handler "
					       "of the same client is not supported");
		break;
	case -EINVAL:
		bh_fail(err, BH_E_UNAVAILABLE, "invalid call: bad method name or params "
					       "(not exactly one array)");
		break;
	case -ENOBUFS:
		bh_fail(err, BH_E_UNAVAILABLE, "too many calls outstanding on this connection");
		break;
	case -EMSGSIZE:
		bh_fail(err, BH_E_UNAVAILABLE, "request larger than %zu bytes",
			c->limits.max_message);
		break;
	case -EPROTO:
		bh_fail(err, BH_E_PROTOCOL, "the daemon broke the protocol");
		break;
	case -ECONNRESET:
		bh_fail(err, BH_E_UNAVAILABLE, "the daemon closed the connection");
		break;
	case -ENOTCONN:
		bh_fail(err, BH_E_UNAVAILABLE, "connection closed");
		break;
	default:
		bh_fail(err, BH_E_UNAVAILABLE, "connection to the daemon lost: %s",
			strerror(-rc));
		break;
	}
	return rc;
}

int bh_call(bh_client *c, const char *method, int timeout_ms, bh_result **ret, bh_error *err)
{
	bh_error local;
	if (!err)
		err = &local;
	if (!c) {
		bh_fail(err, BH_E_UNAVAILABLE, "no client");
		return -EINVAL;
	}
	struct sync_wait w = { .ret = ret, .err = err };
	int r = call_queue(c, method, timeout_ms, CALL_SYNC, NULL, &w, NULL);
	if (r < 0)
		return local_failure(c, r, err);

	while (!w.done) {
		int t = -1;
		if (c->heap_len > 0)
			t = ms_until(c->calls[c->heap[0]].deadline_ns, now_ns());
		r = wait_once(c, t);
		if (r < 0 && !w.done)
			return local_failure(c, r, err); /* not reached: a break fails us too */
	}
	if (w.rc == 0)
		err->code = BH_OK;
	return w.rc;
}

int bh_call_start(bh_client *c, const char *method, int timeout_ms, bh_reply_fn cb,
		  void *userdata, uint32_t *ret_msgid)
{
	if (!c || !cb)
		return -EINVAL;
	return call_queue(c, method, timeout_ms, CALL_ASYNC, cb, userdata, ret_msgid);
}

int bh_client_on_report(bh_client *c, int timeout_ms, bh_report_fn fn, void *userdata,
			bh_error *err)
{
	bh_writer *w = bh_client_params(c);
	bh_write_array(w, 1);
	bh_write_map(w, 1);
	bh_write_cstr(w, "notifications");
	bh_write_array(w, fn ? 1 : 0);
	if (fn)
		bh_write_cstr(w, REPORT_METHOD);
	/* Set before the answer arrives: a report may follow it in the same read. */
	bh_report_fn old_fn = c->report_fn;
	void *old_userdata = c->report_userdata;
	c->report_fn = fn;
	c->report_userdata = userdata;
	int r = bh_call(c, "bulkhead.hello", timeout_ms, NULL, err);
	if (r < 0) {
		c->report_fn = old_fn;
		c->report_userdata = old_userdata;
	}
	return r;
}

/* The daemon's answer to hello {"memfd": true}: enabled, and its limits. */
static int memfd_answer(bh_client *c, const bh_value *v, size_t threshold)
{
	const bh_value *on = bh_value_find(bh_value_find(v, "enabled"), "memfd");
	const bh_value *opt = bh_value_find(bh_value_find(v, "options"), "memfd");
	uint64_t min, max;
	if (!on || on->type != BH_BOOL || !on->as.b || !opt ||
	    bh_value_get_uint(bh_value_find(opt, "threshold"), &min) < 0 ||
	    bh_value_get_uint(bh_value_find(opt, "max_payload"), &max) < 0 || max > UINT32_MAX)
		return -EOPNOTSUPP;
	c->memfd = true;
	c->memfd_threshold = threshold > min ? threshold : (size_t)min;
	c->max_payload = (size_t)max;
	/* Params up to the payload ceiling can be built: they go in a memfd. */
	if (c->params.max < c->max_payload)
		c->params.max = c->max_payload;
	return 0;
}

/* bulkhead.hello [{option: true}]. 0 and the daemon's answer (*ret, free with
 * bh_result_free) when its "enabled" map says option is on; -EOPNOTSUPP when it is
 * not, or as bh_call(). */
static int hello_enable(bh_client *c, const char *option, int timeout_ms, bh_result **ret,
			bh_error *err)
{
	if (!c) {
		bh_fail(err, BH_E_UNAVAILABLE, "no client");
		return -EINVAL;
	}
	bh_writer *w = bh_client_params(c);
	bh_write_array(w, 1);
	bh_write_map(w, 1);
	bh_write_cstr(w, option);
	bh_write_bool(w, true);
	bh_result *res = NULL;
	int r = bh_call(c, "bulkhead.hello", timeout_ms, &res, err);
	if (r < 0)
		return r;
	const bh_value *on = bh_value_find(bh_value_find(bh_result_value(res), "enabled"), option);
	if (!on || on->type != BH_BOOL || !on->as.b) {
		bh_result_free(res);
		return -EOPNOTSUPP;
	}
	*ret = res;
	return 0;
}

int bh_client_use_memfd(bh_client *c, size_t threshold, int timeout_ms, bh_error *err)
{
	bh_error local;
	if (!err)
		err = &local;
	bh_result *res = NULL;
	int r = hello_enable(c, "memfd", timeout_ms, &res, err);
	if (r == 0) {
		r = memfd_answer(c, bh_result_value(res), threshold);
		bh_result_free(res);
	}
	if (r == -EOPNOTSUPP)
		bh_fail(err, BH_E_UNAVAILABLE, "the daemon does not take memfds");
	return r;
}

int bh_client_enable_callbacks(bh_client *c, int timeout_ms, bh_error *err)
{
	bh_error local;
	if (!err)
		err = &local;
	bh_result *res = NULL;
	int r = hello_enable(c, "callbacks", timeout_ms, &res, err);
	bh_result_free(res);
	if (r == -EOPNOTSUPP)
		bh_fail(err, BH_E_UNAVAILABLE, "the daemon does not serve callbacks");
	return r;
}

int bh_client_handle(bh_client *c, const char *method, bh_handler_fn fn, void *userdata)
{
	if (!c)
		return -EINVAL;
	if (!method || strcmp(method, "*") == 0) {
		c->fallback_handler = (struct handler){ .fn = fn, .userdata = userdata };
		return 0;
	}
	size_t len = strlen(method);
	if (len == 0 || len > BH_HANDLER_METHOD_MAX)
		return -EINVAL;
	struct handler *h = handler_find(c, method, len);
	if (h && fn) {
		h->fn = fn;
		h->userdata = userdata;
	} else if (h) {
		free(h->method);
		*h = c->handlers[--c->n_handlers];
	} else if (fn) {
		char *name = strdup(method);
		struct handler *hs = name ? realloc(c->handlers,
						   (c->n_handlers + 1) * sizeof *hs) : NULL;
		if (!hs) {
			free(name);
			return -ENOMEM;
		}
		c->handlers = hs;
		hs[c->n_handlers++] = (struct handler){ .method = name, .method_len = len,
							.fn = fn, .userdata = userdata };
	}
	return 0;
}

int bh_client_fd(const bh_client *c)
{
	return c->fd;
}

bool bh_client_want_write(const bh_client *c)
{
	return !c->broken && out_pending(c);
}

int bh_client_next_timeout(const bh_client *c)
{
	if (c->deferred && !c->broken)
		return 0; /* a send failed: the next step reports it */
	if (c->heap_len == 0 || c->broken)
		return -1;
	return ms_until(c->calls[c->heap[0]].deadline_ns, now_ns());
}

size_t bh_client_pending(const bh_client *c)
{
	return c->live;
}

int bh_client_step(bh_client *c)
{
	if (c->dispatching)
		return -EDEADLK;
	if (c->broken)
		return c->broken;
	return io(c, POLLOUT | POLLIN);
}

int bh_client_wait_all(bh_client *c, int timeout_ms)
{
	if (c->dispatching)
		return -EDEADLK;
	int64_t end = timeout_ms >= 0 ? now_ns() + (int64_t)timeout_ms * 1000000 : 0;
	while (c->live > 0) {
		if (c->broken)
			return c->broken;
		int64_t now = now_ns();
		int t = -1;
		if (timeout_ms >= 0) {
			if (now >= end)
				return -ETIMEDOUT;
			t = ms_until(end, now);
		}
		if (c->heap_len > 0) {
			int d = ms_until(c->calls[c->heap[0]].deadline_ns, now);
			if (t < 0 || d < t)
				t = d;
		}
		int r = wait_once(c, t);
		if (r < 0)
			return r;
	}
	return 0;
}
