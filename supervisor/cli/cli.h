/* bulkhead CLI: what the command's parts share (private to supervisor/cli). */
#ifndef BULKHEAD_CLI_H
#define BULKHEAD_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include <jansson.h>

#include "bulkhead/client.h"

/* Exit statuses: part of the command's interface, never renumber. */
enum {
	CLI_EXIT_OK = 0,
	CLI_EXIT_REMOTE = 1,      /* the daemon (or a plugin) answered with an error */
	CLI_EXIT_USAGE = 2,       /* bad command line; a usage line was printed */
	CLI_EXIT_UNAVAILABLE = 3, /* no daemon to talk to, or the connection broke */
};

/* ---- json.c: the JSON <-> MessagePack mapping (documented at the top of json.c) ---- */

/* A new JSON value for v, or NULL when out of memory. */
json_t *cli_json_from_value(const bh_value *v);

/* Encode JSON j as MessagePack into w. 0, or -EINVAL with a message in why
 * ("at [0].data: $bin wants a base64 string"), or the writer's error. */
int cli_json_to_msgpack(const json_t *j, bh_writer *w, char *why, size_t why_len);

/* Render j as text: one line, or indented with pretty. Floats come out with the
 * fewest digits that read back exactly. The caller frees the string; NULL when out
 * of memory. */
char *cli_json_dump(const json_t *j, bool pretty);

/* ---- events.c ---- */

/* One event of bulkhead.subscribe as a line: time, kind, fields. 0, or -EIO. */
int cli_print_event(FILE *out, const bh_value *event);

/* ---- status.c ---- */

/* The human rendering of a bulkhead.status answer: one line per plugin, each cut to
 * width bytes (0: no limit); with plugin, that plugin in full instead. Returns 0,
 * -ENOENT when there is no such plugin, or -EIO when out could not be written. */
int cli_print_status(FILE *out, const bh_value *status, const char *plugin, size_t width);

/* A short rendering of a scalar for tables: nil is "-", strings escaped (cli_escape),
 * containers as one-line JSON. A malloc'ed string the caller frees; NULL when out of
 * memory. */
char *cli_value_text(const bh_value *v);

/* The len bytes at s escaped for a terminal (bulkhead/escape.h: controls, C1,
 * bidirectional controls and invalid UTF-8 become visible escapes). Everything the
 * daemon or a plugin sent is printed through this or as JSON (json.c). A malloc'ed
 * string the caller frees; NULL when out of memory. */
char *cli_escape(const char *s, size_t len);

/* ---- health.c ---- */

/* `bulkhead health`: a line per plugin (or for plugin only) on out. CLI_EXIT_OK when
 * each is healthy, else CLI_EXIT_REMOTE (1). */
int cli_health(FILE *out, const bh_value *status, const char *plugin);

#endif
