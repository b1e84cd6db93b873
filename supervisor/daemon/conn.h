/* Client connections. */
#ifndef BH_CONN_H
#define BH_CONN_H

#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "bulkhead/bulk.h"
#include "bulkhead/proto.h"
#include "list.h"
#include "loop.h"

struct bh_daemon;
struct bh_call;

/* Unsolicited messages a connection asked for (bulkhead.hello); the daemon sends a
 * client nothing it did not ask for. */
#define BH_NOTE_ERROR (1u << 0) /* [2, "bulkhead.error", [{code, name, message}]] */
#define BH_NOTE_ERROR_METHOD "bulkhead.error"

/* A token bucket for log lines a client's bad input causes, shared by all clients, so
 * that no client can flood the log: BH_CLIENT_REPORT_BURST lines at once, then
 * BH_CLIENT_REPORT_PER_SEC a second; the lines it drops are counted in the next one. */
#define BH_CLIENT_REPORT_BURST 20
#define BH_CLIENT_REPORT_PER_SEC 2
struct bh_report_bucket {
	uint64_t stamp_ns;   /* tokens were last brought up to date */
	uint32_t spent;      /* tokens taken from a full bucket */
	uint64_t suppressed; /* lines dropped since the last one logged */
};

/* Responses with a memfd attached waiting in a connection's output, at most. */
#define BH_CONN_OUT_FDS 8
/* Calls of one connection holding the memfd of their params, at most: each holds an
 * fd of the daemon's until it is done. */
#define BH_CONN_PASSED_MAX 64

struct bh_conn {
	struct bh_daemon *d;
	struct bh_list link;      /* d->conns */
	struct bh_watch watch;
	uid_t uid;
	gid_t gid;
	pid_t pid;
	struct bh_buf in, out;     /* in and scan: lent for each read (spare.h) */
	size_t out_sent;          /* bytes at the front of out already sent */
	size_t sndbuf;            /* what its socket takes (bh_sock_fit_sndbuf) */
	/* Its output went past what it may hold, or could not be built: nothing more is
	 * queued or read for it, and the next flush closes it. */
	bool doomed;
	/* bulkhead.subscribe: on d->events.subscribers; events it missed since it last
	 * kept up (events.h). */
	bool subscribed;
	struct bh_list events_link;
	uint64_t events_dropped;
	size_t held_bytes;        /* request bytes of its calls and notifications held */
	struct bh_scanner *scan;  /* over the message at the front of in */
	struct bh_list calls;     /* calls not yet answered or still at an instance */
	uint32_t n_outstanding;   /* calls not yet answered */
	struct bh_list notifications; /* its notifications still running (bh_call.notifier) */
	uint32_t notes;           /* BH_NOTE_*: what it asked for with bulkhead.hello */
	bool error_map;           /* hello {"errors": "map"}: errors as maps, not text */
	/* bulkhead.hello {"memfd": true}: large params and results may travel as sealed
	 * memfds (bulkhead/bulk.h, BH_BULK_MEMFD). fdq holds the fds received and not yet
	 * claimed; out_fd the memfds to send, each with the first byte of its response
	 * (at: offset in out). */
	bool memfd;
	unsigned n_passed;        /* its calls holding a params memfd */
	struct bh_fdq fdq;
	struct {
		size_t at;
		int fd;
	} out_fd[BH_CONN_OUT_FDS];
	unsigned n_out_fd;
	/* bulkhead.hello {"callbacks": true}: it serves requests (callback.c) from
	 * plugins in its chains and to the namespaces it provides; those waiting for its
	 * answer, and the next id. */
	bool callbacks;
	struct bh_list callbacks_waiting;
	uint32_t n_callbacks, next_cid;
	uint32_t n_provided;      /* namespaces it provides */
	bool want_flush;
	struct bh_list flush_link;
	bool closing;             /* close once out is flushed */
	bool dead;
	uint64_t serial;
};

void bh_conn_accept(struct bh_daemon *d, int fd);
/* Queue the response for call c (result raw or an error), mark it answered; nothing
 * when it was answered already or its client is gone. A notification is never
 * answered: bh_conn_reply_error reports its failure instead (once), in the log
 * (rate-limited) and to a client that asked for bulkhead.error notifications. */
void bh_conn_reply_result(struct bh_call *c, const uint8_t *result, size_t len);
void bh_conn_reply_error(struct bh_call *c, int32_t code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* A result of len bytes written in place: begin queues the response's envelope and
 * returns where the result goes (and *mark), NULL when c is answered, its client gone
 * or no room; end with ok makes the response whole and marks c answered, without
 * drops it. Nothing may be queued on the connection in between. */
uint8_t *bh_conn_reply_begin(struct bh_call *c, size_t len, size_t *mark);
void bh_conn_reply_end(struct bh_call *c, size_t mark, size_t len, bool ok);
/* A call of cn's (request or notification) stops counting against cn's budget of held
 * request bytes (freed, answered as a notification, or its connection detached). */
void bh_conn_unhold(struct bh_conn *cn, const struct bh_call *c);
/* A request [0, cid, method, params] or notification [2, method, params] for cn
 * (callback.c): false when cn is gone or has more than BH_CONN_CALLBACK_OUT_MAX bytes
 * waiting unread. */
#define BH_CONN_CALLBACK_OUT_MAX (4u << 20)
/* Bytes queued for cn and not yet taken by its socket. */
size_t bh_conn_unread(const struct bh_conn *cn);
bool bh_conn_send_request(struct bh_conn *cn, uint32_t cid, const char *method, size_t len,
			  const uint8_t *params, size_t params_len);
bool bh_conn_send_notify(struct bh_conn *cn, const char *method, size_t len,
			 const uint8_t *params, size_t params_len);
void bh_conn_flush_all(struct bh_daemon *d);
void bh_conn_close_all(struct bh_daemon *d);

#endif
