/* `bulkhead health [PLUGIN]`: one line per plugin from a bulkhead.status answer, and
 * whether all of them (or the one named) are healthy: loaded and ready, circuit
 * breaker closed, no instance failing its health probe. */
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static bool str_is(const bh_value *v, const char *s)
{
	return v && v->type == BH_STR && v->len == strlen(s) && memcmp(v->as.str, s, v->len) == 0;
}

/* Why plugin p is not healthy, into why; true when it is. */
static bool plugin_healthy(const bh_value *p, char *why, size_t len)
{
	const bh_value *state = bh_value_find(p, "state"), *breaker = bh_value_find(p, "breaker");
	char *text;
	if (!str_is(state, "ready")) {
		text = cli_value_text(state);
		snprintf(why, len, "state %s", text ? text : "?");
		free(text);
		return false;
	}
	if (breaker && !str_is(breaker, "closed")) {
		char *reason = cli_value_text(bh_value_find(p, "breaker_reason"));
		text = cli_value_text(breaker);
		snprintf(why, len, "circuit breaker %s: %s", text ? text : "?", reason ? reason : "?");
		free(text);
		free(reason);
		return false;
	}
	const bh_value *insts = bh_value_find(p, "instances");
	for (uint32_t i = 0; insts && insts->type == BH_ARRAY && i < insts->len; i++) {
		const bh_value *inst = &insts->as.items[i];
		if (!str_is(bh_value_find(inst, "health"), "failing") ||
		    !str_is(bh_value_find(inst, "state"), "ready"))
			continue;
		char *pid = cli_value_text(bh_value_find(inst, "pid"));
		char *err = cli_value_text(bh_value_find(inst, "health_error"));
		snprintf(why, len, "instance pid %s fails its health probe: %s", pid ? pid : "?",
			 err ? err : "?");
		free(pid);
		free(err);
		return false;
	}
	return true;
}

int cli_health(FILE *out, const bh_value *status, const char *plugin)
{
	const bh_value *plugins = bh_value_find(status, "plugins");
	bool all = true, found = false;
	for (uint32_t i = 0; plugins && plugins->type == BH_ARRAY && i < plugins->len; i++) {
		const bh_value *p = &plugins->as.items[i];
		const bh_value *name = bh_value_find(p, "name");
		if (plugin && !str_is(name, plugin))
			continue;
		found = true;
		char why[512];
		bool ok = plugin_healthy(p, why, sizeof(why));
		char *n = cli_value_text(name), *w = ok ? NULL : cli_escape(why, strlen(why));
		fprintf(out, "%s: %s%s%s\n", n ? n : "?", ok ? "healthy" : "unhealthy",
			ok ? "" : ": ", ok ? "" : (w ? w : "?"));
		free(n);
		free(w);
		all = all && ok;
	}
	if (plugin && !found) {
		char *n = cli_escape(plugin, strlen(plugin));
		fprintf(out, "%s: unhealthy: no such plugin\n", n ? n : "?");
		free(n);
		return CLI_EXIT_REMOTE;
	}
	return all ? CLI_EXIT_OK : CLI_EXIT_REMOTE;
}
