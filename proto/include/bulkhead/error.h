/* bulkhead: the one error model, shared by the daemon, both SDKs and the CLI.
 *
 * Codes are stable wire values; never renumber. On the wire (the `error` element of a
 * MessagePack-RPC response) an error is a map
 *     {"code": int, "name": str, "message": str}
 * optionally with "data": any value. Codes 1..999 are bulkhead's; a plugin may fail a
 * call with BH_E_INVALID_PARAMS, BH_E_PLUGIN_ERROR or an application code >= 1000
 * (named "application" on the wire). */
#ifndef BULKHEAD_ERROR_H
#define BULKHEAD_ERROR_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

enum bh_code {
	BH_OK = 0,
	BH_E_UNKNOWN_PLUGIN = 1,    /* no plugin of that name is loaded */
	BH_E_UNKNOWN_METHOD = 2,    /* the plugin has no such method */
	BH_E_BAD_REQUEST = 3,       /* malformed message or envelope */
	BH_E_INVALID_PARAMS = 4,    /* arguments rejected (by bulkhead or the plugin) */
	BH_E_TIMEOUT = 5,           /* deadline passed before the plugin answered */
	BH_E_PLUGIN_CRASHED = 6,    /* the instance died with the call in flight */
	BH_E_PLUGIN_ERROR = 7,      /* the plugin failed the call */
	BH_E_OVERLOADED = 8,        /* a queue bound was reached; retry later */
	BH_E_UNAVAILABLE = 9,       /* no instance can serve (starting, quarantined, gone) */
	BH_E_TOO_LARGE = 10,        /* a message or value exceeded a configured limit */
	BH_E_PERMISSION_DENIED = 11, /* the caller's uid/gid is not granted access */
	BH_E_SHUTTING_DOWN = 12,    /* the daemon is stopping */
	BH_E_INTERNAL = 13,         /* a bug or resource failure inside bulkhead */
	BH_E_PROTOCOL = 14,         /* a peer broke the protocol (e.g. a child sent garbage) */
	BH_E_LIMIT = 15,            /* the instance was killed by a resource limit */
	BH_E_CONFLICT = 16,         /* an operation on that plugin is already running */
	BH_E_SWAP_FAILED = 17,      /* the new version did not take over; the old one serves */
	BH_E_CHAIN_TOO_DEEP = 18,   /* a call out would pass limits.max_call_depth */
	BH_E_APPLICATION_MIN = 1000,
};

/* Stable lower-case name ("unknown_plugin", ...). Unknown codes in 1..999 give
 * "unknown"; codes >= 1000 give "application". Never NULL; static storage. */
const char *bh_code_name(int32_t code);

/* Code for a name as given by bh_code_name, or -1. */
int32_t bh_code_from_name(const char *name);

/* The code a plugin's failure reaches its caller with: a plugin may say
 * invalid_params, plugin_error, unknown_method or an application code; anything else
 * (posing as the supervisor: "timeout", "crashed"...) becomes plugin_error. */
int32_t bh_code_from_plugin(int32_t code);

#define BH_ERROR_MESSAGE_MAX 512

/* An error as handed to plugin methods and returned by the client SDK. */
typedef struct bh_error {
	int32_t code; /* enum bh_code or >= 1000; BH_OK when no error */
	char message[BH_ERROR_MESSAGE_MAX]; /* NUL-terminated, truncated to fit */
} bh_error;

/* Fill err (may be NULL) with code and a printf-style message. Returns -1 so that a
 * method can `return bh_fail(err, BH_E_INVALID_PARAMS, "want %d args", 2);`. */
int bh_fail(bh_error *err, int32_t code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#ifdef __cplusplus
}
#endif
#endif
