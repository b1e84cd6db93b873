/* bulkhead proto: error code names and bh_fail(). */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "bulkhead/error.h"

/* Indexed by code; these strings are wire values, never rename one. */
static const char *const code_names[] = {
	[BH_OK] = "ok",
	[BH_E_UNKNOWN_PLUGIN] = "unknown_plugin",
	[BH_E_UNKNOWN_METHOD] = "unknown_method",
	[BH_E_BAD_REQUEST] = "bad_request",
	[BH_E_INVALID_PARAMS] = "invalid_params",
	[BH_E_TIMEOUT] = "timeout",
	[BH_E_PLUGIN_CRASHED] = "plugin_crashed",
	[BH_E_PLUGIN_ERROR] = "plugin_error",
	[BH_E_OVERLOADED] = "overloaded",
	[BH_E_UNAVAILABLE] = "unavailable",
	[BH_E_TOO_LARGE] = "too_large",
	[BH_E_PERMISSION_DENIED] = "permission_denied",
	[BH_E_SHUTTING_DOWN] = "shutting_down",
	[BH_E_INTERNAL] = "internal",
	[BH_E_PROTOCOL] = "protocol",
	[BH_E_LIMIT] = "limit",
	[BH_E_CONFLICT] = "conflict",
	[BH_E_SWAP_FAILED] = "swap_failed",
	[BH_E_CHAIN_TOO_DEEP] = "chain_too_deep",
};

#define NCODES ((int32_t)(sizeof code_names / sizeof code_names[0]))

const char *bh_code_name(int32_t code)
{
	if (code >= BH_E_APPLICATION_MIN)
		return "application";
	if (code >= 0 && code < NCODES)
		return code_names[code];
	return "unknown";
}

int32_t bh_code_from_name(const char *name)
{
	if (!name)
		return -1;
	for (int32_t code = 0; code < NCODES; code++)
		if (strcmp(code_names[code], name) == 0)
			return code;
	/* "unknown" and "application" name ranges, not codes. */
	return -1;
}

int bh_fail(bh_error *err, int32_t code, const char *fmt, ...)
{
	if (!err)
		return -1;

	err->code = code;
	err->message[0] = '\0';
	if (fmt) {
		va_list ap;
		va_start(ap, fmt);
		/* Truncation is the documented behaviour; the result is always terminated. */
		(void)vsnprintf(err->message, sizeof err->message, fmt, ap);
		va_end(ap);
	}
	return -1;
}

int32_t bh_code_from_plugin(int32_t code)
{
	if (code == BH_E_INVALID_PARAMS || code == BH_E_PLUGIN_ERROR ||
	    code == BH_E_UNKNOWN_METHOD || code >= BH_E_APPLICATION_MIN)
		return code;
	return BH_E_PLUGIN_ERROR;
}
