/* bulkheadd logging: one line per event on stderr, "TIME LEVEL message". The message
 * is escaped by the logger (log.c), so peer text may be passed as it is. */
#ifndef BH_LOG_H
#define BH_LOG_H

#include <stddef.h>

enum bh_log_level { BH_LOG_ERROR, BH_LOG_WARN, BH_LOG_INFO, BH_LOG_DEBUG };

/* The one global besides the command line: the threshold. */
extern int bh_log_threshold;

void bh_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Log msg, len bytes of any content (NUL bytes included), as one record. Returns the
 * bytes the record took in the log (escaping makes it up to 4 times len, at most
 * 4 KiB), 0 when the level is filtered out. */
size_t bh_log_msg(int level, const char *msg, size_t len);

/* "error", "warn", "info", "debug" -> level, or -1. */
int bh_log_level_from_name(const char *name);

#define bh_err(...) bh_log(BH_LOG_ERROR, __VA_ARGS__)
#define bh_warn(...) bh_log(BH_LOG_WARN, __VA_ARGS__)
#define bh_info(...) bh_log(BH_LOG_INFO, __VA_ARGS__)
#define bh_debug(...)                                                                      \
	do {                                                                               \
		if (bh_log_threshold >= BH_LOG_DEBUG)                                      \
			bh_log(BH_LOG_DEBUG, __VA_ARGS__);                                 \
	} while (0)

#endif
