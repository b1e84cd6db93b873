/* Call objects: the request as the child will see it, its deadline, its owner. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon.h"

/* Size of a MessagePack str header for a string of n bytes. */
static size_t str_header_size(size_t n)
{
	return n < 32 ? 1 : n < 256 ? 2 : n < 65536 ? 3 : 5;
}

static uint8_t *put_str_header(uint8_t *p, size_t n)
{
	if (n < 32) {
		*p++ = (uint8_t)(0xa0 | n);
	} else if (n < 256) {
		*p++ = 0xd9;
		*p++ = (uint8_t)n;
	} else if (n < 65536) {
		*p++ = 0xda;
		*p++ = (uint8_t)(n >> 8);
		*p++ = (uint8_t)n;
	} else {
		*p++ = 0xdb;
		*p++ = (uint8_t)(n >> 24);
		*p++ = (uint8_t)(n >> 16);
		*p++ = (uint8_t)(n >> 8);
		*p++ = (uint8_t)n;
	}
	return p;
}

void bh_call_set_iid(struct bh_call *c, uint32_t iid)
{
	uint8_t *p = c->req + c->iid_off;
	p[0] = 0xce; /* always the 5-byte uint32 form, so the size never changes */
	p[1] = (uint8_t)(iid >> 24);
	p[2] = (uint8_t)(iid >> 16);
	p[3] = (uint8_t)(iid >> 8);
	p[4] = (uint8_t)iid;
	c->iid = iid;
}

static void deadline_fired(struct bh_timer *t);

struct bh_call *bh_call_new(struct bh_daemon *d, const char *method, size_t method_len,
			    const uint8_t *params, size_t params_len)
{
	/* [0, iid, method, params]: fixarray(4), 0, uint32 (5 bytes), str, params. */
	size_t len = 1 + 1 + 5 + str_header_size(method_len) + method_len + params_len;
	struct bh_call *c = malloc(sizeof(*c) + len);
	if (!c)
		return NULL;
	memset(c, 0, sizeof(*c));
	c->d = d;
	bh_list_init(&c->conn_link);
	bh_list_init(&c->link);
	bh_timer_init(&c->timer, deadline_fired);
	c->start_ns = bh_now_ns();
	c->req_len = len;
	uint8_t *p = c->req;
	*p++ = 0x94;
	*p++ = 0x00;
	c->iid_off = (size_t)(p - c->req);
	bh_call_set_iid(c, 0);
	p += 5;
	p = put_str_header(p, method_len);
	memcpy(p, method, method_len);
	p += method_len;
	memcpy(p, params, params_len);
	return c;
}

void bh_call_free(struct bh_call *c)
{
	if (!c)
		return;
	bh_timer_disarm(c->d->loop, &c->timer);
	bh_list_del(&c->conn_link);
	bh_list_del(&c->link);
	if (c->conn && !c->answered)
		c->conn->n_outstanding--;
	if (c->conn || c->notifier)
		bh_conn_unhold(c->conn ? c->conn : c->notifier, c);
	free(c);
}

void bh_call_arm_deadline(struct bh_call *c)
{
	bh_timer_arm(c->d->loop, &c->timer, c->start_ns + bh_ms_to_ns(c->timeout_ms));
}

/* Take c out of a queue where no child has seen any of its bytes. True when it
 * was there (it now belongs to the caller), false when a child holds it. */
static bool call_unqueue(struct bh_call *c)
{
	if (c->in_pending || c->waiter)
		return false;
	if (c->held) {
		c->held = false;
		bh_list_del(&c->link);
		return true;
	}
	if (c->inst) {
		if (c->sent > 0)
			return false;
		bh_instance_unsubmit(c->inst, c);
		return true;
	} else if (c->slot && bh_list_linked(&c->link)) {
		c->slot->n_queued--;
	}
	bh_list_del(&c->link);
	return true;
}

void bh_call_fail(struct bh_call *c, int32_t code, const char *msg)
{
	if (c->kind == BH_CALL_INTERNAL) {
		bh_error err = {.code = code};
		snprintf(err.message, sizeof(err.message), "%s", msg);
		void (*fn)(struct bh_call *, const bh_error *, const uint8_t *, size_t) = c->on_reply;
		c->on_reply = NULL;
		if (fn)
			fn(c, &err, NULL, 0);
	} else {
		bh_conn_reply_error(c, code, "%s", msg);
	}
	bh_call_free(c);
}

void bh_call_finish(struct bh_call *c)
{
	bh_call_free(c);
}

void bh_call_detach_conn(struct bh_call *c)
{
	if (c->conn && !c->answered)
		c->conn->n_outstanding--;
	if (c->conn)
		bh_conn_unhold(c->conn, c);
	c->conn = NULL;
	c->answered = true;
	bh_list_del(&c->conn_link);
	if (call_unqueue(c))
		bh_call_free(c);
}

static void deadline_fired(struct bh_timer *t)
{
	struct bh_call *c = bh_container_of(t, struct bh_call, timer);
	if (c->deadline_passed) {
		/* Deadline + grace passed and the child still holds the call. */
		if (c->inst)
			bh_instance_call_stuck(c->inst, c);
		return;
	}
	c->deadline_passed = true;
	uint32_t grace = c->slot ? c->slot->conf->grace_ms : 1000;
	char msg[160];
	const char *plugin = c->slot ? c->slot->conf->name : "?";
	snprintf(msg, sizeof(msg), "%s: no answer within %u ms", plugin, c->timeout_ms);
	if (c->answered) { /* a notification (reported, not answered), or its client left */
		bh_conn_reply_error(c, BH_E_TIMEOUT, "%s", msg);
		if (call_unqueue(c))
			bh_call_free(c);
		else
			bh_timer_arm(c->d->loop, &c->timer, bh_now_ns() + bh_ms_to_ns(grace));
		return;
	}
	if (c->slot && c->kind == BH_CALL_CLIENT) {
		c->slot->errors++;
		if (c->inst) {
			c->inst->gen->errors++;
			if (c->slot->swap) /* a canary that hangs counts as failing */
				bh_swap_call_done(c->slot->swap, c->inst->gen, true);
		}
	}
	if (call_unqueue(c)) {
		bh_call_fail(c, BH_E_TIMEOUT, msg);
		return;
	}
	/* The child has (part of) the request: answer now, keep the call until the
	 * child replies or the grace period runs out. */
	if (c->kind == BH_CALL_INTERNAL) {
		bh_error err = {.code = BH_E_TIMEOUT};
		snprintf(err.message, sizeof(err.message), "%s", msg);
		void (*fn)(struct bh_call *, const bh_error *, const uint8_t *, size_t) = c->on_reply;
		c->on_reply = NULL;
		bh_timer_arm(c->d->loop, &c->timer, bh_now_ns() + bh_ms_to_ns(grace));
		fn(c, &err, NULL, 0);
		return;
	}
	bh_conn_reply_error(c, BH_E_TIMEOUT, "%s", msg);
	bh_timer_arm(c->d->loop, &c->timer, bh_now_ns() + bh_ms_to_ns(grace));
}
