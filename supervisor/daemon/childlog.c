/* Children's stdout/stderr: split into lines, attributed, bounded.
 * A line longer than the buffer is cut (and marked); past LOG_BYTES_PER_SEC per
 * stream, lines are dropped and counted, and the count is logged once per window,
 * so a flooding plugin costs the daemon bounded work and the log bounded space. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "daemon.h"

#define LOG_BYTES_PER_SEC (64 * 1024)
#define READ_PER_EVENT (64 * 1024)

static void report_suppressed(struct bh_child_log *l)
{
	if (l->suppressed)
		bh_warn("[%s pid %d %s] %llu bytes of output suppressed (over %d bytes/s)",
			l->inst->slot->conf->name, (int)l->inst->child.pid, l->stream,
			(unsigned long long)l->suppressed, LOG_BYTES_PER_SEC);
	l->suppressed = 0;
}

static void emit_line(struct bh_child_log *l)
{
	struct bh_instance *inst = l->inst;
	uint64_t now = bh_now_ns();
	if (now - l->window_start_ns >= 1000000000ull) {
		report_suppressed(l);
		l->window_start_ns = now;
		l->window_bytes = 0;
	}
	if (l == &inst->err) {
		size_t n = l->len < sizeof(inst->last_stderr) - 1 ? l->len
								   : sizeof(inst->last_stderr) - 1;
		memcpy(inst->last_stderr, l->line, n);
		inst->last_stderr[n] = 0;
	}
	if (l->window_bytes + l->len > LOG_BYTES_PER_SEC) {
		l->suppressed += l->len + 1;
	} else {
		/* The line's bytes as they came, NULs included: the logger escapes them, and
		 * the window counts what the escaped record took (escaping can quadruple). */
		static const char cut[] = " [line truncated]";
		char msg[256 + sizeof(l->line) + sizeof(cut)];
		int n = snprintf(msg, 256, "[%s pid %d %s] ", inst->slot->conf->name,
				 (int)inst->child.pid, l->stream);
		size_t len = n < 0 ? 0 : (size_t)n < 256 ? (size_t)n : 255;
		memcpy(msg + len, l->line, l->len);
		len += l->len;
		if (l->truncated) {
			memcpy(msg + len, cut, sizeof(cut) - 1);
			len += sizeof(cut) - 1;
		}
		size_t took = bh_log_msg(BH_LOG_INFO, msg, len);
		l->window_bytes += took > l->len + 1 ? took : l->len + 1;
	}
	l->len = 0;
	l->truncated = false;
}

static void consume(struct bh_child_log *l, const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		char ch = p[i];
		if (ch == '\n') {
			emit_line(l);
			continue;
		}
		if (l->len < sizeof(l->line)) {
			l->line[l->len++] = ch; /* raw: the logger escapes the record */
		} else if (!l->truncated) {
			l->truncated = true;
		}
	}
}

/* Read up to `budget` bytes. False at end of file or error. */
static bool read_some(struct bh_child_log *l, size_t budget)
{
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
	}
	return true;
}

static void log_event(struct bh_watch *w, uint32_t events)
{
	struct bh_child_log *l = bh_container_of(w, struct bh_child_log, watch);
	(void)events;
	if (!read_some(l, READ_PER_EVENT)) {
		if (l->len)
			emit_line(l);
		report_suppressed(l);
		bh_watch_close(l->inst->d->loop, &l->watch);
	}
}

/* Takes ownership of fd, also on failure. */
int bh_child_log_open(struct bh_instance *inst, struct bh_child_log *l, const char *stream,
		      int fd)
{
	l->inst = inst;
	l->stream = stream;
	l->len = 0;
	l->window_start_ns = bh_now_ns();
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
	/* The writer is dead: what is left is bounded by the pipe's capacity. */
	read_some(l, 1024 * 1024);
	if (l->len)
		emit_line(l);
	report_suppressed(l);
}
