/* Calls out (outcall.h): a plugin's requests, checked against its grants, routed,
 * answered on its channel. */
#include "outcall.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bulkhead/channel.h"
#include "call.h"
#include "config.h"
#include "control.h"
#include "daemon.h"
#include "gen.h"
#include "instance.h"
#include "metrics.h"
#include "router.h"
#include "slot.h"

/* ---- the record ---- */

static void deadline_fired(struct bh_timer *t);

static struct bh_outcall *oc_new(struct bh_instance *inst, struct bh_call *parent,
				 uint32_t oid)
{
	struct bh_outcall *oc = calloc(1, sizeof(*oc));
	if (!oc)
		return NULL;
	oc->d = inst->d;
	oc->inst = inst;
	oc->parent = parent;
	oc->oid = oid;
	bh_list_init(&oc->conn_link);
	bh_timer_init(&oc->timer, deadline_fired);
	bh_list_add_tail(&inst->outcalls, &oc->inst_link);
	inst->n_outcalls++;
	bh_list_add_tail(&parent->outcalls, &oc->parent_link);
	return oc;
}

static void oc_free(struct bh_outcall *oc)
{
	bh_timer_disarm(oc->d->loop, &oc->timer);
	bh_list_del(&oc->conn_link);
	bh_list_del(&oc->parent_link);
	if (oc->inst) {
		bh_list_del(&oc->inst_link);
		oc->inst->n_outcalls--;
	}
	free(oc);
}

/* ---- answers ---- */

static int write_answer(bh_writer *w, uint32_t oid, const bh_error *err, const uint8_t *result,
			size_t len)
{
	return err ? bh_rpc_write_error(w, oid, err->code, err->message)
		   : bh_rpc_write_result(w, oid, result, len);
}

void bh_outcall_answer(struct bh_outcall *oc, const bh_error *err, const uint8_t *result,
		       size_t len)
{
	struct bh_instance *inst = oc->inst;
	if (inst && inst->state != BH_INST_DEAD && !inst->untrusted && !inst->closed_channel) {
		const struct bh_limits *lim = &oc->d->cfg->limits;
		bh_error big = {.code = BH_E_TOO_LARGE};
		if (!err && len + 32 > lim->max_message) {
			snprintf(big.message, sizeof(big.message), "a result of %zu bytes does not "
				 "fit a message to the plugin (limits.max_message %zu)", len,
				 lim->max_message);
			err = &big;
		}
		struct bh_buf msg;
		struct bh_writer w;
		bh_buf_init(&msg, 0);
		bh_writer_init(&w, &msg);
		if (write_answer(&w, oc->oid, err, result, len) < 0 ||
		    bh_instance_queue_message(inst, msg.data, msg.len) < 0)
			bh_instance_kill(inst, BH_EXIT_KILLED, "out of memory for an answer");
		bh_buf_done(&msg);
	}
	oc_free(oc);
}

void bh_outcall_fail(struct bh_outcall *oc, int32_t code, const char *fmt, ...)
{
	bh_error err = {.code = code};
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err.message, sizeof(err.message), fmt, ap);
	va_end(ap);
	bh_outcall_answer(oc, &err, NULL, 0);
}

void bh_outcall_result(struct bh_call *c, const uint8_t *result, size_t len)
{
	struct bh_outcall *oc = c->origin;
	bh_metrics_call_done(c, BH_OK);
	c->origin = NULL;
	c->answered = true;
	oc->callee = NULL;
	bh_outcall_answer(oc, NULL, result, len);
}

void bh_outcall_error(struct bh_call *c, int32_t code, const char *msg)
{
	struct bh_outcall *oc = c->origin;
	bh_metrics_call_done(c, code);
	c->origin = NULL;
	c->answered = true;
	oc->callee = NULL;
	bh_outcall_fail(oc, code, "%s", msg);
}

/* ---- giving up ---- */

/* oc's target will not be heard: a call not started never starts, one that runs
 * finishes unheard; a client's answer is no longer awaited. */
static void abandon_target(struct bh_outcall *oc)
{
	struct bh_call *c = oc->callee;
	oc->callee = NULL;
	if (c) {
		c->origin = NULL;
		c->answered = true;
		c->gave_up = true;
		if (bh_call_take_back(c))
			bh_call_free(c);
	}
	if (oc->conn)
		bh_callback_abandon(oc);
}

void bh_outcall_abandon(struct bh_call *c, int32_t code, const char *msg)
{
	c->gave_up = true;
	while (!bh_list_empty(&c->outcalls)) {
		struct bh_outcall *oc =
			bh_container_of(bh_list_first(&c->outcalls), struct bh_outcall, parent_link);
		abandon_target(oc);
		bh_outcall_fail(oc, code, "%s", msg);
	}
}

void bh_outcall_call_gone(struct bh_call *c)
{
	if (c->origin) /* every path answers first; should one not, the plugin still hears */
		bh_outcall_error(c, BH_E_INTERNAL, "the call was dropped");
	bh_outcall_abandon(c, BH_E_UNAVAILABLE, "the call it was made from has ended");
}

void bh_outcall_instance_gone(struct bh_instance *inst)
{
	while (!bh_list_empty(&inst->outcalls)) {
		struct bh_outcall *oc =
			bh_container_of(bh_list_first(&inst->outcalls), struct bh_outcall, inst_link);
		abandon_target(oc);
		oc_free(oc);
	}
}

/* A client target's deadline: the plugin hears `timeout`, the client's answer, if it
 * ever comes, is dropped. */
static void deadline_fired(struct bh_timer *t)
{
	struct bh_outcall *oc = bh_container_of(t, struct bh_outcall, timer);
	abandon_target(oc);
	bh_outcall_fail(oc, BH_E_TIMEOUT, "the client did not answer within the deadline");
}

/* ---- chains ---- */

/* The call oc's request was made from, one level up the chain, or NULL at its root
 * (or where a caller gave up). */
static struct bh_call *up(const struct bh_call *c)
{
	return c->origin ? c->origin->parent : NULL;
}

/* The instance of slot s that runs an ancestor of the chain from c upwards, if any:
 * that ancestor waits for the chain, so the chain's calls to s must go to it. */
static struct bh_instance *waiting_ancestor(const struct bh_call *c, const struct bh_slot *s)
{
	for (; c; c = up(c))
		if (c->where == BH_CALL_AT_INSTANCE && c->inst->slot == s && !c->inst->dying)
			return c->inst;
	return NULL;
}

bool bh_outcall_reenters(const struct bh_call *c, const struct bh_instance *inst)
{
	return c->origin && waiting_ancestor(c->origin->parent, inst->slot) == inst;
}

/* ---- grants ---- */

static bool grant_matches(const char *g, const char *ns, size_t ns_len, const char *m,
			  size_t m_len, bool exact)
{
	size_t n = strlen(g);
	if (n < ns_len || memcmp(g, ns, ns_len) != 0)
		return false;
	const char *rest = g + ns_len;
	if (*rest == '\0' || strcmp(rest, ".*") == 0)
		return !exact;
	return rest[0] == '.' && strlen(rest + 1) == m_len && memcmp(rest + 1, m, m_len) == 0;
}

/* Whether conf grants a call of ns.m; control methods (bulkhead.*) only by name. */
static bool granted(const struct bh_plugin_conf *conf, const char *ns, size_t ns_len,
		    const char *m, size_t m_len)
{
	bool exact = ns_len == strlen(BH_CONTROL_NS) && memcmp(ns, BH_CONTROL_NS, ns_len) == 0;
	for (size_t i = 0; i < conf->n_calls; i++)
		if (grant_matches(conf->calls[i], ns, ns_len, m, m_len, exact))
			return true;
	return false;
}

/* ---- a request ---- */

/* {"in": iid} or {"in": iid, "notify": true}. 0, or -1 when malformed. */
static int parse_options(struct bh_daemon *d, const struct bh_rpc *rpc, uint32_t *ret_in,
			 bool *ret_notify)
{
	const bh_value *o;
	size_t used;
	uint64_t in;
	if (!rpc->options || rpc->options_len > 64 ||
	    bh_decode(rpc->options, rpc->options_len, &d->cfg->limits, &d->arena, &o, &used) < 0 ||
	    bh_value_get_uint(bh_value_find(o, "in"), &in) < 0 || in > UINT32_MAX)
		return -1;
	const bh_value *notify = bh_value_find(o, "notify");
	*ret_notify = false;
	if (notify && bh_value_get_bool(notify, ret_notify) < 0)
		return -1;
	*ret_in = (uint32_t)in;
	return 0;
}

/* The call iid of inst that its plugin runs: a request can come only from one. */
static struct bh_call *running_call(struct bh_instance *inst, uint32_t iid)
{
	struct bh_call *c = inst->pending[iid & (inst->pending_cap - 1)];
	if (!c || c->iid != iid || c->inst != inst || c->sent != c->req_len ||
	    !bh_instance_call_started(inst, c))
		return NULL;
	return c;
}

static bool oid_waiting(const struct bh_instance *inst, uint32_t oid)
{
	struct bh_list *pos, *tmp;
	bh_list_for_each_safe(pos, tmp, (struct bh_list *)&inst->outcalls)
		if (bh_container_of(pos, struct bh_outcall, inst_link)->oid == oid)
			return true;
	return false;
}

/* What is left of c's deadline in ms (rounded up), 0 when it has none, -1 when it
 * has passed. */
static int64_t remaining_ms(const struct bh_call *c)
{
	uint64_t deadline = bh_call_deadline_ns(c), now = bh_now_ns();
	if (!deadline)
		return 0;
	if (deadline <= now)
		return -1;
	return (int64_t)((deadline - now + 999999) / 1000000);
}

/* A call of a plugin's method: routed like a client's, except to an instance that
 * waits in this chain, which it re-enters. */
static void call_plugin(struct bh_outcall *oc, struct bh_slot *s, const char *m, size_t m_len,
			const struct bh_rpc *rpc)
{
	struct bh_daemon *d = oc->d;
	struct bh_call *parent = oc->parent;
	if (!bh_name_valid(m, m_len) || !bh_slot_has_method(s, m, m_len))
		return bh_outcall_fail(oc, BH_E_UNKNOWN_METHOD, "plugin %s has no method \"%.*s\"",
				    s->conf->name, (int)(m_len > 64 ? 64 : m_len), m);
	if (m_len + rpc->params_len + 32 > d->cfg->limits.max_message)
		return bh_outcall_fail(oc, BH_E_TOO_LARGE, "call too large: %zu bytes of params "
				    "(limits.max_message %zu)", rpc->params_len,
				    d->cfg->limits.max_message);
	uint32_t timeout = s->conf->timeout_ms;
	int64_t left = remaining_ms(parent);
	if (left < 0)
		return bh_outcall_fail(oc, BH_E_TIMEOUT, "the deadline of the call it was made "
				    "from has passed");
	if (left > 0 && (uint64_t)left < timeout)
		timeout = (uint32_t)left;
	struct bh_call *c = bh_call_new_chained(d, m, m_len, rpc->params, rpc->params_len);
	if (!c)
		return bh_outcall_fail(oc, BH_E_INTERNAL, "out of memory");
	c->kind = BH_CALL_CLIENT;
	c->slot = s;
	c->origin = oc;
	c->depth = parent->depth + 1;
	c->timeout_ms = timeout;
	oc->callee = c;
	struct bh_instance *at = waiting_ancestor(parent, s);
	if (!at)
		return bh_route(d, c);
	s->calls++;
	bh_call_arm_deadline(c);
	bh_call_submit(c, at);
}

static void control_call(struct bh_outcall *oc, const char *m, size_t m_len,
			 const struct bh_rpc *rpc)
{
	/* Only what needs no connection: hello and provide configure one, the admin
	 * methods check a uid. */
	bool open = (m_len == 6 && memcmp(m, "status", 6) == 0) ||
		    (m_len == 7 && memcmp(m, "version", 7) == 0);
	if (!open)
		return bh_outcall_fail(oc, BH_E_PERMISSION_DENIED, "bulkhead.%.*s cannot be called "
				    "from a plugin (only bulkhead.status and bulkhead.version)",
				    (int)(m_len > 32 ? 32 : m_len), m);
	struct bh_call *c = bh_call_new_chained(oc->d, m, m_len, rpc->params, rpc->params_len);
	if (!c)
		return bh_outcall_fail(oc, BH_E_INTERNAL, "out of memory");
	c->kind = BH_CALL_CLIENT;
	c->origin = oc;
	c->depth = oc->parent->depth + 1;
	oc->callee = c;
	bh_control(oc->d, c, m, m_len, rpc->params, rpc->params_len);
}

/* Where the request goes, once its record exists. */
static void dispatch(struct bh_outcall *oc, const struct bh_rpc *rpc, bool notify)
{
	struct bh_daemon *d = oc->d;
	const struct bh_plugin_conf *conf = &oc->inst->gen->conf;
	const char *name = conf->name, *t = rpc->method;
	size_t len = rpc->method_len, caller_len = strlen(BH_CH_CALLER);

	if (oc->parent->gave_up || oc->parent->deadline_passed)
		return bh_outcall_fail(oc, oc->parent->deadline_passed ? BH_E_TIMEOUT : BH_E_UNAVAILABLE,
				    "the call it was made from has ended");
	if (oc->parent->depth + 1 > d->cfg->max_call_depth)
		return bh_outcall_fail(oc, BH_E_CHAIN_TOO_DEEP, "the call chain would be %u calls "
				    "deep (limits.max_call_depth %u)", oc->parent->depth + 1,
				    d->cfg->max_call_depth);
	if (len > caller_len && memcmp(t, BH_CH_CALLER, caller_len) == 0 && t[caller_len] == '.') {
		if (!conf->callback)
			return bh_outcall_fail(oc, BH_E_PERMISSION_DENIED, "plugin %s may not call its "
					    "caller (it has no grant callback = true)", name);
		bh_callback_to_caller(oc, t + caller_len + 1, len - caller_len - 1, rpc->params,
				      rpc->params_len, notify);
		return;
	}
	if (notify)
		return bh_outcall_fail(oc, BH_E_BAD_REQUEST, "only the caller takes notifications");
	const char *dot = memchr(t, '.', len);
	if (!dot || dot == t || dot == t + len - 1 || !bh_name_valid(t, (size_t)(dot - t)))
		return bh_outcall_fail(oc, BH_E_BAD_REQUEST, "\"%.*s\" is not of the form "
				    "plugin.method", (int)(len > 64 ? 64 : len), t);
	size_t ns_len = (size_t)(dot - t), m_len = len - ns_len - 1;
	if (!granted(conf, t, ns_len, dot + 1, m_len))
		return bh_outcall_fail(oc, BH_E_PERMISSION_DENIED, "plugin %s may not call %.*s "
				    "(not granted by its calls setting)", name,
				    (int)(len > 96 ? 96 : len), t);
	if (ns_len == strlen(BH_CONTROL_NS) && memcmp(t, BH_CONTROL_NS, ns_len) == 0)
		return control_call(oc, dot + 1, m_len, rpc);
	struct bh_slot *s = bh_slot_find(d, t, ns_len);
	if (s)
		return call_plugin(oc, s, dot + 1, m_len, rpc);
	struct bh_conn *provider = bh_provider_find(d, t, ns_len);
	if (provider) {
		bh_callback_to_provider(oc, provider, t, len, rpc->params, rpc->params_len);
		return;
	}
	bh_outcall_fail(oc, BH_E_UNKNOWN_PLUGIN, "no plugin or host service named \"%.*s\"",
		     (int)ns_len, t);
}

void bh_outcall_request(struct bh_instance *inst, const struct bh_rpc *rpc)
{
	uint32_t in;
	bool notify;
	if (parse_options(inst->d, rpc, &in, &notify) < 0)
		return bh_instance_protocol_violation(inst, "a call out without {\"in\": id}");
	struct bh_call *parent = running_call(inst, in);
	if (!parent)
		return bh_instance_protocol_violation(inst, "a call out from a call it does not run");
	if (oid_waiting(inst, rpc->msgid))
		return bh_instance_protocol_violation(inst, "a call out with the id of one not "
						      "answered yet");
	bool full = inst->n_outcalls >= BH_OUTCALLS_MAX;
	struct bh_outcall *oc = oc_new(inst, parent, rpc->msgid);
	if (!oc)
		return bh_instance_kill(inst, BH_EXIT_KILLED, "out of memory");
	inst->slot->outcalls++;
	if (full)
		return bh_outcall_fail(oc, BH_E_OVERLOADED, "%u calls out of this instance wait "
				    "already (at most %d)", inst->n_outcalls - 1, BH_OUTCALLS_MAX);
	dispatch(oc, rpc, notify);
}
