/* bulkhead CLI: the human rendering of `bulkhead.status`.
 *
 * The answer is a map; the keys this file knows get columns and units, and every key
 * it does not know is still shown (as "key: value", or as an extra instance column),
 * so a newer daemon's status reads fine with an older CLI. Strings from the daemon are
 * printed escaped (cli_escape) and containers as JSON (which escapes the same
 * characters): a plugin's name, version or exit reason must not be able to drive the
 * terminal. */
#define _GNU_SOURCE /* vasprintf */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bulkhead/escape.h"
#include "cli.h"

/* ---- text of one value ------------------------------------------------------------- */

char *cli_escape(const char *s, size_t len)
{
	if (len > (SIZE_MAX - 1) / 4)
		return NULL;
	char *out = malloc(BH_ESCAPE_SIZE(len));
	if (out)
		bh_escape(out, BH_ESCAPE_SIZE(len), s, len);
	return out;
}

static char *text(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static char *text(const char *fmt, ...)
{
	char *s = NULL;
	va_list ap;
	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		s = NULL;
	va_end(ap);
	return s;
}

char *cli_value_text(const bh_value *v)
{
	if (!v)
		return strdup("-");
	switch (v->type) {
	case BH_NIL:
		return strdup("-");
	case BH_BOOL:
		return strdup(v->as.b ? "yes" : "no");
	case BH_INT:
		return text("%" PRId64, v->as.i);
	case BH_UINT:
		return text("%" PRIu64, v->as.u);
	case BH_FLOAT:
		return text("%g", v->as.f);
	case BH_STR:
		if (v->len == 0)
			return strdup("-"); /* an empty cell would shift the eye to the next */
		return cli_escape(v->as.str, v->len);
	case BH_BIN:
		return text("<%" PRIu32 " bytes>", v->len);
	default: {
		json_t *j = cli_json_from_value(v);
		char *s = j ? cli_json_dump(j, false) : NULL;
		json_decref(j);
		return s;
	}
	}
}

static char *duration_text(const bh_value *v)
{
	int64_t ms;
	if (bh_value_get_int(v, &ms) < 0 || ms < 0)
		return cli_value_text(v);
	if (ms < 1000)
		return text("%" PRId64 "ms", ms);
	if (ms < 60 * 1000)
		return text("%.1fs", (double)ms / 1000);
	int64_t s = ms / 1000;
	if (s < 3600)
		return text("%" PRId64 "m%02" PRId64 "s", s / 60, s % 60);
	if (s < 86400)
		return text("%" PRId64 "h%02" PRId64 "m", s / 3600, s % 3600 / 60);
	return text("%" PRId64 "d%02" PRId64 "h", s / 86400, s % 86400 / 3600);
}

static char *kib_text(const bh_value *v)
{
	int64_t kb;
	if (bh_value_get_int(v, &kb) < 0 || kb < 0)
		return cli_value_text(v);
	if (kb < 1024)
		return text("%" PRId64 " KiB", kb);
	if (kb < 1024 * 1024)
		return text("%.1f MiB", (double)kb / 1024);
	return text("%.1f GiB", (double)kb / (1024 * 1024));
}

/* ---- tables -------------------------------------------------------------------------- */

struct table {
	size_t ncols;
	size_t ncells;
	size_t cap;
	char **cells; /* row-major; NULL cells (out of memory) print as "?" */
};

static void table_add(struct table *t, char *cell)
{
	if (t->ncells == t->cap) {
		size_t cap = t->cap ? 2 * t->cap : 32;
		char **cells = realloc(t->cells, cap * sizeof *cells);
		if (!cells) {
			free(cell);
			return; /* the row comes out short; the daemon's answer is not at stake */
		}
		t->cells = cells;
		t->cap = cap;
	}
	t->cells[t->ncells++] = cell;
}

/* The last column is cut to keep each line within width bytes (0: no limit), at a
 * character boundary, marked with '~'. */
static void table_print_width(FILE *out, const struct table *t, const char *indent,
			      size_t width_max)
{
	size_t width[32] = { 0 };
	size_t ncols = t->ncols < 32 ? t->ncols : 32;
	for (size_t i = 0; i < t->ncells; i++) {
		size_t col = i % t->ncols, len = t->cells[i] ? strlen(t->cells[i]) : 1;
		if (col < ncols && len > width[col])
			width[col] = len;
	}
	for (size_t i = 0; i < t->ncells; i++) {
		size_t col = i % t->ncols;
		const char *cell = t->cells[i] ? t->cells[i] : "?";
		if (col == 0)
			fputs(indent, out);
		bool last = col == t->ncols - 1 || i == t->ncells - 1;
		size_t used = strlen(indent);
		for (size_t c = 0; c < col && c < ncols; c++)
			used += width[c] + 2;
		size_t len = strlen(cell);
		if (last && width_max && used + len > width_max && used + 1 < width_max) {
			size_t keep = width_max - used - 1;
			while (keep > 0 && ((unsigned char)cell[keep] & 0xc0) == 0x80)
				keep--; /* not inside a UTF-8 sequence */
			fprintf(out, "%.*s~\n", (int)keep, cell);
		} else if (last || col >= ncols)
			fprintf(out, "%s%s", cell, last ? "\n" : "  ");
		else
			fprintf(out, "%-*s  ", (int)width[col], cell);
	}
}

static void table_print(FILE *out, const struct table *t, const char *indent)
{
	table_print_width(out, t, indent, 0);
}

static void table_done(struct table *t)
{
	for (size_t i = 0; i < t->ncells; i++)
		free(t->cells[i]);
	free(t->cells);
}

/* ---- status ---------------------------------------------------------------------------- */

static bool key_is(const bh_value *k, const char *const *names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (bh_value_str_eq(k, names[i]))
			return true;
	return false;
}

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

static const char *const plugin_known[] = { "name", "state", "generation", "instances",
					    "calls", "errors", "restarts", "last_exit", "path",
					    "generations" };
static const char *const inst_known[] = { "pid", "generation", "state", "uptime_ms",
					  "rss_kb", "calls", "errors", "inflight" };
static const char *const inst_head[] = { "PID", "GEN", "STATE", "UPTIME",
					 "RSS", "CALLS", "ERRORS", "INFLIGHT" };

static bool str_ends(const bh_value *k, const char *suffix)
{
	size_t n = strlen(suffix);
	return k->type == BH_STR && k->len > n && memcmp(k->as.str + k->len - n, suffix, n) == 0;
}

/* "key: value" for every entry of map whose key is not in known; maps with string
 * keys nest as indented blocks, durations and sizes get units (uptime_ms: 4000 is
 * "uptime: 4.0s"). */
static void print_other_keys(FILE *out, const bh_value *map, const char *const *known,
			     size_t nknown, int indent)
{
	if (!map || map->type != BH_MAP)
		return;
	for (uint32_t i = 0; i < map->len; i++) {
		const bh_value *k = &map->as.items[2 * i], *v = &map->as.items[2 * i + 1];
		if (key_is(k, known, nknown))
			continue;
		bool nest = v->type == BH_MAP && v->len > 0 && indent < 8;
		for (uint32_t j = 0; nest && j < v->len; j++)
			nest = v->as.items[2 * j].type == BH_STR;
		/* The unit suffix comes off the key itself, before it is rendered: the
		 * rendering (cut at a NUL, controls replaced) need not keep its length. */
		bh_value base = *k;
		char *vs = NULL;
		if (v->type == BH_INT && (str_ends(k, "_ms") || str_ends(k, "_kb"))) {
			base.len -= 3;
			vs = str_ends(k, "_ms") ? duration_text(v) : kib_text(v);
		} else if (!nest) {
			vs = cli_value_text(v);
		}
		char *ks = cli_value_text(&base);
		fprintf(out, "%*s%s:%s%s\n", indent, "", ks ? ks : "?", nest ? "" : " ",
			nest ? "" : vs ? vs : "?");
		if (nest)
			print_other_keys(out, v, NULL, 0, indent + 2);
		free(ks);
		free(vs);
	}
}

static char *instance_cell(const bh_value *inst, const char *key)
{
	const bh_value *v = bh_value_find(inst, key);
	if (strcmp(key, "uptime_ms") == 0)
		return v ? duration_text(v) : strdup("-");
	if (strcmp(key, "rss_kb") == 0)
		return v ? kib_text(v) : strdup("-");
	return cli_value_text(v);
}

static void print_instances(FILE *out, const bh_value *instances)
{
	if (!instances || instances->type != BH_ARRAY || instances->len == 0) {
		fprintf(out, "  no instances\n");
		return;
	}

	/* Columns: the known keys, then every other key any instance has. */
	const bh_value *extra[16];
	size_t nextra = 0;
	for (uint32_t i = 0; i < instances->len; i++) {
		const bh_value *inst = &instances->as.items[i];
		if (inst->type != BH_MAP)
			continue;
		for (uint32_t j = 0; j < inst->len; j++) {
			const bh_value *k = &inst->as.items[2 * j];
			if (k->type != BH_STR || key_is(k, inst_known, NELEM(inst_known)))
				continue;
			bool seen = false;
			for (size_t e = 0; e < nextra && !seen; e++)
				seen = bh_value_equal(extra[e], k);
			if (!seen && nextra < NELEM(extra))
				extra[nextra++] = k;
		}
	}

	struct table t = { .ncols = NELEM(inst_known) + nextra };
	for (size_t c = 0; c < NELEM(inst_head); c++)
		table_add(&t, strdup(inst_head[c]));
	for (size_t e = 0; e < nextra; e++) {
		/* Upper-cased before escaping: the escapes keep their lower-case letters. */
		char *up = malloc(extra[e]->len + 1), *h = NULL;
		for (uint32_t i = 0; up && i < extra[e]->len; i++) {
			char c = extra[e]->as.str[i];
			up[i] = (char)(c >= 'a' && c <= 'z' ? c - 'a' + 'A' : c);
		}
		if (up)
			h = extra[e]->len ? cli_escape(up, extra[e]->len) : strdup("-");
		free(up);
		table_add(&t, h);
	}
	for (uint32_t i = 0; i < instances->len; i++) {
		const bh_value *inst = &instances->as.items[i];
		if (inst->type != BH_MAP)
			continue;
		for (size_t c = 0; c < NELEM(inst_known); c++)
			table_add(&t, instance_cell(inst, inst_known[c]));
		for (size_t e = 0; e < nextra; e++) {
			const bh_value *v = NULL;
			for (uint32_t j = 0; j < inst->len && !v; j++)
				if (bh_value_equal(&inst->as.items[2 * j], extra[e]))
					v = &inst->as.items[2 * j + 1];
			table_add(&t, cli_value_text(v));
		}
	}
	table_print(out, &t, "  ");
	table_done(&t);
}

/* The generations of a plugin (more than one while a swap or canary runs). */
static void print_generations(FILE *out, const bh_value *gens)
{
	static const char *const head[] = { "GEN", "ROLE", "VERSION", "INSTANCES", "CALLS",
					    "ERRORS", "CANARY%" };
	static const char *const keys[] = { "generation", "role", "version", "instances",
					    "calls", "errors", "canary_percent" };
	if (!gens || gens->type != BH_ARRAY || gens->len == 0)
		return;
	struct table t = { .ncols = NELEM(head) };
	for (size_t c = 0; c < NELEM(head); c++)
		table_add(&t, strdup(head[c]));
	for (uint32_t i = 0; i < gens->len; i++)
		for (size_t c = 0; c < NELEM(keys); c++)
			table_add(&t, cli_value_text(bh_value_find(&gens->as.items[i], keys[c])));
	fprintf(out, "  generations:\n");
	table_print(out, &t, "    ");
	table_done(&t);
}

/* One plugin in full: its instances, generations and every other figure. */
static void print_plugin(FILE *out, const bh_value *p)
{
	char *name = cli_value_text(bh_value_find(p, "name"));
	const bh_value *path = bh_value_find(p, "path");
	char *ps = path ? cli_value_text(path) : NULL;
	fprintf(out, "\n%s%s%s%s\n", name ? name : "?", ps ? " (" : "", ps ? ps : "",
		ps ? ")" : "");
	free(name);
	free(ps);
	/* What the one-line view shows, then the rest. */
	static const char *const summary[] = { "state", "generation", "calls", "errors",
					       "restarts", "last_exit" };
	for (size_t i = 0; i < NELEM(summary); i++) {
		char *v = cli_value_text(bh_value_find(p, summary[i]));
		fprintf(out, "  %s: %s\n", summary[i], v ? v : "?");
		free(v);
	}
	print_instances(out, bh_value_find(p, "instances"));
	print_generations(out, bh_value_find(p, "generations"));
	print_other_keys(out, p, plugin_known, NELEM(plugin_known), 2);
}

int cli_print_status(FILE *out, const bh_value *st, const char *plugin, size_t width)
{
	if (!st || st->type != BH_MAP) {
		char *s = cli_value_text(st);
		fprintf(out, "%s\n", s ? s : "?");
		free(s);
		return ferror(out) ? -EIO : 0;
	}

	char *version = cli_value_text(bh_value_find(st, "version"));
	char *pid = cli_value_text(bh_value_find(st, "pid"));
	const bh_value *up = bh_value_find(st, "uptime_ms");
	char *uptime = up ? duration_text(up) : strdup("-");
	fprintf(out, "bulkheadd %s, pid %s, up %s", version ? version : "?", pid ? pid : "?",
		uptime ? uptime : "?");
	uint64_t clients;
	if (bh_value_get_uint(bh_value_find(st, "clients"), &clients) == 0)
		fprintf(out, ", %" PRIu64 " client%s", clients, clients == 1 ? "" : "s");
	const bh_value *place = bh_value_find(st, "cpu_placement");
	if (place && place->type == BH_STR && place->len >= 5 &&
	    memcmp(place->as.str, "apart", 5) == 0)
		fputs(", cpus apart", out);
	fputc('\n', out);
	free(version);
	free(pid);
	free(uptime);

	const bh_value *plugins = bh_value_find(st, "plugins");
	bool none = !plugins || plugins->type != BH_ARRAY || plugins->len == 0;
	if (plugin) {
		for (uint32_t i = 0; !none && i < plugins->len; i++)
			if (bh_value_str_eq(bh_value_find(&plugins->as.items[i], "name"), plugin)) {
				print_plugin(out, &plugins->as.items[i]);
				return ferror(out) ? -EIO : 0;
			}
		return -ENOENT;
	}
	if (none) {
		fprintf(out, "\nno plugins loaded\n");
		return ferror(out) ? -EIO : 0;
	}

	static const char *const head[] = { "PLUGIN", "STATE", "GEN", "INSTANCES",
					    "CALLS", "ERRORS", "RESTARTS", "LAST EXIT" };
	static const char *const keys[] = { "name", "state", "generation", NULL,
					    "calls", "errors", "restarts", "last_exit" };
	struct table t = { .ncols = NELEM(head) };
	for (size_t c = 0; c < NELEM(head); c++)
		table_add(&t, strdup(head[c]));
	for (uint32_t i = 0; i < plugins->len; i++) {
		const bh_value *p = &plugins->as.items[i];
		for (size_t c = 0; c < NELEM(keys); c++) {
			if (keys[c]) {
				table_add(&t, cli_value_text(bh_value_find(p, keys[c])));
				continue;
			}
			const bh_value *inst = bh_value_find(p, "instances");
			table_add(&t, inst && inst->type == BH_ARRAY ? text("%" PRIu32, inst->len)
								      : strdup("-"));
		}
	}
	fputc('\n', out);
	table_print_width(out, &t, "", width);
	table_done(&t);
	return ferror(out) ? -EIO : 0;
}
