/* Peer text made safe for a log line or a terminal; the escape syntax is documented
 * in bulkhead/escape.h. */
#include "bulkhead/escape.h"

#include <string.h>

size_t bh_utf8_next(const void *s, size_t len, uint32_t *ret_cp)
{
	const uint8_t *p = s;
	if (len == 0)
		return 0;
	uint8_t c = p[0];
	size_t k;
	uint32_t cp, min;
	if (c < 0x80) {
		k = 0;
		cp = c;
		min = 0;
	} else if (c >= 0xc2 && c <= 0xdf) {
		k = 1;
		cp = c & 0x1f;
		min = 0x80;
	} else if (c >= 0xe0 && c <= 0xef) {
		k = 2;
		cp = c & 0x0f;
		min = 0x800;
	} else if (c >= 0xf0 && c <= 0xf4) {
		k = 3;
		cp = c & 0x07;
		min = 0x10000;
	} else {
		return 0; /* a continuation byte, c0/c1 (always overlong) or f5-ff */
	}
	if (len <= k)
		return 0;
	for (size_t i = 1; i <= k; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (p[i] & 0x3f);
	}
	if (cp < min || (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
		return 0;
	if (ret_cp)
		*ret_cp = cp;
	return k + 1;
}

bool bh_escape_needed(uint32_t cp)
{
	return cp < 0x20 || cp == '\\' || (cp >= 0x7f && cp <= 0x9f) ||
	       (cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069) ||
	       cp == 0x2028 || cp == 0x2029;
}

/* The escape of one character (or of one invalid byte, with cp = the byte and
 * valid false) into e; its length. */
static size_t escape_one(char e[8], uint32_t cp, bool valid)
{
	static const char hex[] = "0123456789abcdef";
	if (valid && cp >= 0x80) {
		e[0] = '\\';
		e[1] = 'u';
		for (int i = 0; i < 4; i++)
			e[2 + i] = hex[(cp >> (12 - 4 * i)) & 0xf];
		return 6;
	}
	e[0] = '\\';
	switch (cp) {
	case '\\': e[1] = '\\'; return 2;
	case '\n': e[1] = 'n'; return 2;
	case '\r': e[1] = 'r'; return 2;
	case '\t': e[1] = 't'; return 2;
	}
	e[1] = 'x';
	e[2] = hex[cp >> 4 & 0xf];
	e[3] = hex[cp & 0xf];
	return 4;
}

/* The piece of output for the character (or invalid byte) at p: either e, filled
 * here, or the input bytes themselves, in *ret_piece and *ret_n. Returns the number of
 * input bytes it stands for. */
static size_t next_piece(const uint8_t *p, size_t len, char e[8], const char **ret_piece,
			 size_t *ret_n)
{
	uint32_t cp;
	size_t k = bh_utf8_next(p, len, &cp);
	*ret_piece = e;
	if (k == 0) {
		*ret_n = escape_one(e, p[0], false);
		return 1;
	}
	if (bh_escape_needed(cp)) {
		*ret_n = escape_one(e, cp, true);
		return k;
	}
	*ret_piece = (const char *)p;
	*ret_n = k;
	return k;
}

size_t bh_escape(char *out, size_t size, const void *in, size_t len)
{
	const uint8_t *p = in;
	char e[8];
	const char *piece;
	size_t n, k;
	if (size == 0)
		return 0;

	/* Does all of it fit? Then every piece goes in; otherwise as many as leave room
	 * for the marker. */
	size_t total = 0;
	for (size_t i = 0; i < len && total < size; i += k) {
		k = next_piece(p + i, len - i, e, &piece, &n);
		total += n;
	}
	bool cut = total >= size;
	size_t room = !cut ? size - 1 : size < BH_ESCAPE_CUT_MIN ? 0 : size - BH_ESCAPE_CUT_MIN;

	size_t o = 0;
	for (size_t i = 0; i < len; i += k) {
		k = next_piece(p + i, len - i, e, &piece, &n);
		if (n > room - o)
			break;
		memcpy(out + o, piece, n);
		o += n;
	}
	if (cut && size >= BH_ESCAPE_CUT_MIN) {
		memcpy(out + o, BH_ESCAPE_CUT, sizeof(BH_ESCAPE_CUT) - 1);
		o += sizeof(BH_ESCAPE_CUT) - 1;
	}
	out[o] = '\0';
	return o;
}
