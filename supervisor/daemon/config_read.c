/* The config parser's vocabulary: messages that name file, line and setting, typed
 * getters with ranges, sizes, paths, the libconfig 1.5 integer-literal check and the
 * encoding of a plugin's `config` group as MessagePack. */
#include "config_priv.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bulkhead/channel.h"
#include "bulkhead/proto.h"

/* ---- messages --------------------------------------------------------------------- */

const char *bh__cfg_file_of(const struct bh__cfg *x, const char *libconfig_file, char *buf,
			    size_t len)
{
	/* Settings of the main file carry no name (it is read from memory); included files
	 * are named as written in @include, relative to the include dir = x->dir. */
	if (!libconfig_file)
		return x->file;
	if (libconfig_file[0] == '/')
		return libconfig_file;
	snprintf(buf, len, "%s%s%s", x->dir, strcmp(x->dir, "/") == 0 ? "" : "/", libconfig_file);
	return buf;
}

void bh__cfg_path_of(const config_setting_t *s, char *buf, size_t len)
{
	if (len == 0)
		return;
	buf[0] = '\0';
	if (!s || !s->parent)
		return;
	bh__cfg_path_of(s->parent, buf, len);
	size_t n = strlen(buf);
	if (n >= len - 1)
		return;
	if (s->name)
		snprintf(buf + n, len - n, "%s%s", n ? "." : "", s->name);
	else
		snprintf(buf + n, len - n, "[%d]", config_setting_index(s));
}

static int vfail(struct bh__cfg *x, int err, const char *file, unsigned line, const char *path,
		 const char *fmt, va_list ap)
{
	if (!x->errbuf || x->errlen == 0)
		return err;
	char fbuf[PATH_MAX];
	const char *f = bh__cfg_file_of(x, file, fbuf, sizeof(fbuf));
	int n = line ? snprintf(x->errbuf, x->errlen, "%s:%u: ", f, line)
		     : snprintf(x->errbuf, x->errlen, "%s: ", f);
	if (n < 0 || (size_t)n >= x->errlen)
		return err;
	size_t off = (size_t)n;
	if (path && path[0]) {
		n = snprintf(x->errbuf + off, x->errlen - off, "%s: ", path);
		if (n < 0 || (size_t)n >= x->errlen - off)
			return err;
		off += (size_t)n;
	}
	vsnprintf(x->errbuf + off, x->errlen - off, fmt, ap);
	return err;
}

int bh__cfg_fail(struct bh__cfg *x, const config_setting_t *s, const char *fmt, ...)
{
	char path[256];
	bh__cfg_path_of(s, path, sizeof(path));
	va_list ap;
	va_start(ap, fmt);
	int r = vfail(x, -EINVAL, s ? config_setting_source_file(s) : NULL,
		      s ? config_setting_source_line(s) : 0, path, fmt, ap);
	va_end(ap);
	return r;
}

int bh__cfg_fail_at(struct bh__cfg *x, const config_setting_t *s, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int r = vfail(x, -EINVAL, s ? config_setting_source_file(s) : NULL,
		      s ? config_setting_source_line(s) : 0, NULL, fmt, ap);
	va_end(ap);
	return r;
}

int bh__cfg_fail_line(struct bh__cfg *x, int err, const char *file, unsigned line, const char *fmt,
		      ...)
{
	va_list ap;
	va_start(ap, fmt);
	int r = vfail(x, err, file, line, NULL, fmt, ap);
	va_end(ap);
	return r;
}

int bh__cfg_nomem(struct bh__cfg *x)
{
	return bh__cfg_fail_line(x, -ENOMEM, NULL, 0, "out of memory");
}

const char *bh__cfg_type_name(int type)
{
	switch (type) {
	case CONFIG_TYPE_GROUP: return "a group";
	case CONFIG_TYPE_INT:
	case CONFIG_TYPE_INT64: return "an integer";
	case CONFIG_TYPE_FLOAT: return "a float";
	case CONFIG_TYPE_STRING: return "a string";
	case CONFIG_TYPE_BOOL: return "a boolean";
	case CONFIG_TYPE_ARRAY: return "an array";
	case CONFIG_TYPE_LIST: return "a list";
	default: return "nothing";
	}
}

/* "expected X, got a string (\"5000\")": the value is shown for strings, where a
 * quoted number is the usual mistake. */
static int fail_type(struct bh__cfg *x, const config_setting_t *s, const char *expected)
{
	if (s->type == CONFIG_TYPE_STRING)
		return bh__cfg_fail(x, s, "expected %s, got a string (\"%.40s\")", expected,
				    config_setting_get_string(s));
	return bh__cfg_fail(x, s, "expected %s, got %s", expected, bh__cfg_type_name(s->type));
}

/* ---- unknown keys ----------------------------------------------------------------- */

/* Edit distance, for "did you mean"; names longer than 31 are never close. */
static unsigned distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	if (la > 31 || lb > 31)
		return UINT_MAX;
	unsigned prev[32], cur[32];
	for (size_t j = 0; j <= lb; j++)
		prev[j] = (unsigned)j;
	for (size_t i = 1; i <= la; i++) {
		cur[0] = (unsigned)i;
		for (size_t j = 1; j <= lb; j++) {
			unsigned sub = prev[j - 1] + (a[i - 1] != b[j - 1]);
			unsigned del = prev[j] + 1, ins = cur[j - 1] + 1;
			cur[j] = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
		}
		memcpy(prev, cur, sizeof(prev));
	}
	return prev[lb];
}

int bh__cfg_keys(struct bh__cfg *x, const config_setting_t *g, const char *const *allowed)
{
	int n = config_setting_length(g);
	for (int i = 0; i < n; i++) {
		const config_setting_t *m = config_setting_get_elem(g, (unsigned)i);
		const char *name = config_setting_name(m);
		bool known = false;
		const char *best = NULL;
		unsigned best_d = 3; /* suggest only within two edits */
		for (const char *const *k = allowed; *k; k++) {
			if (strcmp(name, *k) == 0) {
				known = true;
				break;
			}
			unsigned d = distance(name, *k);
			if (d < best_d) {
				best_d = d;
				best = *k;
			}
		}
		if (known)
			continue;
		char where[256];
		bh__cfg_path_of(g, where, sizeof(where));
		char hint[96] = "";
		if (best)
			snprintf(hint, sizeof(hint), " (did you mean \"%s\"?)", best);
		return bh__cfg_fail_at(x, m, "unknown setting \"%s\"%s%s%s", name,
				       where[0] ? " in " : "", where, hint);
	}
	return 0;
}

/* ---- typed getters ---------------------------------------------------------------- */

int bh__cfg_int(struct bh__cfg *x, const config_setting_t *s, int64_t min, int64_t max,
		int64_t *ret)
{
	int64_t v;
	if (s->type == CONFIG_TYPE_INT)
		v = config_setting_get_int(s);
	else if (s->type == CONFIG_TYPE_INT64)
		v = config_setting_get_int64(s);
	else
		return fail_type(x, s, "an integer");
	if (v < min || v > max)
		return bh__cfg_fail(x, s, "must be %" PRId64 "..%" PRId64 ", got %" PRId64, min,
				    max, v);
	*ret = v;
	return 0;
}

int bh__cfg_u32(struct bh__cfg *x, const config_setting_t *g, const char *key, uint32_t min,
		uint32_t max, uint32_t *ret)
{
	const config_setting_t *s = config_setting_get_member(g, key);
	if (!s)
		return 0;
	int64_t v;
	int r = bh__cfg_int(x, s, min, max, &v);
	if (r < 0)
		return r;
	*ret = (uint32_t)v;
	return 0;
}

int bh__cfg_bool(struct bh__cfg *x, const config_setting_t *g, const char *key, bool *ret)
{
	const config_setting_t *s = config_setting_get_member(g, key);
	if (!s)
		return 0;
	if (s->type != CONFIG_TYPE_BOOL)
		return fail_type(x, s, "true or false");
	*ret = config_setting_get_bool(s) != 0;
	return 0;
}

int bh__cfg_str(struct bh__cfg *x, const config_setting_t *g, const char *key, const char **ret)
{
	const config_setting_t *s = config_setting_get_member(g, key);
	if (!s)
		return 0;
	if (s->type != CONFIG_TYPE_STRING)
		return fail_type(x, s, "a string");
	const char *v = config_setting_get_string(s);
	if (!v || !v[0])
		return bh__cfg_fail(x, s, "must not be empty");
	*ret = v;
	return 0;
}

/* "<digits>[KMGT]" (either case) in binary units. -EINVAL for anything else, -ERANGE
 * past 2^64-1. */
static int parse_size(const char *s, uint64_t *ret)
{
	if (!isdigit((unsigned char)*s))
		return -EINVAL;
	uint64_t v = 0;
	for (; isdigit((unsigned char)*s); s++) {
		unsigned d = (unsigned)(*s - '0');
		if (v > (UINT64_MAX - d) / 10)
			return -ERANGE;
		v = v * 10 + d;
	}
	unsigned shift = 0;
	switch (*s) {
	case 'K':
	case 'k':
		shift = 10;
		s++;
		break;
	case 'M':
	case 'm':
		shift = 20;
		s++;
		break;
	case 'G':
	case 'g':
		shift = 30;
		s++;
		break;
	case 'T':
	case 't':
		shift = 40;
		s++;
		break;
	default: break;
	}
	if (*s)
		return -EINVAL;
	if (shift && v > (UINT64_MAX >> shift))
		return -ERANGE;
	*ret = v << shift;
	return 0;
}

/* A size as a person would write it: "64M" when exact, else bytes. */
static const char *fmt_size(uint64_t v, char *buf, size_t len)
{
	static const char units[] = "TGMK";
	for (unsigned i = 0; i < 4; i++) {
		unsigned shift = 40 - 10 * i;
		if (v && v % (UINT64_C(1) << shift) == 0) {
			snprintf(buf, len, "%" PRIu64 "%c", v >> shift, units[i]);
			return buf;
		}
	}
	snprintf(buf, len, "%" PRIu64, v);
	return buf;
}

int bh__cfg_size(struct bh__cfg *x, const config_setting_t *g, const char *key, uint64_t min,
		 uint64_t max, uint64_t *ret)
{
	const config_setting_t *s = config_setting_get_member(g, key);
	if (!s)
		return 0;
	uint64_t v;
	if (s->type == CONFIG_TYPE_INT || s->type == CONFIG_TYPE_INT64) {
		int64_t i = s->type == CONFIG_TYPE_INT ? config_setting_get_int(s)
						       : config_setting_get_int64(s);
		if (i < 0)
			return bh__cfg_fail(x, s, "must not be negative, got %" PRId64, i);
		v = (uint64_t)i;
	} else if (s->type == CONFIG_TYPE_STRING) {
		const char *str = config_setting_get_string(s);
		int r = parse_size(str, &v);
		if (r == -ERANGE)
			return bh__cfg_fail(x, s, "size \"%.40s\" is too large", str);
		if (r < 0)
			return bh__cfg_fail(x, s,
					    "expected a size like \"64M\" (bytes, or a number "
					    "with a K, M, G or T suffix), got \"%.40s\"",
					    str);
	} else {
		return bh__cfg_fail(x, s, "expected a size like \"64M\", got %s",
				    bh__cfg_type_name(s->type));
	}
	if (v < min || v > max) {
		char a[32], b[32], c[32];
		if (max == UINT64_MAX)
			return bh__cfg_fail(x, s, "must be at least %s, got %s",
					    fmt_size(min, a, sizeof(a)), fmt_size(v, c, sizeof(c)));
		return bh__cfg_fail(x, s, "must be %s..%s, got %s", fmt_size(min, a, sizeof(a)),
				    fmt_size(max, b, sizeof(b)), fmt_size(v, c, sizeof(c)));
	}
	*ret = v;
	return 0;
}

char *bh__cfg_join(const char *dir, const char *name)
{
	size_t dl = name[0] == '/' ? 0 : strlen(dir);
	size_t nl = strlen(name);
	char *raw = malloc(dl + 1 + nl + 1);
	char *out = malloc(dl + 1 + nl + 2);
	if (!raw || !out) {
		free(raw);
		free(out);
		return NULL;
	}
	if (dl) {
		memcpy(raw, dir, dl);
		raw[dl] = '/';
		memcpy(raw + dl + 1, name, nl + 1);
	} else {
		memcpy(raw, name, nl + 1);
	}
	size_t o = 0;
	for (char *p = raw; *p;) {
		while (*p == '/')
			p++;
		char *end = p;
		while (*end && *end != '/')
			end++;
		size_t cl = (size_t)(end - p);
		if (cl && !(cl == 1 && p[0] == '.')) {
			out[o++] = '/';
			memcpy(out + o, p, cl);
			o += cl;
		}
		p = end;
	}
	if (o == 0)
		out[o++] = '/';
	out[o] = '\0';
	free(raw);
	return out;
}

int bh__cfg_path(struct bh__cfg *x, const config_setting_t *g, const char *key, char **ret)
{
	const char *v = NULL;
	int r = bh__cfg_str(x, g, key, &v);
	if (r < 0 || !v)
		return r;
	char *abs = bh__cfg_join(x->dir, v);
	if (!abs)
		return bh__cfg_nomem(x);
	if (strlen(abs) >= PATH_MAX) {
		free(abs);
		return bh__cfg_fail(x, config_setting_get_member(g, key),
				    "longer than %d bytes once made absolute", PATH_MAX - 1);
	}
	free(*ret);
	*ret = abs;
	return 0;
}

int bh__cfg_mode(struct bh__cfg *x, const config_setting_t *g, const char *key, mode_t *ret)
{
	const config_setting_t *s = config_setting_get_member(g, key);
	if (!s)
		return 0;
	if (s->type != CONFIG_TYPE_STRING)
		return bh__cfg_fail(x, s, "expected an octal string like \"0660\", got %s",
				    bh__cfg_type_name(s->type));
	const char *v = config_setting_get_string(s);
	size_t n = strlen(v);
	unsigned mode = 0;
	if (n == 0 || n > 5 || strspn(v, "01234567") != n)
		return bh__cfg_fail(x, s, "expected an octal string like \"0660\", got \"%.40s\"",
				    v);
	for (size_t i = 0; i < n; i++)
		mode = mode * 8 + (unsigned)(v[i] - '0');
	if (mode > 0777)
		return bh__cfg_fail(x, s, "\"%s\": only permission bits (at most 0777) apply to a "
				    "socket", v);
	*ret = (mode_t)mode;
	return 0;
}

int bh__cfg_group(struct bh__cfg *x, const config_setting_t *g, const char *key,
		  const config_setting_t **ret)
{
	const config_setting_t *s = config_setting_get_member(g, key);
	if (s && s->type != CONFIG_TYPE_GROUP)
		return fail_type(x, s, "a group { ... }");
	*ret = s;
	return 0;
}

int bh__cfg_strings(struct bh__cfg *x, const config_setting_t *s)
{
	if (s->type != CONFIG_TYPE_ARRAY && s->type != CONFIG_TYPE_LIST)
		return fail_type(x, s, "a list of strings [ \"...\", ... ]");
	int n = config_setting_length(s);
	for (int i = 0; i < n; i++) {
		const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
		if (e->type != CONFIG_TYPE_STRING)
			return fail_type(x, e, "a string");
	}
	return 0;
}

/* ---- libconfig 1.5 integer literals ------------------------------------------------ */

/* The scanner below knows just enough of libconfig's lexical grammar to find integer
 * literals: strings (with escapes), the three comment forms, names (which may contain
 * digits and '-'), floats. Syntax errors have already been reported by libconfig, so
 * anything else is skipped. */
static bool name_char(char c)
{
	return isalnum((unsigned char)c) || c == '_' || c == '-' || c == '*';
}

int bh__cfg_check_literals(struct bh__cfg *x, const char *file, const char *p, size_t n)
{
	unsigned line = 1;
	size_t i = 0;
	while (i < n) {
		char c = p[i];
		if (c == '\n') {
			line++;
			i++;
		} else if (c == '#' || (c == '/' && i + 1 < n && p[i + 1] == '/')) {
			while (i < n && p[i] != '\n')
				i++;
		} else if (c == '/' && i + 1 < n && p[i + 1] == '*') {
			i += 2;
			while (i < n && !(p[i] == '*' && i + 1 < n && p[i + 1] == '/')) {
				if (p[i] == '\n')
					line++;
				i++;
			}
			i += 2;
		} else if (c == '"') {
			for (i++; i < n && p[i] != '"'; i++) {
				if (p[i] == '\\' && i + 1 < n)
					i++;
				if (p[i] == '\n')
					line++;
			}
			i++;
		} else if (isalpha((unsigned char)c) || c == '*' || c == '@') {
			for (i++; i < n && name_char(p[i]); i++)
				;
		} else if (c == '.' && i + 1 < n && isdigit((unsigned char)p[i + 1])) {
			for (i++; i < n && (isalnum((unsigned char)p[i]) || p[i] == '.' ||
					    ((p[i] == '-' || p[i] == '+') &&
					     (p[i - 1] == 'e' || p[i - 1] == 'E')));
			     i++)
				;
		} else if (isdigit((unsigned char)c) || ((c == '-' || c == '+') && i + 1 < n &&
							 isdigit((unsigned char)p[i + 1]))) {
			size_t start = i;
			bool neg = c == '-';
			if (c == '-' || c == '+')
				i++;
			bool hex = p[i] == '0' && i + 1 < n && (p[i + 1] == 'x' || p[i + 1] == 'X');
			if (hex)
				i += 2;
			uint64_t v = 0;
			bool over = false;
			unsigned base = hex ? 16 : 10;
			for (; i < n &&
			       (hex ? isxdigit((unsigned char)p[i]) : isdigit((unsigned char)p[i]));
			     i++) {
				unsigned d = isdigit((unsigned char)p[i])
						     ? (unsigned)(p[i] - '0')
						     : (unsigned)(tolower((unsigned char)p[i]) -
								  'a' + 10);
				if (v > (UINT64_MAX - d) / base)
					over = true;
				else
					v = v * base + d;
			}
			if (!hex && i < n && (p[i] == '.' || p[i] == 'e' || p[i] == 'E')) {
				/* a float: skip the rest of it */
				for (; i < n && (isdigit((unsigned char)p[i]) || p[i] == '.' ||
						 p[i] == 'e' || p[i] == 'E' ||
						 ((p[i] == '-' || p[i] == '+') &&
						  (p[i - 1] == 'e' || p[i - 1] == 'E')));
				     i++)
					;
				continue;
			}
			bool wide = i < n && p[i] == 'L';
			size_t lit_end = i;
			while (i < n && p[i] == 'L')
				i++;
			/* What libconfig 1.5 can hold without wrapping: int for plain literals,
			 * long long for L ones; hex literals are read as unsigned bit patterns,
			 * which we refuse past the signed maximum because every number bulkhead
			 * reads (and every plugin config value) is meant as a signed integer. */
			uint64_t lim = wide ? (uint64_t)INT64_MAX : (uint64_t)INT_MAX;
			if (neg && !hex)
				lim += 1;
			if (over || v > lim) {
				int len = (int)(lit_end - start);
				if (wide)
					return bh__cfg_fail_line(
						x, -EINVAL, file, line,
						"integer %.*s does not fit in 64 bits", len,
						p + start);
				return bh__cfg_fail_line(
					x, -EINVAL, file, line,
					"integer %.*s does not fit in 32 bits and libconfig would "
					"silently wrap it; write %.*sL",
					len, p + start, len, p + start);
			}
		} else {
			i++;
		}
	}
	return 0;
}

/* ---- the plugin's config map --------------------------------------------------------- */

struct enc {
	struct bh__cfg *x;
	bh_writer *w;
	uint32_t max_depth; /* of the map itself */
};

/* str, the text of setting s (what: "a string", "a member name"), as a MessagePack str:
 * one string of the message, at most limits.max_bytes. */
static int encode_str(struct enc *e, const config_setting_t *s, const char *what,
		      const char *str)
{
	size_t len = strlen(str);
	if (len > e->x->limits->max_bytes)
		return bh__cfg_fail(e->x, s,
				    "%s of %zu bytes, longer than limits.max_bytes (%" PRIu32 ")",
				    what, len, e->x->limits->max_bytes);
	bh_write_str(e->w, str, len);
	return 0;
}

static int encode(struct enc *e, const config_setting_t *s, uint32_t depth)
{
	const struct bh_limits *lim = e->x->limits;
	switch (s->type) {
	case CONFIG_TYPE_GROUP:
	case CONFIG_TYPE_ARRAY:
	case CONFIG_TYPE_LIST: {
		if (depth > e->max_depth)
			return bh__cfg_fail(e->x, s,
					    "nested deeper than %" PRIu32 " levels "
					    "(limits.max_depth less the message around it)",
					    e->max_depth);
		int n = config_setting_length(s);
		if ((uint32_t)n > lim->max_items)
			return bh__cfg_fail(e->x, s,
					    "%d elements, more than limits.max_items (%" PRIu32 ")",
					    n, lim->max_items);
		if (s->type == CONFIG_TYPE_GROUP)
			bh_write_map(e->w, (uint32_t)n);
		else
			bh_write_array(e->w, (uint32_t)n);
		for (int i = 0; i < n; i++) {
			const config_setting_t *m = config_setting_get_elem(s, (unsigned)i);
			/* A member name is a string on the wire: the same limit applies. */
			int r = s->type == CONFIG_TYPE_GROUP
					? encode_str(e, m, "a member name", config_setting_name(m))
					: 0;
			if (r < 0 || (r = encode(e, m, depth + 1)) < 0)
				return r;
		}
		break;
	}
	case CONFIG_TYPE_INT: bh_write_int(e->w, config_setting_get_int(s)); break;
	case CONFIG_TYPE_INT64: bh_write_int(e->w, config_setting_get_int64(s)); break;
	case CONFIG_TYPE_FLOAT: bh_write_float(e->w, config_setting_get_float(s)); break;
	case CONFIG_TYPE_BOOL: bh_write_bool(e->w, config_setting_get_bool(s) != 0); break;
	case CONFIG_TYPE_STRING: {
		int r = encode_str(e, s, "a string", config_setting_get_string(s));
		if (r < 0)
			return r;
		break;
	}
	default: return bh__cfg_fail(e->x, s, "unsupported value");
	}
	int r = bh_writer_error(e->w);
	if (r == -EMSGSIZE)
		return bh__cfg_fail(e->x, s,
				    "larger than limits.max_message (%zu bytes) once encoded",
				    lim->max_message);
	if (r < 0)
		return bh__cfg_nomem(e->x);
	return 0;
}

/* The map must reach the plugin: encode the $init request the daemon sends,
 * [0, id, "$init", [map]] with an id of the widest form (the daemon's ids always take 5
 * bytes), and scan it with the limits the receiving end applies. The checks above name
 * the setting at fault; this one is what guarantees delivery. */
static int check_init_message(struct bh__cfg *x, const config_setting_t *s, const uint8_t *map,
			      size_t map_len)
{
	struct bh_buf params, msg;
	bh_writer pw, mw;
	bh_buf_init(&params, 0);
	bh_buf_init(&msg, 0);
	bh_writer_init(&pw, &params);
	bh_writer_init(&mw, &msg);
	bh_write_array(&pw, 1);
	bh_write_raw(&pw, map, map_len);
	int r = bh_writer_error(&pw);
	if (r == 0)
		r = bh_rpc_write_request(&mw, UINT32_MAX, BH_CH_INIT, strlen(BH_CH_INIT),
					 params.data, params.len);
	if (r < 0) {
		r = bh__cfg_nomem(x);
	} else {
		struct bh_scan scan;
		r = bh_scan(msg.data, msg.len, x->limits, &scan);
		if (r < 0)
			r = bh__cfg_fail(x, s,
					 "the %s message carrying this map (%zu bytes) would be "
					 "refused: %s (limits.max_message %zu, max_bytes %" PRIu32
					 ", max_items %" PRIu32 ", max_depth %" PRIu32 ")",
					 BH_CH_INIT, msg.len, bh_proto_strerror(r),
					 x->limits->max_message, x->limits->max_bytes,
					 x->limits->max_items, x->limits->max_depth);
	}
	bh_buf_done(&params);
	bh_buf_done(&msg);
	return r;
}

int bh__cfg_encode_map(struct bh__cfg *x, const config_setting_t *s, uint8_t **ret, size_t *ret_len)
{
	/* The map travels as an argument of a message: the envelope array and the params
	 * array hold it, so it gets the configured depth less those two levels. */
	struct bh_buf buf;
	bh_writer w;
	bh_buf_init(&buf, x->limits->max_message);
	bh_writer_init(&w, &buf);
	struct enc e = {
		.x = x,
		.w = &w,
		.max_depth = x->limits->max_depth > 3 ? x->limits->max_depth - 2 : 1,
	};
	int r;
	if (s) {
		r = encode(&e, s, 1);
	} else {
		bh_write_map(&w, 0);
		r = bh_writer_error(&w) < 0 ? bh__cfg_nomem(x) : 0;
	}
	if (r < 0 || (r = check_init_message(x, s, buf.data, buf.len)) < 0)
		goto out;
	/* Hand over an exact-size copy so the caller frees with free() whatever bh_buf
	 * uses internally. */
	uint8_t *data = malloc(buf.len);
	if (!data) {
		r = bh__cfg_nomem(x);
		goto out;
	}
	memcpy(data, buf.data, buf.len);
	*ret = data;
	*ret_len = buf.len;
out:
	bh_buf_done(&buf);
	return r;
}
