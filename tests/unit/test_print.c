/* bh_value_print: every type, escaping, long binaries, nesting. */
#define _GNU_SOURCE
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bulkhead/client.h"

/* v printed, in a static buffer. */
static const char *printed(const bh_value *v)
{
	static char *text;
	size_t len;
	free(text);
	FILE *f = open_memstream(&text, &len);
	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(bh_value_print(f, v), 0);
	ck_assert_int_eq(fclose(f), 0);
	return text;
}

#define STR(s) ((bh_value){ .type = BH_STR, .len = sizeof(s) - 1, .as.str = (s) })

START_TEST(test_scalars)
{
	ck_assert_str_eq(printed(&(bh_value){ .type = BH_NIL }), "nil");
	ck_assert_str_eq(printed(&(bh_value){ .type = BH_BOOL, .as.b = true }), "true");
	ck_assert_str_eq(printed(&(bh_value){ .type = BH_INT, .as.i = -7 }), "-7");
	ck_assert_str_eq(printed(&(bh_value){ .type = BH_UINT, .as.u = UINT64_MAX }),
			 "18446744073709551615");
	ck_assert_str_eq(printed(&(bh_value){ .type = BH_FLOAT, .len = 8, .as.f = 2.5 }), "2.5");
	ck_assert_str_eq(printed(&(bh_value){ .type = BH_FLOAT, .len = 4, .as.f = 2.5 }),
			 "2.5f32");
	ck_assert_str_eq(printed(NULL), "(none)");
	ck_assert_int_eq(bh_value_print(NULL, NULL), -EINVAL);
}
END_TEST

START_TEST(test_strings_escaped)
{
	ck_assert_str_eq(printed(&STR("a \"q\" \x1b[2J\n\\")), "\"a \\\"q\\\" \\x1b[2J\\n\\\\\"");
	ck_assert_str_eq(printed(&STR("h\xc3\xa9")), "\"h\xc3\xa9\""); /* UTF-8 kept */
	/* Longer than one escaping chunk, with a character across the chunk boundary. */
	char s[200];
	memset(s, 'x', sizeof(s));
	memcpy(s + 63, "\xc3\xa9", 2);
	bh_value v = { .type = BH_STR, .len = sizeof(s), .as.str = s };
	const char *p = printed(&v);
	ck_assert_uint_eq(strlen(p), sizeof(s) + 2);
	ck_assert(memcmp(p + 64, "\xc3\xa9", 2) == 0);
}
END_TEST

START_TEST(test_binaries_and_containers)
{
	uint8_t bytes[40];
	for (size_t i = 0; i < sizeof(bytes); i++)
		bytes[i] = (uint8_t)i;
	bh_value bin = { .type = BH_BIN, .len = 3, .as.bin = bytes };
	ck_assert_str_eq(printed(&bin), "bin<3 bytes: 00 01 02>");
	bin.len = 40;
	ck_assert(strstr(printed(&bin), "<40 bytes: 00 01") && strstr(printed(&bin), "1f ...>"));
	bh_value ext = { .type = BH_EXT, .ext_type = -1, .len = 1, .as.bin = bytes + 5 };
	ck_assert_str_eq(printed(&ext), "ext(-1)<1 bytes: 05>");

	bh_value items[] = { { .type = BH_INT, .as.i = 1 }, STR("two"), { .type = BH_NIL } };
	bh_value arr = { .type = BH_ARRAY, .len = 3, .as.items = items };
	bh_value pairs[] = { STR("k"), arr, STR("e"), { .type = BH_ARRAY, .len = 0 } };
	bh_value map = { .type = BH_MAP, .len = 2, .as.items = pairs };
	ck_assert_str_eq(printed(&map), "{\"k\": [1, \"two\", nil], \"e\": []}");
}
END_TEST

int main(void)
{
	Suite *s = suite_create("print");
	TCase *tc = tcase_create("print");
	tcase_add_test(tc, test_scalars);
	tcase_add_test(tc, test_strings_escaped);
	tcase_add_test(tc, test_binaries_and_containers);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
