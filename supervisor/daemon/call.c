/* Call objects: the request as the child will see it, its deadline, and where it is.
 * A call is in exactly one place (enum bh_call_where); only the functions below move
 * it, and they keep every list and counter of the places in step. */
#include "call.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "bulkhead/channel.h"
#include "bulkhead/error.h"
#include "bulkhead/proto.h"
#include "conn.h"
#include "daemon.h"
#include "gen.h"
#include "instance.h"
#include "list.h"
#include "loop.h"
#include "outcall.h"
#include "slot.h"
#include "swap.h"

void bh_call_set_iid(struct bh_call *c, uint32_t iid)
{
	bh_patch_u32(c->req + c->iid_off, iid);
	c->iid = iid;
}

static void deadline_fired(struct bh_timer *t);

static struct bh_call *call_new(struct bh_daemon *d, const char *method, size_t method_len,
				const uint8_t *params, size_t params_len, size_t extra)
{
	size_t len = bh_rpc_request_size(method_len, params_len) + extra;
	struct bh_call *c = malloc(sizeof(*c) + len);
	if (!c)
		return NULL;
	memset(c, 0, sizeof(*c));
	c->d = d;
	bh_list_init(&c->conn_link);
	bh_list_init(&c->link);
	bh_list_init(&c->outcalls);
	bh_timer_init(&c->timer, deadline_fired);
	c->start_ns = bh_now_ns();
	c->req_len = c->full_len = len;
	c->params_len = params_len;
	c->bulk_slot = -1; /* BH_BULK_NONE */
	c->passed.fd = c->reply_fd = -1;
	bh_rpc_request_put(c->req, 0, method, method_len, params, params_len, &c->iid_off);
	return c;
}

struct bh_call *bh_call_new(struct bh_daemon *d, const char *method, size_t method_len,
			    const uint8_t *params, size_t params_len)
{
	return call_new(d, method, method_len, params, params_len, 0);
}

struct bh_call *bh_call_new_borrowing(struct bh_daemon *d, const char *method,
				      size_t method_len, const uint8_t *params, size_t params_len)
{
	/* The envelope alone: the params follow it, unwritten until owned. */
	struct bh_call *c = call_new(d, method, method_len, (const uint8_t *)"", 0, params_len);
	if (!c)
		return NULL;
	c->params_len = params_len;
	c->params_src = params;
	return c;
}

void bh_call_own_params(struct bh_call *c)
{
	if (!c->params_src)
		return;
	memcpy(c->req + c->full_len - c->params_len, c->params_src, c->params_len);
	c->params_src = NULL;
}

struct bh_call *bh_call_new_chained(struct bh_daemon *d, const char *method, size_t method_len,
				    const uint8_t *params, size_t params_len)
{
	struct bh_call *c = call_new(d, method, method_len, params, params_len,
				     BH_CH_REENTER_OPTS_LEN);
	if (!c)
		return NULL;
	/* The fixarray of four becomes one of five: the options map follows params. */
	c->req[0] = 0x95;
	uint8_t *opts = c->req + c->req_len - BH_CH_REENTER_OPTS_LEN;
	memcpy(opts, BH_CH_REENTER_OPTS, BH_CH_REENTER_OPTS_LEN);
	c->reenter_off = c->req_len - 1;
	c->req[c->reenter_off] = 0xc2; /* false until it goes to a waiting instance */
	return c;
}

/* ---- where a call is: the one place that moves it ---- */

/* Out of wherever c is, keeping that place's list and counters right. */
static void leave(struct bh_call *c)
{
	switch (c->where) {
	case BH_CALL_QUEUED:
		c->slot->n_queued--;
		break;
	case BH_CALL_AT_INSTANCE:
		bh_instance_detach(c->inst, c);
		break;
	case BH_CALL_NOWHERE:
	case BH_CALL_HELD:
	case BH_CALL_PARKED:
		break;
	}
	bh_list_del(&c->link);
	c->where = BH_CALL_NOWHERE;
}

void bh_call_queue(struct bh_call *c, bool front)
{
	bh_call_own_params(c); /* it outlives the request's read buffer */
	leave(c);
	if (front)
		bh_list_add_head(&c->slot->queue, &c->link);
	else
		bh_list_add_tail(&c->slot->queue, &c->link);
	c->slot->n_queued++;
	c->where = BH_CALL_QUEUED;
}

void bh_call_hold(struct bh_call *c, struct bh_list *held)
{
	bh_call_own_params(c);
	leave(c);
	bh_list_add_tail(held, &c->link);
	c->where = BH_CALL_HELD;
}

void bh_call_park(struct bh_call *c)
{
	bh_call_own_params(c);
	leave(c);
	c->where = BH_CALL_PARKED;
}

void bh_call_unpark(struct bh_call *c)
{
	if (c->where == BH_CALL_PARKED)
		c->where = BH_CALL_NOWHERE;
}

void bh_call_submit(struct bh_call *c, struct bh_instance *inst)
{
	leave(c);
	if (bh_instance_attach(inst, c) < 0) {
		bh_call_fail(c, BH_E_INTERNAL, "instance call table full");
		return;
	}
	c->where = BH_CALL_AT_INSTANCE;
}

void bh_call_returned(struct bh_call *c)
{
	leave(c);
}

bool bh_call_take_back(struct bh_call *c)
{
	switch (c->where) {
	case BH_CALL_PARKED:
		return false;
	case BH_CALL_AT_INSTANCE:
		if (!bh_instance_revoke(c->inst, c))
			return false; /* it started: it runs to its end */
		break;
	default:
		break;
	}
	leave(c);
	return true;
}

bool bh_call_started(const struct bh_call *c)
{
	return c->where == BH_CALL_AT_INSTANCE && bh_instance_call_started(c->inst, c);
}

void bh_passed_drop(struct bh_passed *p)
{
	if (p->map)
		munmap((void *)p->map, p->len);
	if (p->fd >= 0)
		close(p->fd);
	*p = (struct bh_passed){ .fd = -1 };
}

void bh_call_free(struct bh_call *c)
{
	if (!c)
		return;
	bh_timer_disarm(c->d->loop, &c->timer);
	leave(c);
	bh_outcall_call_gone(c);
	bh_list_del(&c->conn_link);
	if (c->conn && !c->answered)
		c->conn->n_outstanding--;
	if (c->conn || c->notifier)
		bh_conn_unhold(c->conn ? c->conn : c->notifier, c);
	bh_passed_drop(&c->passed);
	if (c->reply_fd >= 0)
		close(c->reply_fd);
	free(c);
}

void bh_call_arm_deadline(struct bh_call *c)
{
	bh_timer_arm(c->d->loop, &c->timer, bh_call_deadline_ns(c));
}

uint64_t bh_call_deadline_ns(const struct bh_call *c)
{
	return c->timeout_ms ? c->start_ns + bh_ms_to_ns(c->timeout_ms) : 0;
}

/* Hand an internal call its outcome, once. */
static void internal_done(struct bh_call *c, int32_t code, const char *msg)
{
	bh_error err = {.code = code};
	snprintf(err.message, sizeof(err.message), "%s", msg);
	void (*fn)(struct bh_call *, const bh_error *, const uint8_t *, size_t) = c->on_reply;
	c->on_reply = NULL;
	if (fn)
		fn(c, &err, NULL, 0);
}

void bh_call_fail(struct bh_call *c, int32_t code, const char *msg)
{
	if (c->kind == BH_CALL_INTERNAL)
		internal_done(c, code, msg);
	else
		bh_conn_reply_error(c, code, "%s", msg);
	bh_call_free(c);
}

void bh_call_finish(struct bh_call *c)
{
	bh_call_free(c);
}

/* The client left: a call that has not started never will; one that runs finishes,
 * its result discarded. */
void bh_call_detach_conn(struct bh_call *c)
{
	if (c->conn && !c->answered)
		c->conn->n_outstanding--;
	if (c->conn)
		bh_conn_unhold(c->conn, c);
	c->conn = NULL;
	c->answered = true;
	bh_list_del(&c->conn_link);
	bh_outcall_abandon(c, BH_E_UNAVAILABLE, "the client of the call it was made for left");
	if (bh_call_take_back(c))
		bh_call_free(c);
}

/* The deadline: a call that has not started is taken back and never runs; one that
 * runs is answered `timeout` now and gets its grace period, after which its instance
 * is killed for it (and only for it). */
static void deadline_fired(struct bh_timer *t)
{
	struct bh_call *c = bh_container_of(t, struct bh_call, timer);
	/* Its answer may wait in the ring, its wake-up suppressed by the plugin: judge it
	 * once more after the loop has read the ring (the timer fires again at once). */
	if (!c->ring_looked && c->inst && c->where == BH_CALL_AT_INSTANCE &&
	    bh_instance_ring_pending(c->inst) &&
	    bh_timer_arm(c->d->loop, &c->timer, bh_now_ns() + 1) == 0) {
		c->ring_looked = true;
		return;
	}
	c->ring_looked = false;
	if (c->deadline_passed) {
		if (bh_call_started(c))
			bh_instance_call_stuck(c->inst, c);
		return;
	}
	c->deadline_passed = true;
	uint32_t grace = c->slot ? c->slot->conf->grace_ms : 1000;
	char msg[160];
	const char *plugin = c->slot ? c->slot->conf->name : "?";
	snprintf(msg, sizeof(msg), "%s: no answer within %u ms", plugin, c->timeout_ms);
	if (c->slot && c->kind == BH_CALL_CLIENT && !c->answered) {
		c->slot->errors++;
		bh_breaker_record(c->slot, BH_E_TIMEOUT);
		if (c->inst) {
			c->inst->gen->errors++;
			if (c->slot->swap) /* a canary that hangs counts as failing */
				bh_swap_call_done(c->slot->swap, c->inst->gen, true);
		}
	}
	if (bh_call_take_back(c)) {
		bh_call_fail(c, BH_E_TIMEOUT, msg);
		return;
	}
	if (c->where != BH_CALL_AT_INSTANCE)
		return; /* parked on an operation, which answers it */
	/* It runs: answer now, keep the call until the child replies or the grace period
	 * runs out. */
	bh_timer_arm(c->d->loop, &c->timer, bh_now_ns() + bh_ms_to_ns(grace));
	bh_outcall_abandon(c, BH_E_TIMEOUT, msg);
	if (c->kind == BH_CALL_INTERNAL)
		internal_done(c, BH_E_TIMEOUT, msg);
	else
		bh_conn_reply_error(c, BH_E_TIMEOUT, "%s", msg);
}
