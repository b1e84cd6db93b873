/* bulkhead: peer text made safe for a log line or a terminal (libbulkhead-proto).
 *
 * Text that came from a plugin or a client (error messages, names, versions, method
 * names, a child's output) reaches the daemon's log and the CLI's output only in this
 * escaped form, so that it can neither start a forged log record nor drive a terminal
 * (ESC and CSI sequences, OSC 52 clipboard writes, CR/BS overprinting, bidirectional
 * reordering). The escaped text is one line of valid UTF-8 without any control
 * character; every backslash in it starts one of these escapes:
 *
 *   \\          a backslash
 *   \n \r \t    newline, carriage return, tab
 *   \xHH        another C0 control (00-1f) or DEL (7f); or, with HH >= 80, one byte of
 *               something that is not valid UTF-8 (RFC 3629: a stray continuation
 *               byte, a truncated sequence, an overlong form, a surrogate, a code
 *               point above U+10FFFF, the bytes c0 c1 f5-ff), so a lone 9b can never
 *               act as a CSI
 *   \uHHHH      a valid character that is a C1 control (U+0080-U+009F), a
 *               bidirectional embedding, override or isolate (U+202A-U+202E,
 *               U+2066-U+2069) or a line/paragraph separator (U+2028, U+2029)
 *   \...        the end of an output cut to fit its buffer
 *
 * HH is two lower-case hex digits. \x1b is the character ESC, \x9b a byte 9b that
 * is not part of valid UTF-8, \u009b the valid character U+009B (the bytes c2 9b):
 * the three never read alike. Every other character, printable ASCII and valid UTF-8
 * of any script, is copied unchanged.
 *
 * Nothing here allocates, logs or keeps state. */
#ifndef BULKHEAD_ESCAPE_H
#define BULKHEAD_ESCAPE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Buffer size that always holds the escaped form of len bytes, NUL included: no
 * input byte becomes more than 4 output bytes (\xHH; \u0085 is 6 bytes for 2). */
#define BH_ESCAPE_SIZE(len) (4 * (size_t)(len) + 1)

/* The truncation marker and the least buffer size that can hold it and the NUL. */
#define BH_ESCAPE_CUT "\\..."
#define BH_ESCAPE_CUT_MIN (sizeof(BH_ESCAPE_CUT))

/* Write the escaped form of the len bytes at in (any bytes, NUL included) to out,
 * which has room for size bytes, and NUL-terminate it (when size > 0). When the whole
 * of it does not fit, the output ends at a character or escape boundary followed by
 * BH_ESCAPE_CUT, within size; below BH_ESCAPE_CUT_MIN such an output is empty.
 * Returns the length written, without the NUL. */
size_t bh_escape(char *out, size_t size, const void *in, size_t len);

/* Length (1-4) of the valid UTF-8 character at s (len bytes available) and, in
 * *ret_cp (may be NULL), its code point; 0 when s does not start one (len 0, or any
 * of the RFC 3629 violations listed above). */
size_t bh_utf8_next(const void *s, size_t len, uint32_t *ret_cp);

/* True for the characters bh_escape writes as an escape: the backslash, C0 controls,
 * DEL, C1 controls, the bidirectional controls and U+2028/U+2029. */
bool bh_escape_needed(uint32_t cp);

#ifdef __cplusplus
}
#endif

#endif
