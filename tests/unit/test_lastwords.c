/* Unit tests of a dying plugin's last words (supervisor/daemon/lastwords.c): the
 * text each runtime prints when it dies, fed line by line as the daemon's stderr
 * reader does, and the words picked from it. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lastwords.h"

/* Feed text (lines separated by '\n', the last one may lack it) and pick. */
static const char *words_of(const char *text)
{
	static char out[BH_LASTWORDS_MAX];
	struct bh_lastwords *lw = calloc(1, sizeof(*lw));
	ck_assert_ptr_nonnull(lw);
	const char *p = text;
	while (*p) {
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) : strlen(p);
		bh_lastwords_add(lw, p, len);
		p += len + (nl ? 1 : 0);
	}
	bh_lastwords_pick(lw, out, sizeof(out));
	free(lw);
	return out;
}

#define ck_words(text, want) ck_assert_str_eq(words_of(text), (want))

START_TEST(rust_panic)
{
	/* Rust 1.73 and later: the message on its own line, then a note. */
	ck_words("starting\n"
		 "thread '<unnamed>' panicked at src/lib.rs:10:5:\n"
		 "index out of bounds: the len is 3 but the index is 7\n"
		 "note: run with `RUST_BACKTRACE=1` environment variable to display a backtrace\n",
		 "thread '<unnamed>' panicked at src/lib.rs:10:5: index out of bounds: the len "
		 "is 3 but the index is 7");
	/* Before 1.73: one line. */
	ck_words("thread 'main' panicked at 'boom', src/lib.rs:10:5\n"
		 "note: run with `RUST_BACKTRACE=1` environment variable to display a backtrace\n",
		 "thread 'main' panicked at 'boom', src/lib.rs:10:5");
	/* A message of two lines, then a full backtrace. */
	ck_words("thread '<unnamed>' panicked at src/lib.rs:3:1:\nfirst\nsecond\n"
		 "stack backtrace:\n   0: rust_begin_unwind\n             at /rustc/x/panicking.rs:645:5\n"
		 "   1: core::panicking::panic_fmt\n"
		 "note: Some details are omitted, run with `RUST_BACKTRACE=full` for a verbose "
		 "backtrace.\n",
		 "thread '<unnamed>' panicked at src/lib.rs:3:1: first | second");
}
END_TEST

START_TEST(go_panic)
{
	ck_words("panic: boom\n\ngoroutine 17 [running]:\nmain.method(...)\n"
		 "\t/src/plugin/main.go:12 +0x1d\nmain.trampoline()\n\t/src/plugin/main.go:30 +0x25\n",
		 "panic: boom | goroutine 17 [running]:");
	ck_words("panic: runtime error: invalid memory address or nil pointer dereference\n"
		 "[signal SIGSEGV: segmentation violation code=0x1 addr=0x0 pc=0x4553a2]\n\n"
		 "goroutine 1 [running]:\nmain.main()\n\t/src/x.go:5 +0x2\nexit status 2\n",
		 "panic: runtime error: invalid memory address or nil pointer dereference | "
		 "[signal SIGSEGV: segmentation violation code=0x1 addr=0x0 pc=0x4553a2] | "
		 "goroutine 1 [running]:");
	ck_words("fatal error: concurrent map writes\n\ngoroutine 5 [running]:\nruntime.throw()\n",
		 "fatal error: concurrent map writes | goroutine 5 [running]:");
}
END_TEST

/* A trace far longer than the tail: the announcement is kept apart from it. */
START_TEST(long_trace)
{
	char text[16384] = "panic: deep\n\ngoroutine 1 [running]:\n";
	for (int i = 0; i < 100; i++) {
		char frame[96];
		snprintf(frame, sizeof(frame), "main.f%d(...)\n\t/src/x.go:%d +0x1d\n", i, i);
		strcat(text, frame);
	}
	ck_words(text, "panic: deep | goroutine 1 [running]:");
}
END_TEST

START_TEST(cxx_terminate)
{
	ck_words("terminate called after throwing an instance of 'std::runtime_error'\n"
		 "  what():  boom\n",
		 "terminate called after throwing an instance of 'std::runtime_error' | what():  "
		 "boom");
	ck_words("terminate called without an active exception\n",
		 "terminate called without an active exception");
}
END_TEST

START_TEST(assertion)
{
	ck_words("working\nbulkhead-shim: dying.c:12: m_assert: Assertion `n == 2' failed.\n",
		 "bulkhead-shim: dying.c:12: m_assert: Assertion `n == 2' failed.");
}
END_TEST

/* No announcement: the newest line that is not noise; the newest line with anything
 * on it when all are noise; nothing when it said nothing. */
START_TEST(fallback)
{
	ck_words("opening db\ncannot open /data/x: No such file\n\n  \n", "cannot open /data/x: No such file");
	ck_words("note: only a note\n\n", "note: only a note");
	ck_words("", "");
	ck_words("\n\n", "");
}
END_TEST

/* A panic caught long ago (answered as an error, the plugin lived on) is not why it
 * died later. */
START_TEST(stale_announcement)
{
	struct bh_lastwords *lw = calloc(1, sizeof(*lw));
	char out[BH_LASTWORDS_MAX];
	bh_lastwords_add(lw, "panic: long ago", 15);
	for (int i = 0; i < BH_LASTWORDS_STALE; i++)
		bh_lastwords_add(lw, "serving", 7);
	bh_lastwords_pick(lw, out, sizeof(out));
	ck_assert_str_eq(out, "panic: long ago");
	bh_lastwords_add(lw, "out of disk", 11);
	bh_lastwords_pick(lw, out, sizeof(out));
	ck_assert_str_eq(out, "out of disk");
	free(lw);
}
END_TEST

/* The plugin's bytes never reach a log or a client raw, and the words are bounded. */
START_TEST(escaped_and_bounded)
{
	ck_words("panic: \x1b]52;c;eA==\x07 \x1b[2J\r\n", "panic: \\x1b]52;c;eA==\\x07 \\x1b[2J");
	char big[4096];
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = 0;
	memcpy(big, "panic: ", 7);
	const char *w = words_of(big);
	ck_assert_uint_lt(strlen(w), BH_LASTWORDS_MAX);
	ck_assert(strstr(w, "\\...") != NULL);
	struct bh_lastwords *lw = calloc(1, sizeof(*lw));
	char small[16];
	bh_lastwords_add(lw, big, strlen(big));
	bh_lastwords_pick(lw, small, sizeof(small));
	ck_assert_uint_lt(strlen(small), sizeof(small));
	free(lw);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("lastwords");
	TCase *tc = tcase_create("pick");
	tcase_add_test(tc, rust_panic);
	tcase_add_test(tc, go_panic);
	tcase_add_test(tc, long_trace);
	tcase_add_test(tc, cxx_terminate);
	tcase_add_test(tc, assertion);
	tcase_add_test(tc, fallback);
	tcase_add_test(tc, stale_announcement);
	tcase_add_test(tc, escaped_and_bounded);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
