/* Unit tests of the name map (supervisor/daemon/names.c): put, get, delete against a
 * plain array as the model, through growth and the backward shift of deletions,
 * including keys that share a home entry and probe runs that wrap around the end. */
#include <check.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "names.h"

#define MODEL_N 2000

START_TEST(empty_map)
{
	struct bh_names m;
	bh_names_init(&m);
	ck_assert_ptr_null(bh_names_get(&m, "a", 1));
	ck_assert_ptr_null(bh_names_del(&m, "a", 1));
	bh_names_done(&m);
	bh_names_done(&m); /* twice: a zeroed map */
}
END_TEST

START_TEST(put_get_del)
{
	struct bh_names m;
	bh_names_init(&m);
	int a, b;
	ck_assert_int_eq(bh_names_put(&m, "echo", 4, &a), 0);
	ck_assert_int_eq(bh_names_put(&m, "echo2", 5, &b), 0);
	ck_assert_int_eq(bh_names_put(&m, "echo", 4, &b), -EEXIST);
	ck_assert_ptr_eq(bh_names_get(&m, "echo", 4), &a);
	ck_assert_ptr_eq(bh_names_get(&m, "echo2", 5), &b);
	/* Lengths count: a prefix or a longer key is another name. */
	ck_assert_ptr_eq(bh_names_get(&m, "echo2.echo", 4), &a);
	ck_assert_ptr_null(bh_names_get(&m, "ech", 3));
	ck_assert_ptr_null(bh_names_get(&m, "echo22", 6));
	ck_assert_ptr_eq(bh_names_del(&m, "echo", 4), &a);
	ck_assert_ptr_null(bh_names_get(&m, "echo", 4));
	ck_assert_ptr_eq(bh_names_get(&m, "echo2", 5), &b);
	ck_assert_uint_eq(m.n, 1);
	bh_names_done(&m);
}
END_TEST

/* The key the caller passed is copied: it may change or go away afterwards. */
START_TEST(keys_are_copied)
{
	struct bh_names m;
	bh_names_init(&m);
	char key[8] = "plug";
	int v;
	ck_assert_int_eq(bh_names_put(&m, key, 4, &v), 0);
	memcpy(key, "xxxx", 4);
	ck_assert_ptr_eq(bh_names_get(&m, "plug", 4), &v);
	bh_names_done(&m);
}
END_TEST

/* Random puts and deletes checked against a model after every step: whatever the
 * order, every present key is found and no deleted one is. */
START_TEST(against_a_model)
{
	struct bh_names m;
	bh_names_init(&m);
	static bool present[MODEL_N];
	static int values[MODEL_N];
	memset(present, 0, sizeof(present));
	unsigned seed = 12345;
	for (int step = 0; step < 40000; step++) {
		seed = seed * 1103515245u + 12345u;
		int k = (int)((seed >> 8) % MODEL_N);
		char key[16];
		int len = snprintf(key, sizeof(key), "p%d", k);
		if (((seed >> 4) & 3) != 0) { /* put three times in four: the map fills */
			int r = bh_names_put(&m, key, (size_t)len, &values[k]);
			if (r != (present[k] ? -EEXIST : 0))
				ck_abort_msg("step %d: put p%d returned %d", step, k, r);
			present[k] = true;
		} else {
			void *v = bh_names_del(&m, key, (size_t)len);
			if (v != (present[k] ? &values[k] : NULL))
				ck_abort_msg("step %d: deleting p%d returned the wrong value", step, k);
			present[k] = false;
		}
		if (step % 2000 == 0 || step > 39950) {
			/* Plain comparisons: a libcheck assertion costs a write. */
			size_t n = 0;
			int wrong = -1;
			for (int i = 0; i < MODEL_N; i++) {
				len = snprintf(key, sizeof(key), "p%d", i);
				void *v = bh_names_get(&m, key, (size_t)len);
				if (v != (present[i] ? &values[i] : NULL) && wrong < 0)
					wrong = i;
				n += present[i];
			}
			ck_assert_msg(wrong < 0, "step %d: p%d found wrong", step, wrong);
			ck_assert_uint_eq(m.n, n);
			ck_assert_uint_le(m.n * 2, m.cap); /* at most half full */
		}
	}
	/* Delete everything: the map is empty, every entry free. */
	for (int i = 0; i < MODEL_N; i++) {
		char key[16];
		int len = snprintf(key, sizeof(key), "p%d", i);
		bh_names_del(&m, key, (size_t)len);
	}
	ck_assert_uint_eq(m.n, 0);
	size_t used = 0;
	for (size_t i = 0; i < m.cap; i++)
		used += m.tab[i].key != NULL;
	ck_assert_uint_eq(used, 0);
	bh_names_done(&m);
}
END_TEST

/* A small table (16 entries) packed to half with keys of every home: deletions in
 * every order keep the others reachable, runs that wrap past the end included. */
START_TEST(wrapping_runs)
{
	for (int order = 0; order < 8; order++) {
		struct bh_names m;
		bh_names_init(&m);
		int v[8];
		char keys[8][8];
		for (int i = 0; i < 7; i++) {
			snprintf(keys[i], sizeof(keys[i]), "k%d", i * 7 + order);
			ck_assert_int_eq(bh_names_put(&m, keys[i], strlen(keys[i]), &v[i]), 0);
		}
		ck_assert_uint_eq(m.cap, 16);
		for (int j = 0; j < 7; j++) {
			int gone = (j * 3 + order) % 7;
			ck_assert_ptr_eq(bh_names_del(&m, keys[gone], strlen(keys[gone])), &v[gone]);
			keys[gone][0] = 'x';
			for (int i = 0; i < 7; i++)
				if (keys[i][0] == 'k')
					ck_assert_ptr_eq(bh_names_get(&m, keys[i], strlen(keys[i])),
							 &v[i]);
		}
		ck_assert_uint_eq(m.n, 0);
		bh_names_done(&m);
	}
}
END_TEST

int main(void)
{
	Suite *s = suite_create("names");
	TCase *tc = tcase_create("names");
	tcase_add_test(tc, empty_map);
	tcase_add_test(tc, put_get_del);
	tcase_add_test(tc, keys_are_copied);
	tcase_add_test(tc, against_a_model);
	tcase_add_test(tc, wrapping_runs);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
