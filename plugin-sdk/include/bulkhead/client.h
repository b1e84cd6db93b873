/* bulkhead client SDK (libbulkhead-client).
 *
 * Calls `plugin.method` on a bulkhead daemon over its Unix socket. The wire is plain
 * MessagePack-RPC; the only extension this library uses is the optional fifth request
 * element, an options map {"timeout_ms": uint} that overrides the plugin's default
 * deadline.
 *
 * Two ways to call, freely mixed on one connection:
 *   - bh_call(): synchronous, blocks up to its deadline.
 *   - bh_call_start() + bh_client_step(): pipelined and non-blocking, for a caller's
 *     own event loop. Poll bh_client_fd() for POLLIN (and POLLOUT while
 *     bh_client_want_write() is true) and call bh_client_step() when it is ready;
 *     completed calls are delivered to their callbacks from inside bh_client_step()
 *     (and from bh_call(), which steps the connection while it waits).
 *
 * A client may also serve requests the daemon sends it (bh_client_handle,
 * bh_client_enable_callbacks): plugins calling it back, or host services it provides.
 *
 * Errors: functions return 0 or a negative code. Local failures are -errno (e.g.
 * -ECONNREFUSED). A call's outcome is a bh_error (code from enum bh_code): bh_call
 * returns -err->code when the call failed remotely or timed out. A connection that
 * breaks fails every outstanding call with BH_E_UNAVAILABLE.
 *
 * A bh_client is not thread-safe; use one per thread. */
#ifndef BULKHEAD_CLIENT_H
#define BULKHEAD_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "bulkhead/error.h"
#include "bulkhead/value.h"

#ifdef __cplusplus
extern "C" {
#endif

#define BH_DEFAULT_SOCKET "/run/bulkhead/bulkhead.sock"
#define BH_SOCKET_ENV "BULKHEAD_SOCKET"

typedef struct bh_client bh_client;

/* The socket path to use when the caller has none: $BULKHEAD_SOCKET, else
 * BH_DEFAULT_SOCKET. Static or environment storage. */
const char *bh_default_socket(void);

/* Connect (blocking, then the socket is switched to non-blocking). path NULL means
 * bh_default_socket(). 0 and *ret, or -errno. Free with bh_client_free. */
int bh_client_connect(const char *path, bh_client **ret);

/* Close the connection. Outstanding async calls are completed with
 * BH_E_UNAVAILABLE ("connection closed") before this returns. NULL is fine. */
void bh_client_free(bh_client *c);

/* Params builder: a writer that the next call consumes. Write the call's arguments
 * as ONE array (bh_write_array(w, n) then n values). Valid until the next
 * bh_call/bh_call_start on this client, which resets it. */
bh_writer *bh_client_params(bh_client *c);

/* A call's result: the decoded value, valid until bh_result_free. */
typedef struct bh_result bh_result;
const bh_value *bh_result_value(const bh_result *r);
void bh_result_free(bh_result *r);

/* Synchronous call of `method` ("plugin.method") with the params written to
 * bh_client_params() (an empty array when nothing was written). timeout_ms > 0 sends
 * that deadline to the daemon and bounds the wait; 0 uses the plugin's default
 * deadline and waits for the daemon's answer (which always comes: the daemon enforces
 * a deadline on every call).
 * Returns 0 and *ret (free with bh_result_free), or -code with *err filled, or -errno
 * for a local failure (err also filled, code BH_E_UNAVAILABLE). ret may be NULL when
 * the result is not wanted. */
int bh_call(bh_client *c, const char *method, int timeout_ms, bh_result **ret, bh_error *err);

/* Completion of an async call. Exactly one of result / err is non-NULL. Both are
 * borrowed and valid only during the callback. The callback may start new calls but
 * must not free the client. */
typedef void (*bh_reply_fn)(void *userdata, uint32_t msgid, const bh_value *result,
			    const bh_error *err);

/* Queue a call with the params in bh_client_params() and try to send it without
 * blocking. 0 and *ret_msgid (may be NULL), or -errno (-ENOBUFS when more than
 * max_pending calls are outstanding). cb runs exactly once, later, from
 * bh_client_step() / bh_call() / bh_client_free(). A timeout_ms > 0 is also enforced
 * locally by bh_client_step(). */
int bh_call_start(bh_client *c, const char *method, int timeout_ms, bh_reply_fn cb,
		  void *userdata, uint32_t *ret_msgid);

/* The socket, for the caller's poll/epoll. Owned by the client. */
int bh_client_fd(const bh_client *c);
/* True while queued bytes wait for the socket to become writable. */
bool bh_client_want_write(const bh_client *c);
/* Milliseconds until the earliest local deadline, or -1 when none (a poll timeout). */
int bh_client_next_timeout(const bh_client *c);
/* Outstanding async calls. */
size_t bh_client_pending(const bh_client *c);

/* Non-blocking: write what can be written, read what is available, deliver completed
 * replies and expired local deadlines. 0, or -errno when the connection broke (all
 * outstanding calls are then completed with BH_E_UNAVAILABLE). */
int bh_client_step(bh_client *c);

/* Block until every outstanding async call completed or timeout_ms passed
 * (-1 = forever). 0, -ETIMEDOUT, or -errno when the connection broke. */
int bh_client_wait_all(bh_client *c, int timeout_ms);

/* An error the daemon reports that belongs to no call of this client: a message it
 * could not take as a request, a notification (bh_call_start never sends one) that
 * failed. err is borrowed, valid during the callback only; the callback may start
 * calls but must not free the client. */
typedef void (*bh_report_fn)(void *userdata, const bh_error *err);

/* Ask the daemon to send its reports about this connection (bulkhead.hello with
 * {"notifications": ["bulkhead.error"]}) and deliver each to fn from bh_client_step()
 * and bh_call(); fn NULL turns them off. Blocks like bh_call(). 0, or as bh_call():
 * -BH_E_UNKNOWN_METHOD from a daemon without bulkhead.hello. Without this call the
 * daemon sends the client nothing but responses. */
int bh_client_on_report(bh_client *c, int timeout_ms, bh_report_fn fn, void *userdata,
			bh_error *err);

/* Large values without copies through the socket (bulkhead.hello {"memfd": true}):
 * from now on, params of at least `threshold` bytes (never less than the daemon's
 * threshold, 64 KiB; 0: the daemon's) go to the daemon as a sealed memfd passed with
 * SCM_RIGHTS, up to the daemon's payload ceiling (limits.max_payload, which then
 * replaces max_message for params), and large results come back the same way: the
 * result's bin / str values then point into a read-only mapping that the bh_result
 * owns (bh_result_free unmaps it; a callback's values are valid during the callback).
 * Every memfd received is checked (sealed, of the size announced, no holes) before
 * it is mapped. Blocks like bh_call(). 0, or -EOPNOTSUPP when the daemon does not
 * take memfds (the connection keeps working as before), or as bh_call(). */
int bh_client_use_memfd(bh_client *c, size_t threshold, int timeout_ms, bh_error *err);

/* In the params being built (bh_client_params), a bin like bh_write_bin(w, p, len),
 * but on a memfd client whose bytes are read at the next bh_call/bh_call_start rather
 * than now: p must stay valid and unchanged until then. Params that go as a memfd are
 * then written into it straight from p, without the copy into the params buffer
 * (64 MiB: about 6 ms of a 21 ms call on the test VM); params that do not (over the
 * payload ceiling, too many memfds queued) get the bytes copied in at the call, whose
 * errors then include bh_write_bin's. Without memfds, for len under the threshold or
 * over max_payload, and for a second lent bin of the same call it is bh_write_bin,
 * copied now. 0 or as bh_write_bin. */
int bh_client_write_bin_lent(bh_client *c, const void *p, size_t len);

/* ---- Serving the daemon's requests (callbacks, host services; README "Calling out") ----
 *
 * msgpack-rpc is symmetric: a connection that enabled callbacks receives requests
 * [0, cid, method, params] (a plugin calling back the client whose call it serves, or
 * a call to a namespace the client provides with bulkhead.provide) and notifications
 * [2, method, params]. They are served wherever the client reads: bh_client_step(),
 * and inside a blocking bh_call() (a callback usually arrives while the client waits
 * for the very call that caused it). Each request is answered exactly once,
 * [1, cid, error, result]:
 *   - by the handler registered for its method, else by the fallback handler;
 *   - with no handler, by {"code": 2 (unknown_method), ...};
 * a notification goes to its handler (nothing is answered), and is ignored without
 * one (bulkhead.error goes to bh_client_on_report's callback when there is one).
 * Answers queue behind the client's requests, under the same ceiling: one that does
 * not fit (4 x 16 MiB waiting), even once the socket took what it could, is answered
 * BH_E_OVERLOADED instead.
 *
 * A handler returns 0 after writing the result, ONE value, to `result` (nothing
 * written: nil), or nonzero after bh_fail(err, code, ...) (err is zeroed before; a
 * failure without a code is answered BH_E_INTERNAL). A result that is not exactly one
 * value, or larger than a message may be (16 MiB), is answered with an error
 * (BH_E_INTERNAL, BH_E_TOO_LARGE); a notification's result is discarded. method is
 * NUL-terminated; method and params are borrowed, valid during the call only.
 * Handlers run like reply callbacks: they may start calls with bh_call_start() and
 * change the registrations, but re-entering the client is not supported: a blocking
 * bh_call(), bh_client_step() or bh_client_wait_all() on the same client fails with
 * -EDEADLK (bh_call's err: "bh_call() from inside a callback or handler of the same
 * client is not supported") instead of consuming the input the borrowed values point
 * into; a handler must not free the client. */
typedef int (*bh_handler_fn)(void *userdata, const char *method, const bh_value *params,
			     bh_writer *result, bh_error *err);

/* Methods longer than this match no handler (a request for one: unknown_method). */
#define BH_HANDLER_METHOD_MAX 255

/* Register fn for requests and notifications of `method` (any string of 1 to
 * BH_HANDLER_METHOD_MAX bytes, e.g. "ui.confirm" or "app.lookup"); method NULL or "*"
 * registers the fallback, which gets every method without a handler of its own. A
 * second registration of a method replaces the first; fn NULL removes it. Takes
 * effect for the next message read. 0, -EINVAL or -ENOMEM. */
int bh_client_handle(bh_client *c, const char *method, bh_handler_fn fn, void *userdata);

/* Opt in (bulkhead.hello {"callbacks": true}): from now on the daemon may send this
 * connection requests and notifications. Register the handlers first: what arrives
 * after the daemon's answer may be read in the same batch. Blocks like bh_call().
 * 0, or -EOPNOTSUPP when the daemon did not enable callbacks (err says so; the
 * connection keeps working as before), or as bh_call(). */
int bh_client_enable_callbacks(bh_client *c, int timeout_ms, bh_error *err);

/* Debugging: v as one line of text on f, no newline. nil, true, -7, 18446744073709551615,
 * 2.5, 2.5f32 (a float32), "text" (escaped as bulkhead/escape.h says, '"' as \"),
 * bin<3 bytes: 00 01 02> (the first 32 bytes, then "..."), ext(5)<...>, [a, b],
 * {key: value, ...}; "(none)" for NULL. 0, -EINVAL when f is NULL, -EIO when f has
 * an error. */
int bh_value_print(FILE *f, const bh_value *v);

#ifdef __cplusplus
}
#endif
#endif
