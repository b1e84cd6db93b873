/* bh_value_print: a decoded value as one line of text, for debugging clients. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>

#include "bulkhead/client.h"
#include "bulkhead/escape.h"

/* Bytes of a bin or ext shown before "...". */
#define PRINT_BIN_MAX 32

/* A string's bytes, escaped (bulkhead/escape.h) and with '"' as \". */
static void print_str(FILE *f, const char *s, size_t len)
{
	char buf[BH_ESCAPE_SIZE(64)];

	fputc('"', f);
	for (size_t off = 0; off < len;) {
		/* Escape whole characters: cut at most 64 bytes, back to a UTF-8 start. */
		size_t n = len - off < 64 ? len - off : 64;
		while (n < len - off && n > 0 && ((uint8_t)s[off + n] & 0xc0) == 0x80)
			n--;
		if (n == 0)
			n = len - off < 64 ? len - off : 64;
		bh_escape(buf, sizeof(buf), s + off, n);
		for (const char *p = buf; *p; p++) {
			if (*p == '"')
				fputc('\\', f);
			fputc(*p, f);
		}
		off += n;
	}
	fputc('"', f);
}

static void print_bytes(FILE *f, const uint8_t *p, size_t len)
{
	fprintf(f, "<%zu bytes:", len);
	for (size_t i = 0; i < len && i < PRINT_BIN_MAX; i++)
		fprintf(f, " %02x", p[i]);
	fputs(len > PRINT_BIN_MAX ? " ...>" : ">", f);
}

static void print_value(FILE *f, const bh_value *v)
{
	switch (v->type) {
	case BH_NIL:
		fputs("nil", f);
		break;
	case BH_BOOL:
		fputs(v->as.b ? "true" : "false", f);
		break;
	case BH_INT:
		fprintf(f, "%" PRId64, v->as.i);
		break;
	case BH_UINT:
		fprintf(f, "%" PRIu64, v->as.u);
		break;
	case BH_FLOAT:
		fprintf(f, v->len == 4 ? "%.9gf32" : "%.17g", v->as.f);
		break;
	case BH_STR:
		print_str(f, v->as.str, v->len);
		break;
	case BH_BIN:
		fputs("bin", f);
		print_bytes(f, v->as.bin, v->len);
		break;
	case BH_EXT:
		fprintf(f, "ext(%d)", v->ext_type);
		print_bytes(f, v->as.bin, v->len);
		break;
	case BH_ARRAY:
		fputc('[', f);
		for (uint32_t i = 0; i < v->len; i++) {
			fputs(i ? ", " : "", f);
			print_value(f, &v->as.items[i]);
		}
		fputc(']', f);
		break;
	case BH_MAP:
		fputc('{', f);
		for (uint32_t i = 0; i < v->len; i++) {
			fputs(i ? ", " : "", f);
			print_value(f, &v->as.items[2 * i]);
			fputs(": ", f);
			print_value(f, &v->as.items[2 * i + 1]);
		}
		fputc('}', f);
		break;
	default:
		fprintf(f, "<type %u>", v->type);
		break;
	}
}

int bh_value_print(FILE *f, const bh_value *v)
{
	if (!f)
		return -EINVAL;
	if (!v)
		fputs("(none)", f);
	else
		print_value(f, v);
	return ferror(f) ? -EIO : 0;
}
