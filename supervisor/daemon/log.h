/* bulkheadd logging: one line per event on stderr. The message is escaped by the
 * logger (log.c), so peer text may be passed as it is.
 *
 * Three shapes of a record, chosen once at start (and the format again on reload):
 *   text       "2025-06-01T12:00:00.123+02:00 info  message"
 *   journald   "<6>message" when stderr is the journal's stream (JOURNAL_STREAM):
 *              the journal stores the priority and its own timestamp
 *   json       {"time":"...","level":"info","msg":"...","plugin":"echo","pid":42,...}
 *              one object per line (the journal prefix too, under journald) */
#ifndef BH_LOG_H
#define BH_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum bh_log_level { BH_LOG_ERROR, BH_LOG_WARN, BH_LOG_INFO, BH_LOG_DEBUG };
enum bh_log_format { BH_LOG_TEXT, BH_LOG_JSON };

/* The logging configuration, the one global besides the command line: the threshold,
 * the format, and whether stderr is the journal (bh_log_detect_journal). */
extern int bh_log_threshold;
extern int bh_log_format;
extern bool bh_log_journal;

/* What a record is about, where known; every member may be unset (NULL / 0). In
 * text the first three make a "[plugin pid N stream] " prefix; json has each as a
 * field, generation and event too. Strings are escaped like the message. */
struct bh_log_fields {
	const char *plugin;
	int pid;             /* the instance's host pid */
	uint64_t generation;
	const char *stream;  /* "stdout" / "stderr": a child's output */
	const char *event;   /* a lifecycle event name ("exited", ...) */
};

void bh_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void bh_logf(int level, const struct bh_log_fields *f, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Log msg, len bytes of any content (NUL bytes included), as one record; f may be
 * NULL. Returns the bytes the record took in the log (escaping makes it up to 4 times
 * len, at most 4 KiB), 0 when the level is filtered out. */
size_t bh_log_msg(int level, const struct bh_log_fields *f, const char *msg, size_t len);

/* "error", "warn", "info", "debug" -> level, or -1. */
int bh_log_level_from_name(const char *name);
/* "text", "json" -> format, or -1. */
int bh_log_format_from_name(const char *name);

/* The level a line of a plugin's output asks for, from how it starts, else dflt:
 * a syslog/sd-daemon prefix "<0>".."<7>"; or a word, alone, bracketed or followed by
 * ':' (case ignored): emerg, alert, crit, critical, fatal, panic, error, err ->
 * error; warning, warn -> warn; notice, info -> info; debug, trace -> debug; Rust's
 * "thread '...' panicked" -> error. */
int bh_log_level_of_line(const char *line, size_t len, int dflt);

/* Set bh_log_journal when JOURNAL_STREAM names stderr's device and inode (systemd
 * sets it for a service whose stderr is the journal; a child whose stderr was
 * redirected keeps the variable but not the stream, and is not fooled). */
void bh_log_detect_journal(void);

#define bh_err(...) bh_log(BH_LOG_ERROR, __VA_ARGS__)
#define bh_warn(...) bh_log(BH_LOG_WARN, __VA_ARGS__)
#define bh_info(...) bh_log(BH_LOG_INFO, __VA_ARGS__)
#define bh_debug(...)                                                                      \
	do {                                                                               \
		if (bh_log_threshold >= BH_LOG_DEBUG)                                      \
			bh_log(BH_LOG_DEBUG, __VA_ARGS__);                                 \
	} while (0)

#endif
