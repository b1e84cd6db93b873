/* For tests: what in text could act on a terminal or a log reader. Decoded by hand
 * (RFC 3629's table of well-formed sequences), independently of the escaper under
 * test (proto/escape.c), so that a bug there cannot hide itself. */
#ifndef BH_TESTS_RAW_CONTROL_H
#define BH_TESTS_RAW_CONTROL_H

#include <stdbool.h>
#include <stddef.h>

/* The first thing in p (n bytes) that could act as a control, as a message, with its
 * offset in *ret_at: a C0 control (a newline only unless newlines), DEL, invalid
 * UTF-8, a C1 control or a bidirectional control. NULL when nothing. */
static inline const char *raw_control(const unsigned char *p, size_t n, bool newlines,
				      size_t *ret_at)
{
	for (size_t i = 0; i < n;) {
		unsigned c = p[i];
		*ret_at = i;
		if (c < 0x80) {
			if ((c < 0x20 && !(newlines && c == '\n')) || c == 0x7f)
				return "a C0 control or DEL";
			i++;
			continue;
		}
		unsigned lo = 0x80, hi = 0xbf, k, cp;
		if (c >= 0xc2 && c <= 0xdf)
			k = 1, cp = c & 0x1f;
		else if (c >= 0xe0 && c <= 0xef)
			k = 2, cp = c & 0x0f, lo = c == 0xe0 ? 0xa0 : 0x80, hi = c == 0xed ? 0x9f : 0xbf;
		else if (c >= 0xf0 && c <= 0xf4)
			k = 3, cp = c & 0x07, lo = c == 0xf0 ? 0x90 : 0x80, hi = c == 0xf4 ? 0x8f : 0xbf;
		else
			return "a byte that starts no UTF-8 character";
		if (n - i <= k || p[i + 1] < lo || p[i + 1] > hi)
			return "invalid UTF-8";
		for (unsigned j = 1; j <= k; j++) {
			if ((p[i + j] & 0xc0) != 0x80)
				return "invalid UTF-8";
			cp = cp << 6 | (p[i + j] & 0x3f);
		}
		if (cp <= 0x9f)
			return "a C1 control";
		if ((cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069))
			return "a bidirectional control";
		i += k + 1;
	}
	return NULL;
}

#endif
