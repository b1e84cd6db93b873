/* Client connections: read and validate requests, route them, write responses.
 * Output is gathered during an event-loop iteration and written once before the
 * next wait (bh_conn_flush_all), so a pipelined batch costs one write.
 *
 * What a client is sent, and when (a peer that also serves requests, like Neovim,
 * matches every response to one of its own requests):
 *   - a response only to a request ([0, uint32 msgid, ...], bh_rpc_request_msgid),
 *     with that msgid, exactly once, even when the rest of its envelope is wrong;
 *   - nothing to a notification or a response: a notification that fails, a message
 *     of no known shape and a response are reported (report()): logged, rate-limited,
 *     and sent as [2, "bulkhead.error", [{code, name, message}]] to a client that
 *     asked for those with bulkhead.hello;
 *   - bytes that cannot be resynchronised (not MessagePack, past a limit) are
 *     reported the same way and the connection is closed once the calls it has
 *     running are answered. */
#define _GNU_SOURCE
#include "conn.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "access.h"
#include "bulkhead/error.h"
#include "bulkhead/proto.h"
#include "bulkhead/value.h"
#include "call.h"
#include "config.h"
#include "control.h"
#include "daemon.h"
#include "events.h"
#include "list.h"
#include "log.h"
#include "loop.h"
#include "metrics.h"
#include "outcall.h"
#include "router.h"
#include "slot.h"
#include "spare.h"

#define READ_CHUNK (64 * 1024)
/* Stop reading a client whose unread responses pass this; resume below it. */
#define OUT_HIGH_WATER (8u * 1024 * 1024)
/* A client whose unread responses pass this is closed: it is not reading them. */
#define OUT_HARD_CAP(d) ((d)->cfg->limits.max_message * 4 > 64u * 1024 * 1024             \
				 ? (d)->cfg->limits.max_message * 4                          \
				 : 64u * 1024 * 1024)
/* Stop reading a client whose calls waiting or running hold this many request bytes:
 * a count of calls alone (max_client_pending) would let one connection park GiBs of
 * large requests behind a slow call. */
#define HELD_HIGH_WATER(d) OUT_HARD_CAP(d)
#define OPTIONS_MAX 4096

static void conn_close(struct bh_conn *cn);
static void conn_readable(struct bh_conn *cn);

static void conn_free(void *p)
{
	struct bh_conn *cn = p;
	bh_buf_done(&cn->in);
	bh_buf_done(&cn->out);
	free(cn->scan);
	bh_fdq_clear(&cn->fdq);
	for (unsigned i = 0; i < cn->n_out_fd; i++)
		close(cn->out_fd[i].fd);
	free(cn);
}

static void schedule_flush(struct bh_conn *cn)
{
	if (!cn->want_flush && !cn->dead) {
		cn->want_flush = true;
		bh_list_add_tail(&cn->d->flush_conns, &cn->flush_link);
	}
}

/* Responses queued and not yet sent. */
static size_t out_waiting(const struct bh_conn *cn)
{
	return cn->out.len - cn->out_sent;
}

size_t bh_conn_unread(const struct bh_conn *cn)
{
	return out_waiting(cn);
}

static void update_events(struct bh_conn *cn)
{
	uint32_t ev = 0;
	if (!cn->closing && out_waiting(cn) < OUT_HIGH_WATER &&
	    cn->held_bytes < HELD_HIGH_WATER(cn->d))
		ev |= EPOLLIN;
	if (out_waiting(cn) > 0)
		ev |= EPOLLOUT;
	bh_watch_mod(cn->d->loop, &cn->watch, ev);
}

static void conn_event(struct bh_watch *w, uint32_t events)
{
	struct bh_conn *cn = bh_container_of(w, struct bh_conn, watch);
	if ((events & EPOLLHUP) && cn->closing) {
		conn_close(cn); /* gone both ways: nobody to answer, and HUP cannot be masked */
		return;
	}
	if (events & EPOLLOUT)
		schedule_flush(cn);
	if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
		/* Borrowed for the read (spare.h). */
		if (!bh_spare_lend(&cn->d->spare, &cn->in, &cn->scan)) {
			bh_warn("client pid %d: no memory to read its connection; closing it",
				(int)cn->pid);
			conn_close(cn);
			return;
		}
		conn_readable(cn);
		bh_spare_take_back(&cn->d->spare, &cn->in, &cn->scan);
	}
}

void bh_conn_accept(struct bh_daemon *d, int fd)
{
	if (d->n_conns >= d->cfg->max_clients) {
		bh_warn("refusing a connection: %u clients connected (limits.max_clients)",
			d->n_conns);
		close(fd);
		return;
	}
	struct bh_conn *cn = calloc(1, sizeof(*cn));
	if (!cn) {
		close(fd);
		return;
	}
	struct ucred cred;
	socklen_t clen = sizeof(cred);
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &clen) < 0) {
		bh_warn("SO_PEERCRED: %s; refusing the connection", strerror(errno));
		close(fd);
		free(cn);
		return;
	}
	cn->d = d;
	cn->uid = cred.uid;
	cn->gid = cred.gid;
	cn->pid = cred.pid;
	cn->serial = ++d->next_serial;
	bh_buf_init(&cn->in, d->cfg->limits.max_message + READ_CHUNK);
	bh_buf_init(&cn->out, 0);
	bh_fdq_init(&cn->fdq);
	bh_list_init(&cn->calls);
	bh_list_init(&cn->callbacks_waiting);
	bh_list_init(&cn->notifications);
	bh_list_init(&cn->flush_link);
	bh_list_init(&cn->events_link);
	cn->watch = (struct bh_watch){.fd = fd, .events = EPOLLIN, .fn = conn_event};
	if (bh_watch_add(d->loop, &cn->watch) < 0) {
		close(fd);
		conn_free(cn);
		return;
	}
	bh_list_add_tail(&d->conns, &cn->link);
	d->n_conns++;
	bh_debug("client %llu connected (pid %d uid %u)", (unsigned long long)cn->serial,
		 (int)cn->pid, (unsigned)cn->uid);
}

/* ---- responses ---- */

/* Closed at the next flush, not here: the caller may be in the middle of handling
 * one of its calls, which closing would free under it. */
static void doom(struct bh_conn *cn)
{
	cn->doomed = cn->closing = true;
	schedule_flush(cn);
}

static void append_or_drop(struct bh_conn *cn, int r)
{
	if (cn->doomed)
		return;
	if (r == 0 && out_waiting(cn) > OUT_HARD_CAP(cn->d)) {
		bh_warn("client %llu (pid %d) does not read its responses (%zu bytes waiting); "
			"closing", (unsigned long long)cn->serial, (int)cn->pid, out_waiting(cn));
		return doom(cn);
	}
	if (r < 0) {
		/* Out of memory building a response: the stream is now unusable. */
		bh_err("client %llu: cannot queue a response: %s; closing",
		       (unsigned long long)cn->serial, strerror(-r));
		return doom(cn);
	}
	schedule_flush(cn);
}

static void send_error(struct bh_conn *cn, uint32_t msgid, int32_t code, const char *msg)
{
	struct bh_writer w;
	bh_writer_init(&w, &cn->out);
	append_or_drop(cn, bh_rpc_write_error_as(&w, msgid, code, msg, cn->error_map));
}

/* Take a token from the bucket of log lines about clients; false when it is empty. */
static bool report_token(struct bh_report_bucket *b, uint64_t now)
{
	const uint64_t per = 1000000000ull / BH_CLIENT_REPORT_PER_SEC;
	uint64_t refill = (now - b->stamp_ns) / per;
	if (refill >= b->spent) {
		b->spent = 0;
		b->stamp_ns = now;
	} else {
		b->spent -= (uint32_t)refill;
		b->stamp_ns += refill * per;
	}
	if (b->spent >= BH_CLIENT_REPORT_BURST)
		return false;
	b->spent++;
	return true;
}

/* An error that belongs to no request: never a response. Logged (rate-limited: a
 * client must not be able to flood the log) and, when the client asked for them, sent
 * as a bulkhead.error notification. */
static void report(struct bh_conn *cn, int32_t code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void report(struct bh_conn *cn, int32_t code, const char *fmt, ...)
{
	char text[BH_ERROR_MESSAGE_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);

	struct bh_report_bucket *b = &cn->d->client_reports;
	if (report_token(b, bh_now_ns())) {
		char dropped[96] = "";
		if (b->suppressed)
			snprintf(dropped, sizeof(dropped), " (%llu more reports about clients "
				 "suppressed: over %d a second)", (unsigned long long)b->suppressed,
				 BH_CLIENT_REPORT_PER_SEC);
		b->suppressed = 0;
		bh_info("client %llu (pid %d uid %u): %s: %s%s", (unsigned long long)cn->serial,
			(int)cn->pid, (unsigned)cn->uid, bh_code_name(code), text, dropped);
	} else {
		b->suppressed++;
	}
	if (!(cn->notes & BH_NOTE_ERROR) || cn->dead)
		return;
	struct bh_writer w;
	bh_writer_init(&w, &cn->out);
	append_or_drop(cn, bh_rpc_write_error_notify(&w, BH_NOTE_ERROR_METHOD,
						     strlen(BH_NOTE_ERROR_METHOD), code, text));
}

static void report_notification(struct bh_conn *cn, int32_t code, const char *msg)
{
	report(cn, code, "a notification failed: %s", msg);
}

static void mark_answered(struct bh_call *c, int32_t code)
{
	bh_metrics_call_done(c, code);
	c->answered = true;
	c->conn->n_outstanding--;
}

/* A large result to a connection that takes memfds: the result goes in a sealed memfd
 * (c's reply_fd when it is in one already: the result area copied, or the client's
 * own params memfd that it is a slice of; else a new one) sent with the response's
 * first byte, the response carries a reference to it.
 * False when it goes inline after all (small, no room for another fd, no memfd). */
static bool reply_memfd(struct bh_conn *cn, struct bh_call *c, const uint8_t *result,
			size_t len)
{
	uint32_t msgid = c->client_msgid;
	int fd = c->reply_fd;
	size_t off = 0;
	c->reply_fd = -1;
	if (fd >= 0) {
		off = c->reply_off;
		len = c->reply_len;
	}
	if (fd >= 0 && cn->n_out_fd >= BH_CONN_OUT_FDS) {
		/* No room for another fd: the result goes inline, from the memfd. */
		struct bh_memfd_bytes m;
		int r = bh_memfd_map_slice(fd, off, len, &m);
		close(fd);
		struct bh_writer w;
		bh_writer_init(&w, &cn->out);
		if (r == 0) {
			r = bh_rpc_write_result(&w, msgid, m.p, len);
			munmap(m.base, m.size);
		}
		append_or_drop(cn, r);
		return true;
	}
	/* A memfd of ours (fd >= 0) was checked when it was made, against the limits of
	 * its instance's start: it goes out even if a reload lowered max_payload since. */
	if (fd < 0 && (!cn->memfd || len < BH_BULK_THRESHOLD || len > cn->d->cfg->max_payload ||
		       cn->n_out_fd >= BH_CONN_OUT_FDS))
		return false;
	if (fd < 0 && bh_memfd_sealed("bulkhead-reply", result, len, &fd) < 0)
		return false;
	uint8_t ref[BH_BULK_SLICE_REF_SIZE];
	size_t ref_len = bh_bulk_ref_put(ref, &(struct bh_bulk_ref){ .kind = BH_BULK_MEMFD,
								    .off = (uint32_t)off,
								    .len = (uint32_t)len });
	size_t at = cn->out.len;
	struct bh_writer w;
	bh_writer_init(&w, &cn->out);
	int r = bh_rpc_write_result(&w, msgid, ref, ref_len);
	if (r < 0) {
		close(fd);
		append_or_drop(cn, r);
		return true;
	}
	cn->out_fd[cn->n_out_fd].at = at;
	cn->out_fd[cn->n_out_fd++].fd = fd;
	append_or_drop(cn, 0);
	return true;
}

void bh_conn_reply_result(struct bh_call *c, const uint8_t *result, size_t len)
{
	if (c->origin)
		return bh_outcall_result(c, result, len);
	struct bh_conn *cn = c->conn;
	if (c->answered || !cn)
		return;
	mark_answered(c, BH_OK);
	if (cn->dead || reply_memfd(cn, c, result, len))
		return;
	struct bh_writer w;
	bh_writer_init(&w, &cn->out);
	append_or_drop(cn, bh_rpc_write_result(&w, c->client_msgid, result, len));
}

uint8_t *bh_conn_reply_begin(struct bh_call *c, size_t len, size_t *mark)
{
	struct bh_conn *cn = c->conn;
	if (c->answered || !cn || cn->dead || c->origin)
		return NULL;
	size_t at = cn->out.len;
	struct bh_writer w;
	bh_writer_init(&w, &cn->out);
	bh_write_array(&w, 4);
	bh_write_uint(&w, BH_RPC_RESPONSE);
	bh_write_uint(&w, c->client_msgid);
	bh_write_nil(&w);
	if (bh_writer_error(&w) < 0 || bh_buf_reserve(&cn->out, len) < 0) {
		cn->out.len = at;
		return NULL;
	}
	*mark = at;
	return cn->out.data + cn->out.len;
}

void bh_conn_reply_end(struct bh_call *c, size_t mark, size_t len, bool ok)
{
	struct bh_conn *cn = c->conn;
	if (!ok) {
		cn->out.len = mark;
		return;
	}
	cn->out.len += len;
	mark_answered(c, BH_OK);
	append_or_drop(cn, 0);
}

void bh_conn_reply_error(struct bh_call *c, int32_t code, const char *fmt, ...)
{
	struct bh_conn *cn = c->notifier ? c->notifier : c->conn;
	if (!c->notifier && !c->origin && (c->answered || !cn))
		return;
	char msg[BH_ERROR_MESSAGE_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (c->origin)
		return bh_outcall_error(c, code, msg);
	if (c->notifier) {
		bh_conn_unhold(cn, c);
		c->notifier = NULL; /* one report per notification */
		bh_list_del(&c->conn_link);
		report_notification(cn, code, msg);
		return;
	}
	mark_answered(c, code);
	if (!cn->dead)
		send_error(cn, c->client_msgid, code, msg);
}

static bool callback_room(const struct bh_conn *cn)
{
	return !cn->dead && !cn->doomed && out_waiting(cn) <= BH_CONN_CALLBACK_OUT_MAX;
}

bool bh_conn_send_request(struct bh_conn *cn, uint32_t cid, const char *method, size_t len,
			  const uint8_t *params, size_t params_len)
{
	if (!callback_room(cn))
		return false;
	struct bh_writer w;
	bh_writer_init(&w, &cn->out);
	append_or_drop(cn, bh_rpc_write_request(&w, cid, method, len, params, params_len));
	return !cn->dead;
}

bool bh_conn_send_notify(struct bh_conn *cn, const char *method, size_t len,
			 const uint8_t *params, size_t params_len)
{
	if (!callback_room(cn))
		return false;
	struct bh_writer w;
	bh_writer_init(&w, &cn->out);
	append_or_drop(cn, bh_rpc_write_notify(&w, method, len, params, params_len));
	return !cn->dead;
}

/* Send what the socket takes. The sent prefix is dropped only once it is at least half
 * the buffer: moving the rest after every partial send would make a large backlog
 * cost time quadratic in its size (a socket takes ~200 KB per wake-up). */
/* One send of what waits, up to the next response that carries a memfd; that one
 * goes with the memfd attached to its first byte. */
static ssize_t send_some(struct bh_conn *cn)
{
	struct iovec iov = { cn->out.data + cn->out_sent, out_waiting(cn) };
	if (cn->n_out_fd == 0) {
		ssize_t n = send(cn->watch.fd, iov.iov_base, iov.iov_len, MSG_NOSIGNAL);
		return n < 0 ? -errno : n;
	}
	int fd = -1;
	if (cn->out_fd[0].at == cn->out_sent) {
		fd = cn->out_fd[0].fd;
		if (cn->n_out_fd > 1)
			iov.iov_len = cn->out_fd[1].at - cn->out_sent;
	} else {
		iov.iov_len = cn->out_fd[0].at - cn->out_sent;
	}
	ssize_t n = bh_send_fd(cn->watch.fd, &iov, 1, fd, MSG_NOSIGNAL);
	if (n > 0 && fd >= 0) {
		close(fd);
		cn->n_out_fd--;
		memmove(cn->out_fd, cn->out_fd + 1, cn->n_out_fd * sizeof(cn->out_fd[0]));
	}
	return n;
}

static void conn_flush(struct bh_conn *cn)
{
	if (cn->doomed) {
		conn_close(cn);
		return;
	}
	bh_sock_fit_sndbuf(cn->watch.fd, out_waiting(cn), &cn->sndbuf);
	while (out_waiting(cn) > 0) {
		ssize_t n = send_some(cn);
		if (n < 0)
			errno = (int)-n;
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				break;
			bh_debug("client %llu: send: %s", (unsigned long long)cn->serial,
				 strerror(errno));
			conn_close(cn);
			return;
		}
		cn->out_sent += (size_t)n;
		cn->d->output.client_sent += (size_t)n;
	}
	if (cn->out_sent == cn->out.len) {
		cn->out.len = cn->out_sent = 0;
		bh_buf_shrink(&cn->out, BH_BUF_KEEP);
		bh_events_resume(cn); /* appends, to be sent with the next flush */
	} else if (cn->out_sent >= cn->out.len / 2) {
		cn->d->output.client_moved += cn->out.len - cn->out_sent;
		for (unsigned i = 0; i < cn->n_out_fd; i++)
			cn->out_fd[i].at -= cn->out_sent;
		bh_buf_consume(&cn->out, cn->out_sent);
		cn->out_sent = 0;
	}
	if (cn->closing && out_waiting(cn) == 0 && cn->n_outstanding == 0) {
		conn_close(cn);
		return;
	}
	update_events(cn);
}

void bh_conn_unhold(struct bh_conn *cn, const struct bh_call *c)
{
	bool was_full = cn->held_bytes >= HELD_HIGH_WATER(cn->d);
	cn->held_bytes -= c->req_len;
	if (c->passed.fd >= 0)
		cn->n_passed--;
	if (was_full && cn->held_bytes < HELD_HIGH_WATER(cn->d))
		schedule_flush(cn); /* which turns reading back on */
}

void bh_conn_flush_all(struct bh_daemon *d)
{
	struct bh_list *pos, *tmp;
	bh_list_for_each_safe(pos, tmp, &d->flush_conns)
	{
		struct bh_conn *cn = bh_container_of(pos, struct bh_conn, flush_link);
		bh_list_del(&cn->flush_link);
		cn->want_flush = false;
		conn_flush(cn);
	}
}

/* ---- requests ---- */

/* Outcome of reading the options map of a request. */
static int parse_options(const struct bh_daemon *d, const struct bh_rpc *rpc,
			 uint32_t *timeout_ms, const char **why)
{
	if (!rpc->options)
		return 0;
	if (rpc->options_len > OPTIONS_MAX) {
		*why = "options map too large";
		return -EMSGSIZE;
	}
	struct bh_arena arena;
	bh_arena_init(&arena);
	const bh_value *opts;
	size_t used;
	int r = bh_decode(rpc->options, rpc->options_len, &d->cfg->limits, &arena, &opts, &used);
	if (r < 0) {
		*why = "options cannot be decoded";
		goto out;
	}
	const bh_value *t = bh_value_find(opts, "timeout_ms");
	if (t) {
		uint64_t ms;
		if (bh_value_get_uint(t, &ms) < 0 || ms == 0 || ms > 24ull * 3600 * 1000) {
			*why = "options.timeout_ms must be an integer in 1..86400000";
			r = -EINVAL;
			goto out;
		}
		*timeout_ms = (uint32_t)ms;
	}
out:
	bh_arena_done(&arena);
	return r;
}

/* A request or notification refused before it became a call: the request gets its
 * error response, the notification is reported. */
static void refuse(struct bh_conn *cn, const struct bh_rpc *rpc, int32_t code,
		   const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static void refuse(struct bh_conn *cn, const struct bh_rpc *rpc, int32_t code,
		   const char *fmt, ...)
{
	char msg[BH_ERROR_MESSAGE_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (rpc->type == BH_RPC_REQUEST)
		send_error(cn, rpc->msgid, code, msg);
	else
		report_notification(cn, code, msg);
}

/* Params that came as a reference to a memfd (BH_BULK_MEMFD): the memfd, checked
 * like anything a client sends and its content scanned, becomes *ret, with the
 * mapping the scan read; rpc's params stay the reference. 0 when there is no
 * reference; 1 with *ret; -1 with *why when the request is refused. */
static int memfd_params(struct bh_conn *cn, struct bh_rpc *rpc, struct bh_passed *ret,
			const char **why)
{
	struct bh_bulk_ref ref;
	int r = bh_bulk_ref_get(rpc->params, rpc->params_len, &ref);
	if (r == -ENOENT)
		return 0;
	if (r < 0 || ref.kind != BH_BULK_MEMFD || ref.off != 0) {
		*why = "params: malformed memfd reference";
		return -1;
	}
	int fd;
	if (bh_fdq_take(&cn->fdq, &fd) < 0) {
		*why = "params: a memfd reference came without its fd";
		return -1;
	}
	r = bh_memfd_check(fd, ref.len, cn->d->cfg->max_payload, BH_MEMFD_SEALS_HOSTILE);
	const uint8_t *map = NULL;
	if (r == 0 && ref.len == 0)
		r = -EINVAL;
	if (r == 0 && bh_memfd_map(fd, ref.len, &map) < 0)
		r = -ENOMEM;
	if (r < 0) {
		close(fd);
		*why = bh_memfd_strerror(r);
		return -1;
	}
	/* Sealed: what is scanned now is what the plugin will read. */
	struct bh_limits lim = cn->d->cfg->limits;
	struct bh_scan sc;
	lim.max_message = lim.max_bytes = ref.len;
	uint8_t t = map[0];
	bool ok = ((t & 0xf0) == 0x90 || t == 0xdc || t == 0xdd) &&
		  bh_scan(map, ref.len, &lim, &sc) == 0 && sc.size == ref.len;
	if (!ok) {
		munmap((void *)map, ref.len);
		close(fd);
		*why = "params in a memfd: not exactly one MessagePack array";
		return -1;
	}
	*ret = (struct bh_passed){ .fd = fd, .len = ref.len, .map = map };
	return 1;
}

static void handle_request(struct bh_conn *cn, struct bh_rpc *rpc)
{
	struct bh_daemon *d = cn->d;
	bool notify = rpc->type == BH_RPC_NOTIFY;
	uint32_t msgid = rpc->msgid;
	const char *m = rpc->method;
	size_t mlen = rpc->method_len;

	/* Params that came in a memfd: its fd is taken first, whatever becomes of the
	 * request, so that a refused request never leaves its fd to the next one. */
	struct bh_passed passed = { .fd = -1 };
	const char *why = NULL;
	int mr = memfd_params(cn, rpc, &passed, &why);

#define REJECT(code, ...)                                                                  \
	do {                                                                               \
		bh_passed_drop(&passed);                                                   \
		refuse(cn, rpc, code, __VA_ARGS__);                                        \
		return;                                                                    \
	} while (0)

	if (d->shutting_down)
		REJECT(BH_E_SHUTTING_DOWN, "the daemon is shutting down");
	if (cn->n_outstanding >= d->cfg->max_client_pending)
		REJECT(BH_E_OVERLOADED, "%u calls outstanding on this connection (limit %u)",
		       cn->n_outstanding, d->cfg->max_client_pending);
	const char *dot = memchr(m, '.', mlen);
	if (!dot || dot == m || dot == m + mlen - 1)
		REJECT(BH_E_BAD_REQUEST, "method \"%.*s\" is not of the form plugin.method",
		       (int)(mlen > 128 ? 128 : mlen), m);
	size_t plen = (size_t)(dot - m);
	const char *meth = dot + 1;
	size_t methlen = mlen - plen - 1;

	if (mr < 0)
		REJECT(BH_E_BAD_REQUEST, "%s", why);
	uint32_t timeout_ms = 0;
	if (parse_options(d, rpc, &timeout_ms, &why) < 0)
		REJECT(BH_E_BAD_REQUEST, "%s", why);

	/* What the child receives is a few bytes longer than what the client sent (a
	 * fixed-width id): it must still fit the limit the shim enforces. Params that came
	 * in a memfd stay there, within the payload ceiling (memfd_params), and go on to
	 * the child in it. */
	struct bh_call *c = NULL;
	/* Large params of a plugin call are copied once, to where they go (call.h). */
	bool borrow = rpc->params_len >= BH_BULK_THRESHOLD && passed.fd < 0 &&
		      !(plen == 8 && memcmp(m, "bulkhead", 8) == 0);
	if (passed.fd >= 0 && cn->n_passed >= BH_CONN_PASSED_MAX)
		refuse(cn, rpc, BH_E_OVERLOADED, "%u calls with params in a memfd outstanding on "
		       "this connection (at most %d)", cn->n_passed, BH_CONN_PASSED_MAX);
	else if (methlen + rpc->params_len + 16 > d->cfg->limits.max_message)
		refuse(cn, rpc, BH_E_TOO_LARGE, "request too large: %zu bytes of params "
		       "(limits.max_message %zu)", rpc->params_len, d->cfg->limits.max_message);
	else if (!(c = borrow ? bh_call_new_borrowing(d, meth, methlen, rpc->params,
						      rpc->params_len)
			      : bh_call_new(d, meth, methlen, rpc->params, rpc->params_len)))
		refuse(cn, rpc, BH_E_INTERNAL, "out of memory");
	if (!c) {
		bh_passed_drop(&passed);
		return;
	}
	c->passed = passed;
	cn->n_passed += passed.fd >= 0;
	c->kind = BH_CALL_CLIENT;
	c->client_msgid = msgid;
	cn->held_bytes += c->req_len; /* given back by bh_conn_unhold */
	if (notify) {
		c->answered = true; /* nobody waits for a notification's result */
		c->notifier = cn;   /* but its failure is reported */
		bh_list_add_tail(&cn->notifications, &c->conn_link);
	} else {
		c->conn = cn;
		cn->n_outstanding++;
		bh_list_add_tail(&cn->calls, &c->conn_link);
	}
	c->timeout_ms = timeout_ms;

	if (plen == 8 && memcmp(m, "bulkhead", 8) == 0) {
		if (notify) {
			bh_call_fail(c, BH_E_BAD_REQUEST, "control methods (bulkhead.*) answer: "
				     "send them as requests, not notifications");
			return;
		}
		bh_control(d, c, meth, methlen, rpc->params, rpc->params_len);
		return;
	}
	if (!bh_name_valid(m, plen)) {
		bh_call_fail(c, BH_E_BAD_REQUEST, "plugin name is not an identifier");
		return;
	}
	struct bh_slot *s = bh_slot_find(d, m, plen);
	if (!s) {
		char msg[160];
		snprintf(msg, sizeof(msg), "no plugin named \"%.*s\"", (int)plen, m);
		bh_call_fail(c, BH_E_UNKNOWN_PLUGIN, msg);
		return;
	}
	c->slot = s;
	if (!bh_access_may_call(d, s, cn)) {
		char msg[160];
		snprintf(msg, sizeof(msg), "uid %u gid %u may not call plugin %s",
			 (unsigned)cn->uid, (unsigned)cn->gid, s->conf->name);
		bh_call_fail(c, BH_E_PERMISSION_DENIED, msg);
		return;
	}
	if (!bh_name_valid(meth, methlen) || !bh_slot_has_method(s, meth, methlen)) {
		char msg[200];
		snprintf(msg, sizeof(msg), "plugin %s has no method \"%.*s\"", s->conf->name,
			 (int)(methlen > 64 ? 64 : methlen), meth);
		bh_call_fail(c, BH_E_UNKNOWN_METHOD, msg);
		return;
	}
	if (!c->timeout_ms)
		c->timeout_ms = s->conf->timeout_ms;
	bh_route(d, c);
#undef REJECT
}

/* Handle one complete message (bh_scan accepted it: the stream stays in sync). */
static void handle_message(struct bh_conn *cn, const uint8_t *msg, size_t len)
{
	struct bh_rpc rpc;
	const char *why = "malformed";
	int r = cn->memfd ? bh_rpc_parse_bulk(msg, len, &rpc, &why)
			  : bh_rpc_parse(msg, len, &rpc, &why);
	if (r < 0) {
		uint32_t msgid;
		/* Whatever fd it brought must not go to a later request: drop the queue (a
		 * later memfd request then finds none and is refused, never mixed up). */
		if (cn->memfd)
			bh_fdq_clear(&cn->fdq);
		if (bh_rpc_request_msgid(msg, len, &msgid) == 0) {
			char text[200];
			snprintf(text, sizeof(text), "bad message: %s", why);
			send_error(cn, msgid, BH_E_BAD_REQUEST, text);
		} else {
			report(cn, BH_E_BAD_REQUEST, "dropped a message that is no request "
			       "([0, uint32 msgid, method, params]) nor notification: %s", why);
		}
		return;
	}
	switch (rpc.type) {
	case BH_RPC_REQUEST:
	case BH_RPC_NOTIFY:
		handle_request(cn, &rpc);
		return;
	default:
		if (!bh_callback_response(cn, &rpc))
			report(cn, BH_E_PROTOCOL, "dropped a response (msgid %u) to no request "
			       "the daemon sent it", rpc.msgid);
		return;
	}
}

/* Bytes that cannot be resynchronised: nothing after them can be read. */
static void conn_protocol_error(struct bh_conn *cn, int err)
{
	int32_t code = err == -EMSGSIZE || err == -E2BIG || err == -ELOOP ? BH_E_TOO_LARGE
									   : BH_E_BAD_REQUEST;
	report(cn, code, "%s (limits: max_message %zu bytes, max_depth %u, max_items %u); "
	       "closing the connection", bh_proto_strerror(err),
	       cn->d->cfg->limits.max_message, cn->d->cfg->limits.max_depth,
	       cn->d->cfg->limits.max_items);
	cn->closing = true;
	schedule_flush(cn);
}

/* Handle the messages in `in` that are complete. The scanner resumes where the last
 * read left it, so a message dripped byte by byte is still scanned once. */
static void conn_parse(struct bh_conn *cn)
{
	size_t off = 0;
	while (off < cn->in.len && !cn->closing && !cn->dead) {
		struct bh_scan sc;
		uint64_t work = cn->scan->work;
		int r = bh_scanner_feed(cn->scan, cn->in.data + off, cn->in.len - off,
					&cn->d->cfg->limits, &sc);
		cn->d->input.client_scanned += cn->scan->work - work;
		if (r == -EAGAIN)
			break;
		if (r < 0) {
			conn_protocol_error(cn, r);
			break;
		}
		const uint8_t *msg = cn->in.data + off;
		off += sc.size;
		handle_message(cn, msg, sc.size);
	}
	if (!cn->dead) {
		bh_buf_consume(&cn->in, off);
		if (cn->in.len == 0)
			bh_buf_shrink(&cn->in, BH_BUF_KEEP);
		/* An fd comes with the first byte of the message that uses it: with no
		 * message begun, whatever fd is left was sent for nothing. */
		if (cn->in.len == 0 && cn->fdq.n > 0) {
			report(cn, BH_E_BAD_REQUEST, "%u fds that no request used, closed",
			       cn->fdq.n);
			bh_fdq_clear(&cn->fdq);
		}
	}
}

static void conn_readable(struct bh_conn *cn)
{
	for (int rounds = 0; rounds < 16 && !cn->closing && !cn->dead; rounds++) {
		if (bh_buf_reserve(&cn->in, READ_CHUNK) < 0 &&
		    bh_buf_reserve(&cn->in, 1) < 0) {
			conn_protocol_error(cn, -EMSGSIZE);
			return;
		}
		size_t room = cn->in.cap - cn->in.len;
		/* Only a connection that asked for memfds receives fds; on the others the
		 * kernel drops whatever fds come, unread. */
		ssize_t n = cn->memfd ? bh_recv_fds(cn->watch.fd, cn->in.data + cn->in.len, room,
						    &cn->fdq, 0)
				      : recv(cn->watch.fd, cn->in.data + cn->in.len, room, 0);
		if (n < 0 && cn->memfd)
			errno = (int)-n;
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				break;
			conn_close(cn);
			return;
		}
		if (cn->fdq.overflow) {
			report(cn, BH_E_BAD_REQUEST, "more than %d fds sent ahead of the requests that "
			       "use them; closing the connection", BH_FDQ_MAX);
			cn->closing = true;
			schedule_flush(cn);
			break;
		}
		if (n == 0) {
			/* Half-closed: answer what was asked, then close. */
			cn->closing = true;
			schedule_flush(cn);
			break;
		}
		cn->in.len += (size_t)n;
		cn->d->input.client_read += (size_t)n;
		conn_parse(cn);
		/* A short read drained the socket: another recv would only say EAGAIN. */
		if (out_waiting(cn) >= OUT_HIGH_WATER || cn->held_bytes >= HELD_HIGH_WATER(cn->d) ||
		    (size_t)n < room)
			break;
	}
	if (!cn->dead)
		update_events(cn);
}

static void conn_close(struct bh_conn *cn)
{
	if (cn->dead)
		return;
	cn->dead = true;
	struct bh_list *pos, *tmp;
	bh_list_for_each_safe(pos, tmp, &cn->calls)
	{
		struct bh_call *c = bh_container_of(pos, struct bh_call, conn_link);
		bh_call_detach_conn(c);
	}
	bh_callback_conn_gone(cn);
	bh_events_unsubscribe(cn);
	/* Its notifications still run; there is just nobody left to report to. */
	bh_list_for_each_safe(pos, tmp, &cn->notifications)
	{
		struct bh_call *c = bh_container_of(pos, struct bh_call, conn_link);
		bh_conn_unhold(cn, c);
		c->notifier = NULL;
		bh_list_del(&c->conn_link);
	}
	if (cn->want_flush) {
		bh_list_del(&cn->flush_link);
		cn->want_flush = false;
	}
	bh_watch_close(cn->d->loop, &cn->watch);
	bh_list_del(&cn->link);
	cn->d->n_conns--;
	bh_debug("client %llu disconnected", (unsigned long long)cn->serial);
	bh_loop_defer_free(cn->d->loop, conn_free, cn);
}

void bh_conn_close_all(struct bh_daemon *d)
{
	struct bh_list *pos, *tmp;
	bh_list_for_each_safe(pos, tmp, &d->conns)
	{
		struct bh_conn *cn = bh_container_of(pos, struct bh_conn, link);
		conn_flush(cn);
		conn_close(cn);
	}
}
