/* bulkheadd configuration: the parsed form of the config file (libconfig syntax).
 * See examples/bulkhead.conf for every setting with its default. */
#ifndef BH_CONFIG_H
#define BH_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "bulkhead/proto.h"


enum bh_restart_policy {
	BH_RESTART_ALWAYS,     /* restart after any exit */
	BH_RESTART_ON_FAILURE, /* restart unless the instance exited 0 on request */
	BH_RESTART_NEVER,
};

/* Who may do what: uids and gids. An empty ACL (no uids, no gids) falls back to the
 * default stated where the ACL is used. */
struct bh_acl {
	uid_t *uids;
	size_t n_uids;
	gid_t *gids;
	size_t n_gids;
	bool anyone; /* "*" was listed */
};

/* Sandbox settings of one plugin; the defaults are the full confinement. */
struct bh_sandbox_conf {
	bool enabled;            /* sandbox = false turns all confinement off */
	bool network;            /* allow_network: keep the host network namespace */
	char **extra_syscalls;   /* seccomp: syscalls granted by name */
	size_t n_extra_syscalls;
	uint64_t memory_bytes;   /* 0 = no limit; default 256 MiB */
	uint32_t pids_max;       /* default 64 */
	uint32_t cpu_percent;    /* of one CPU, 1..100*ncpu; default 100 */
	uint64_t nofile;         /* RLIMIT_NOFILE; default 256 */
	uint64_t fsize_bytes;    /* RLIMIT_FSIZE; default 64 MiB */
	uint64_t tmp_bytes;      /* size of the private /tmp; default 16 MiB */
	uint32_t tmp_inodes;     /* files and directories in it; default 4096 */
	bool require_limits;     /* refuse to start when a limit cannot be enforced */
};

/* Health probes of idle instances (heal.h). */
struct bh_health_conf {
	uint32_t interval_ms;    /* between probes of an idle instance; 0: none; default 10000 */
	uint32_t timeout_ms;     /* for an answer; default 1000 */
	uint32_t failures;       /* in a row that replace the instance; default 3 */
};

/* The circuit breaker (breaker.h). Crashes that quarantine (restart.quarantine_*)
 * open it too. */
struct bh_breaker_conf {
	uint32_t failures;       /* crashes and timeouts in a row that open it; 0: off (default) */
	uint32_t error_pct;      /* failed share of calls in a window that opens it; 0: off */
	uint32_t min_calls;      /* ... once the window holds this many; default 20 */
	uint32_t window_ms;      /* default 10000 */
	uint32_t cooldown_ms;    /* open, then half-open after this; default 30000 */
	uint32_t half_open_calls; /* calls let through half-open; all succeed: closed; default 1 */
	bool plugin_error;       /* plugin_error answers count as failures; default false */
};

struct bh_plugin_conf {
	char name[BH_NAME_MAX + 1];
	char *path;              /* absolute (relative paths resolved against the config dir) */
	uint32_t instances;      /* default 1, 1..64 */
	uint32_t timeout_ms;     /* default call deadline; default 5000 */
	uint32_t grace_ms;       /* after a deadline, before a stuck instance is killed; default 1000 */
	uint32_t init_timeout_ms; /* spawn -> ready; default 5000 */
	enum bh_restart_policy restart; /* default on-failure */
	uint32_t max_inflight;   /* calls sent to one instance at once; default 64 */
	uint32_t max_queue;      /* calls waiting for an instance; default 1024 */
	uint8_t *config_msgpack; /* the `config` group encoded as a msgpack map ({} if none) */
	size_t config_len;
	struct bh_acl call_acl;  /* who may call; empty = the daemon's default call ACL */
	struct bh_sandbox_conf sandbox;
	bool auto_reload;        /* swap when the .so changes on disk */
	uint32_t drain_timeout_ms; /* swap/unload drain deadline; default 5000 */
	uint32_t spin_us;        /* an instance's watch for the next close call; default 50 */
	/* Calls out (outcall.h), default deny: what it may call ("plugin", "plugin.*",
	 * "plugin.method", the same for host service namespaces, "bulkhead.method"), and
	 * whether it may call the client at the root of its chain. */
	char **calls;
	size_t n_calls;
	bool callback;
	/* Its instances' environment, "NAME=value" each (config_env.c): applied by the
	 * shim once confined, before the plugin loads. */
	char **env;
	size_t n_env;
	/* The level of the instance's stdout/stderr lines: BH_LOG_* or
	 * BH_OUTPUT_LEVEL_AUTO (the default: the level the line announces). */
	int output_level;
	struct bh_health_conf health;
	uint32_t max_calls;      /* an instance is recycled after this many calls; 0: never */
	uint64_t max_rss;        /* ... or once its memory passes this (bytes); 0: never */
	struct bh_breaker_conf breaker;
};

/* Bounds of a plugin's env. */
#define BH_ENV_MAX_VARS 64
#define BH_ENV_MAX_NAME 128
#define BH_ENV_MAX_VALUE 4096
#define BH_ENV_MAX_TOTAL 16384

#define BH_OUTPUT_LEVEL_AUTO 4

/* Host ids for confined instances (see ids.c). The default range lies above every
 * range a Debian host hands out (users up to 60000, nobody, systemd's dynamic users,
 * useradd's /etc/subuid blocks up to 600100000, systemd's container ranges up to
 * 0x6FFFFFFF) and below systemd's "foreign" range 0x7FFE0000 and 2^31. */
#define BH_SANDBOX_IDS_FIRST 1879048192u /* 0x70000000 */
#define BH_SANDBOX_IDS_COUNT 65536u
#define BH_SANDBOX_IDS_MAX (1u << 20)

struct bh_sandbox_ids {
	uint32_t first, count;   /* a root daemon's range: first .. first + count - 1 */
	bool subordinate;        /* unprivileged: use /etc/subuid through newuidmap; default true */
};

/* The Prometheus endpoint (metrics.h), read at start only. listen NULL: off (the
 * default); a group without listen gets BH_METRICS_LISTEN, on loopback. */
#define BH_METRICS_LISTEN "127.0.0.1:9464"
struct bh_metrics_conf {
	char *listen;            /* "ADDRESS:PORT" (numeric; [v6]:PORT) or an absolute socket path */
	mode_t mode;             /* a socket path's permissions; default 0660 */
};

/* Where listen points: an address (*ret_len its length), or a socket path (family
 * AF_UNIX). 0, or -EINVAL with why (static) set. */
struct sockaddr_storage;
int bh_metrics_listen_parse(const char *listen, struct sockaddr_storage *ret, socklen_t *ret_len,
			    const char **why);

/* The daemon's own namespace of control methods: no plugin may be called so. */
#define BH_CONTROL_NS "bulkhead"

/* cpu_placement: where the daemon and the instances run (placement.c). */
enum bh_cpu_placement {
	BH_PLACE_SHARED, /* wherever the scheduler puts them */
	BH_PLACE_APART,  /* the daemon on one CPU of its own, instances on the others */
};

struct bh_config {
	char *path;              /* the file this came from (absolute), or NULL */
	char *socket_path;       /* default BH_DEFAULT_SOCKET */
	mode_t socket_mode;      /* default 0660 */
	uid_t socket_uid;        /* (uid_t)-1 = leave as created */
	gid_t socket_gid;        /* (gid_t)-1 = leave as created */
	char *shim_path;         /* NULL = beside the daemon binary, else the installed one */
	int log_level;           /* BH_LOG_* ; default info */
	int log_format;          /* BH_LOG_TEXT (default) or BH_LOG_JSON */
	int cpu_placement;       /* enum bh_cpu_placement; default BH_PLACE_SHARED */
	struct bh_limits limits; /* per message, both sockets */
	/* One value (call params, method result) that travels as a memfd on the channel:
	 * its own ceiling beside limits.max_message, the size of each instance's result
	 * area; 0 turns bulk transfer off. Default 64 MiB. */
	uint64_t max_payload;
	uint32_t max_call_depth; /* calls in a chain below a client's; default 8 */
	/* Events a subscriber has not read (the daemon's buffer and the socket's) past
	 * which its next ones are dropped and counted; default 1 MiB. */
	uint64_t event_backlog;
	uint32_t max_clients;    /* default 256 */
	uint32_t max_client_pending; /* calls outstanding per connection; default 1024 */
	uint64_t output_rate;    /* bytes/s read from one child stream; default 16 MiB */
	uint32_t output_flood_ms; /* output_rate exceeded that long: replace; default 10000 */
	uint32_t shutdown_timeout_ms; /* drain on SIGTERM; default 5000 */
	uint32_t restart_backoff_min_ms; /* default 100 */
	uint32_t restart_backoff_max_ms; /* default 30000 */
	uint32_t quarantine_crashes;     /* crashes within the window that quarantine; default 5 */
	uint32_t quarantine_window_ms;   /* default 60000 */
	struct bh_acl call_acl;  /* default: anyone who can connect */
	struct bh_acl admin_acl; /* default: root and the daemon's own uid */
	char *plugin_dir;        /* optional directory watch (hot load / unload) */
	struct bh_sandbox_ids sandbox_ids; /* read at start only */
	struct bh_metrics_conf metrics;
	/* Where every plugin's settings start: configured ones, plugin_dir ones and
	 * runtime loads (name and path unset). */
	struct bh_plugin_conf plugin_defaults;
	struct bh_plugin_conf *plugins;
	size_t n_plugins;
};

/* Parse the file at path. 0 and *ret (free with bh_config_free), or -errno with a
 * message "FILE:LINE: problem" (or "FILE: problem") in errbuf. */
int bh_config_load(const char *path, struct bh_config **ret, char *errbuf, size_t errlen);

/* A config with every default and no plugins (used without -c). */
int bh_config_default(struct bh_config **ret);

/* Defaults for one plugin (name and path unset). */
void bh_plugin_conf_default(struct bh_plugin_conf *p);

/* Deep copy of one plugin entry (runtime load keeps its own). 0 or -ENOMEM. */
int bh_plugin_conf_copy(struct bh_plugin_conf *dst, const struct bh_plugin_conf *src);
void bh_plugin_conf_done(struct bh_plugin_conf *p);
/* Same settings (everything a reload would have to apply)? */
bool bh_plugin_conf_equal(const struct bh_plugin_conf *a, const struct bh_plugin_conf *b);

void bh_config_free(struct bh_config *c);

/* A plugin file the shim can load: readable, an ELF shared object (ET_DYN) of this
 * machine's class, byte order and architecture. 0, or a negative errno (-ENOEXEC:
 * not such an object) with the reason, naming path, in why. */
int bh_plugin_file_check(const char *path, char *why, size_t why_len);

#endif
