/* bulkhead events: the daemon's lifecycle events as they come (bulkhead.subscribe),
 * one line each. */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"

/* "2026-12-04T23:50:01.123+0000": local time, with the zone. */
static void put_time(FILE *out, uint64_t ms)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;
	char date[32], zone[8];
	if (!localtime_r(&t, &tm) || !strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%S", &tm) ||
	    !strftime(zone, sizeof zone, "%z", &tm)) {
		fprintf(out, "%" PRIu64 "ms", ms);
		return;
	}
	fprintf(out, "%s.%03u%s", date, (unsigned)(ms % 1000), zone);
}

/* The fields in the order a reader scans them; the rest as key=value. */
static const char *const order[] = { "plugin", "generation", "instance", "pid", "cause",
				     "count", "detail" };

static bool is_ordered(const bh_value *key)
{
	for (size_t i = 0; i < sizeof order / sizeof order[0]; i++)
		if (bh_value_str_eq(key, order[i]))
			return true;
	return bh_value_str_eq(key, "seq") || bh_value_str_eq(key, "time_ms") ||
	       bh_value_str_eq(key, "kind");
}

static void put_field(FILE *out, const char *key, const bh_value *v)
{
	char *s = cli_value_text(v);
	fprintf(out, " %s=%s", key, s ? s : "?");
	free(s);
}

int cli_print_event(FILE *out, const bh_value *ev)
{
	if (!ev || ev->type != BH_MAP)
		return -EINVAL;
	uint64_t ms = 0;
	const bh_value *t = bh_value_find(ev, "time_ms");
	if (t && bh_value_get_uint(t, &ms) == 0)
		put_time(out, ms);
	char *kind = cli_value_text(bh_value_find(ev, "kind"));
	fprintf(out, " %s", kind ? kind : "?");
	free(kind);
	for (size_t i = 0; i < sizeof order / sizeof order[0]; i++) {
		const bh_value *v = bh_value_find(ev, order[i]);
		if (v)
			put_field(out, order[i], v);
	}
	for (uint32_t i = 0; i < ev->len; i++) {
		const bh_value *k = &ev->as.items[2 * i];
		char *name = k->type == BH_STR && !is_ordered(k) ? cli_value_text(k) : NULL;
		if (name)
			put_field(out, name, &ev->as.items[2 * i + 1]);
		free(name);
	}
	fputc('\n', out);
	return fflush(out) == 0 && !ferror(out) ? 0 : -EIO;
}
