/* bulkheadd: command line, configuration, start-up. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "bulkhead/client.h"
#include "bulkhead/sandbox.h"
#include "config.h"
#include "daemon.h"
#include "listener.h"
#include "log.h"
#include "loop.h"
#include "metrics.h"
#include "placement.h"
#include "service.h"
#include "slot.h"
#include "watch.h"

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: bulkheadd [-c FILE] [-s PATH] [-v]\n"
		"Run untrusted plugins out of process and route MessagePack-RPC calls to them.\n"
		"\n"
		"  -c, --config FILE   configuration file (default: none, no plugins)\n"
		"  -s, --socket PATH   client socket (overrides the config; default %s)\n"
		"  -v, --verbose       log at debug level (overrides the config)\n"
		"      --log-format F  text or json (overrides the config's log_format)\n"
		"      --ready-fd FD   write \"READY\\n\" to FD and close it once listening\n"
		"  -h, --help          this text\n"
		"  -V, --version       print the version\n"
		"\n"
		"Runs in the foreground and logs to stderr (with syslog priorities when that\n"
		"is the journal). SIGTERM/SIGINT drain and stop, SIGHUP reloads the config.\n"
		"As root the default socket's directory is created (0755); an unprivileged\n"
		"daemon's default socket is $XDG_RUNTIME_DIR/bulkhead/bulkhead.sock.\n"
		"Under systemd: Type=notify (READY=1, RELOADING=1, STOPPING=1, STATUS=),\n"
		"WatchdogSec= and socket activation (one AF_UNIX stream socket).\n"
		"\n"
		"Installed paths:\n"
		"  socket           %s\n"
		"  sample config    %s (man 5 bulkhead.conf)\n"
		"  shim             %s\n",
		BH_DEFAULT_SOCKET, BH_DEFAULT_SOCKET, BH_SAMPLE_CONF, BH_SHIM_INSTALL_PATH);
}

/* The shim: the config's, else the one beside this binary (build tree), else the
 * one in ../libexec/bulkhead/ (an installed, possibly relocated, prefix), else the
 * path configured at build time. */
static char *find_shim(const struct bh_config *cfg)
{
	if (cfg->shim_path)
		return strdup(cfg->shim_path);
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n > 0) {
		exe[n] = 0;
		char *slash = strrchr(exe, '/');
		if (slash) {
			static const char *const rel[] = {"bulkhead-shim",
							  "../libexec/bulkhead/bulkhead-shim"};
			for (size_t i = 0; i < sizeof(rel) / sizeof(rel[0]); i++) {
				char cand[PATH_MAX + 64];
				snprintf(cand, sizeof(cand), "%.*s/%s", (int)(slash - exe), exe,
					 rel[i]);
				if (access(cand, X_OK) == 0)
					return strdup(cand);
			}
		}
	}
	return strdup(BH_SHIM_INSTALL_PATH);
}

/* An unprivileged daemon's default socket: in the user's runtime directory, where
 * it may create the directory (it cannot create /run/bulkhead). NULL for root, or
 * without XDG_RUNTIME_DIR (then the system default stands, and a missing directory
 * is reported). buf holds the path. */
static const char *user_socket(char *buf, size_t len)
{
	const char *run = getenv("XDG_RUNTIME_DIR");
	if (geteuid() == 0 || !run || run[0] != '/')
		return NULL;
	int n = snprintf(buf, len, "%s/bulkhead/bulkhead.sock", run);
	return n > 0 && (size_t)n < len ? buf : NULL;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"config", required_argument, NULL, 'c'}, {"socket", required_argument, NULL, 's'},
		{"verbose", no_argument, NULL, 'v'},      {"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},      {"ready-fd", required_argument, NULL, 'R'},
		{"log-format", required_argument, NULL, 'F'}, {0},
	};
	const char *config_path = NULL, *socket_path = NULL;
	bool verbose = false;
	int ready_fd = -1, log_format = -1;
	int opt;
	while ((opt = getopt_long(argc, argv, "c:s:vhV", opts, NULL)) != -1) {
		switch (opt) {
		case 'c': config_path = optarg; break;
		case 's': socket_path = optarg; break;
		case 'v': verbose = true; break;
		case 'h': usage(stdout); return 0;
		case 'V': printf("bulkheadd %s\n", BH_VERSION); return 0;
		case 'R': ready_fd = atoi(optarg); break;
		case 'F':
			log_format = bh_log_format_from_name(optarg);
			if (log_format < 0) {
				fprintf(stderr, "bulkheadd: --log-format: expected text or json, got "
						"\"%s\"\n", optarg);
				return 2;
			}
			break;
		default: usage(stderr); return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "bulkheadd: unexpected argument \"%s\"\n", argv[optind]);
		usage(stderr);
		return 2;
	}

	struct bh_config *cfg = NULL;
	char err[1024], user_path[PATH_MAX];
	int r = config_path ? bh_config_load(config_path, &cfg, err, sizeof(err))
			    : bh_config_default(&cfg);
	if (r < 0) {
		fprintf(stderr, "bulkheadd: %s\n", config_path ? err : strerror(-r));
		return 1;
	}
	bool default_socket = !socket_path && strcmp(cfg->socket_path, BH_DEFAULT_SOCKET) == 0;
	if (!socket_path && default_socket)
		socket_path = user_socket(user_path, sizeof(user_path));
	if (socket_path) {
		free(cfg->socket_path);
		cfg->socket_path = strdup(socket_path);
	}
	bh_log_detect_journal();
	bh_log_threshold = verbose ? BH_LOG_DEBUG : cfg->log_level;
	bh_log_format = log_format >= 0 ? log_format : cfg->log_format;

	struct bh_daemon d;
	r = bh_daemon_init(&d, cfg);
	if (r < 0) {
		bh_err("cannot start: %s", strerror(-r));
		bh_daemon_done(&d);
		bh_config_free(cfg);
		return 1;
	}
	d.verbose = verbose;
	d.log_format_forced = log_format >= 0;
	d.default_socket = default_socket;
	d.shim_path = find_shim(cfg);
	if (access(d.shim_path, X_OK) < 0) {
		bh_err("shim %s: %s", d.shim_path, strerror(errno));
		bh_daemon_done(&d);
		bh_config_free(cfg);
		return 1;
	}
	bh_placement_init();
	r = bh_sandbox_host_init(err, sizeof(err));
	if (err[0])
		bh_warn("sandbox: %s", err);
	if (bh_sandbox_spawner_start(err, sizeof(err)) < 0)
		bh_warn("sandbox: %s; the daemon clones every instance itself", err);
	/* Placed after the spawn helper is forked: it keeps all the daemon's CPUs, which
	 * instances born while the placement is shared inherit from it. */
	bh_placement_apply(cfg->cpu_placement);
	if (bh_sandbox_userns_check(err, sizeof(err)) < 0)
		bh_warn("sandbox: %s: plugins with the sandbox enabled cannot start; "
			"\"sandbox = false;\" runs a plugin unconfined", err);
	r = bh_service_load(err, sizeof(err));
	if (r == 0)
		r = bh_listener_open(&d, err, sizeof(err));
	if (r < 0) {
		bh_err("%s", err);
		bh_daemon_done(&d);
		bh_config_free(cfg);
		return 1;
	}
	if (bh_metrics_start(&d, err, sizeof(err)) < 0) {
		bh_err("%s", err);
		bh_daemon_done(&d);
		bh_config_free(cfg);
		return 1;
	}
	bh_info("bulkheadd %s listening on %s%s (pid %d, shim %s)", BH_VERSION, cfg->socket_path,
		d.socket_activated ? " (passed by the service manager)" : "", (int)getpid(),
		d.shim_path);
	if (d.default_socket && strcmp(cfg->socket_path, BH_DEFAULT_SOCKET) != 0)
		bh_info("clients find this socket with %s=%s", BH_SOCKET_ENV, cfg->socket_path);
	for (size_t i = 0; i < cfg->n_plugins; i++) {
		struct bh_slot *s;
		r = bh_slot_create(&d, &cfg->plugins[i], &s);
		if (r < 0)
			bh_err("%s: cannot load: %s", cfg->plugins[i].name, strerror(-r));
	}
	r = bh_watch_init(&d);
	if (r < 0)
		bh_warn("inotify: %s; auto_reload and plugin_dir are off", strerror(-r));
	r = bh_service_start(&d);
	if (r < 0)
		bh_warn("service manager notifications: %s", strerror(-r));
	if (ready_fd >= 0) {
		/* Lets a supervisor or a test start calling without polling the socket. */
		ssize_t w = write(ready_fd, "READY\n", 6);
		(void)w;
		close(ready_fd);
	}
	r = bh_loop_run(d.loop);
	if (r < 0)
		bh_err("event loop: %s", strerror(-r));
	cfg = d.cfg; /* a SIGHUP may have replaced it */
	bh_daemon_done(&d);
	bh_sandbox_host_done();
	bh_config_free(cfg);
	return r < 0 ? 1 : 0;
}
