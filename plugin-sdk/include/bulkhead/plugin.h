/* bulkhead plugin ABI.
 *
 * A plugin is a shared object with C linkage that exports one symbol,
 *     const struct bh_plugin bulkhead_plugin;
 * (use BH_PLUGIN_DEFINE). The host program (bulkhead-shim) dlopen()s it inside the
 * sandbox, checks abi_version, calls init once, then calls methods one at a time on
 * one thread, and shutdown once before a clean exit. The plugin never sees sockets,
 * framing or the sandbox.
 *
 * The functions declared here and in value.h / error.h (bh_write_*, bh_value_*,
 * bh_fail) are provided by the shim at load time: a plugin links against nothing
 * from bulkhead and leaves those symbols undefined.
 *
 * Ownership and lifetime:
 *   - `config`, `args`, `blob`: decoded by the shim, read-only, valid only until the
 *     callback returns. Copy what must outlive the call.
 *   - `out`: owned by the shim. A successful method writes exactly one value (its
 *     result); init/snapshot write as documented below. What a failing callback
 *     wrote is discarded. A result that is one str or bin of 64 KiB or more of
 *     `args`, written with its own pointer (bh_write_value(out, arg), or
 *     bh_write_bin/bh_write_str with the value's bytes), is not copied: the shim
 *     answers with where it lies in the params.
 *   - `err`: owned by the shim, zeroed before each callback; fill it with bh_fail().
 *   - `state`: whatever init stored in *ret_state; owned by the plugin, passed back
 *     to every callback, released by shutdown.
 *   - strings in the descriptor (name, version, method names): static storage.
 */
#ifndef BULKHEAD_PLUGIN_H
#define BULKHEAD_PLUGIN_H

#include "bulkhead/error.h"
#include "bulkhead/value.h"

#ifdef __cplusplus
extern "C" {
#endif

#define BH_PLUGIN_ABI_VERSION 1
#define BH_PLUGIN_SYMBOL "bulkhead_plugin"

/* A method: 0 after writing one result value to out, or nonzero after bh_fail(err, ...).
 * args is always an array (the call's params). */
typedef int (*bh_method_fn)(void *state, const bh_value *args, bh_writer *out, bh_error *err);

struct bh_method {
	const char *name; /* identifier: letters, digits, '_' and '-' */
	bh_method_fn fn;
};

/* In C++14 and later the optional fields default to zero, so that C++20's designated
 * initialisers may leave them out without -Wmissing-field-initializers warnings, as in
 * C. The layout is the same in both languages. */
#if defined(__cplusplus) && __cplusplus >= 201402L
#define BH__OPTIONAL = {}
#else
#define BH__OPTIONAL
#endif

struct bh_plugin {
	uint32_t abi_version;  /* BH_PLUGIN_ABI_VERSION the plugin was built against */
	uint32_t struct_size;  /* sizeof(struct bh_plugin) at build time */
	const char *name;      /* identifier; informative (the config names the slot) */
	const char *version;   /* free text, e.g. "1.2.0" */

	/* Optional. config is the plugin's `config` map from the daemon's configuration
	 * (an empty map when there is none). 0 on success; nonzero fails the instance
	 * with err's message. */
	int (*init)(const bh_value *config, void **ret_state, bh_error *err) BH__OPTIONAL;
	/* Optional. Last call into the plugin on a clean stop. */
	void (*shutdown)(void *state) BH__OPTIONAL;

	const struct bh_method *methods; /* array of n_methods entries */
	uint32_t n_methods;

	/* Hot-swap state handoff, all optional (both or neither). state_version names
	 * the blob format. snapshot writes exactly one value (the blob) to out. restore
	 * receives the old generation's blob and the version it was written with; it
	 * returns nonzero (with err) to reject it, which aborts the swap. */
	uint32_t state_version BH__OPTIONAL;
	int (*snapshot)(void *state, bh_writer *out, bh_error *err) BH__OPTIONAL;
	int (*restore)(void *state, uint32_t blob_version, const bh_value *blob, bh_error *err) BH__OPTIONAL;

	/* Optional: is this instance fit to serve? 0, or nonzero after bh_fail(err, ...).
	 * The supervisor calls it between calls while the instance is idle, every
	 * `health.interval_ms`; a failure or no answer within `health.timeout_ms`,
	 * `health.failures` times in a row, replaces the instance. Keep it cheap and
	 * free of calls out. Without it the shim answers the probe itself, which still
	 * finds an instance whose thread no longer reads its channel.
	 * (Added in ABI 1 in place of a reserved field: a plugin built before it has
	 * NULL there.) */
	int (*health)(void *state, bh_error *err) BH__OPTIONAL;

	void *reserved[7] BH__OPTIONAL; /* zero */
};

/* ---- Calling out ----
 *
 * From inside a callback (a method, init or restore) a plugin may call
 *   - "plugin.method": a method of a plugin, itself included;
 *   - "ns.method": a method of a host service, a client that provides namespace ns;
 *   - the caller: a method of the client at the root of the call chain, or a
 *     notification to it (progress, partial results);
 * each only when its configuration grants it (`calls`, `callback`; README "Calling
 * out"). The call travels through the supervisor like a client's: routing, queueing,
 * deadlines (at most what remains of the calling call's), crash handling and swaps
 * apply. It is synchronous: bh_callout returns when the answer is there. While it
 * waits, calls of the same chain that come back to this plugin (A -> B -> A) run on
 * this thread, nested, and may change the plugin's state; calls of other chains wait.
 *
 * Params: bh_callout_params() gives a writer for the next call's params; write one
 * array (none written: []). The result *ret is valid until the next call out or until
 * the callback returns. Each returns 0, or -1 with err filled with the typed code of
 * the failure (the callee's own error code, BH_E_TIMEOUT, BH_E_PLUGIN_CRASHED,
 * BH_E_PERMISSION_DENIED, BH_E_CHAIN_TOO_DEEP...), never a crash of the caller. Outside
 * a callback they fail with BH_E_BAD_REQUEST. Provided by the shim, like bh_write_*. */
bh_writer *bh_callout_params(void);
int bh_callout(const char *method, const bh_value **ret, bh_error *err);
/* A method of the client at the root of the chain (a chain a client started with a
 * request, on a connection that enabled callbacks), and a notification to it: nil once
 * queued for the client, BH_E_OVERLOADED when the client is not reading. */
int bh_callout_caller(const char *method, const bh_value **ret, bh_error *err);
int bh_notify_caller(const char *method, bh_error *err);

#define BH_PLUGIN_EXPORT __attribute__((visibility("default")))

/* Declares the exported descriptor: BH_PLUGIN_DEFINE = { .name = ..., ... };
 * The definition inherits the declaration's visibility (g++ warns "visibility
 * attribute ignored" when the attribute is repeated on it), and the extern
 * declaration gives a C++ const object external linkage. */
#define BH_PLUGIN_DEFINE                                                                   \
	BH_PLUGIN_EXPORT extern const struct bh_plugin bulkhead_plugin;                    \
	const struct bh_plugin bulkhead_plugin

#define BH_PLUGIN_HEADER .abi_version = BH_PLUGIN_ABI_VERSION, .struct_size = sizeof(struct bh_plugin)

#ifdef __cplusplus
}
#endif
#endif
