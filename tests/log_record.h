/* For tests: the shape of one text record of the daemon's log,
 * "2025-06-01T12:00:00.123+02:00 info  message" (supervisor/daemon/log.c). */
#ifndef BH_TESTS_LOG_RECORD_H
#define BH_TESTS_LOG_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

/* Bytes of the time, the space after it, and the level padded to five and a space. */
#define LOG_RECORD_TIME_LEN 29
#define LOG_RECORD_MSG_AT (LOG_RECORD_TIME_LEN + 1 + 6)

/* True when the n bytes at line start with a record's time (RFC 3339, local time with
 * its offset), a space and a level: the message then starts at LOG_RECORD_MSG_AT. */
static inline bool log_record_prefix(const char *line, size_t n)
{
	static const char shape[] = "dddd-dd-ddTdd:dd:dd.ddd+dd:dd ";
	static const char *const levels[] = {"error ", "warn  ", "info  ", "debug "};
	if (n < LOG_RECORD_MSG_AT)
		return false;
	for (size_t i = 0; i < sizeof(shape) - 1; i++) {
		char c = line[i];
		if (shape[i] == 'd' ? !(c >= '0' && c <= '9')
		    : shape[i] == '+' ? c != '+' && c != '-'
				      : c != shape[i])
			return false;
	}
	for (size_t i = 0; i < sizeof(levels) / sizeof(levels[0]); i++)
		if (strncmp(line + LOG_RECORD_TIME_LEN + 1, levels[i], 6) == 0)
			return true;
	return false;
}

#endif
