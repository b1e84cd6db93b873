/* bulkhead CLI: the JSON <-> MessagePack mapping.
 *
 * `bulkhead call` reads its arguments as JSON and prints results as JSON, so the
 * mapping must be exact both ways: every MessagePack value has exactly one JSON form,
 * and reading that form back gives the same MessagePack value (with the one
 * exception noted for float32).
 *
 *   MessagePack                     JSON
 *   nil / true / false              null / true / false
 *   int (-2^63 .. 2^63-1)           number without fraction or exponent: 42, -7
 *   uint above 2^63-1               {"$uint": "18446744073709551615"}  (JSON readers,
 *                                   jansson included, cannot hold it as a number)
 *   float64                         number with a fraction or exponent: 3.5, 1.0, 1e+300,
 *                                   printed with the fewest digits that read back
 *                                   exactly
 *   float32                         the same, widened to float64 (read back: float64)
 *   NaN / +Inf / -Inf               {"$float": "nan"} / {"$float": "inf"} /
 *                                   {"$float": "-inf"}
 *   str, valid UTF-8                string (C0 and DEL, C1 controls, bidirectional
 *                                   controls and U+2028/U+2029 written as \uXXXX:
 *                                   the output never carries a raw control)
 *   str, not valid UTF-8            {"$str": "<base64>"}
 *   bin                             {"$bin": "<base64>"}
 *   ext                             {"$ext": TYPE, "data": "<base64>"}  (TYPE -128..127)
 *   array                           array
 *   map, every key a UTF-8 string   object, in map order
 *     without NUL, no key twice,
 *     not shaped like a wrapper
 *   any other map                   {"$map": [[key, value], ...]}, in map order
 *
 * base64 is RFC 4648's standard alphabet; padding is written, and optional on input.
 *
 * On input, an object is a wrapper exactly when it has one key that is "$uint",
 * "$float", "$str", "$bin" or "$map", or exactly the two keys "$ext" and "data"; a
 * wrapper with a value of the wrong type is an error, not a map. Every other object
 * is a map (so {"$foo": 1} is a map with the key "$foo"). On output, a map that would
 * read back as a wrapper ({"$bin": ...} as a real map) is written in the "$map" form,
 * which is what keeps the mapping exact. JSON integers must fit int64 (use "$uint"
 * above); duplicate keys in an input object are an error. */
#define _GNU_SOURCE /* open_memstream */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bulkhead/escape.h"
#include "bulkhead/proto.h"
#include "cli.h"

/* ---- base64 ------------------------------------------------------------------------- */

static const char b64_alphabet[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static char *b64_encode(const uint8_t *p, size_t n)
{
	if (n > (SIZE_MAX - 1) / 4 * 3 - 3)
		return NULL;
	char *out = malloc((n + 2) / 3 * 4 + 1);
	if (!out)
		return NULL;
	char *o = out;
	size_t i = 0;
	for (; i + 3 <= n; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
		*o++ = b64_alphabet[v >> 18];
		*o++ = b64_alphabet[(v >> 12) & 63];
		*o++ = b64_alphabet[(v >> 6) & 63];
		*o++ = b64_alphabet[v & 63];
	}
	if (i < n) {
		uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < n ? (uint32_t)p[i + 1] << 8 : 0);
		*o++ = b64_alphabet[v >> 18];
		*o++ = b64_alphabet[(v >> 12) & 63];
		*o++ = i + 1 < n ? b64_alphabet[(v >> 6) & 63] : '=';
		*o++ = '=';
	}
	*o = '\0';
	return out;
}

static int b64_value(char ch)
{
	if (ch >= 'A' && ch <= 'Z')
		return ch - 'A';
	if (ch >= 'a' && ch <= 'z')
		return ch - 'a' + 26;
	if (ch >= '0' && ch <= '9')
		return ch - '0' + 52;
	if (ch == '+')
		return 62;
	if (ch == '/')
		return 63;
	return -1;
}

/* Decode s (len bytes) into a malloc'ed buffer. 0, -EINVAL or -ENOMEM. */
static int b64_decode(const char *s, size_t len, uint8_t **ret, size_t *ret_len)
{
	while (len > 0 && s[len - 1] == '=' && len % 4 != 1)
		len--; /* padding is optional; at most what a group can have */
	if (len % 4 == 1)
		return -EINVAL;
	uint8_t *out = malloc(len / 4 * 3 + 3);
	if (!out)
		return -ENOMEM;
	size_t n = 0;
	uint32_t acc = 0;
	int bits = 0;
	for (size_t i = 0; i < len; i++) {
		int v = b64_value(s[i]);
		if (v < 0) {
			free(out);
			return -EINVAL;
		}
		acc = acc << 6 | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[n++] = (uint8_t)(acc >> bits);
		}
	}
	*ret = out;
	*ret_len = n;
	return 0;
}

/* ---- MessagePack -> JSON --------------------------------------------------------------- */

/* RFC 3629 UTF-8: no overlong forms, no surrogates, nothing above U+10FFFF. */
static bool utf8_valid(const uint8_t *s, size_t n)
{
	for (size_t i = 0, k; i < n; i += k)
		if ((k = bh_utf8_next(s + i, n - i, NULL)) == 0)
			return false;
	return true;
}

/* A one-key object {key: value}, taking value's reference. */
static json_t *wrap(const char *key, json_t *value)
{
	json_t *o = json_object();
	if (!o || !value || json_object_set_new(o, key, value) < 0) {
		json_decref(o);
		json_decref(value);
		return NULL;
	}
	return o;
}

static json_t *wrap_b64(const char *key, const uint8_t *p, size_t n)
{
	char *s = b64_encode(p, n);
	if (!s)
		return NULL;
	json_t *j = wrap(key, json_string(s));
	free(s);
	return j;
}

static const char *const wrapper_keys[] = { "$uint", "$float", "$str", "$bin", "$map" };

static bool is_wrapper_key(const char *key)
{
	for (size_t i = 0; i < sizeof wrapper_keys / sizeof wrapper_keys[0]; i++)
		if (strcmp(key, wrapper_keys[i]) == 0)
			return true;
	return false;
}

/* Can this map be written as a JSON object and read back as the same map? */
static bool map_fits_object(const bh_value *m)
{
	for (uint32_t i = 0; i < m->len; i++) {
		const bh_value *k = &m->as.items[2 * i];
		if (k->type != BH_STR || memchr(k->as.str, '\0', k->len) ||
		    !utf8_valid((const uint8_t *)k->as.str, k->len))
			return false;
		for (uint32_t j = 0; j < i; j++) {
			const bh_value *o = &m->as.items[2 * j];
			if (o->len == k->len && memcmp(o->as.str, k->as.str, k->len) == 0)
				return false;
		}
	}
	if (m->len == 1) {
		const bh_value *k = &m->as.items[0];
		char key[8];
		if (k->len < sizeof key) {
			memcpy(key, k->as.str, k->len);
			key[k->len] = '\0';
			if (is_wrapper_key(key))
				return false;
		}
	}
	if (m->len == 2) {
		bool ext = false, data = false;
		for (uint32_t i = 0; i < 2; i++) {
			const bh_value *k = &m->as.items[2 * i];
			ext |= k->len == 4 && memcmp(k->as.str, "$ext", 4) == 0;
			data |= k->len == 4 && memcmp(k->as.str, "data", 4) == 0;
		}
		if (ext && data)
			return false;
	}
	return true;
}

json_t *cli_json_from_value(const bh_value *v)
{
	switch (v->type) {
	case BH_NIL:
		return json_null();
	case BH_BOOL:
		return json_boolean(v->as.b);
	case BH_INT:
		return json_integer((json_int_t)v->as.i);
	case BH_UINT: {
		char digits[24];
		snprintf(digits, sizeof digits, "%llu", (unsigned long long)v->as.u);
		return wrap("$uint", json_string(digits));
	}
	case BH_FLOAT:
		if (isnan(v->as.f))
			return wrap("$float", json_string("nan"));
		if (isinf(v->as.f))
			return wrap("$float", json_string(v->as.f > 0 ? "inf" : "-inf"));
		return json_real(v->as.f);
	case BH_STR:
		if (!utf8_valid((const uint8_t *)v->as.str, v->len))
			return wrap_b64("$str", (const uint8_t *)v->as.str, v->len);
		return json_stringn_nocheck(v->as.str, v->len);
	case BH_BIN:
		return wrap_b64("$bin", v->as.bin, v->len);
	case BH_EXT: {
		char *data = b64_encode(v->as.bin, v->len);
		json_t *e = data ? wrap("$ext", json_integer(v->ext_type)) : NULL;
		if (e && json_object_set_new(e, "data", json_string(data)) < 0) {
			json_decref(e);
			e = NULL;
		}
		free(data);
		return e;
	}
	case BH_ARRAY: {
		json_t *a = json_array();
		for (uint32_t i = 0; a && i < v->len; i++) {
			if (json_array_append_new(a, cli_json_from_value(&v->as.items[i])) < 0) {
				json_decref(a);
				return NULL;
			}
		}
		return a;
	}
	case BH_MAP: {
		if (map_fits_object(v)) {
			json_t *o = json_object();
			for (uint32_t i = 0; o && i < v->len; i++) {
				const bh_value *k = &v->as.items[2 * i];
				char *key = strndup(k->as.str, k->len);
				json_t *val = cli_json_from_value(&v->as.items[2 * i + 1]);
				int r = -1;
				if (key) /* set_new takes val, also when it fails */
					r = json_object_set_new_nocheck(o, key, val);
				else
					json_decref(val);
				free(key);
				if (r < 0) {
					json_decref(o);
					return NULL;
				}
			}
			return o;
		}
		json_t *pairs = json_array();
		for (uint32_t i = 0; pairs && i < v->len; i++) {
			json_t *pair = json_array();
			if (!pair || json_array_append_new(pairs, pair) < 0 ||
			    json_array_append_new(pair, cli_json_from_value(&v->as.items[2 * i])) < 0 ||
			    json_array_append_new(pair,
						  cli_json_from_value(&v->as.items[2 * i + 1])) < 0) {
				json_decref(pairs);
				return NULL;
			}
		}
		return pairs ? wrap("$map", pairs) : NULL;
	}
	}
	return NULL;
}

/* ---- JSON text --------------------------------------------------------------------- */

/* jansson can print reals only with one precision for the whole document, which turns
 * 0.1 into 0.10000000000000001 as soon as another number needs 17 digits. The text is
 * written here instead: every float with the fewest digits that read back exactly,
 * the rest as jansson would (JSON_COMPACT / JSON_INDENT(2)). */

static void put_real(FILE *f, double d)
{
	char buf[48];
	int p = 1;
	for (; p < 17; p++) {
		snprintf(buf, sizeof buf, "%.*g", p, d);
		if (strtod(buf, NULL) == d)
			break;
	}
	if (p == 17)
		snprintf(buf, sizeof buf, "%.17g", d);
	/* %g writes 100 as 1e+02: below 1e16, write the same digits positionally. */
	char *e = strchr(buf, 'e');
	if (e && fabs(d) >= 1 && fabs(d) < 1e16) {
		int decimals = p - 1 - atoi(e + 1);
		snprintf(buf, sizeof buf, "%.*f", decimals > 0 ? decimals : 0, d);
	}
	fputs(buf, f);
	/* Keep it a float on the way back in: 1 would read as an integer. */
	if (!strpbrk(buf, ".eEn"))
		fputs(".0", f);
}

/* A JSON string. Beyond what JSON requires (", \ and C0), DEL and every character
 * bh_escape would escape (C1 controls, bidirectional controls, U+2028/U+2029) are
 * written as \uXXXX, so the output cannot drive a terminal; it reads back as the
 * same string. Strings here are valid UTF-8 (cli_json_from_value sends the others
 * to "$str"); a byte that is not is written as U+FFFD, never raw. */
static void put_string(FILE *f, const char *s, size_t n)
{
	fputc('"', f);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c >= 0x80) {
			uint32_t cp;
			size_t k = bh_utf8_next(s + i, n - i, &cp);
			if (k == 0)
				fputs("\\ufffd", f);
			else if (bh_escape_needed(cp))
				fprintf(f, "\\u%04x", (unsigned)cp);
			else
				fwrite(s + i, 1, k, f);
			i += k ? k - 1 : 0;
			continue;
		}
		switch (c) {
		case '"': fputs("\\\"", f); break;
		case '\\': fputs("\\\\", f); break;
		case '\b': fputs("\\b", f); break;
		case '\f': fputs("\\f", f); break;
		case '\n': fputs("\\n", f); break;
		case '\r': fputs("\\r", f); break;
		case '\t': fputs("\\t", f); break;
		default:
			if (c < 0x20 || c == 0x7f)
				fprintf(f, "\\u%04x", c);
			else
				fputc(c, f);
		}
	}
	fputc('"', f);
}

static void put_newline(FILE *f, bool pretty, int depth)
{
	if (pretty)
		fprintf(f, "\n%*s", 2 * depth, "");
}

static void put_json(FILE *f, const json_t *j, bool pretty, int depth)
{
	switch (json_typeof(j)) {
	case JSON_NULL: fputs("null", f); break;
	case JSON_TRUE: fputs("true", f); break;
	case JSON_FALSE: fputs("false", f); break;
	case JSON_INTEGER: fprintf(f, "%" JSON_INTEGER_FORMAT, json_integer_value(j)); break;
	case JSON_REAL: put_real(f, json_real_value(j)); break;
	case JSON_STRING: put_string(f, json_string_value(j), json_string_length(j)); break;
	case JSON_ARRAY: {
		size_t i;
		const json_t *e;
		fputc('[', f);
		json_array_foreach(j, i, e) {
			if (i > 0)
				fputc(',', f);
			put_newline(f, pretty, depth + 1);
			put_json(f, e, pretty, depth + 1);
		}
		if (json_array_size(j) > 0)
			put_newline(f, pretty, depth);
		fputc(']', f);
		break;
	}
	case JSON_OBJECT: {
		const char *k;
		const json_t *e;
		bool first = true;
		fputc('{', f);
		json_object_foreach((json_t *)j, k, e) {
			if (!first)
				fputc(',', f);
			first = false;
			put_newline(f, pretty, depth + 1);
			put_string(f, k, strlen(k));
			fputs(pretty ? ": " : ":", f);
			put_json(f, e, pretty, depth + 1);
		}
		if (!first)
			put_newline(f, pretty, depth);
		fputc('}', f);
		break;
	}
	}
}

char *cli_json_dump(const json_t *j, bool pretty)
{
	char *s = NULL;
	size_t len;
	FILE *f = open_memstream(&s, &len);
	if (!f)
		return NULL;
	put_json(f, j, pretty, 0);
	if (fclose(f) != 0) {
		free(s);
		return NULL;
	}
	return s;
}

/* ---- JSON -> MessagePack ------------------------------------------------------------- */

/* Where in the arguments a conversion error is, for the message. */
struct path {
	char s[256];
	size_t len;
};

static size_t path_push(struct path *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static size_t path_push(struct path *p, const char *fmt, ...)
{
	size_t mark = p->len;
	if (p->len < sizeof p->s - 1) {
		va_list ap;
		va_start(ap, fmt);
		int n = vsnprintf(p->s + p->len, sizeof p->s - p->len, fmt, ap);
		va_end(ap);
		if (n > 0)
			p->len += (size_t)n < sizeof p->s - p->len ? (size_t)n : sizeof p->s - 1 - p->len;
	}
	return mark;
}

static void path_pop(struct path *p, size_t mark)
{
	p->len = mark;
	p->s[mark] = '\0';
}

struct conv {
	bh_writer *w;
	struct path path;
	char *why;
	size_t why_len;
};

static int conv_fail(struct conv *cv, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int conv_fail(struct conv *cv, const char *fmt, ...)
{
	char msg[200];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	snprintf(cv->why, cv->why_len, "at %s: %s", cv->path.len ? cv->path.s : "top level", msg);
	return -EINVAL;
}

static int conv_value(struct conv *cv, const json_t *j);

static int conv_b64(struct conv *cv, const json_t *s, const char *what, uint8_t **ret,
		    size_t *ret_len)
{
	if (!json_is_string(s))
		return conv_fail(cv, "%s wants a base64 string", what);
	int r = b64_decode(json_string_value(s), json_string_length(s), ret, ret_len);
	if (r == -EINVAL)
		return conv_fail(cv, "%s: invalid base64", what);
	return r;
}

/* A wrapper object (see the table at the top); 1 when j is none, 0 when written. */
static int conv_wrapper(struct conv *cv, const json_t *j)
{
	size_t n = json_object_size(j);
	bh_writer *w = cv->w;
	json_t *v;

	if (n == 2 && json_object_get(j, "$ext") && (v = json_object_get(j, "data"))) {
		json_t *t = json_object_get(j, "$ext");
		if (!json_is_integer(t) || json_integer_value(t) < -128 ||
		    json_integer_value(t) > 127)
			return conv_fail(cv, "$ext wants a type from -128 to 127");
		uint8_t *data;
		size_t len;
		int r = conv_b64(cv, v, "\"data\" of $ext", &data, &len);
		if (r < 0)
			return r;
		bh_write_ext(w, (int8_t)json_integer_value(t), data, len);
		free(data);
		return 0;
	}
	if (n != 1)
		return 1;

	const char *key = json_object_iter_key(json_object_iter((json_t *)j));
	v = json_object_get(j, key);
	if (strcmp(key, "$uint") == 0) {
		const char *s = json_string_value(v);
		char *end;
		if (!s || !*s || *s == '-' || *s == '+' || *s == ' ')
			return conv_fail(cv, "$uint wants a string of decimal digits");
		errno = 0;
		unsigned long long u = strtoull(s, &end, 10);
		if (*end || errno == ERANGE)
			return conv_fail(cv, "$uint wants a string of decimal digits up to "
					 "18446744073709551615");
		return bh_write_uint(w, u);
	}
	if (strcmp(key, "$float") == 0) {
		const char *s = json_string_value(v);
		if (s && strcmp(s, "nan") == 0)
			return bh_write_float(w, NAN);
		if (s && strcmp(s, "inf") == 0)
			return bh_write_float(w, INFINITY);
		if (s && strcmp(s, "-inf") == 0)
			return bh_write_float(w, -INFINITY);
		return conv_fail(cv, "$float wants \"nan\", \"inf\" or \"-inf\"");
	}
	if (strcmp(key, "$str") == 0 || strcmp(key, "$bin") == 0) {
		uint8_t *data;
		size_t len;
		int r = conv_b64(cv, v, key, &data, &len);
		if (r < 0)
			return r;
		if (key[1] == 's')
			bh_write_str(w, (const char *)data, len);
		else
			bh_write_bin(w, data, len);
		free(data);
		return 0;
	}
	if (strcmp(key, "$map") == 0) {
		if (!json_is_array(v))
			return conv_fail(cv, "$map wants an array of [key, value] pairs");
		size_t npairs = json_array_size(v);
		if (npairs > UINT32_MAX)
			return conv_fail(cv, "$map too long");
		bh_write_map(w, (uint32_t)npairs);
		size_t i;
		json_t *pair;
		json_array_foreach(v, i, pair) {
			size_t mark = path_push(&cv->path, ".$map[%zu]", i);
			if (!json_is_array(pair) || json_array_size(pair) != 2)
				return conv_fail(cv, "$map wants [key, value] pairs");
			int r = conv_value(cv, json_array_get(pair, 0));
			if (r == 0)
				r = conv_value(cv, json_array_get(pair, 1));
			if (r < 0)
				return r;
			path_pop(&cv->path, mark);
		}
		return 0;
	}
	return 1;
}

static int conv_value(struct conv *cv, const json_t *j)
{
	bh_writer *w = cv->w;
	switch (json_typeof(j)) {
	case JSON_NULL:
		return bh_write_nil(w);
	case JSON_TRUE:
		return bh_write_bool(w, true);
	case JSON_FALSE:
		return bh_write_bool(w, false);
	case JSON_INTEGER:
		return bh_write_int(w, json_integer_value(j));
	case JSON_REAL:
		return bh_write_float(w, json_real_value(j));
	case JSON_STRING:
		return bh_write_str(w, json_string_value(j), json_string_length(j));
	case JSON_ARRAY: {
		size_t n = json_array_size(j);
		if (n > UINT32_MAX)
			return conv_fail(cv, "array too long");
		bh_write_array(w, (uint32_t)n);
		size_t i;
		json_t *e;
		json_array_foreach(j, i, e) {
			size_t mark = path_push(&cv->path, "[%zu]", i);
			int r = conv_value(cv, e);
			if (r < 0)
				return r;
			path_pop(&cv->path, mark);
		}
		return bh_writer_error(w);
	}
	case JSON_OBJECT: {
		int r = conv_wrapper(cv, j);
		if (r <= 0)
			return r < 0 ? r : bh_writer_error(w);
		bh_write_map(w, (uint32_t)json_object_size(j));
		const char *key;
		json_t *e;
		json_object_foreach((json_t *)j, key, e) {
			bh_write_cstr(w, key);
			size_t mark = path_push(&cv->path, ".%s", key);
			r = conv_value(cv, e);
			if (r < 0)
				return r;
			path_pop(&cv->path, mark);
		}
		return bh_writer_error(w);
	}
	}
	return conv_fail(cv, "unsupported JSON value");
}

int cli_json_to_msgpack(const json_t *j, bh_writer *w, char *why, size_t why_len)
{
	struct conv cv = { .w = w, .why = why, .why_len = why_len };
	int r = conv_value(&cv, j);
	if (r == 0)
		r = bh_writer_error(w);
	if (r < 0 && r != -EINVAL)
		snprintf(why, why_len, "cannot encode the arguments: %s", strerror(-r));
	return r;
}
