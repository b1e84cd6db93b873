/* Children's stdout/stderr: split into lines, attributed, bounded. */
#ifndef BH_CHILDLOG_H
#define BH_CHILDLOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "loop.h"

struct bh_instance;

#define BH_LOG_LINE_MAX 1024 /* longer lines are cut */

struct bh_child_log {
	struct bh_watch watch;
	struct bh_instance *inst;
	const char *stream; /* "stdout" / "stderr" */
	char *line;         /* BH_LOG_LINE_MAX bytes while a line comes in, else NULL: an
			     * instance that prints nothing holds no buffer */
	size_t len;
	bool truncated;
	uint64_t window_start_ns;
	uint64_t window_bytes;
	uint64_t suppressed;
	/* Reading is bounded as well as logging: cfg->output_rate bytes per one-second
	 * read window; past it the stream is not read until the window ends. */
	struct bh_timer resume;   /* the end of a window whose budget ran out */
	uint64_t read_start_ns;   /* the current read window */
	uint64_t read_bytes;      /* read in it */
	uint64_t over_since_ns;   /* start of the run of windows over the rate; 0: none */
	bool flooded;             /* over the rate for output_flood_ms: no more reading */
};

int bh_child_log_open(struct bh_instance *inst, struct bh_child_log *l, const char *stream,
		      int fd);
/* Read what is left (child exited), log a partial last line. */
void bh_child_log_drain(struct bh_child_log *l);
/* Stop watching the stream; safe on one never opened. */
void bh_child_log_close(struct bh_child_log *l);

#endif
