/* A call is in exactly one place at a time (enum bh_call_where), moved only by the
 * functions of call.c. At an instance, the claim table shared with the child
 * (bulkhead/claims.h) says whether it started: a call that has not can still be
 * taken back (its deadline passed, its client left, another instance is idle) and
 * then never runs there. The client gets exactly one response per request, tracked
 * by call->answered; a call answered early (deadline passed while it runs) stays at
 * its instance until the child replies or dies. */
#ifndef BH_CALL_H
#define BH_CALL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bulkhead/error.h"
#include "list.h"
#include "loop.h"

struct bh_daemon;
struct bh_conn;
struct bh_slot;
struct bh_instance;
struct bh_outcall;

enum bh_call_kind {
	BH_CALL_CLIENT,   /* a client's request */
	BH_CALL_INTERNAL, /* $init / $snapshot / $restore: completion goes to on_reply */
};

enum bh_call_where {
	BH_CALL_NOWHERE,     /* being routed, or done */
	BH_CALL_QUEUED,      /* slot->queue: waiting for an instance with room */
	BH_CALL_HELD,        /* a swap's held list: waits for its client's older calls */
	BH_CALL_PARKED,      /* a control call waiting for an operation on a slot */
	BH_CALL_AT_INSTANCE, /* inst: offered in its claim table, written or being written */
};

/* A client's memfd of len bytes (fd -1: none), mapped read-only from its check until
 * the call ends: a slice of it that comes back as the result is checked there
 * (unmapping costs a TLB flush on every CPU the daemon ran on). */
struct bh_passed {
	int fd;
	size_t len;
	const uint8_t *map;
};

/* Unmap and close p (whatever of it there is); p is then empty. */
void bh_passed_drop(struct bh_passed *p);

struct bh_call {
	enum bh_call_kind kind;
	struct bh_daemon *d;
	struct bh_conn *conn;   /* NULL once the client is gone (or internal) */
	/* A client's notification: the connection it came on, where its failure is
	 * reported (never answered); NULL once reported or once the client is gone. */
	struct bh_conn *notifier;
	struct bh_list conn_link; /* in conn->calls, or notifier->notifications */
	uint32_t client_msgid;
	bool answered;          /* the client already has its one response */
	struct bh_slot *slot;
	enum bh_call_where where;
	struct bh_instance *inst; /* BH_CALL_AT_INSTANCE: which one */
	struct bh_list link;    /* in the list of where it is */
	bool deadline_passed;   /* the deadline fired once; next comes deadline + grace */
	bool ring_looked;       /* its timer waits a turn for its instance's ring to be read */
	uint32_t iid;           /* id on the instance's channel */
	struct bh_timer timer;  /* deadline, then deadline + grace */
	uint32_t timeout_ms;
	uint64_t start_ns;
	/* Internal calls: called once with the reply (error map raw or NULL, result raw)
	 * or with err set when the instance died / timed out. */
	void (*on_reply)(struct bh_call *c, const bh_error *err, const uint8_t *result,
			 size_t result_len);
	void *ctx;
	uint64_t tag;           /* internal calls: which operation they belong to */
	/* Bulk params (bulk.c): the buffer they are in at the instance (BH_BULK_NONE:
	 * inline), whether its fd goes with the request, the params' size, and the bytes
	 * of the request the reference took the place of (req_len is then short). */
	int bulk_slot;
	bool bulk_new;
	size_t params_len, full_len;
	uint8_t bulk_saved[10];
	/* A client's large params are copied once, straight from the client's read buffer
	 * to the pool buffer of the instance they go to: until then they are at
	 * params_src (valid while the request is being handled) and req has room for
	 * them; at_pool_only: the pool buffer holds them and req's room does not. */
	const uint8_t *params_src;
	bool at_pool_only;
	/* Params that came in a client's sealed memfd (BH_BULK_MEMFD): the request holds
	 * the 10-byte reference, passed the memfd, which goes on to the child as it is. */
	struct bh_passed passed;
	/* A result for a client that takes memfds, already in a sealed memfd, reply_len
	 * bytes at reply_off (bulk.c): sent as it is; -1 otherwise. */
	int reply_fd;
	size_t reply_off, reply_len;
	/* Calls out (outcall.h). origin: the plugin's request this call answers (NULL: a
	 * client's or internal call, or one whose caller gave up); depth: its place in
	 * its chain (a client's call is 0); outcalls: the requests its plugin made from
	 * it that are not answered yet; reenter_off: where the byte of its "reenter"
	 * option is in req (0: a call no plugin made, which has none). */
	struct bh_outcall *origin;
	bool gave_up;           /* nobody waits for it any more: its calls out fail */
	uint32_t depth;
	struct bh_list outcalls;
	size_t reenter_off;
	/* The request as the child will see it: [0, iid, method, params] (a call a
	 * plugin made: [0, iid, method, params, {"reenter": b}]), iid encoded at iid_off
	 * in its fixed 5-byte form so a re-dispatch can patch it. */
	size_t iid_off;
	size_t sent;            /* bytes of req already written to the channel */
	size_t req_len;
	uint8_t req[];
};

struct bh_call *bh_call_new(struct bh_daemon *d, const char *method, size_t method_len,
			    const uint8_t *params, size_t params_len);
/* The same for a client's request, whose params stay where they are (params_src)
 * while the call is routed: they are copied into req only where it waits (queued,
 * held, parked) or goes inline, and straight into a pool buffer where it goes to an
 * instance as bulk. The caller must not keep the call past the request's handling
 * without routing it. */
struct bh_call *bh_call_new_borrowing(struct bh_daemon *d, const char *method,
				      size_t method_len, const uint8_t *params,
				      size_t params_len);
/* Copy borrowed params into req (bh_call_new_borrowing), if still borrowed. */
void bh_call_own_params(struct bh_call *c);
/* The same for a call a plugin made, with its "reenter" option (false). */
struct bh_call *bh_call_new_chained(struct bh_daemon *d, const char *method, size_t method_len,
				    const uint8_t *params, size_t params_len);
void bh_call_free(struct bh_call *c);
/* Set the channel id in the encoded request. */
void bh_call_set_iid(struct bh_call *c, uint32_t iid);
/* Moves: out of wherever c is, into the place named. */
void bh_call_queue(struct bh_call *c, bool front);   /* c->slot's queue */
void bh_call_hold(struct bh_call *c, struct bh_list *held);
void bh_call_park(struct bh_call *c);
void bh_call_unpark(struct bh_call *c);              /* parked -> nowhere */
void bh_call_submit(struct bh_call *c, struct bh_instance *inst); /* may fail c */
/* Its instance answered it (or died): out of the instance. */
void bh_call_returned(struct bh_call *c);
/* Out of where it is if it has not started and never will: true (c is now the
 * caller's, BH_CALL_NOWHERE), false (it runs at an instance, or it is parked). */
bool bh_call_take_back(struct bh_call *c);
/* At an instance and started there (running, or waiting on a call it made). */
bool bh_call_started(const struct bh_call *c);
/* Detach from the client: a call that has not started is dropped. */
void bh_call_detach_conn(struct bh_call *c);
/* Arm the client deadline. */
void bh_call_arm_deadline(struct bh_call *c);
/* CLOCK_MONOTONIC ns by which it must have started, 0 when it has no deadline. */
uint64_t bh_call_deadline_ns(const struct bh_call *c);
/* The call is finished everywhere (replied by the child, or failed): drop it. */
void bh_call_finish(struct bh_call *c);
/* Complete with an error everywhere (client reply or internal callback), then free. */
void bh_call_fail(struct bh_call *c, int32_t code, const char *msg);

#endif
