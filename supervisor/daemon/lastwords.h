/* A dying plugin's last words: the line of its stderr that says why it died.
 *
 * The last line a plugin writes before it dies rarely says why: a Rust panic ends
 * with "note: run with `RUST_BACKTRACE=1`...", a Go panic with a stack frame. So each
 * instance keeps a bounded tail of its stderr lines (BH_LASTWORDS_LINES lines of at
 * most BH_LASTWORDS_LINE bytes), and, apart from it, the last line that announced a
 * death (a Rust or Go panic, an uncaught C++ exception, a failed assertion, a
 * runtime's fatal error) with the lines that complete it (the panic message, the
 * exception's what(), the panicking goroutine), so that a long backtrace after it
 * cannot push it out. At the instance's death, bh_lastwords_pick gives that, or the
 * last tail line that is not noise (notes, backtrace frames, blank lines).
 *
 * Everything here is the plugin's own text: picked words are escaped (escape.h),
 * bounded, and say only what the plugin said. A plugin can make them say anything,
 * about itself only. */
#ifndef BH_LASTWORDS_H
#define BH_LASTWORDS_H

#include <stddef.h>
#include <stdint.h>

#define BH_LASTWORDS_LINES 16  /* the tail: lines kept */
#define BH_LASTWORDS_LINE 256  /* bytes kept of each line */
#define BH_LASTWORDS_KEY 512   /* bytes kept of a death announcement and its completion */
/* An announcement followed by more lines than that is old news: the plugin lived on
 * (a panic caught and answered as an error) and died of something else later. A
 * one-goroutine Go trace or a Rust backtrace (RUST_BACKTRACE=1) stays well below. */
#define BH_LASTWORDS_STALE 512
/* The picked words, escaped, NUL included: what an error message has room for. */
#define BH_LASTWORDS_MAX 320

struct bh_lastwords {
	char tail[BH_LASTWORDS_LINES][BH_LASTWORDS_LINE];
	uint16_t tail_len[BH_LASTWORDS_LINES];
	uint64_t lines;        /* lines seen; the newest is at (lines - 1) % LINES */
	char key[BH_LASTWORDS_KEY];
	size_t key_len;        /* 0: no announcement seen */
	uint64_t key_line;     /* its place: `lines` before it came */
	int follow;            /* what would complete it (lastwords.c) */
	uint32_t follow_left;  /* lines it may still take */
};

/* One line of stderr (without its newline; any bytes), as it came. */
void bh_lastwords_add(struct bh_lastwords *lw, const char *line, size_t len);
/* The words that best say why it died, escaped, in buf (size > 0, NUL-terminated,
 * at most BH_LASTWORDS_MAX bytes used). Returns their length; 0 when it said nothing. */
size_t bh_lastwords_pick(const struct bh_lastwords *lw, char *buf, size_t size);

#endif
