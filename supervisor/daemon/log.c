/* bulkheadd logging to stderr. One write(2) per line so lines from the daemon never
 * interleave mid-line with anything else writing to the same stderr.
 *
 * A record is exactly one line (the shapes are in log.h): the message and every
 * field are escaped here, at the sink (bulkhead/escape.h), because much of what the
 * daemon logs came from a plugin or a client (error messages, names, versions,
 * method names, a child's output). No such text can end the record early, forge
 * another one, or reach a terminal reading the log as control sequences. The escaped
 * text is valid UTF-8 without control characters, so in json only '"' and '\' are
 * left to escape: every record is a valid JSON object. */
#define _GNU_SOURCE
#include "log.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bulkhead/escape.h"

/* Bytes of one escaped message (the text record's bound). */
#define LOG_LINE_MAX 4096
/* Bytes of one escaped field value (names, streams, events). */
#define FIELD_MAX 256
/* A json record: the message and a field, each at worst doubled by json escaping,
 * and the rest (time, level, numbers, keys). */
#define RECORD_MAX (2 * LOG_LINE_MAX + 2 * FIELD_MAX * 3 + 256)

int bh_log_threshold = BH_LOG_INFO;
int bh_log_format = BH_LOG_TEXT;
bool bh_log_journal;

static const char *const level_names[] = {"error", "warn", "info", "debug"};
/* syslog priorities (sd-daemon.h's SD_ERR ... SD_DEBUG) */
static const int level_priority[] = {3, 4, 6, 7};
static const char *const format_names[] = {"text", "json"};

static int index_of(const char *const *names, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(name, names[i]) == 0)
			return (int)i;
	return -1;
}

int bh_log_level_from_name(const char *name)
{
	return index_of(level_names, sizeof(level_names) / sizeof(level_names[0]), name);
}

int bh_log_format_from_name(const char *name)
{
	return index_of(format_names, sizeof(format_names) / sizeof(format_names[0]), name);
}

void bh_log_detect_journal(void)
{
	const char *e = getenv("JOURNAL_STREAM");
	uintmax_t dev, ino;
	struct stat st;
	bh_log_journal = e && sscanf(e, "%ju:%ju", &dev, &ino) == 2 &&
			 fstat(STDERR_FILENO, &st) == 0 && (uintmax_t)st.st_dev == dev &&
			 (uintmax_t)st.st_ino == ino;
}

/* ---- the level a plugin's line asks for ---------------------------------------------- */

static const struct {
	const char *word;
	int level;
} line_words[] = {
	{"emerg", BH_LOG_ERROR},   {"emergency", BH_LOG_ERROR}, {"alert", BH_LOG_ERROR},
	{"crit", BH_LOG_ERROR},    {"critical", BH_LOG_ERROR},  {"fatal", BH_LOG_ERROR},
	{"panic", BH_LOG_ERROR},   {"error", BH_LOG_ERROR},     {"err", BH_LOG_ERROR},
	{"warning", BH_LOG_WARN},  {"warn", BH_LOG_WARN},       {"notice", BH_LOG_INFO},
	{"info", BH_LOG_INFO},     {"debug", BH_LOG_DEBUG},     {"trace", BH_LOG_DEBUG},
};

int bh_log_level_of_line(const char *line, size_t len, int dflt)
{
	size_t i = 0;
	while (i < len && (line[i] == ' ' || line[i] == '\t'))
		i++;
	if (len - i >= 3 && line[i] == '<' && line[i + 1] >= '0' && line[i + 1] <= '7' &&
	    line[i + 2] == '>') {
		static const int from_priority[] = {BH_LOG_ERROR, BH_LOG_ERROR, BH_LOG_ERROR,
						    BH_LOG_ERROR, BH_LOG_WARN,  BH_LOG_INFO,
						    BH_LOG_INFO,  BH_LOG_DEBUG};
		return from_priority[line[i + 1] - '0'];
	}
	static const char rust_panic[] = "thread '";
	if (len - i > sizeof(rust_panic) && memcmp(line + i, rust_panic, sizeof(rust_panic) - 1) == 0 &&
	    memmem(line + i, len - i, "' panicked", 10))
		return BH_LOG_ERROR;
	bool bracket = i < len && line[i] == '[';
	i += bracket;
	size_t w = i;
	while (w < len && ((line[w] >= 'a' && line[w] <= 'z') || (line[w] >= 'A' && line[w] <= 'Z')))
		w++;
	/* The word must stand alone: "error:", "[WARN]", "panic: ...", "ERROR" - not
	 * "errors were fixed" or "information". */
	char after = w < len ? line[w] : 0;
	if (!(bracket ? after == ']' : (after == ':' || after == 0 || after == ' ')))
		return dflt;
	if (!bracket && after == ' ') {
		/* "ERROR something" counts only in capitals, the usual log-line shape;
		 * "error handling works" is a sentence. */
		for (size_t k = i; k < w; k++)
			if (line[k] >= 'a' && line[k] <= 'z')
				return dflt;
	}
	for (size_t k = 0; k < sizeof(line_words) / sizeof(line_words[0]); k++)
		if (strlen(line_words[k].word) == w - i &&
		    strncasecmp(line + i, line_words[k].word, w - i) == 0)
			return line_words[k].level;
	return dflt;
}

/* ---- records ------------------------------------------------------------------------ */

struct out {
	char *p;
	size_t len, cap;
};

static void put(struct out *o, const char *s, size_t n)
{
	if (n > o->cap - o->len)
		n = o->cap - o->len;
	memcpy(o->p + o->len, s, n);
	o->len += n;
}

static void putf(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void putf(struct out *o, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(o->p + o->len, o->cap - o->len, fmt, ap);
	va_end(ap);
	if (n > 0)
		o->len += (size_t)n < o->cap - o->len ? (size_t)n : o->cap - o->len - 1;
}

/* The escaped form of s (peer text). */
static void put_escaped(struct out *o, const char *s, size_t n)
{
	char esc[FIELD_MAX];
	put(o, esc, bh_escape(esc, sizeof(esc), s, n));
}

/* "s" as a JSON string; s is escaped text (no control characters, valid UTF-8). */
static void put_json_str(struct out *o, const char *s, size_t n)
{
	put(o, "\"", 1);
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '"' || s[i] == '\\')
			put(o, "\\", 1);
		put(o, s + i, 1);
	}
	put(o, "\"", 1);
}

static void put_json_field(struct out *o, const char *key, const char *s)
{
	char esc[FIELD_MAX];
	putf(o, ",\"%s\":", key);
	put_json_str(o, esc, bh_escape(esc, sizeof(esc), s, strlen(s)));
}

/* RFC 3339 local time with its offset, to the millisecond. */
static void put_time(struct out *o)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	struct tm tm;
	localtime_r(&ts.tv_sec, &tm);
	char date[32];
	strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%S", &tm);
	long off = tm.tm_gmtoff < 0 ? -tm.tm_gmtoff : tm.tm_gmtoff;
	putf(o, "%s.%03ld%c%02ld:%02ld", date, ts.tv_nsec / 1000000, tm.tm_gmtoff < 0 ? '-' : '+',
	     off / 3600, off / 60 % 60);
}

size_t bh_log_msg(int level, const struct bh_log_fields *f, const char *msg, size_t len)
{
	if (level > bh_log_threshold)
		return 0;
	static const struct bh_log_fields none;
	if (!f)
		f = &none;
	char line[RECORD_MAX];
	/* Room for the newline. */
	struct out o = {.p = line, .cap = sizeof(line) - 1};
	char esc[LOG_LINE_MAX];
	size_t esc_len = bh_escape(esc, sizeof(esc), msg, len);
	if (bh_log_journal)
		putf(&o, "<%d>", level_priority[level]);
	if (bh_log_format == BH_LOG_JSON) {
		put(&o, "{\"time\":\"", 9);
		put_time(&o);
		putf(&o, "\",\"level\":\"%s\",\"msg\":", level_names[level]);
		put_json_str(&o, esc, esc_len);
		if (f->plugin)
			put_json_field(&o, "plugin", f->plugin);
		if (f->pid > 0)
			putf(&o, ",\"pid\":%d", f->pid);
		if (f->generation)
			putf(&o, ",\"generation\":%" PRIu64, f->generation);
		if (f->stream)
			put_json_field(&o, "stream", f->stream);
		if (f->event)
			put_json_field(&o, "event", f->event);
		put(&o, "}", 1);
	} else {
		if (!bh_log_journal) {
			put_time(&o);
			putf(&o, " %-5s ", level_names[level]);
		}
		if (f->plugin || f->pid > 0 || f->stream) {
			put(&o, "[", 1);
			if (f->plugin)
				put_escaped(&o, f->plugin, strlen(f->plugin));
			if (f->pid > 0)
				putf(&o, "%spid %d", f->plugin ? " " : "", f->pid);
			if (f->stream) {
				put(&o, " ", 1);
				put_escaped(&o, f->stream, strlen(f->stream));
			}
			put(&o, "] ", 2);
		}
		put(&o, esc, esc_len);
	}
	line[o.len++] = '\n';
	ssize_t w = write(STDERR_FILENO, line, o.len);
	(void)w; /* nowhere left to report a failing stderr */
	return o.len;
}

static void vlog(int level, const struct bh_log_fields *f, const char *fmt, va_list ap)
{
	/* As long as the line: a message vsnprintf cuts is longer than the line's room
	 * even unescaped, so bh_escape marks the cut. */
	char msg[LOG_LINE_MAX];
	int m = vsnprintf(msg, sizeof(msg), fmt, ap);
	size_t len = m < 0 ? 0 : (size_t)m < sizeof(msg) ? (size_t)m : sizeof(msg) - 1;
	bh_log_msg(level, f, msg, len);
}

void bh_log(int level, const char *fmt, ...)
{
	if (level > bh_log_threshold)
		return;
	va_list ap;
	va_start(ap, fmt);
	vlog(level, NULL, fmt, ap);
	va_end(ap);
}

void bh_logf(int level, const struct bh_log_fields *f, const char *fmt, ...)
{
	if (level > bh_log_threshold)
		return;
	va_list ap;
	va_start(ap, fmt);
	vlog(level, f, fmt, ap);
	va_end(ap);
}
