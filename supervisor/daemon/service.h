/* Running under a service manager (systemd): readiness and state notifications
 * (sd_notify), the watchdog keep-alive, and the listening socket passed by socket
 * activation. Every call is a no-op when the daemon was not started so (no
 * NOTIFY_SOCKET, no WATCHDOG_USEC, no LISTEN_FDS). */
#ifndef BH_SERVICE_H
#define BH_SERVICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "loop.h"

struct bh_daemon;

struct bh_service {
	bool notify;          /* NOTIFY_SOCKET is set: the manager listens */
	bool ready;           /* READY=1 was sent (or there is nobody to send it to) */
	uint64_t watchdog_ns; /* WATCHDOG_USEC, 0: no watchdog */
	struct bh_timer tick; /* keep-alive at half the watchdog interval; STATUS refresh */
	struct bh_timer ready_deadline; /* READY=1 even if plugins are still starting */
	char status[160];     /* the last STATUS= sent */
};

/* Set the timers up (before anything can disarm them). */
void bh_service_init(struct bh_daemon *d);

/* Before anything else: load libsystemd when the environment says a manager talks to
 * this process (NOTIFY_SOCKET, or LISTEN_FDS with LISTEN_PID ours). 0, or -errno with
 * errbuf naming what is missing: the daemon then does not start, since the manager
 * would wait for a READY=1 or a socket that never comes. */
int bh_service_load(char *errbuf, size_t errlen);

/* The socket a service manager passed (LISTEN_FDS, LISTEN_PID), checked to be one
 * AF_UNIX stream socket that listens: 1 and *ret_fd (non-blocking, close-on-exec),
 * 0 when none was passed, or -errno with the reason in errbuf. */
int bh_service_listen_fd(int *ret_fd, char *errbuf, size_t errlen);

/* At start, once listening and the configured plugins are created: read the
 * manager's environment, arm the watchdog keep-alive. READY=1 follows when every
 * configured plugin is ready or has failed (bh_service_poll), or at the latest
 * after the longest init_timeout_ms. 0 or -errno. */
int bh_service_start(struct bh_daemon *d);
/* Each loop iteration: send READY=1 once the plugins have settled. Cheap after. */
void bh_service_poll(struct bh_daemon *d);
/* A reload begins (RELOADING=1) / ended (READY=1 with the new STATUS=). */
void bh_service_reloading(struct bh_daemon *d);
void bh_service_reloaded(struct bh_daemon *d);
/* Shutdown begins (STOPPING=1). */
void bh_service_stopping(struct bh_daemon *d);
void bh_service_done(struct bh_daemon *d);

/* The one-line summary sent as STATUS=: "3 plugins: 2 ready, 1 failed; 4 clients". */
void bh_service_summary(const struct bh_daemon *d, char *buf, size_t len);

#endif
