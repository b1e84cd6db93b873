/* bulkhead: the command-line client of the daemon.
 *
 *   bulkhead [-s|--socket PATH] [-t|--timeout MS] [--json] [--pretty] COMMAND [ARGS...]
 *
 * Every command is one call on the daemon's socket through libbulkhead-client:
 * `call` calls a plugin method, the others call the daemon's own `bulkhead.*`
 * methods. Exit statuses (cli.h): 0 success, 1 an error answered by the daemon or a
 * plugin, 2 a usage error (with a usage line), 3 the daemon cannot be reached or the
 * connection broke. Errors print as `error: NAME (CODE): MESSAGE` on stderr.
 *
 * Everything that can be checked without the daemon (options, JSON arguments) is
 * checked before connecting, so a usage error is a usage error even with no daemon. */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "bulkhead/proto.h"
#include "cli.h"

#ifndef BH_VERSION
#define BH_VERSION "unknown"
#endif

struct opts {
	const char *socket; /* NULL: bh_default_socket() */
	int timeout_ms;     /* 0: the plugin's default deadline */
	bool json;
	bool pretty;
	int canary; /* swap --canary PCT; -1 when not given */
	int watch_s; /* status --watch[=SECS]: redraw every SECS; 0 once */
};

struct command {
	const char *name;
	int (*run)(const struct command *cmd, struct opts *o, int argc, char **argv);
	int min_args, max_args; /* operands after the command name */
	const char *synopsis;   /* after "bulkhead " */
	const char *summary;
	const char *help; /* more text for COMMAND --help, or NULL */
};

static const struct command commands[];

/* ---- messages ---------------------------------------------------------------------- */

static int usage_error(const struct command *cmd, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static int usage_error(const struct command *cmd, const char *fmt, ...)
{
	/* The message quotes the command line, which a script may have filled with
	 * anyone's text: escaped like everything else this prints. */
	char *msg = NULL, *safe = NULL;
	va_list ap;
	va_start(ap, fmt);
	int n = vasprintf(&msg, fmt, ap);
	va_end(ap);
	if (n >= 0)
		safe = cli_escape(msg, (size_t)n);
	fprintf(stderr, "error: %s", safe ? safe : "out of memory");
	free(msg);
	free(safe);
	if (cmd)
		fprintf(stderr, "\nusage: bulkhead %s\nTry 'bulkhead %s --help'.\n", cmd->synopsis,
			cmd->name);
	else
		fprintf(stderr, "\nusage: bulkhead [OPTIONS] COMMAND [ARGS...]\n"
				"Try 'bulkhead --help'.\n");
	return CLI_EXIT_USAGE;
}

/* --json: errors too are JSON, {"error": {"code", "name", "message"}} on stderr. */
static bool json_errors;

/* message comes from the daemon or a plugin: escaped. */
static void print_error(int32_t code, const char *message)
{
	if (json_errors) {
		json_t *j = json_pack("{s:{s:i,s:s,s:s%}}", "error", "code", (int)code, "name",
				      bh_code_name(code), "message", message, strlen(message));
		char *s = j ? cli_json_dump(j, false) : NULL;
		json_decref(j);
		if (s) {
			fprintf(stderr, "%s\n", s);
			free(s);
			return;
		}
	}
	char *safe = cli_escape(message, strlen(message));
	fprintf(stderr, "error: %s (%d): %s\n", bh_code_name(code), (int)code,
		safe ? safe : "(out of memory)");
	free(safe);
}

/* ---- talking to the daemon ----------------------------------------------------------- */

static int open_client(const struct opts *o, bh_client **ret)
{
	const char *path = o->socket ? o->socket : bh_default_socket();
	int r = bh_client_connect(path, ret);
	if (r < 0) {
		char msg[BH_ERROR_MESSAGE_MAX];
		snprintf(msg, sizeof msg, "cannot connect to %s: %s", path, strerror(-r));
		print_error(BH_E_UNAVAILABLE, msg);
		return CLI_EXIT_UNAVAILABLE;
	}
	return CLI_EXIT_OK;
}

/* Connect, call method with the encoded params (an array; NULL for []), close.
 * Returns an exit status; *ret is set on success. */
static int invoke(const struct opts *o, const char *method, const struct bh_buf *params,
		  bh_result **ret)
{
	bh_client *c;
	int status = open_client(o, &c);
	if (status != CLI_EXIT_OK)
		return status;
	if (params)
		bh_write_raw(bh_client_params(c), params->data, params->len);

	bh_error err;
	int r = bh_call(c, method, o->timeout_ms, ret, &err);
	bh_client_free(c);
	if (r == 0)
		return CLI_EXIT_OK;
	print_error(err.code, err.message);
	/* bh_call returns -code for an answer, -errno for a local failure (client.c). */
	if (r == -err.code)
		return CLI_EXIT_REMOTE;
	if (r == -EMSGSIZE || r == -EINVAL || r == -ENOMEM)
		return CLI_EXIT_REMOTE;
	return CLI_EXIT_UNAVAILABLE;
}

/* Print v as JSON on stdout. */
static int print_json(const struct opts *o, const bh_value *v)
{
	json_t *j = cli_json_from_value(v);
	char *s = j ? cli_json_dump(j, o->pretty) : NULL;
	json_decref(j);
	if (!s) {
		print_error(BH_E_INTERNAL, "out of memory rendering the result");
		return CLI_EXIT_REMOTE;
	}
	puts(s);
	free(s);
	return CLI_EXIT_OK;
}

/* Params of the daemon's control methods: strings (NULL is nil), then an optional
 * options map. */
static int control_params(struct bh_buf *b, size_t n, const char *const *strs,
			  int canary)
{
	struct bh_writer w;
	bh_buf_init(b, 0);
	bh_writer_init(&w, b);
	bh_write_array(&w, (uint32_t)(n + (canary >= 0)));
	for (size_t i = 0; i < n; i++) {
		if (strs[i])
			bh_write_cstr(&w, strs[i]);
		else
			bh_write_nil(&w);
	}
	if (canary >= 0) {
		bh_write_map(&w, 1);
		bh_write_cstr(&w, "canary");
		bh_write_int(&w, canary);
	}
	return bh_writer_error(&w);
}

/* The answer of load/unload/swap/promote/rollback: a headline, then the map's
 * entries; JSON with --json. */
static void print_control_result(const struct opts *o, const char *verb, const char *name,
				 const bh_value *v)
{
	if (o->json) {
		print_json(o, v);
		return;
	}
	char *safe_name = cli_escape(name, strlen(name));
	name = safe_name ? safe_name : "?";
	if (v->type != BH_MAP) {
		char *s = v->type == BH_NIL ? NULL : cli_value_text(v);
		printf("%s %s%s%s\n", verb, name, s ? ": " : "", s ? s : "");
		free(s);
		free(safe_name);
		return;
	}
	printf("%s %s\n", verb, name);
	free(safe_name);
	for (uint32_t i = 0; i < v->len; i++) {
		char *k = cli_value_text(&v->as.items[2 * i]);
		char *s = cli_value_text(&v->as.items[2 * i + 1]);
		printf("  %s: %s\n", k ? k : "?", s ? s : "?");
		free(k);
		free(s);
	}
}

static int control(const struct opts *o, const char *method, const char *verb, size_t n,
		   const char *const *strs)
{
	struct bh_buf params;
	int r = control_params(&params, n, strs, o->canary);
	if (r < 0) {
		bh_buf_done(&params);
		print_error(BH_E_INTERNAL, strerror(-r));
		return CLI_EXIT_REMOTE;
	}
	bh_result *res;
	int status = invoke(o, method, &params, &res);
	bh_buf_done(&params);
	if (status != CLI_EXIT_OK)
		return status;
	print_control_result(o, verb, strs[0], bh_result_value(res));
	bh_result_free(res);
	return CLI_EXIT_OK;
}

/* ---- commands ------------------------------------------------------------------------- */

static bool parse_int(const char *s, long min, long max, int *ret);

/* Where the summary's lines end: $COLUMNS, else the terminal's width, else no limit
 * (a pipe gets whole lines). */
static size_t status_width(void)
{
	const char *env = getenv("COLUMNS");
	int cols;
	if (env && parse_int(env, 20, 10000, &cols))
		return (size_t)cols;
	struct winsize ws;
	if (isatty(STDOUT_FILENO) && ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col)
		return ws.ws_col;
	return 0;
}

static int status_once(const struct command *cmd, struct opts *o, const char *plugin)
{
	bh_result *res;
	int status = invoke(o, "bulkhead.status", NULL, &res);
	if (status != CLI_EXIT_OK)
		return status;
	if (o->json) {
		status = print_json(o, bh_result_value(res));
	} else if (cli_print_status(stdout, bh_result_value(res), plugin, status_width()) ==
		   -ENOENT) {
		char msg[BH_ERROR_MESSAGE_MAX];
		snprintf(msg, sizeof msg, "no plugin named \"%s\"", plugin);
		print_error(BH_E_UNKNOWN_PLUGIN, msg);
		status = CLI_EXIT_REMOTE;
	}
	(void)cmd;
	bh_result_free(res);
	fflush(stdout);
	return status;
}

static int cmd_status(const struct command *cmd, struct opts *o, int argc, char **argv)
{
	const char *plugin = argc > 0 ? argv[0] : NULL;
	if (!o->watch_s)
		return status_once(cmd, o, plugin);
	/* Redrawn in place on a terminal, one block after another elsewhere; until the
	 * daemon is out of reach or the user stops it. */
	bool tty = isatty(STDOUT_FILENO);
	for (;;) {
		if (tty && !o->json)
			fputs("\033[H\033[2J", stdout);
		int status = status_once(cmd, o, plugin);
		if (status != CLI_EXIT_OK)
			return status;
		if (!tty)
			putchar('\n');
		sleep((unsigned)o->watch_s);
	}
}

/* For scripts: 0 healthy, 1 anything else (a daemon out of reach included). */
static int cmd_health(const struct command *cmd, struct opts *o, int argc, char **argv)
{
	(void)cmd;
	bh_result *res;
	if (invoke(o, "bulkhead.status", NULL, &res) != CLI_EXIT_OK)
		return CLI_EXIT_REMOTE;
	int status = cli_health(stdout, bh_result_value(res), argc > 0 ? argv[0] : NULL);
	bh_result_free(res);
	return status;
}

/* All of stdin, NUL-terminated; NULL on failure (errno set). */
static char *read_stdin(void)
{
	size_t len = 0, cap = 4096;
	char *s = malloc(cap);
	while (s) {
		if (len + 1 == cap) {
			char *t = cap < SIZE_MAX / 2 ? realloc(s, cap *= 2) : NULL;
			if (!t) {
				free(s);
				errno = ENOMEM;
				return NULL;
			}
			s = t;
		}
		size_t n = fread(s + len, 1, cap - 1 - len, stdin);
		len += n;
		if (n == 0) {
			if (ferror(stdin)) {
				free(s);
				errno = EIO;
				return NULL;
			}
			s[len] = '\0';
			return s;
		}
	}
	errno = ENOMEM;
	return NULL;
}

/* JSON text -> the encoded params array. Returns an exit status. */
static int json_args(const struct command *cmd, const char *arg, struct bh_buf *params)
{
	char *owned = NULL;
	const char *text = arg;
	if (strcmp(arg, "-") == 0) {
		text = owned = read_stdin();
		if (!owned)
			return usage_error(cmd, "cannot read the arguments from stdin: %s",
					   strerror(errno));
	}

	json_error_t jerr;
	json_t *j = json_loads(text, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &jerr);
	free(owned);
	if (!j)
		return usage_error(cmd, "invalid JSON arguments at line %d, column %d: %s",
				   jerr.line, jerr.column, jerr.text);
	if (!json_is_array(j)) {
		json_decref(j);
		return usage_error(cmd, "the arguments must be a JSON array, like '[1, \"two\"]'");
	}

	struct bh_writer w;
	bh_writer_init(&w, params);
	char why[320];
	int r = cli_json_to_msgpack(j, &w, why, sizeof why);
	json_decref(j);
	if (r < 0)
		return usage_error(cmd, "invalid JSON arguments %s", why);
	return CLI_EXIT_OK;
}

static int cmd_call(const struct command *cmd, struct opts *o, int argc, char **argv)
{
	const char *method = argv[0];
	const char *dot = strchr(method, '.');
	if (!dot || dot == method || dot[1] == '\0')
		return usage_error(cmd, "'%s' is not PLUGIN.METHOD", method);

	struct bh_buf params;
	bh_buf_init(&params, 0);
	int status = argc > 1 ? json_args(cmd, argv[1], &params) : CLI_EXIT_OK;
	bh_result *res;
	if (status == CLI_EXIT_OK)
		status = invoke(o, method, argc > 1 ? &params : NULL, &res);
	bh_buf_done(&params);
	if (status != CLI_EXIT_OK)
		return status;
	status = print_json(o, bh_result_value(res));
	bh_result_free(res);
	return status;
}

/* The daemon resolves paths from its own working directory: send an absolute one.
 * Symbolic links are kept (a "current.so" link means what it says). */
static char *absolute_path(const char *path)
{
	if (path[0] == '/')
		return strdup(path);
	char *cwd = getcwd(NULL, 0);
	if (!cwd)
		return NULL;
	while (path[0] == '.' && path[1] == '/')
		for (path += 2; *path == '/'; path++)
			;
	char *abs = NULL;
	if (asprintf(&abs, "%s%s%s", cwd, strcmp(cwd, "/") == 0 ? "" : "/", path) < 0)
		abs = NULL;
	free(cwd);
	return abs;
}

static int cmd_load(const struct command *cmd, struct opts *o, int argc, char **argv)
{
	(void)cmd;
	char *path = NULL;
	if (argc > 1 && !(path = absolute_path(argv[1]))) {
		print_error(BH_E_INTERNAL, strerror(errno));
		return CLI_EXIT_REMOTE;
	}
	const char *strs[] = { argv[0], path };
	int status = control(o, "bulkhead.load", "loaded", (size_t)argc, strs);
	free(path);
	return status;
}

static int cmd_unload(const struct command *cmd, struct opts *o, int argc, char **argv)
{
	(void)cmd, (void)argc;
	const char *strs[] = { argv[0] };
	return control(o, "bulkhead.unload", "unloaded", 1, strs);
}

static int cmd_swap(const struct command *cmd, struct opts *o, int argc, char **argv)
{
	(void)cmd;
	char *path = NULL;
	if (argc > 1 && !(path = absolute_path(argv[1]))) {
		print_error(BH_E_INTERNAL, strerror(errno));
		return CLI_EXIT_REMOTE;
	}
	const char *strs[] = { argv[0], path };
	int status = control(o, "bulkhead.swap", o->canary >= 0 ? "canary started for" : "swapped",
			     2, strs);
	free(path);
	return status;
}

static int cmd_promote(const struct command *cmd, struct opts *o, int argc, char **argv)
{
	(void)cmd, (void)argc;
	const char *strs[] = { argv[0] };
	return control(o, "bulkhead.promote", "promoted", 1, strs);
}

static int cmd_rollback(const struct command *cmd, struct opts *o, int argc, char **argv)
{
	(void)cmd, (void)argc;
	const char *strs[] = { argv[0] };
	return control(o, "bulkhead.rollback", "rolled back", 1, strs);
}

/* One bulkhead.event notification: [{event}]. */
static int on_event(void *userdata, const char *method, const bh_value *params,
		    bh_writer *result, bh_error *err)
{
	const struct opts *o = userdata;
	(void)method, (void)result, (void)err;
	const bh_value *ev = bh_value_at(params, 0);
	if (!ev)
		return 0;
	if (o->json) {
		print_json(o, ev);
		fflush(stdout);
	} else {
		cli_print_event(stdout, ev);
	}
	return 0;
}

static int cmd_events(const struct command *cmd, struct opts *o, int argc, char **argv)
{
	(void)cmd, (void)argc, (void)argv;
	bh_client *c;
	int status = open_client(o, &c);
	if (status != CLI_EXIT_OK)
		return status;
	bh_error err;
	int r = bh_client_handle(c, "bulkhead.event", on_event, o);
	if (r == 0)
		r = bh_call(c, "bulkhead.subscribe", o->timeout_ms, NULL, &err);
	else
		bh_fail(&err, BH_E_INTERNAL, "%s", strerror(-r));
	if (r < 0) {
		print_error(err.code, err.message);
		bh_client_free(c);
		return r == -err.code ? CLI_EXIT_REMOTE : CLI_EXIT_UNAVAILABLE;
	}
	/* Until the daemon goes away (or the reader of stdout does: SIGPIPE). */
	while (r == 0) {
		struct pollfd p = { .fd = bh_client_fd(c), .events = POLLIN };
		if (bh_client_want_write(c))
			p.events |= POLLOUT;
		if (poll(&p, 1, -1) < 0 && errno != EINTR)
			break;
		r = bh_client_step(c);
	}
	bh_client_free(c);
	print_error(BH_E_UNAVAILABLE, "the daemon closed the connection");
	return CLI_EXIT_UNAVAILABLE;
}

/* One line per entry of describe's answer: scalars as they are, arrays joined with
 * ", ", maps (limits, instances) as "key value" pairs. */
static void print_describe(const bh_value *v)
{
	for (uint32_t i = 0; v->type == BH_MAP && i < v->len; i++) {
		const bh_value *val = &v->as.items[2 * i + 1];
		char *k = cli_value_text(&v->as.items[2 * i]);
		printf("%-14s", k ? k : "?");
		free(k);
		bool map = val->type == BH_MAP;
		if (val->type != BH_ARRAY && !map) {
			char *t = cli_value_text(val);
			printf("%s", t ? t : "?");
			free(t);
		}
		for (uint32_t j = 0; (val->type == BH_ARRAY || map) && j < val->len; j++) {
			char *a = cli_value_text(&val->as.items[map ? 2 * j : j]);
			char *b = map ? cli_value_text(&val->as.items[2 * j + 1]) : NULL;
			printf("%s%s%s%s", j ? ", " : "", a ? a : "?", map ? " " : "",
			       map ? (b ? b : "?") : "");
			free(a);
			free(b);
		}
		putchar('\n');
	}
}

static int cmd_describe(const struct command *cmd, struct opts *o, int argc, char **argv)
{
	(void)cmd, (void)argc;
	struct bh_buf params;
	const char *name = argv[0];
	int r = control_params(&params, 1, &name, -1);
	bh_result *res = NULL;
	int status = r < 0 ? CLI_EXIT_REMOTE : invoke(o, "bulkhead.describe", &params, &res);
	bh_buf_done(&params);
	if (r < 0)
		print_error(BH_E_INTERNAL, strerror(-r));
	if (status != CLI_EXIT_OK)
		return status;
	if (o->json)
		status = print_json(o, bh_result_value(res));
	else
		print_describe(bh_result_value(res));
	bh_result_free(res);
	return status;
}

static int cmd_version(const struct command *cmd, struct opts *o, int argc, char **argv)
{
	(void)cmd, (void)argc, (void)argv;
	if (!o->json)
		printf("client: bulkhead %s\n", BH_VERSION);
	fflush(stdout); /* the CLI's version also when the daemon's cannot be had */

	bh_result *res = NULL;
	int status = invoke(o, "bulkhead.version", NULL, &res);
	if (o->json) {
		/* The daemon answers "bulkhead X.Y.Z"; the client says it the same way. */
		json_t *daemon = res ? cli_json_from_value(bh_result_value(res)) : json_null();
		json_t *j = json_pack("{s:s, s:o?}", "client", "bulkhead " BH_VERSION, "daemon",
				      daemon);
		char *s = j ? cli_json_dump(j, o->pretty) : NULL;
		if (s)
			puts(s);
		free(s);
		json_decref(j);
	} else if (status == CLI_EXIT_OK) {
		char *s = cli_value_text(bh_result_value(res));
		printf("daemon: %s\n", s ? s : "?");
		free(s);
	}
	bh_result_free(res);
	return status;
}

static void print_help(const struct command *cmd);

static int cmd_help(const struct command *cmd, struct opts *o, int argc, char **argv)
{
	(void)o;
	if (argc == 0) {
		print_help(NULL);
		return CLI_EXIT_OK;
	}
	for (const struct command *c = commands; c->name; c++) {
		if (strcmp(c->name, argv[0]) == 0) {
			print_help(c);
			return CLI_EXIT_OK;
		}
	}
	return usage_error(cmd, "no command '%s'", argv[0]);
}

static const struct command commands[] = {
	{ "status", cmd_status, 0, 1, "status [--json] [--watch[=SECS]] [NAME]",
	  "show the daemon and its plugins, one line each; NAME in full",
	  "Without NAME, one line per plugin, cut to the terminal's width ($COLUMNS when\n"
	  "set; whole lines into a pipe). With NAME, that plugin's instances, generations\n"
	  "and every figure. --watch redraws it every SECS seconds (default 2) until\n"
	  "interrupted. With --json, print the daemon's whole status map as JSON (see\n"
	  "'bulkhead call --help' for the mapping) instead, and errors as JSON on stderr.\n" },
	{ "health", cmd_health, 0, 1, "health [PLUGIN]",
	  "exit 0 when every plugin (or PLUGIN) is healthy, 1 otherwise",
	  "Healthy: ready, circuit breaker closed, no instance failing its health probe.\n"
	  "Prints one line per plugin; a daemon out of reach is unhealthy too (exit 1).\n" },
	{ "call", cmd_call, 1, 2, "call [--pretty] PLUGIN.METHOD [JSON-ARRAY]",
	  "call a plugin method and print its result as JSON",
	  "JSON-ARRAY is the call's arguments, e.g. '[1, \"two\", {\"three\": 3.0}]'; none is [].\n"
	  "'-' reads it from stdin. The result is printed as JSON on one line (indented with\n"
	  "--pretty).\n"
	  "\n"
	  "JSON and MessagePack map one to one: null, true, false, strings, arrays and\n"
	  "objects are themselves; integers are ints, numbers with a fraction or exponent\n"
	  "are float64. Everything else has a wrapper object:\n"
	  "  {\"$bin\": \"<base64>\"}              bin\n"
	  "  {\"$ext\": TYPE, \"data\": \"<base64>\"} ext\n"
	  "  {\"$uint\": \"18446744073709551615\"}  integers above 2^63-1\n"
	  "  {\"$float\": \"nan\"|\"inf\"|\"-inf\"}     non-finite floats\n"
	  "  {\"$str\": \"<base64>\"}              a string that is not valid UTF-8\n"
	  "  {\"$map\": [[KEY, VALUE], ...]}     a map with non-string or repeated keys\n" },
	{ "describe", cmd_describe, 1, 1, "describe [--json] NAME",
	  "show what a plugin offers: methods, versions, limits, instances",
	  "The plugin's methods, its version, the plugin ABI version it was built against,\n"
	  "the version of its hot-swap state (- when it keeps none), the limits its calls\n"
	  "run into (deadline, queues, message sizes, sandbox limits; 0 is none) and its\n"
	  "instances. With --json, the daemon's answer as JSON.\n" },
	{ "load", cmd_load, 1, 2, "load NAME [PATH.so]",
	  "load a plugin under NAME",
	  "PATH.so is sent to the daemon as an absolute path. Without it, NAME must be a\n"
	  "plugin the daemon's configuration defines: it is loaded with its configured\n"
	  "settings (with PATH.so, those settings and that file).\n" },
	{ "unload", cmd_unload, 1, 1, "unload NAME", "stop and unload a plugin", NULL },
	{ "swap", cmd_swap, 1, 2, "swap NAME [PATH.so] [--canary PCT]",
	  "replace a plugin's processes by a new version without failing calls",
	  "Without PATH.so the plugin's current file is started again (after a rebuild in\n"
	  "place). With --canary PCT, only PCT percent of the calls go to the new version\n"
	  "until 'bulkhead promote NAME' or 'bulkhead rollback NAME'.\n" },
	{ "promote", cmd_promote, 1, 1, "promote NAME",
	  "send all calls to a plugin's canary and retire the old version", NULL },
	{ "rollback", cmd_rollback, 1, 1, "rollback NAME",
	  "retire a plugin's canary and keep the old version", NULL },
	{ "events", cmd_events, 0, 0, "events [--json]",
	  "print the daemon's lifecycle events as they happen",
	  "One line per event: local time, kind (instance.started, instance.ready,\n"
	  "instance.exited, instance.restarted, plugin.loaded, plugin.unloaded,\n"
	  "plugin.quarantined, swap.phase, swap.done, config.reloaded, limit.hit, ...),\n"
	  "then its fields. With --json, each event as the daemon sends it, one JSON object\n"
	  "per line. A reader that falls behind loses events; a \"dropped\" event with a\n"
	  "count says how many. Runs until the daemon goes away.\n" },
	{ "version", cmd_version, 0, 0, "version", "show the CLI's and the daemon's versions",
	  NULL },
	{ "help", cmd_help, 0, 1, "help [COMMAND]", "show help", NULL },
	{ 0 },
};

static void print_options(void)
{
	printf("Options:\n"
	       "  -s, --socket PATH  the daemon's socket (default: $%s, else %s)\n"
	       "  -t, --timeout MS   deadline of the call in milliseconds (default: the plugin's)\n"
	       "      --json         machine-readable output\n"
	       "      --pretty       indent JSON output\n"
	       "  -h, --help         show help\n",
	       BH_SOCKET_ENV, BH_DEFAULT_SOCKET);
}

static void print_help(const struct command *cmd)
{
	if (cmd) {
		printf("usage: bulkhead %s\n\n%c%s.\n", cmd->synopsis, cmd->summary[0] - 'a' + 'A',
		       cmd->summary + 1);
		if (cmd->help)
			printf("\n%s", cmd->help);
		if (strcmp(cmd->name, "swap") == 0)
			printf("\n  --canary PCT       percent of calls (0-100) for the new version\n");
		putchar('\n');
		print_options();
		return;
	}
	printf("usage: bulkhead [OPTIONS] COMMAND [ARGS...]\n\n"
	       "Control a bulkhead daemon and call its plugins.\n\nCommands:\n");
	for (const struct command *c = commands; c->name; c++)
		printf("  %-42s %s\n", c->synopsis, c->summary);
	putchar('\n');
	print_options();
	printf("      --version      show the CLI's version\n"
	       "\n"
	       "Exit status: 0 success, 1 the daemon or a plugin answered with an error,\n"
	       "2 usage error, 3 the daemon cannot be reached.\n"
	       "\n"
	       "Default socket: %s (or $%s). The daemon: bulkheadd(8); its sample\n"
	       "configuration: %s.\n",
	       BH_DEFAULT_SOCKET, BH_SOCKET_ENV, BH_SAMPLE_CONF);
}

/* ---- command line ------------------------------------------------------------------ */

enum { OPT_JSON = 0x100, OPT_PRETTY, OPT_CANARY, OPT_VERSION, OPT_WATCH };

static const struct option long_options[] = {
	{ "socket", required_argument, NULL, 's' },
	{ "timeout", required_argument, NULL, 't' },
	{ "json", no_argument, NULL, OPT_JSON },
	{ "pretty", no_argument, NULL, OPT_PRETTY },
	{ "help", no_argument, NULL, 'h' },
	{ "canary", required_argument, NULL, OPT_CANARY },
	{ "version", no_argument, NULL, OPT_VERSION },
	{ "watch", optional_argument, NULL, OPT_WATCH },
	{ 0 },
};

/* A decimal integer in [min, max], nothing else. */
static bool parse_int(const char *s, long min, long max, int *ret)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (!*s || *end || errno || v < min || v > max || *s == ' ' || *s == '+')
		return false;
	*ret = (int)v;
	return true;
}

/* Parse options from argv[0..argc-1] (argv[0] is the program or the command). With
 * cmd == NULL, stops at the first operand (the command). Returns -1 to go on, or an
 * exit status. */
static int parse_options(const struct command *cmd, struct opts *o, int argc, char **argv,
			 bool *help, bool *version)
{
	optind = 0; /* full reinitialisation, for the second pass */
	opterr = 0;
	int ch;
	while ((ch = getopt_long(argc, argv, cmd ? ":s:t:h" : "+:s:t:h", long_options, NULL)) !=
	       -1) {
		switch (ch) {
		case 's':
			o->socket = optarg;
			break;
		case 't':
			if (!parse_int(optarg, 0, INT_MAX, &o->timeout_ms))
				return usage_error(cmd, "--timeout wants milliseconds, not '%s'",
						   optarg);
			break;
		case OPT_JSON:
			o->json = json_errors = true;
			break;
		case OPT_WATCH:
			if (!cmd || strcmp(cmd->name, "status") != 0)
				return usage_error(cmd, "--watch is an option of 'status'");
			o->watch_s = 2;
			if (optarg && !parse_int(optarg, 1, 3600, &o->watch_s))
				return usage_error(cmd, "--watch wants seconds from 1 to 3600, "
						   "not '%s'", optarg);
			break;
		case OPT_PRETTY:
			o->pretty = true;
			break;
		case 'h':
			*help = true;
			break;
		case OPT_CANARY:
			if (!cmd || strcmp(cmd->name, "swap") != 0)
				return usage_error(cmd, "--canary is an option of 'swap'");
			if (!parse_int(optarg, 0, 100, &o->canary))
				return usage_error(cmd, "--canary wants a percentage from 0 to 100, "
						   "not '%s'", optarg);
			break;
		case OPT_VERSION:
			if (cmd)
				return usage_error(cmd, "--version goes before the command");
			*version = true;
			break;
		case ':':
			return usage_error(cmd, "option '%s' needs a value", argv[optind - 1]);
		default:
			if (optopt)
				return usage_error(cmd, "unknown option '-%c'", optopt);
			return usage_error(cmd, "unknown option '%s'", argv[optind - 1]);
		}
	}
	return -1;
}

static int finish(int status)
{
	/* Output that could not be written is a failure, not a success. */
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, "error: cannot write the output: %s\n", strerror(errno));
		return status ? status : CLI_EXIT_REMOTE;
	}
	return status;
}

int main(int argc, char **argv)
{
	struct opts o = { .canary = -1 };
	bool help = false, version = false;

	int status = parse_options(NULL, &o, argc, argv, &help, &version);
	if (status >= 0)
		return status;
	if (version) {
		printf("bulkhead %s\n", BH_VERSION);
		return finish(CLI_EXIT_OK);
	}
	if (optind >= argc) {
		if (help) {
			print_help(NULL);
			return finish(CLI_EXIT_OK);
		}
		return usage_error(NULL, "no command given");
	}

	const struct command *cmd = NULL;
	for (const struct command *c = commands; c->name; c++)
		if (strcmp(c->name, argv[optind]) == 0)
			cmd = c;
	if (!cmd)
		return usage_error(NULL, "no command '%s'", argv[optind]);

	/* The command's own options (the global ones are accepted here too). */
	int cargc = argc - optind;
	char **cargv = argv + optind;
	status = parse_options(cmd, &o, cargc, cargv, &help, &version);
	if (status >= 0)
		return status;
	if (help) {
		print_help(cmd);
		return finish(CLI_EXIT_OK);
	}
	int nargs = cargc - optind;
	if (nargs < cmd->min_args)
		return usage_error(cmd, "'%s' needs %s", cmd->name,
				   cmd->min_args == 1 ? "an argument" : "more arguments");
	if (nargs > cmd->max_args)
		return usage_error(cmd, "too many arguments for '%s'", cmd->name);
	return finish(cmd->run(cmd, &o, nargs, cargv + optind));
}
