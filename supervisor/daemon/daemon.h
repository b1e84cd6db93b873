/* bulkheadd internals: the daemon context and the objects it routes between.
 *
 *   client conn ──request──▶ call ──▶ slot (plugin) queue ──▶ instance ──▶ child
 *                ◀─response── call ◀────────────────────────── instance ◀─┘ */
#ifndef BH_DAEMON_H
#define BH_DAEMON_H

#include <stdbool.h>
#include <stdint.h>

#include "bulkhead/proto.h"
#include "conn.h"
#include "events.h"
#include "ids.h"
#include "list.h"
#include "loop.h"
#include "names.h"
#include "service.h"
#include "spare.h"

struct bh_config;
struct bh_dirwatch;
struct bh_metrics;

struct bh_daemon {
	struct bh_config *cfg;
	struct bh_loop *loop;
	struct bh_watch listener;
	struct bh_timer accept_timer; /* resumes accepting after EMFILE */
	struct bh_watch signals;
	char *socket_path;        /* the path we bound and must remove */
	char *shim_path;
	struct bh_list slots;
	struct bh_names slot_names; /* name -> struct bh_slot, the same slots */
	/* Spawning (slot.c): instances spawned and neither ready nor gone yet; a slot
	 * starts more only while fewer than max_starting are, else it waits its turn
	 * on spawn_wait, and spawn_timer (due at once) starts the next ones. */
	uint32_t n_starting, max_starting;
	struct bh_list spawn_wait;
	struct bh_timer spawn_timer;
	struct bh_list conns;
	struct bh_list providers; /* host services (callback.c) */
	uint32_t n_conns;
	/* Work spent on input, for status and tests: bytes read from clients and
	 * channels and bytes their scanners examined (linear: a small multiple of what
	 * was read, however it was split), bytes read from children's stdout/stderr. */
	struct bh_input_stats {
		uint64_t client_read, client_scanned;
		uint64_t channel_read, channel_scanned;
		/* of channel_read, bytes from answer rings; deadlines that found their
		 * instance's ring not empty (a suppressed wake-up, or a coincidence) */
		uint64_t ring_read, ring_late;
		uint64_t output_read;
	} input;
	/* Responses sent to clients, and bytes moved to compact what was left to send
	 * (at most what was sent: draining a backlog stays linear). */
	struct bh_output_stats {
		uint64_t client_sent, client_moved;
		/* bytes of large results copied into the daemon's own buffer before being
		 * queued for their client (bulk.c: only when no client waits directly) */
		uint64_t result_staged;
	} output;
	struct bh_list flush_insts, flush_conns;
	struct bh_list awake_rings; /* instances whose ring we look at (rings.h) */
	/* rings.h, bh_rings_yield: one asked for before the next sleep; how many were
	 * made, and after how many a ring held something */
	struct {
		bool wanted;
		uint64_t yields, answered;
	} ring_yield;
	uint64_t next_serial;
	uint64_t start_ns;
	int lock_fd;              /* flock on SOCKET.lock, held for life */
	bool default_socket;      /* no path configured: its directory may be created */
	bool socket_activated;    /* the listener came from the service manager */
	struct bh_service service; /* sd_notify, watchdog (service.c) */
	bool verbose;             /* -v: the log level is not the config's */
	bool log_format_forced;   /* --log-format: the format is not the config's */
	struct bh_watch inotify;  /* auto-reload and the plugin directory */
	struct bh_dirwatch *dirs; /* inotify watch descriptors and their directories */
	size_t n_dirs;
	bool shutting_down;
	bool stopping_children;   /* shutdown: drain over, children being stopped */
	struct bh_timer shutdown_timer;
	int exit_code;
	struct bh_ids ids;        /* host uids/gids of confined instances */
	struct bh_timer mem_timer; /* the memory watchdog (memwatch.c) */
	struct bh_arena arena;    /* scratch decode space for control params */
	struct bh_buf scratch;    /* scratch encode space */
	struct bh_spare spare;    /* the read buffer and scanner lent to each reader */
	struct bh_report_bucket client_reports;
	struct bh_events events;  /* lifecycle events and their subscribers */
	struct bh_metrics *metrics; /* the metrics endpoint (metrics_http.c), NULL when off */
};

int bh_daemon_init(struct bh_daemon *d, struct bh_config *cfg);
void bh_daemon_done(struct bh_daemon *d);
void bh_daemon_begin_shutdown(struct bh_daemon *d, const char *why);
void bh_daemon_check_shutdown_done(struct bh_daemon *d);

#endif
