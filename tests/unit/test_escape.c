/* Unit tests of bh_escape (proto/escape.c): every class of character it must escape,
 * the boundaries between classes, every kind of invalid UTF-8, the truncation, and a
 * deterministic fuzz loop checking that no output ever carries a control character or
 * invalid UTF-8.
 *
 * Inputs are copied to the end of an exact-size heap block and outputs written to an
 * exact-size block, so that AddressSanitizer catches any access past either. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bulkhead/escape.h"

/* The escape of a byte string literal (NULs included), compared with want. */
#define ESC_IS(lit, want) esc_is((lit), sizeof(lit) - 1, (want), __LINE__)

static char *esc_alloc(const void *in, size_t len, size_t size, size_t *ret_n)
{
	uint8_t *p = malloc(len ? len : 1);
	if (!p)
		ck_abort_msg("out of memory");
	memcpy(p, in, len);
	char *out = malloc(size ? size : 1);
	if (!out)
		ck_abort_msg("out of memory");
	*ret_n = bh_escape(size ? out : NULL, size, p, len);
	free(p);
	return out;
}

static void esc_is(const char *in, size_t len, const char *want, int line)
{
	size_t size = BH_ESCAPE_SIZE(len), n;
	char *out = esc_alloc(in, len, size, &n);
	ck_assert_msg(strcmp(out, want) == 0 && n == strlen(want),
		      "line %d: escaped to \"%s\" (%zu), want \"%s\"", line, out, n, want);
	/* An exact-size buffer gives the same, uncut. */
	free(out);
	out = esc_alloc(in, len, strlen(want) + 1, &n);
	ck_assert_msg(strcmp(out, want) == 0, "line %d: exact buffer gave \"%s\"", line, out);
	free(out);
}

/* Where the output s (n bytes) carries something a terminal or a log reader could act
 * on, as a message; NULL when it is inert. (libcheck asserts are slow: they mark
 * every passing check, so the fuzz loop asserts once per output.) */
static const char *why_not_inert(const char *s, size_t n)
{
	if (strlen(s) != n)
		return "length differs from the return value";
	for (size_t i = 0; i < n;) {
		uint32_t cp;
		size_t k = bh_utf8_next(s + i, n - i, &cp);
		if (k == 0)
			return "invalid UTF-8";
		if (cp == '\\') {
			/* Every backslash starts a whole escape: step over it. */
			char e = s[i + 1];
			if (!e || !strchr("\\nrtxu.", e))
				return "a bare backslash";
			k = e == 'x' ? 4 : e == 'u' ? 6 : e == '.' ? 4 : 2;
			if (i + k > n)
				return "an escape cut short";
			if (e == '.' && i + k != n)
				return "a marker before the end";
		} else if (bh_escape_needed(cp)) {
			return "a character that needs escaping";
		}
		i += k;
	}
	return NULL;
}

START_TEST(plain_text_is_copied)
{
	ESC_IS("", "");
	ESC_IS("hello, world: ~!@#$%^&*()_+{}|:\"<>?`-=[];',./", "hello, world: ~!@#$%^&*()_+{}|:\"<>?`-=[];',./");
	ESC_IS("gr\xc3\xbc\xc3\x9f \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x98\x80",
	       "gr\xc3\xbc\xc3\x9f \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x98\x80");
}
END_TEST

START_TEST(backslash_and_named_controls)
{
	ESC_IS("a\\b", "a\\\\b");
	ESC_IS("\\x1b", "\\\\x1b"); /* the text of an escape is not an escape */
	ESC_IS("one\ntwo", "one\\ntwo");
	ESC_IS("\r\t", "\\r\\t");
}
END_TEST

START_TEST(every_c0_and_del)
{
	for (unsigned c = 0; c < 0x20; c++) {
		char in[1] = { (char)c }, want[8];
		if (c == '\n' || c == '\r' || c == '\t')
			snprintf(want, sizeof want, "\\%c", c == '\n' ? 'n' : c == '\r' ? 'r' : 't');
		else
			snprintf(want, sizeof want, "\\x%02x", c);
		esc_is(in, 1, want, __LINE__);
	}
	ESC_IS("\x7f", "\\x7f");
	ESC_IS("\x7e", "\x7e");
	ESC_IS(" ", " ");
	ESC_IS("a\0b", "a\\x00b");
}
END_TEST

START_TEST(c1_controls_and_their_boundaries)
{
	ESC_IS("\xc2\x80", "\\u0080");  /* U+0080, the first C1 */
	ESC_IS("\xc2\x9b", "\\u009b");  /* CSI */
	ESC_IS("\xc2\x9d", "\\u009d");  /* OSC */
	ESC_IS("\xc2\x9f", "\\u009f");  /* the last C1 */
	ESC_IS("\xc2\xa0", "\xc2\xa0"); /* U+00A0, no-break space: printable */
	for (unsigned c = 0x80; c <= 0x9f; c++) {
		char in[2] = { (char)0xc2, (char)c }, want[8];
		snprintf(want, sizeof want, "\\u%04x", c);
		esc_is(in, 2, want, __LINE__);
	}
}
END_TEST

START_TEST(bidi_controls_and_separators)
{
	ESC_IS("\xe2\x80\xa9", "\\u2029");
	ESC_IS("\xe2\x80\xa8", "\\u2028");
	ESC_IS("\xe2\x80\xa9\xe2\x80\xaa", "\\u2029\\u202a");
	ESC_IS("\xe2\x80\xaa", "\\u202a");
	ESC_IS("\xe2\x80\xae", "\\u202e"); /* RLO */
	ESC_IS("\xe2\x80\xaf", "\xe2\x80\xaf"); /* U+202F, narrow no-break space */
	ESC_IS("\xe2\x81\xa5", "\xe2\x81\xa5"); /* U+2065 */
	ESC_IS("\xe2\x81\xa6", "\\u2066");
	ESC_IS("\xe2\x81\xa9", "\\u2069");
	ESC_IS("\xe2\x81\xaa", "\xe2\x81\xaa"); /* U+206A */
	ESC_IS("abc\xe2\x80\xae" "fdp.exe", "abc\\u202efdp.exe");
}
END_TEST

START_TEST(invalid_utf8_escapes_every_byte)
{
	ESC_IS("\x9b", "\\x9b");           /* a lone 9b: an 8-bit CSI to some terminals */
	ESC_IS("\x9b" "2J", "\\x9b2J");
	ESC_IS("\x80\xbf", "\\x80\\xbf");  /* stray continuation bytes */
	ESC_IS("\xc0\xaf", "\\xc0\\xaf");  /* overlong '/' */
	ESC_IS("\xc1\xbf", "\\xc1\\xbf");  /* overlong DEL */
	ESC_IS("\xe0\x80\x9b", "\\xe0\\x80\\x9b"); /* overlong 9b */
	ESC_IS("\xe0\x9f\xbf", "\\xe0\\x9f\\xbf"); /* overlong U+07FF */
	ESC_IS("\xe0\xa0\x80", "\xe0\xa0\x80");    /* U+0800: the least 3-byte form */
	ESC_IS("\xf0\x8f\xbf\xbf", "\\xf0\\x8f\\xbf\\xbf"); /* overlong U+FFFF */
	ESC_IS("\xf0\x90\x80\x80", "\xf0\x90\x80\x80");     /* U+10000 */
	ESC_IS("\xed\xa0\x80", "\\xed\\xa0\\x80"); /* U+D800, a surrogate */
	ESC_IS("\xed\xbf\xbf", "\\xed\\xbf\\xbf"); /* U+DFFF */
	ESC_IS("\xed\x9f\xbf", "\xed\x9f\xbf");    /* U+D7FF */
	ESC_IS("\xf4\x8f\xbf\xbf", "\xf4\x8f\xbf\xbf");     /* U+10FFFF */
	ESC_IS("\xf4\x90\x80\x80", "\\xf4\\x90\\x80\\x80"); /* U+110000 */
	ESC_IS("\xf5\xff\xfe", "\\xf5\\xff\\xfe");
	/* Truncated sequences: each byte is escaped and what follows is read afresh. */
	ESC_IS("\xc2", "\\xc2");
	ESC_IS("\xe2\x80", "\\xe2\\x80");
	ESC_IS("\xf0\x9f\x98", "\\xf0\\x9f\\x98");
	ESC_IS("\xe2\x80" "A", "\\xe2\\x80A");
	ESC_IS("\xc2\x1b[2J", "\\xc2\\x1b[2J");
	ESC_IS("\xe2\xc2\x9b", "\\xe2\\u009b");
}
END_TEST

START_TEST(terminal_and_log_attacks)
{
	ESC_IS("\x1b]52;c;ZWNobyBwd25lZA==\x07", "\\x1b]52;c;ZWNobyBwd25lZA==\\x07");
	ESC_IS("\x1b]0;title\x1b\\", "\\x1b]0;title\\x1b\\\\");
	ESC_IS("\x1b[2J\x1b[H", "\\x1b[2J\\x1b[H");
	ESC_IS("ok\rFAKE\b\b", "ok\\rFAKE\\x08\\x08");
	ESC_IS("x\n12:34:56.789 error bulkhead: forged",
	       "x\\n12:34:56.789 error bulkhead: forged");
}
END_TEST

START_TEST(cut_output_is_marked)
{
	char out[64];
	/* Everything fits exactly: no marker. */
	ck_assert_uint_eq(bh_escape(out, 6, "abcde", 5), 5);
	ck_assert_str_eq(out, "abcde");
	/* One byte short: cut, with the marker inside the buffer. */
	ck_assert_uint_eq(bh_escape(out, 6, "abcdef", 6), 5);
	ck_assert_str_eq(out, "a\\...");
	ck_assert_uint_eq(bh_escape(out, 10, "abcdefghijkl", 12), 9);
	ck_assert_str_eq(out, "abcde\\...");
	/* An escape or a character is never split. */
	ck_assert_uint_eq(bh_escape(out, 10, "abc\x1b" "defgh", 9), 7);
	ck_assert_str_eq(out, "abc\\...");
	ck_assert_uint_eq(bh_escape(out, 10, "ab\xe6\x97\xa5\xe6\x9c\xac" "xyz", 11), 9);
	ck_assert_str_eq(out, "ab\xe6\x97\xa5\\...");
	ck_assert_uint_eq(bh_escape(out, 11, "\xc2\x9b\xc2\x9b", 4), 10);
	ck_assert_str_eq(out, "\\u009b\\...");
	/* Too small for the marker: empty, and never a bare backslash. */
	ck_assert_uint_eq(bh_escape(out, 4, "abcdef", 6), 0);
	ck_assert_str_eq(out, "");
	ck_assert_uint_eq(bh_escape(out, 5, "abcdef", 6), 4);
	ck_assert_str_eq(out, "\\...");
	ck_assert_uint_eq(bh_escape(out, 4, "abc", 3), 3);
	ck_assert_str_eq(out, "abc");
	ck_assert_uint_eq(bh_escape(out, 1, "", 0), 0);
	ck_assert_str_eq(out, "");
	ck_assert_uint_eq(bh_escape(NULL, 0, "abc", 3), 0);
	/* A cut output reads unambiguously: "\\..." is an escaped backslash. */
	ck_assert_uint_eq(bh_escape(out, sizeof out, "\\...", 4), 5);
	ck_assert_str_eq(out, "\\\\...");
}
END_TEST

START_TEST(utf8_next_reports_length_and_code_point)
{
	uint32_t cp = 0;
	ck_assert_uint_eq(bh_utf8_next("A", 1, &cp), 1);
	ck_assert_uint_eq(cp, 'A');
	ck_assert_uint_eq(bh_utf8_next("\xc2\xa0", 2, &cp), 2);
	ck_assert_uint_eq(cp, 0xa0);
	ck_assert_uint_eq(bh_utf8_next("\xe2\x80\xae", 3, &cp), 3);
	ck_assert_uint_eq(cp, 0x202e);
	ck_assert_uint_eq(bh_utf8_next("\xf0\x9f\x98\x80", 4, NULL), 4);
	ck_assert_uint_eq(bh_utf8_next("\xf0\x9f\x98\x80", 3, NULL), 0);
	ck_assert_uint_eq(bh_utf8_next("", 0, NULL), 0);
}
END_TEST

static uint64_t rnd(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

START_TEST(fuzz_output_is_always_inert)
{
	/* Bytes drawn mostly from the interesting ranges, at every buffer size. */
	static const uint8_t pool[] = { 0x00, 0x07, 0x08, 0x0a, 0x0d, 0x1b, 0x5c, 0x7f, 0x80,
					0x9b, 0x9f, 0xa0, 0xaa, 0xae, 0xbf, 0xc0, 0xc2, 0xe2,
					0xed, 0xf0, 0xf4, 0xff, 'a', ']', '[', 0x81, 0xa6 };
	uint64_t st = 7;
	for (int iter = 0; iter < 20000; iter++) {
		uint8_t in[24];
		size_t len = rnd(&st) % sizeof in;
		for (size_t i = 0; i < len; i++)
			in[i] = pool[rnd(&st) % sizeof pool];
		size_t size = rnd(&st) % BH_ESCAPE_SIZE(sizeof in);
		size_t n;
		char *out = esc_alloc(in, len, size, &n);
		const char *why = size > 0 && n >= size ? "longer than the buffer"
				  : size > 0		   ? why_not_inert(out, n)
							   : NULL;
		if (why)
			ck_abort_msg("escaping %zu bytes into %zu: %s: \"%s\"", len, size, why, out);
		free(out);
	}
}
END_TEST

int main(void)
{
	Suite *s = suite_create("escape");
	TCase *tc = tcase_create("escape");
	tcase_add_test(tc, plain_text_is_copied);
	tcase_add_test(tc, backslash_and_named_controls);
	tcase_add_test(tc, every_c0_and_del);
	tcase_add_test(tc, c1_controls_and_their_boundaries);
	tcase_add_test(tc, bidi_controls_and_separators);
	tcase_add_test(tc, invalid_utf8_escapes_every_byte);
	tcase_add_test(tc, terminal_and_log_attacks);
	tcase_add_test(tc, cut_output_is_marked);
	tcase_add_test(tc, utf8_next_reports_length_and_code_point);
	tcase_add_test(tc, fuzz_output_is_always_inert);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
