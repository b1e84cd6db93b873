/* Calls out whose target is a client (outcall.h): a method of the client at the root
 * of the chain (a callback), a notification to it, or a method of a host service, a
 * connection that provides a namespace. A client serves them only after it enabled
 * callbacks (bulkhead.hello); each request waits for its answer in the connection's
 * table, under the deadline of the call it was made from, at most
 * BH_CONN_CALLBACKS_MAX at a time. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bulkhead/bulk.h"
#include "call.h"
#include "config.h"
#include "conn.h"
#include "daemon.h"
#include "log.h"
#include "outcall.h"
#include "slot.h"

/* Callbacks waiting for one connection's answers, at most. */
#define BH_CONN_CALLBACKS_MAX 64
/* Namespaces one connection may provide. */
#define BH_CONN_PROVIDES_MAX 16

struct bh_provider {
	struct bh_list link; /* d->providers */
	struct bh_conn *conn;
	char ns[BH_NAME_MAX + 1];
};

/* The request goes out as [0, cid, method, params] and waits in cn's table. */
static int send_request(struct bh_outcall *oc, struct bh_conn *cn, const char *method,
			size_t len, const uint8_t *params, size_t params_len)
{
	if (cn->n_callbacks >= BH_CONN_CALLBACKS_MAX) {
		bh_outcall_fail(oc, BH_E_OVERLOADED, "the client has too many callbacks to answer already");
		return -1;
	}
	uint32_t cid = ++cn->next_cid;
	if (!bh_conn_send_request(cn, cid, method, len, params, params_len)) {
		bh_outcall_fail(oc, BH_E_OVERLOADED, "the client is not reading what it is sent");
		return -1;
	}
	oc->conn = cn;
	oc->cid = cid;
	bh_list_add_tail(&cn->callbacks_waiting, &oc->conn_link);
	cn->n_callbacks++;
	uint64_t deadline = bh_call_deadline_ns(oc->parent);
	if (deadline)
		bh_timer_arm(oc->d->loop, &oc->timer, deadline);
	return 0;
}

/* The connection of the client's request at the root of c's chain, when it can take
 * callbacks; else NULL and why. */
static struct bh_conn *chain_caller(const struct bh_call *c, const char **why)
{
	while (c->origin)
		c = c->origin->parent;
	*why = "the call chain has no client to call back (it was started by the daemon)";
	if (c->depth > 0 || c->gave_up)
		*why = "the client of the call chain is gone or no longer waits";
	else if (c->kind == BH_CALL_CLIENT && c->notifier)
		*why = "the call chain was started by a notification, which has no caller";
	else if (c->kind == BH_CALL_CLIENT && c->conn && !c->conn->callbacks)
		*why = "the client of the call chain did not enable callbacks "
		       "(bulkhead.hello {\"callbacks\": true})";
	else if (c->kind == BH_CALL_CLIENT && c->conn && !c->conn->dead)
		return c->conn;
	return NULL;
}

int bh_callback_to_caller(struct bh_outcall *oc, const char *method, size_t len,
			  const uint8_t *params, size_t params_len, bool notify)
{
	const char *why;
	struct bh_conn *cn = chain_caller(oc->parent, &why);
	if (!cn) {
		bh_outcall_fail(oc, BH_E_UNAVAILABLE, "%s", why);
		return -1;
	}
	if (!bh_name_valid(method, len)) {
		bh_outcall_fail(oc, BH_E_BAD_REQUEST, "a method of the caller is an identifier");
		return -1;
	}
	if (!notify)
		return send_request(oc, cn, method, len, params, params_len);
	if (!bh_conn_send_notify(cn, method, len, params, params_len)) {
		bh_outcall_fail(oc, BH_E_OVERLOADED, "the client is not reading what it is sent");
		return -1;
	}
	static const uint8_t nil = 0xc0;
	bh_outcall_answer(oc, NULL, &nil, 1);
	return 0;
}

int bh_callback_to_provider(struct bh_outcall *oc, struct bh_conn *provider,
			    const char *method, size_t len, const uint8_t *params,
			    size_t params_len)
{
	return send_request(oc, provider, method, len, params, params_len);
}

void bh_callback_abandon(struct bh_outcall *oc)
{
	if (!oc->conn)
		return;
	bh_list_del(&oc->conn_link);
	oc->conn->n_callbacks--;
	oc->conn = NULL;
	bh_timer_disarm(oc->d->loop, &oc->timer);
}

bool bh_callback_response(struct bh_conn *cn, const struct bh_rpc *rpc)
{
	struct bh_list *pos, *tmp;
	bh_list_for_each_safe(pos, tmp, &cn->callbacks_waiting)
	{
		struct bh_outcall *oc = bh_container_of(pos, struct bh_outcall, conn_link);
		if (oc->cid != rpc->msgid)
			continue;
		bh_callback_abandon(oc);
		bh_error err = {0};
		struct bh_bulk_ref ref;
		int r = bh_error_decode(rpc->error, rpc->error_len, &err);
		if (r < 0) {
			bh_outcall_fail(oc, BH_E_PROTOCOL, "the client answered with an undecodable error");
		} else if (r == 0 && bh_bulk_ref_get(rpc->result, rpc->result_len, &ref) != -ENOENT) {
			/* The shim reads that shape as a result in shared memory: from a
			 * client it can only be an attack on the plugin. */
			bh_warn("client %llu (pid %d uid %u) answered callback %u with a bulk "
				"reference", (unsigned long long)cn->serial, (int)cn->pid,
				(unsigned)cn->uid, rpc->msgid);
			bh_outcall_fail(oc, BH_E_PROTOCOL, "the client answered with a bulk reference, "
			     "which only the daemon may send");
		} else if (r > 0) {
			/* What a client says failed is its own error, never the daemon's. */
			err.code = bh_code_from_plugin(err.code);
			bh_outcall_answer(oc, &err, NULL, 0);
		} else {
			bh_outcall_answer(oc, NULL, rpc->result, rpc->result_len);
		}
		return true;
	}
	return false;
}

void bh_callback_conn_gone(struct bh_conn *cn)
{
	while (!bh_list_empty(&cn->callbacks_waiting)) {
		struct bh_outcall *oc = bh_container_of(bh_list_first(&cn->callbacks_waiting),
							struct bh_outcall, conn_link);
		bh_callback_abandon(oc);
		bh_outcall_fail(oc, BH_E_UNAVAILABLE, "the client left before it answered");
	}
	struct bh_list *pos, *tmp;
	bh_list_for_each_safe(pos, tmp, &cn->d->providers)
	{
		struct bh_provider *p = bh_container_of(pos, struct bh_provider, link);
		if (p->conn == cn) {
			bh_list_del(&p->link);
			free(p);
		}
	}
	cn->n_provided = 0;
}

/* ---- host services ---- */

static struct bh_provider *provider_find(struct bh_daemon *d, const char *ns, size_t len)
{
	struct bh_list *pos, *tmp;
	bh_list_for_each_safe(pos, tmp, &d->providers)
	{
		struct bh_provider *p = bh_container_of(pos, struct bh_provider, link);
		if (strlen(p->ns) == len && memcmp(p->ns, ns, len) == 0)
			return p;
	}
	return NULL;
}

struct bh_conn *bh_provider_find(struct bh_daemon *d, const char *ns, size_t len)
{
	struct bh_provider *p = provider_find(d, ns, len);
	return p ? p->conn : NULL;
}

uint32_t bh_provider_count(const struct bh_daemon *d)
{
	uint32_t n = 0;
	struct bh_list *pos, *tmp;
	bh_list_for_each_safe(pos, tmp, (struct bh_list *)&d->providers) n++;
	return n;
}

void bh_provider_each(const struct bh_daemon *d,
		      void (*fn)(void *arg, const char *ns, const struct bh_conn *cn), void *arg)
{
	struct bh_list *pos, *tmp;
	bh_list_for_each_safe(pos, tmp, (struct bh_list *)&d->providers)
	{
		const struct bh_provider *p = bh_container_of(pos, struct bh_provider, link);
		fn(arg, p->ns, p->conn);
	}
}

int bh_provider_register(struct bh_conn *cn, const char *ns, size_t len, char *why,
			 size_t why_len)
{
	struct bh_daemon *d = cn->d;
	const char *problem = NULL;
	if (!cn->callbacks)
		problem = "enable callbacks first (bulkhead.hello {\"callbacks\": true})";
	else if (len == 0 || len > BH_NAME_MAX || !bh_name_valid(ns, len))
		problem = "a namespace is an identifier";
	else if (len == strlen(BH_CONTROL_NS) && memcmp(ns, BH_CONTROL_NS, len) == 0)
		problem = "\"bulkhead\" is the daemon's own namespace";
	else if (bh_slot_find(d, ns, len))
		problem = "a plugin has that name";
	else if (provider_find(d, ns, len))
		problem = provider_find(d, ns, len)->conn == cn ? "this connection provides it already"
							   : "another connection provides it";
	else if (cn->n_provided >= BH_CONN_PROVIDES_MAX)
		problem = "this connection provides the most namespaces it may already";
	struct bh_provider *p = problem ? NULL : calloc(1, sizeof(*p));
	if (!problem && !p)
		problem = "out of memory";
	if (problem) {
		snprintf(why, why_len, "cannot provide \"%.*s\": %s", (int)(len > 64 ? 64 : len),
			 ns, problem);
		return -1;
	}
	p->conn = cn;
	memcpy(p->ns, ns, len);
	bh_list_add_tail(&d->providers, &p->link);
	cn->n_provided++;
	return 0;
}
