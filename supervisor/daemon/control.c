/* Control methods on the client socket: `bulkhead.<name>`. Admin methods (load,
 * unload, swap, promote, rollback, provide) require the admin ACL; hello, status,
 * describe and version are open to every client. */
#include "control.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "access.h"
#include "bulkhead/bulk.h"
#include "bulkhead/error.h"
#include "bulkhead/proto.h"
#include "bulkhead/value.h"
#include "call.h"
#include "config.h"
#include "conn.h"
#include "daemon.h"
#include "events.h"
#include "gen.h"
#include "log.h"
#include "outcall.h"
#include "reload.h"
#include "slot.h"
#include "status.h"
#include "swap.h"

/* Reply with what `w` (over d->scratch) holds. */
static void reply_scratch(struct bh_daemon *d, struct bh_call *c, struct bh_writer *w)
{
	if (bh_writer_error(w) < 0)
		bh_call_fail(c, BH_E_INTERNAL, "cannot encode the reply");
	else {
		bh_conn_reply_result(c, d->scratch.data, d->scratch.len);
		bh_call_free(c);
	}
	bh_buf_shrink(&d->scratch, 64 * 1024);
}

static void write_kv_str(bh_writer *w, const char *k, const char *v)
{
	bh_write_cstr(w, k);
	bh_write_cstr(w, v);
}

static int decode_params(struct bh_daemon *d, const uint8_t *params, size_t len,
			 const bh_value **ret)
{
	size_t used;
	return bh_decode(params, len, &d->cfg->limits, &d->arena, ret, &used);
}

/* Copy a str param into buf as a C string. 0, or -EINVAL (wrong type, NUL inside,
 * too long). */
static int str_param(const bh_value *v, char *buf, size_t cap)
{
	const char *s;
	size_t n;
	if (bh_value_get_str(v, &s, &n) < 0 || n >= cap || memchr(s, 0, n))
		return -EINVAL;
	memcpy(buf, s, n);
	buf[n] = 0;
	return 0;
}

/* bulkhead.load [name, path] or [name]. A plugin the configuration defines gets its
 * configured settings (from the given path, if one is given) and is the
 * configuration's again: a SIGHUP applies the file's entry to it. Any other name
 * needs a path and gets plugin_defaults. */
static void control_load(struct bh_daemon *d, struct bh_call *c, const bh_value *p)
{
	char name[BH_NAME_MAX + 1], path[4096] = "";
	const bh_value *pv = bh_value_at(p, 1);
	if (str_param(bh_value_at(p, 0), name, sizeof(name)) < 0 || p->len > 2 ||
	    (pv && str_param(pv, path, sizeof(path)) < 0))
		return bh_call_fail(c, BH_E_INVALID_PARAMS,
				    "load expects [name, absolute path] or [configured name]");
	if (!bh_name_valid(name, strlen(name)) || strcmp(name, "bulkhead") == 0)
		return bh_call_fail(c, BH_E_INVALID_PARAMS,
				    "plugin name must be an identifier (letters, digits, '_', '-')");
	const struct bh_plugin_conf *conf_entry = bh_configured(d->cfg, name);
	if (!path[0] && !conf_entry) {
		char msg[160];
		snprintf(msg, sizeof(msg), "plugin \"%s\" is not in the configuration: load "
			 "needs its path", name);
		return bh_call_fail(c, BH_E_INVALID_PARAMS, msg);
	}
	if (path[0] && path[0] != '/')
		return bh_call_fail(c, BH_E_INVALID_PARAMS, "the plugin path must be absolute");
	if (bh_slot_find(d, name, strlen(name))) {
		char msg[128];
		snprintf(msg, sizeof(msg), "a plugin named \"%s\" is already loaded", name);
		return bh_call_fail(c, BH_E_CONFLICT, msg);
	}
	if (bh_provider_find(d, name, strlen(name))) {
		char msg[160];
		snprintf(msg, sizeof(msg), "a connection provides the host service \"%s\": a "
			 "plugin of that name would take its calls", name);
		return bh_call_fail(c, BH_E_CONFLICT, msg);
	}
	/* Borrowed: bh_slot_create copies it. */
	struct bh_plugin_conf conf = conf_entry ? *conf_entry : d->cfg->plugin_defaults;
	snprintf(conf.name, sizeof(conf.name), "%s", name);
	if (path[0])
		conf.path = path;
	struct stat st;
	char msg[4200];
	if (stat(conf.path, &st) < 0 || !S_ISREG(st.st_mode)) {
		snprintf(msg, sizeof(msg), "%s: %s", conf.path,
			 errno && !S_ISREG(st.st_mode) ? strerror(errno) : "not a regular file");
		return bh_call_fail(c, BH_E_INVALID_PARAMS, msg);
	}
	if (bh_plugin_file_check(conf.path, msg, sizeof(msg)) < 0)
		return bh_call_fail(c, BH_E_INVALID_PARAMS, msg);
	struct bh_slot *s;
	int r = bh_slot_create(d, &conf, &s);
	if (r < 0)
		return bh_call_fail(c, BH_E_INTERNAL, strerror(-r));
	s->origin = conf_entry ? BH_ORIGIN_CONFIG : BH_ORIGIN_RUNTIME;
	/* Answered by bh_control_load_done once ready or failed. */
	bh_slot_load_wait(s, c);
}

void bh_control_load_done(struct bh_slot *s, struct bh_call *c, const char *error)
{
	if (error)
		return bh_call_fail(c, BH_E_UNAVAILABLE, error);
	struct bh_daemon *d = s->d;
	struct bh_writer w;
	d->scratch.len = 0;
	bh_writer_init(&w, &d->scratch);
	bh_write_map(&w, 4);
	write_kv_str(&w, "name", s->conf->name);
	write_kv_str(&w, "state", bh_slot_state_name(s->state));
	write_kv_str(&w, "version", s->gen->version);
	bh_write_cstr(&w, "generation");
	bh_write_uint(&w, s->generation);
	reply_scratch(d, c, &w);
}

static void control_unload(struct bh_daemon *d, struct bh_call *c, const bh_value *p)
{
	char name[BH_NAME_MAX + 1];
	if (str_param(bh_value_at(p, 0), name, sizeof(name)) < 0)
		return bh_call_fail(c, BH_E_INVALID_PARAMS, "unload expects [name]");
	struct bh_slot *s = bh_slot_find(d, name, strlen(name));
	if (!s) {
		char msg[128];
		snprintf(msg, sizeof(msg), "no plugin named \"%s\"", name);
		return bh_call_fail(c, BH_E_UNKNOWN_PLUGIN, msg);
	}
	if (bh_slot_busy(s))
		return bh_call_fail(c, BH_E_CONFLICT, "another operation on this plugin is running");
	bh_slot_unload(s, c);
}

void bh_control_unload_done(struct bh_slot *s, struct bh_call *c)
{
	struct bh_daemon *d = s->d;
	struct bh_writer w;
	d->scratch.len = 0;
	bh_writer_init(&w, &d->scratch);
	bh_write_map(&w, 2);
	write_kv_str(&w, "name", s->conf->name);
	write_kv_str(&w, "state", "unloaded");
	reply_scratch(d, c, &w);
}

static struct bh_slot *slot_param(struct bh_daemon *d, struct bh_call *c, const bh_value *p)
{
	char name[BH_NAME_MAX + 1];
	if (str_param(bh_value_at(p, 0), name, sizeof(name)) < 0) {
		bh_call_fail(c, BH_E_INVALID_PARAMS, "the first parameter must be a plugin name");
		return NULL;
	}
	struct bh_slot *s = bh_slot_find(d, name, strlen(name));
	if (!s) {
		char msg[128];
		snprintf(msg, sizeof(msg), "no plugin named \"%s\"", name);
		bh_call_fail(c, BH_E_UNKNOWN_PLUGIN, msg);
	}
	return s;
}

static int swap_errcode(int r)
{
	return r == -EBUSY ? BH_E_CONFLICT : r == -ENOENT || r == -EINVAL ? BH_E_INVALID_PARAMS
									  : BH_E_SWAP_FAILED;
}

/* bulkhead.swap [name, path|nil, {canary, max_error_rate, min_calls}?] */
static void control_swap(struct bh_daemon *d, struct bh_call *c, const bh_value *p)
{
	struct bh_slot *s = slot_param(d, c, p);
	if (!s)
		return;
	char path[4096] = "";
	const bh_value *pv = bh_value_at(p, 1);
	if (pv && pv->type != BH_NIL && str_param(pv, path, sizeof(path)) < 0)
		return bh_call_fail(c, BH_E_INVALID_PARAMS, "the path must be a string or nil");
	if (path[0] && path[0] != '/')
		return bh_call_fail(c, BH_E_INVALID_PARAMS, "the plugin path must be absolute");
	char why[512];
	struct stat st;
	/* A file that is there but no shared object is refused before anything starts;
	 * a missing one is the swap's to report. */
	if (path[0] && stat(path, &st) == 0 && S_ISREG(st.st_mode) &&
	    bh_plugin_file_check(path, why, sizeof(why)) < 0)
		return bh_call_fail(c, BH_E_INVALID_PARAMS, why);
	struct bh_swap_options opt = {0};
	const bh_value *o = bh_value_at(p, 2);
	if (o && o->type == BH_MAP) {
		uint64_t u;
		double f;
		if (bh_value_get_uint(bh_value_find(o, "canary"), &u) == 0) {
			if (u > 100)
				return bh_call_fail(c, BH_E_INVALID_PARAMS, "canary is a percentage, 0..100");
			opt.canary_pct = (uint32_t)u;
		}
		if (bh_value_get_float(bh_value_find(o, "max_error_rate"), &f) == 0)
			opt.max_error_rate = f;
		if (bh_value_get_uint(bh_value_find(o, "min_calls"), &u) == 0)
			opt.min_calls = u > UINT32_MAX ? UINT32_MAX : (uint32_t)u;
	} else if (o && o->type != BH_NIL) {
		return bh_call_fail(c, BH_E_INVALID_PARAMS, "swap options must be a map");
	}
	struct bh_plugin_conf conf;
	if (bh_plugin_conf_copy(&conf, s->conf) < 0)
		return bh_call_fail(c, BH_E_INTERNAL, "out of memory");
	if (path[0]) {
		char *dup = strdup(path);
		if (!dup) {
			bh_plugin_conf_done(&conf);
			return bh_call_fail(c, BH_E_INTERNAL, "out of memory");
		}
		free(conf.path);
		conf.path = dup;
	}
	int r = bh_swap_start(s, &conf, &opt, c, why, sizeof(why));
	bh_plugin_conf_done(&conf);
	if (r < 0 && !c->answered && c->where != BH_CALL_PARKED)
		bh_call_fail(c, swap_errcode(r), why);
	/* Otherwise answered when the swap completes or rolls back. */
}

static void control_promote(struct bh_daemon *d, struct bh_call *c, const bh_value *p)
{
	struct bh_slot *s = slot_param(d, c, p);
	char why[256];
	if (s && bh_swap_promote(s, c, why, sizeof(why)) < 0)
		bh_call_fail(c, BH_E_CONFLICT, why);
}

static void control_rollback(struct bh_daemon *d, struct bh_call *c, const bh_value *p)
{
	struct bh_slot *s = slot_param(d, c, p);
	if (!s)
		return;
	char why[256];
	if (bh_swap_rollback(s, why, sizeof(why)) < 0)
		return bh_call_fail(c, BH_E_CONFLICT, why);
	struct bh_writer w;
	d->scratch.len = 0;
	bh_writer_init(&w, &d->scratch);
	bh_write_map(&w, 3);
	write_kv_str(&w, "name", s->conf->name);
	write_kv_str(&w, "result", "rolled back");
	bh_write_cstr(&w, "generation");
	bh_write_uint(&w, s->generation);
	reply_scratch(d, c, &w);
}

/* ---- bulkhead.describe [{"plugin": name}] or [name]: what a plugin offers ---- */

static void write_kv_uint(bh_writer *w, const char *k, uint64_t v)
{
	bh_write_cstr(w, k);
	bh_write_uint(w, v);
}

/* The limits a caller runs into: deadlines, queues, message ceilings, and the
 * sandbox's resource limits (0: none). */
static void write_describe_limits(bh_writer *w, const struct bh_daemon *d,
				  const struct bh_gen *g)
{
	const struct bh_plugin_conf *c = &g->conf;
	const struct bh_sandbox_profile *p = &g->profile;
	bh_write_map(w, 11);
	write_kv_uint(w, "timeout_ms", c->timeout_ms);
	write_kv_uint(w, "grace_ms", c->grace_ms);
	write_kv_uint(w, "max_inflight", c->max_inflight);
	write_kv_uint(w, "max_queue", c->max_queue);
	write_kv_uint(w, "max_message", d->cfg->limits.max_message);
	write_kv_uint(w, "max_payload", d->cfg->max_payload);
	write_kv_uint(w, "memory_bytes", p->enabled ? p->memory_bytes : 0);
	write_kv_uint(w, "pids", p->enabled ? p->pids_max : 0);
	write_kv_uint(w, "cpu_percent", p->enabled ? p->cpu_percent : 0);
	write_kv_uint(w, "nofile", p->enabled ? p->nofile : 0);
	write_kv_uint(w, "fsize_bytes", p->enabled ? p->fsize_bytes : 0);
}

/* The reply (the active generation; before its first instance said hello, version,
 * abi_version and state_version are nil and methods is empty):
 *   {"name", "state", "path", "version", "generation", "abi_version",
 *    "state_version": uint or nil (no snapshot/restore), "methods": [sorted names],
 *    "limits": {...}, "instances": {"configured": n, "running": n}} */
static void control_describe(struct bh_daemon *d, struct bh_call *c, const bh_value *p)
{
	const bh_value *arg = bh_value_at(p, 0);
	if (arg && arg->type == BH_MAP)
		arg = bh_value_find(arg, "plugin");
	if (p->len != 1 || !arg || arg->type != BH_STR)
		return bh_call_fail(c, BH_E_INVALID_PARAMS,
				    "describe expects [{\"plugin\": name}] or [name]");
	struct bh_slot *s = bh_slot_find(d, arg->as.str, arg->len);
	if (!s) {
		char msg[128];
		snprintf(msg, sizeof(msg), "no plugin named \"%.*s\"",
			 (int)(arg->len > 64 ? 64 : arg->len), arg->as.str);
		return bh_call_fail(c, BH_E_UNKNOWN_PLUGIN, msg);
	}
	const struct bh_gen *g = s->gen;
	struct bh_writer w;
	d->scratch.len = 0;
	bh_writer_init(&w, &d->scratch);
	bh_write_map(&w, 10);
	write_kv_str(&w, "name", s->conf->name);
	write_kv_str(&w, "state", bh_slot_state_name(s->state));
	write_kv_str(&w, "path", g->conf.path);
	bh_write_cstr(&w, "version");
	if (g->hello_seen)
		bh_write_cstr(&w, g->version);
	else
		bh_write_nil(&w);
	write_kv_uint(&w, "generation", g->number);
	bh_write_cstr(&w, "abi_version");
	if (g->hello_seen)
		bh_write_uint(&w, g->abi_version);
	else
		bh_write_nil(&w);
	bh_write_cstr(&w, "state_version");
	if (g->hello_seen && g->has_state)
		bh_write_uint(&w, g->state_version);
	else
		bh_write_nil(&w);
	bh_write_cstr(&w, "methods");
	bh_write_array(&w, g->hello_seen ? g->n_methods : 0);
	for (uint32_t i = 0; g->hello_seen && i < g->n_methods; i++)
		bh_write_str(&w, g->methods[i].name, g->methods[i].len);
	bh_write_cstr(&w, "limits");
	write_describe_limits(&w, d, g);
	bh_write_cstr(&w, "instances");
	bh_write_map(&w, 2);
	write_kv_uint(&w, "configured", g->conf.instances);
	write_kv_uint(&w, "running", s->n_live);
	reply_scratch(d, c, &w);
}

/* ---- bulkhead.hello [{options}]: what a connection wants beyond msgpack-rpc ---- */

/* Bumped when the client protocol changes in a way a client may need to know.
 * 2: errors are [type, "NAME (CODE): MESSAGE"] unless the connection asks for maps. */
#define CLIENT_PROTOCOL 2

/* Notifications a client can ask for; by default it gets none. */
static const struct {
	const char *method;
	uint32_t bit;
} notes[] = {
	{BH_NOTE_ERROR_METHOD, BH_NOTE_ERROR},
};
#define N_NOTES (sizeof(notes) / sizeof(notes[0]))

/* "notifications": [method...]: exactly these from now on. Names this daemon does not
 * send are left out (the reply's "enabled" shows what took effect). */
static int hello_notifications(const bh_value *list, uint32_t *ret)
{
	if (!list || list->type != BH_ARRAY)
		return -EINVAL;
	uint32_t mask = 0;
	for (uint32_t i = 0; i < list->len; i++) {
		const bh_value *name = bh_value_at(list, i);
		if (name->type != BH_STR)
			return -EINVAL;
		for (size_t k = 0; k < N_NOTES; k++)
			if (bh_value_str_eq(name, notes[k].method))
				mask |= notes[k].bit;
	}
	*ret = mask;
	return 0;
}

static void write_notes(bh_writer *w, uint32_t mask)
{
	uint32_t n = 0;
	for (size_t k = 0; k < N_NOTES; k++)
		n += (mask & notes[k].bit) != 0;
	bh_write_cstr(w, "notifications");
	bh_write_array(w, n);
	for (size_t k = 0; k < N_NOTES; k++)
		if (mask & notes[k].bit)
			bh_write_cstr(w, notes[k].method);
}

/* Large params and results as sealed memfds (bulkhead/bulk.h, BH_BULK_MEMFD): only
 * with a payload ceiling above the threshold. */
static bool memfd_supported(const struct bh_daemon *d)
{
	return d->cfg->max_payload >= BH_BULK_THRESHOLD;
}

/* "memfd": true or false; false when the daemon cannot. */
static int hello_memfd(const struct bh_daemon *d, const bh_value *v, bool *ret)
{
	if (!v || v->type != BH_BOOL)
		return -EINVAL;
	*ret = v->as.b && memfd_supported(d);
	return 0;
}

/* "errors": "map" or "text" (bulkhead/proto.h, bh_write_error_text). */
static int hello_errors(const bh_value *v, bool *ret_map)
{
	if (bh_value_str_eq(v, "map"))
		*ret_map = true;
	else if (bh_value_str_eq(v, "text"))
		*ret_map = false;
	else
		return -EINVAL;
	return 0;
}

static void write_options(bh_writer *w, const struct bh_daemon *d)
{
	bool memfd = memfd_supported(d);
	bh_write_map(w, memfd ? 4 : 3);
	write_notes(w, ~0u);
	bh_write_cstr(w, "errors");
	bh_write_array(w, 2);
	bh_write_cstr(w, "text");
	bh_write_cstr(w, "map");
	bh_write_cstr(w, "callbacks");
	bh_write_map(w, 1);
	bh_write_cstr(w, "max_call_depth");
	bh_write_uint(w, d->cfg->max_call_depth);
	if (!memfd)
		return;
	bh_write_cstr(w, "memfd");
	bh_write_map(w, 3);
	bh_write_cstr(w, "threshold");
	bh_write_uint(w, BH_BULK_THRESHOLD);
	bh_write_cstr(w, "max_payload");
	bh_write_uint(w, d->cfg->max_payload);
	bh_write_cstr(w, "max_fds");
	bh_write_uint(w, BH_FDQ_MAX);
}

static bool hello_known(const bh_value *key)
{
	return bh_value_str_eq(key, "notifications") || bh_value_str_eq(key, "memfd") ||
	       bh_value_str_eq(key, "callbacks") || bh_value_str_eq(key, "errors");
}

/* Options a hello names are set, the others keep their value; options this daemon
 * does not know are ignored and listed in the reply, so that a newer client can
 * still talk to it. The reply:
 *   {"protocol": 1, "server": "bulkhead VERSION",
 *    "options": {"notifications": [every one this daemon can send],
 *                "errors": ["text", "map"], "callbacks": {"max_call_depth": N},
 *                "memfd": {"threshold": 65536, "max_payload": N, "max_fds": 8}},
 *    "enabled": {"notifications": [those this connection now gets], "memfd": bool,
 *                "callbacks": bool, "errors": "text" | "map"},
 *    "ignored": [option names not understood]} */
static void control_hello(struct bh_daemon *d, struct bh_call *c, const bh_value *p)
{
	const bh_value *o = bh_value_at(p, 0);
	if (p->len > 1 || (o && o->type != BH_MAP))
		return bh_call_fail(c, BH_E_INVALID_PARAMS, "hello expects [] or [{options}]");
	uint32_t mask = c->conn->notes, n_ignored = 0;
	bool memfd = c->conn->memfd, callbacks = c->conn->callbacks;
	bool error_map = c->conn->error_map;
	for (uint32_t i = 0; o && i < o->len; i++) {
		const bh_value *key = &o->as.items[2 * i], *val = &o->as.items[2 * i + 1];
		if (key->type != BH_STR)
			return bh_call_fail(c, BH_E_INVALID_PARAMS, "hello: option names are strings");
		if (!hello_known(key))
			n_ignored++;
		else if (bh_value_str_eq(key, "memfd") && hello_memfd(d, val, &memfd) < 0)
			return bh_call_fail(c, BH_E_INVALID_PARAMS, "hello: \"memfd\" is a boolean");
		else if (bh_value_str_eq(key, "callbacks") && bh_value_get_bool(val, &callbacks) < 0)
			return bh_call_fail(c, BH_E_INVALID_PARAMS, "hello: \"callbacks\" is a boolean");
		else if (bh_value_str_eq(key, "errors") && hello_errors(val, &error_map) < 0)
			return bh_call_fail(c, BH_E_INVALID_PARAMS,
					    "hello: \"errors\" is \"text\" or \"map\"");
		else if (bh_value_str_eq(key, "notifications") &&
			 hello_notifications(val, &mask) < 0)
			return bh_call_fail(c, BH_E_INVALID_PARAMS,
					    "hello: \"notifications\" is a list of method names");
	}
	if (!callbacks && (c->conn->n_callbacks || c->conn->n_provided))
		return bh_call_fail(c, BH_E_CONFLICT, "hello: callbacks cannot be turned off "
				    "while the connection provides a namespace or owes answers");
	c->conn->notes = mask;
	c->conn->memfd = memfd;
	c->conn->callbacks = callbacks;
	c->conn->error_map = error_map;

	struct bh_writer w;
	d->scratch.len = 0;
	bh_writer_init(&w, &d->scratch);
	bh_write_map(&w, 5);
	bh_write_cstr(&w, "protocol");
	bh_write_uint(&w, CLIENT_PROTOCOL);
	write_kv_str(&w, "server", "bulkhead " BH_VERSION);
	bh_write_cstr(&w, "options");
	write_options(&w, d);
	bh_write_cstr(&w, "enabled");
	bh_write_map(&w, 4);
	write_notes(&w, mask);
	bh_write_cstr(&w, "memfd");
	bh_write_bool(&w, memfd);
	bh_write_cstr(&w, "callbacks");
	bh_write_bool(&w, callbacks);
	write_kv_str(&w, "errors", error_map ? "map" : "text");
	bh_write_cstr(&w, "ignored");
	bh_write_array(&w, n_ignored);
	for (uint32_t i = 0; o && i < o->len; i++)
		if (!hello_known(&o->as.items[2 * i]))
			bh_write_value(&w, &o->as.items[2 * i]);
	reply_scratch(d, c, &w);
}

/* ---- bulkhead.provide [{"namespace": ns}]: a host service (callback.c) ---- */

static void control_provide(struct bh_call *c, const bh_value *p)
{
	const bh_value *o = bh_value_at(p, 0);
	const char *ns;
	size_t len;
	if (p->len != 1 || !o || o->type != BH_MAP ||
	    bh_value_get_str(bh_value_find(o, "namespace"), &ns, &len) < 0)
		return bh_call_fail(c, BH_E_INVALID_PARAMS, "provide expects [{\"namespace\": name}]");
	char why[200];
	if (bh_provider_register(c->conn, ns, len, why, sizeof(why)) < 0)
		return bh_call_fail(c, BH_E_CONFLICT, why);
	bh_info("client %llu (pid %d uid %u) provides namespace %.*s",
		(unsigned long long)c->conn->serial, (int)c->conn->pid, (unsigned)c->conn->uid,
		(int)len, ns);
	static const uint8_t nil = 0xc0;
	bh_conn_reply_result(c, &nil, 1);
	bh_call_free(c);
}

/* ---- bulkhead.subscribe [] | [false]: lifecycle events as notifications ---- */

static void control_subscribe(struct bh_daemon *d, struct bh_call *c, const bh_value *p)
{
	bool on = true;
	if (p->type != BH_ARRAY || p->len > 1 ||
	    (p->len == 1 && bh_value_get_bool(bh_value_at(p, 0), &on) < 0))
		return bh_call_fail(c, BH_E_INVALID_PARAMS, "subscribe expects [] or [bool]");
	if (!c->conn)
		return bh_call_fail(c, BH_E_BAD_REQUEST, "only a client connection subscribes");
	if (on)
		bh_events_subscribe(c->conn);
	else
		bh_events_unsubscribe(c->conn);
	struct bh_writer w;
	d->scratch.len = 0;
	bh_writer_init(&w, &d->scratch);
	bh_write_map(&w, 3);
	bh_write_cstr(&w, "subscribed");
	bh_write_bool(&w, on);
	bh_write_cstr(&w, "method");
	bh_write_cstr(&w, BH_EVENT_METHOD);
	bh_write_cstr(&w, "kinds");
	bh_write_array(&w, BH_EV_N);
	for (int k = 0; k < BH_EV_N; k++)
		bh_write_cstr(&w, bh_event_name((enum bh_event_kind)k));
	reply_scratch(d, c, &w);
}

static void dispatch(struct bh_daemon *d, struct bh_call *c, const char *method, size_t len,
		     const uint8_t *params, size_t params_len)
{
	const bh_value *p;
	if (decode_params(d, params, params_len, &p) < 0)
		return bh_call_fail(c, BH_E_INVALID_PARAMS, "params cannot be decoded");
#define IS(name) (len == sizeof(name) - 1 && memcmp(method, name, len) == 0)
	struct bh_writer w;
	d->scratch.len = 0;
	bh_writer_init(&w, &d->scratch);
	if (IS("version")) {
		bh_write_cstr(&w, "bulkhead " BH_VERSION);
		return reply_scratch(d, c, &w);
	}
	if (IS("status")) {
		bh_status_write(d, &w);
		return reply_scratch(d, c, &w);
	}
	if (IS("hello"))
		return control_hello(d, c, p);
	if (IS("subscribe"))
		return control_subscribe(d, c, p);
	if (IS("describe"))
		return control_describe(d, c, p);
	bool admin_method = IS("load") || IS("unload") || IS("swap") || IS("promote") ||
			    IS("rollback") || IS("provide");
	if (!admin_method) {
		char msg[128];
		snprintf(msg, sizeof(msg), "no control method \"bulkhead.%.*s\"",
			 (int)(len > 64 ? 64 : len), method);
		return bh_call_fail(c, BH_E_UNKNOWN_METHOD, msg);
	}
	if (!c->conn || !bh_access_is_admin(d, c->conn)) {
		char msg[128];
		snprintf(msg, sizeof(msg), "bulkhead.%.*s needs admin access (uid %u is not granted)",
			 (int)len, method, c->conn ? (unsigned)c->conn->uid : 0u);
		return bh_call_fail(c, BH_E_PERMISSION_DENIED, msg);
	}
	if (IS("load"))
		return control_load(d, c, p);
	if (IS("swap"))
		return control_swap(d, c, p);
	if (IS("promote"))
		return control_promote(d, c, p);
	if (IS("rollback"))
		return control_rollback(d, c, p);
	if (IS("provide"))
		return control_provide(c, p);
	return control_unload(d, c, p);
#undef IS
}

/* Control params are small (names, paths, a few options); a bound keeps any client
 * from making the daemon decode, and keep, a tree the size of a whole message. */
#define CONTROL_PARAMS_MAX (64 * 1024)

void bh_control(struct bh_daemon *d, struct bh_call *c, const char *method, size_t len,
		const uint8_t *params, size_t params_len)
{
	if (params_len > CONTROL_PARAMS_MAX) {
		char msg[96];
		snprintf(msg, sizeof(msg), "control params too large (%zu bytes, at most %d)",
			 params_len, CONTROL_PARAMS_MAX);
		bh_call_fail(c, BH_E_TOO_LARGE, msg);
		return;
	}
	dispatch(d, c, method, len, params, params_len);
}
