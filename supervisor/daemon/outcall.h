/* Calls out: the requests a plugin makes (bulkhead/channel.h step 6) to another
 * plugin, to the client at the root of its call chain, or to a host service.
 *
 * A client's request starts a chain; a call a plugin makes from a call of the chain
 * belongs to it, one level deeper (bh_call.depth). Each request is a bh_outcall
 * between the call it was made from (its parent, running at the plugin's instance)
 * and its target: a plugin's method, as a call made with bh_call_new_chained and
 * routed like a client's but answered here, or a client (callback.c). Its answer goes
 * back on the plugin's channel exactly once: from the target, or early when the
 * parent ends first (its deadline, its client gone), which abandons the target: not
 * started, it never starts; running, it finishes unheard.
 *
 * No deadlocks: an instance that waits for a request gets no calls of other chains
 * (router.c), and a call of the chain for the plugin of one of its waiting ancestors
 * goes to that ancestor's very instance, past queues and the holds of swaps and
 * unloads, marked re-entering: A -> B -> A runs on the A that waits, and nothing
 * waits on a chain that can only finish by re-entering. */
#ifndef BH_OUTCALL_H
#define BH_OUTCALL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bulkhead/error.h"
#include "bulkhead/proto.h"
#include "list.h"
#include "loop.h"

struct bh_call;
struct bh_conn;
struct bh_daemon;
struct bh_instance;

/* Requests one instance may have waiting at once; more are refused (overloaded). A
 * shim makes one per level of nesting, so a chain never needs more than its depth. */
#define BH_OUTCALLS_MAX 32

struct bh_outcall {
	struct bh_daemon *d;
	struct bh_instance *inst;   /* whose plugin waits for the answer */
	struct bh_list inst_link;   /* inst->outcalls */
	struct bh_call *parent;     /* the call it was made from */
	struct bh_list parent_link; /* parent->outcalls */
	uint32_t oid;               /* the shim's id of the request */
	/* Its target: a plugin's call, or a client's answer to request cid. */
	struct bh_call *callee;
	struct bh_conn *conn;
	uint32_t cid;
	struct bh_list conn_link;   /* conn->callbacks */
	struct bh_timer timer;      /* a client target: the deadline */
};

/* A request from inst's plugin: denied, answered at once, or sent to its target. */
void bh_outcall_request(struct bh_instance *inst, const struct bh_rpc *rpc);
/* The answer to oc, to its plugin (err NULL: result is the result); frees oc. */
void bh_outcall_answer(struct bh_outcall *oc, const bh_error *err, const uint8_t *result,
		       size_t len);
/* The same with an error (code, printf-style message). */
void bh_outcall_fail(struct bh_outcall *oc, int32_t code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* c, made by a plugin (c->origin), has its outcome: on to the plugin that waits. */
void bh_outcall_result(struct bh_call *c, const uint8_t *result, size_t len);
void bh_outcall_error(struct bh_call *c, int32_t code, const char *msg);
/* Nobody waits for c's result any more (deadline, client gone): each request made
 * from it is answered (code, msg) now and its target abandoned. */
void bh_outcall_abandon(struct bh_call *c, int32_t code, const char *msg);
/* c is being freed. */
void bh_outcall_call_gone(struct bh_call *c);
/* inst is dead: nothing it asked for is answered any more. */
void bh_outcall_instance_gone(struct bh_instance *inst);
/* Whether c, written to inst, re-enters it: inst runs an ancestor of c's chain. */
bool bh_outcall_reenters(const struct bh_call *c, const struct bh_instance *inst);

/* callback.c: targets that are clients. The caller at the root of oc's chain, or
 * the provider of namespace ns: 0 once sent, or -1 after answering oc. */
int bh_callback_to_caller(struct bh_outcall *oc, const char *method, size_t len,
			  const uint8_t *params, size_t params_len, bool notify);
int bh_callback_to_provider(struct bh_outcall *oc, struct bh_conn *provider,
			    const char *method, size_t len, const uint8_t *params,
			    size_t params_len);
/* oc's target no longer matters: out of its client's table. */
void bh_callback_abandon(struct bh_outcall *oc);
/* A response from a client: true when it answered one of its callbacks. */
bool bh_callback_response(struct bh_conn *cn, const struct bh_rpc *rpc);
/* cn is closing: its callbacks fail, its namespaces are free again. */
void bh_callback_conn_gone(struct bh_conn *cn);
/* Host services: the connection providing namespace ns, or NULL; registering one
 * (0, or -1 with why filled). */
struct bh_conn *bh_provider_find(struct bh_daemon *d, const char *ns, size_t len);
uint32_t bh_provider_count(const struct bh_daemon *d);
void bh_provider_each(const struct bh_daemon *d,
		      void (*fn)(void *arg, const char *ns, const struct bh_conn *cn), void *arg);
int bh_provider_register(struct bh_conn *cn, const char *ns, size_t len, char *why,
			 size_t why_len);

#endif
