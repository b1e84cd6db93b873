/* Children's stdout/stderr: split into lines, attributed, bounded.
 * A line longer than the buffer is cut (and marked); past LOG_BYTES_PER_SEC per
 * stream, lines are dropped and counted, and the count is logged once per window,
 * so the log takes bounded space. Reading is bounded too, so that a flood costs the
 * daemon bounded work: each stream is read at most cfg->output_rate bytes per
 * one-second window; once that is read the pipe is left alone until the window ends
 * (the child blocks on it), and a stream held over the rate for cfg->output_flood_ms
 * is an output flood: the instance is killed and replaced, with that reason.
 *
 * A line is logged at the plugin's output_level, or with "auto" (the default) at the
 * level the line itself announces ("error: ...", "[WARN] ...", "<3>...", "panic: ..."),
 * info when it announces none. */
#include "childlog.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "config.h"
#include "daemon.h"
#include "instance.h"
#include "list.h"
#include "log.h"
#include "loop.h"
#include "slot.h"

#define LOG_BYTES_PER_SEC (64 * 1024)
#define READ_PER_EVENT (64 * 1024)
#define READ_WINDOW_NS 1000000000ull
/* What is left in a pipe whose writers are gone: its capacity, at most 1 MiB. */
#define DRAIN_MAX (1024 * 1024)

/* Who wrote the line: the plugin, its instance, the stream. */
static struct bh_log_fields fields_of(const struct bh_child_log *l)
{
	return (struct bh_log_fields){.plugin = l->inst->slot->conf->name,
				      .pid = (int)l->inst->child.pid,
				      .generation = l->inst->generation,
				      .stream = l->stream};
}

static void report_suppressed(struct bh_child_log *l)
{
	if (l->suppressed) {
		const struct bh_log_fields f = fields_of(l);
		bh_logf(BH_LOG_WARN, &f, "%llu bytes of output suppressed (over %d bytes/s)",
			(unsigned long long)l->suppressed, LOG_BYTES_PER_SEC);
	}
	l->suppressed = 0;
}

static void emit_line(struct bh_child_log *l)
{
	struct bh_instance *inst = l->inst;
	const char *text = l->line ? l->line : "";
	uint64_t now = bh_now_ns();
	if (now - l->window_start_ns >= 1000000000ull) {
		report_suppressed(l);
		l->window_start_ns = now;
		l->window_bytes = 0;
	}
	if (l == &inst->err && (inst->words || (inst->words = calloc(1, sizeof(*inst->words)))))
		bh_lastwords_add(inst->words, text, l->len);
	if (l->window_bytes + l->len > LOG_BYTES_PER_SEC) {
		l->suppressed += l->len + 1;
	} else {
		/* The line's bytes as they came, NULs included: the logger escapes them, and
		 * the window counts what the escaped record took (escaping can quadruple). */
		static const char cut[] = " [line truncated]";
		char msg[BH_LOG_LINE_MAX + sizeof(cut)];
		memcpy(msg, text, l->len);
		size_t len = l->len;
		if (l->truncated) {
			memcpy(msg + len, cut, sizeof(cut) - 1);
			len += sizeof(cut) - 1;
		}
		const struct bh_log_fields f = fields_of(l);
		/* The plugin's setting, else what the line says it is. */
		int level = inst->slot->conf->output_level;
		if (level == BH_OUTPUT_LEVEL_AUTO)
			level = bh_log_level_of_line(text, l->len, BH_LOG_INFO);
		size_t took = bh_log_msg(level, &f, msg, len);
		l->window_bytes += took > l->len + 1 ? took : l->len + 1;
	}
	l->len = 0;
	l->truncated = false;
	free(l->line);
	l->line = NULL;
}

static void consume(struct bh_child_log *l, const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		char ch = p[i];
		if (ch == '\n') {
			emit_line(l);
			continue;
		}
		if (l->len < BH_LOG_LINE_MAX && (l->line || (l->line = malloc(BH_LOG_LINE_MAX)))) {
			l->line[l->len++] = ch; /* raw: the logger escapes the record */
		} else if (!l->truncated) { /* too long, or no memory for it */
			l->truncated = true;
		}
	}
}

/* Read up to `budget` bytes. False at end of file or error. */
static bool read_some(struct bh_child_log *l, size_t budget)
{
	struct bh_daemon *d = l->inst->d;
	char buf[8192];
	while (budget > 0) {
		ssize_t n = read(l->watch.fd, buf, sizeof(buf) < budget ? sizeof(buf) : budget);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return errno == EAGAIN;
		}
		if (n == 0)
			return false;
		consume(l, buf, (size_t)n);
		budget -= (size_t)n;
		l->read_bytes += (uint64_t)n;
		d->input.output_read += (uint64_t)n;
	}
	return true;
}

static void log_end(struct bh_child_log *l)
{
	if (l->len)
		emit_line(l);
	report_suppressed(l);
	bh_child_log_close(l);
}

/* Bytes the stream may still be read in the current window. A new window starts at
 * the first read after the old one ended; the run of windows over the rate goes on
 * only when the new one follows an exhausted one without a gap. */
static uint64_t read_budget(struct bh_child_log *l, uint64_t now)
{
	const struct bh_config *cfg = l->inst->d->cfg;
	if (now - l->read_start_ns >= READ_WINDOW_NS) {
		if (l->read_bytes < cfg->output_rate || now - l->read_start_ns >= 2 * READ_WINDOW_NS)
			l->over_since_ns = 0;
		l->read_start_ns = now;
		l->read_bytes = 0;
	}
	return l->read_bytes < cfg->output_rate ? cfg->output_rate - l->read_bytes : 0;
}

static void describe_rate(uint64_t rate, char *buf, size_t len)
{
	if (rate % (1u << 20) == 0)
		snprintf(buf, len, "%llu MiB/s", (unsigned long long)(rate >> 20));
	else
		snprintf(buf, len, "%llu KiB/s", (unsigned long long)(rate >> 10));
}

/* This window's budget is spent: leave the pipe alone until the window ends. */
static void throttle(struct bh_child_log *l)
{
	struct bh_loop *loop = l->inst->d->loop;
	if (!l->over_since_ns)
		l->over_since_ns = l->read_start_ns;
	bh_watch_mod(loop, &l->watch, 0);
	if (bh_timer_arm(loop, &l->resume, l->read_start_ns + READ_WINDOW_NS) < 0)
		bh_watch_mod(loop, &l->watch, EPOLLIN); /* no timer: read on */
}

/* The end of a window that ran out of budget: read on, or, when the stream has now
 * been over the rate for output_flood_ms, stop for good and replace the instance. */
static void log_resume(struct bh_timer *t)
{
	struct bh_child_log *l = bh_container_of(t, struct bh_child_log, resume);
	struct bh_instance *inst = l->inst;
	const struct bh_config *cfg = inst->d->cfg;
	if (l->watch.fd < 0 || l->flooded)
		return;
	uint64_t window_end = l->read_start_ns + READ_WINDOW_NS;
	if (window_end - l->over_since_ns >= bh_ms_to_ns(cfg->output_flood_ms)) {
		char rate[32];
		describe_rate(cfg->output_rate, rate, sizeof(rate));
		l->flooded = true;
		bh_instance_kill(inst, BH_EXIT_FLOOD, "output flood: %s over %s for %u ms", l->stream,
				 rate, cfg->output_flood_ms);
		return;
	}
	bh_watch_mod(inst->d->loop, &l->watch, EPOLLIN);
}

static void log_event(struct bh_watch *w, uint32_t events)
{
	struct bh_child_log *l = bh_container_of(w, struct bh_child_log, watch);
	if (l->flooded) {
		bh_child_log_close(l); /* a hang-up, reported whatever the mask */
		return;
	}
	if (events & EPOLLHUP) {
		/* The writers are gone: what is left is bounded by the pipe's capacity. */
		read_some(l, DRAIN_MAX);
		log_end(l);
		return;
	}
	uint64_t budget = read_budget(l, bh_now_ns());
	if (budget > 0 && !read_some(l, budget < READ_PER_EVENT ? (size_t)budget : READ_PER_EVENT)) {
		log_end(l);
		return;
	}
	if (l->read_bytes >= l->inst->d->cfg->output_rate)
		throttle(l);
}

/* Takes ownership of fd, also on failure. */
int bh_child_log_open(struct bh_instance *inst, struct bh_child_log *l, const char *stream,
		      int fd)
{
	l->inst = inst;
	l->stream = stream;
	l->len = 0;
	l->window_start_ns = bh_now_ns();
	l->read_start_ns = l->window_start_ns;
	l->read_bytes = 0;
	l->over_since_ns = 0;
	l->flooded = false;
	bh_timer_init(&l->resume, log_resume);
	l->watch = (struct bh_watch){.fd = fd, .events = EPOLLIN, .fn = log_event};
	int r = bh_watch_add(inst->d->loop, &l->watch);
	if (r < 0) {
		close(fd);
		l->watch.fd = -1;
	}
	return r;
}

void bh_child_log_drain(struct bh_child_log *l)
{
	if (l->watch.fd < 0)
		return;
	/* The writer is dead: what is left is bounded by the pipe's capacity. A flood
	 * is not worth reading. */
	if (!l->flooded)
		read_some(l, DRAIN_MAX);
	if (l->len)
		emit_line(l);
	report_suppressed(l);
}

void bh_child_log_close(struct bh_child_log *l)
{
	if (!l->inst)
		return;
	bh_timer_disarm(l->inst->d->loop, &l->resume);
	bh_watch_close(l->inst->d->loop, &l->watch);
	free(l->line);
	l->line = NULL;
	l->len = 0;
}
