/* bulkheadd logging to stderr. One write(2) per line so lines from the daemon never
 * interleave mid-line with anything else writing to the same stderr.
 *
 * A record is "HH:MM:SS.mmm LEVEL message\n", exactly one line: the message is
 * escaped here, at the sink (bulkhead/escape.h), because much of what the daemon
 * logs came from a plugin or a client (error messages, names, versions, method
 * names, a child's output). No such text can end the record early, forge another
 * one, or reach a terminal reading the log as control sequences. */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bulkhead/escape.h"

/* Bytes of one record, newline included. */
#define LOG_LINE_MAX 4096

int bh_log_threshold = BH_LOG_INFO;

static const char *const level_names[] = {"error", "warn", "info", "debug"};

int bh_log_level_from_name(const char *name)
{
	for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++)
		if (strcmp(name, level_names[i]) == 0)
			return (int)i;
	return -1;
}

size_t bh_log_msg(int level, const char *msg, size_t len)
{
	if (level > bh_log_threshold)
		return 0;
	char line[LOG_LINE_MAX];
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	struct tm tm;
	gmtime_r(&ts.tv_sec, &tm);
	int n = snprintf(line, sizeof(line), "%02d:%02d:%02d.%03ld %-5s ", tm.tm_hour, tm.tm_min,
			 tm.tm_sec, ts.tv_nsec / 1000000, level_names[level]);
	/* Room for the newline; a message too long for the line ends with the marker. */
	size_t len_out = (size_t)n + bh_escape(line + n, sizeof(line) - (size_t)n - 1, msg, len);
	line[len_out++] = '\n';
	ssize_t w = write(STDERR_FILENO, line, len_out);
	(void)w; /* nowhere left to report a failing stderr */
	return len_out;
}

void bh_log(int level, const char *fmt, ...)
{
	if (level > bh_log_threshold)
		return;
	/* As long as the line: a message vsnprintf cuts is longer than the line's room
	 * even unescaped, so bh_escape marks the cut. */
	char msg[LOG_LINE_MAX];
	va_list ap;
	va_start(ap, fmt);
	int m = vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	size_t len = m < 0 ? 0 : (size_t)m < sizeof(msg) ? (size_t)m : sizeof(msg) - 1;
	bh_log_msg(level, msg, len);
}
