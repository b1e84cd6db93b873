/* A dying plugin's last words (lastwords.h). The rules, by what the runtimes print:
 *
 *   Rust (1.73+)  thread '<unnamed>' panicked at src/lib.rs:10:5:   announcement
 *                 boom                                               its message
 *                 note: run with `RUST_BACKTRACE=1` ...              noise
 *   Rust (older)  thread 'x' panicked at 'boom', src/lib.rs:10:5     announcement
 *   Go            panic: boom  /  fatal error: concurrent map writes announcement
 *                 [signal SIGSEGV: ...] (a nil dereference)          completion
 *                 goroutine 1 [running]:                             completion, last
 *                 main.f(...) / \t/src/x.go:5 +0x1d / exit status 2  noise (frames)
 *   C++           terminate called after throwing an instance of 'std::runtime_error'
 *                   what():  boom                                    completion
 *   C             x.c:12: f: Assertion `x' failed.                   announcement
 *   sanitizers    ==12==ERROR: AddressSanitizer: ...                 announcement
 *
 * An announcement's completion lines are joined to it with " | " (a Rust message,
 * after the location's colon, with a space). Nothing here allocates. */
#define _GNU_SOURCE /* memmem */
#include "lastwords.h"

#include <stdbool.h>
#include <string.h>

#include "bulkhead/escape.h"

enum follow {
	FOLLOW_NONE,
	FOLLOW_RUST,  /* the panic message: every line up to a note or a backtrace */
	FOLLOW_GO,    /* up to and with the goroutine header */
	FOLLOW_WHAT,  /* one "what():" line */
};

/* Lines an announcement may take after it. */
#define FOLLOW_MAX 4

static bool starts(const char *s, size_t len, const char *prefix)
{
	size_t n = strlen(prefix);
	return len >= n && memcmp(s, prefix, n) == 0;
}

static bool ends(const char *s, size_t len, const char *suffix)
{
	size_t n = strlen(suffix);
	return len >= n && memcmp(s + len - n, suffix, n) == 0;
}

static bool has(const char *s, size_t len, const char *needle)
{
	return memmem(s, len, needle, strlen(needle)) != NULL;
}

static size_t skip_space(const char *s, size_t len)
{
	size_t i = 0;
	while (i < len && (s[i] == ' ' || s[i] == '\t'))
		i++;
	return i;
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* A line that announces a death; *ret_follow: what completes it. */
static bool announces(const char *s, size_t len, enum follow *ret_follow)
{
	*ret_follow = FOLLOW_NONE;
	if (starts(s, len, "thread '") && has(s, len, "' panicked at ")) {
		if (ends(s, len, ":")) /* the message follows on its own lines */
			*ret_follow = FOLLOW_RUST;
		return true;
	}
	if (starts(s, len, "panic: ") || starts(s, len, "fatal error: ")) {
		*ret_follow = FOLLOW_GO;
		return true;
	}
	if (starts(s, len, "terminate called ")) {
		if (has(s, len, "after throwing"))
			*ret_follow = FOLLOW_WHAT;
		return true;
	}
	return (has(s, len, ": Assertion `") && ends(s, len, "' failed.")) ||
	       starts(s, len, "fatal runtime error: ") || has(s, len, "ERROR: AddressSanitizer") ||
	       has(s, len, "ERROR: LeakSanitizer");
}

/* A backtrace frame of Rust ("  12: name", "             at src/x.rs:3:5") or Go
 * ("main.f(...)", "\t/src/x.go:5 +0x1d", "created by main.g"). */
static bool is_frame(const char *s, size_t len)
{
	size_t i = skip_space(s, len);
	if (i < len && s[i] == '\t')
		return true;
	if (i > 0 && i < len && is_digit(s[i])) {
		while (i < len && is_digit(s[i]))
			i++;
		return i < len && s[i] == ':';
	}
	if (i > 0 && starts(s + i, len - i, "at "))
		return true;
	if (starts(s, len, "created by ") || starts(s, len, "goroutine "))
		return true;
	/* A Go function line: one word, a call. */
	return len > 2 && s[len - 1] == ')' && !memchr(s, ' ', len) && memchr(s, '(', len);
}

/* A line that says nothing about why: blank, a note, a backtrace. */
static bool is_noise(const char *s, size_t len)
{
	return skip_space(s, len) == len || starts(s, len, "note: ") ||
	       starts(s, len, "stack backtrace:") || starts(s, len, "exit status ") ||
	       is_frame(s, len);
}

static void key_append(struct bh_lastwords *lw, const char *s, size_t len)
{
	size_t room = sizeof(lw->key) - lw->key_len;
	if (len > room)
		len = room;
	memcpy(lw->key + lw->key_len, s, len);
	lw->key_len += len;
}

/* A line after an announcement: part of it, or the end of its completion. */
static void follow(struct bh_lastwords *lw, const char *s, size_t len)
{
	size_t lead = skip_space(s, len);
	bool blank = lead == len;
	bool take = false, last = false;
	switch ((enum follow)lw->follow) {
	case FOLLOW_RUST:
		last = blank || starts(s, len, "note: ") || starts(s, len, "stack backtrace:");
		take = !last;
		break;
	case FOLLOW_GO:
		take = !blank && (starts(s, len, "[signal ") || starts(s, len, "goroutine "));
		last = starts(s, len, "goroutine ") || (!blank && !take);
		break;
	case FOLLOW_WHAT:
		take = starts(s + lead, len - lead, "what():");
		last = true;
		break;
	case FOLLOW_NONE:
		last = true;
		break;
	}
	if (take) {
		bool after_colon = lw->key_len > 0 && lw->key[lw->key_len - 1] == ':' &&
				   lw->follow == FOLLOW_RUST;
		key_append(lw, after_colon ? " " : " | ", after_colon ? 1 : 3);
		key_append(lw, s + lead, len - lead);
	}
	if (last || --lw->follow_left == 0)
		lw->follow = FOLLOW_NONE;
}

void bh_lastwords_add(struct bh_lastwords *lw, const char *line, size_t len)
{
	if (len > 0 && line[len - 1] == '\r')
		len--;
	enum follow f;
	if (announces(line, len, &f)) {
		lw->key_len = 0;
		key_append(lw, line, len);
		lw->key_line = lw->lines;
		lw->follow = f;
		lw->follow_left = FOLLOW_MAX;
	} else if (lw->follow != FOLLOW_NONE) {
		follow(lw, line, len);
	}
	size_t at = (size_t)(lw->lines % BH_LASTWORDS_LINES);
	size_t keep = len < BH_LASTWORDS_LINE ? len : BH_LASTWORDS_LINE;
	memcpy(lw->tail[at], line, keep);
	lw->tail_len[at] = (uint16_t)keep;
	lw->lines++;
}

size_t bh_lastwords_pick(const struct bh_lastwords *lw, char *buf, size_t size)
{
	if (size > BH_LASTWORDS_MAX)
		size = BH_LASTWORDS_MAX;
	if (lw->key_len > 0 && lw->lines - (lw->key_line + 1) <= BH_LASTWORDS_STALE)
		return bh_escape(buf, size, lw->key, lw->key_len);
	uint64_t kept = lw->lines < BH_LASTWORDS_LINES ? lw->lines : BH_LASTWORDS_LINES;
	const char *last = NULL;
	size_t last_len = 0;
	for (uint64_t i = 1; i <= kept; i++) {
		size_t at = (size_t)((lw->lines - i) % BH_LASTWORDS_LINES);
		const char *s = lw->tail[at];
		size_t len = lw->tail_len[at];
		if (!last && skip_space(s, len) < len) {
			last = s; /* the newest line with something on it: the fallback */
			last_len = len;
		}
		if (!is_noise(s, len))
			return bh_escape(buf, size, s, len);
	}
	if (!last) {
		buf[0] = 0;
		return 0;
	}
	return bh_escape(buf, size, last, last_len);
}
