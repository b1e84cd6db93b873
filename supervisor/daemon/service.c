/* Running under a service manager (see service.h).
 *
 * The messages (sd_notify(3)): READY=1 once the socket listens and every plugin
 * started or failed; RELOADING=1 ... READY=1 around a SIGHUP reload; STOPPING=1 when
 * shutdown begins; STATUS= a one-line summary, refreshed when it changes; WATCHDOG=1
 * from the event loop's own timer at half of WATCHDOG_USEC, so a wedged loop stops
 * the keep-alive and the manager restarts the daemon. Built without libsystemd the
 * daemon says so when a manager expects any of this, and refuses a passed socket
 * (serving a socket of its own instead would leave the manager's unanswered). */
#include "service.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#ifdef BH_HAVE_LIBSYSTEMD
#include <systemd/sd-daemon.h>
#endif

#include "config.h"
#include "daemon.h"
#include "dynlib.h"
#include "list.h"
#include "log.h"
#include "loop.h"
#include "slot.h"

/* STATUS= is refreshed this often when no watchdog asks for more. */
#define STATUS_REFRESH_MS 5000

#ifdef BH_HAVE_LIBSYSTEMD
/* libsystemd is loaded when the manager's environment asks for it (dynlib.h). */
static struct {
	BH_DYNFN(sd_notify);
	BH_DYNFN(sd_listen_fds);
	BH_DYNFN(sd_watchdog_enabled);
} lib;

static int load_libsystemd(char *errbuf, size_t errlen)
{
	static const struct bh_dynsym syms[] = {
		BH_DYNSYM(lib, sd_notify),
		BH_DYNSYM(lib, sd_listen_fds),
		BH_DYNSYM(lib, sd_watchdog_enabled),
	};
	return bh_dynlib_load(BH_SYSTEMD_SONAME, syms, sizeof(syms) / sizeof(syms[0]), errbuf,
			      errlen);
}

/* Whether the manager passed sockets to this very process (LISTEN_PID is ours). */
static bool activated(void)
{
	const char *fds = getenv("LISTEN_FDS"), *pid = getenv("LISTEN_PID");
	return fds && pid && strtol(pid, NULL, 10) == (long)getpid();
}

static void notify(const struct bh_daemon *d, const char *msg)
{
	if (!d->service.notify)
		return;
	int r = lib.sd_notify(0, msg);
	if (r < 0)
		bh_warn("sd_notify: %s", strerror(-r));
}
#else
static void notify(const struct bh_daemon *d, const char *msg)
{
	(void)d, (void)msg;
}
#endif

/* ---- the listening socket ------------------------------------------------------------- */

#ifdef BH_HAVE_LIBSYSTEMD
static const char *family_name(int family)
{
	switch (family) {
	case AF_UNIX: return "AF_UNIX";
	case AF_INET: return "AF_INET";
	case AF_INET6: return "AF_INET6";
	case AF_NETLINK: return "AF_NETLINK";
	default: return "non-AF_UNIX";
	}
}

static const char *type_name(int type)
{
	switch (type) {
	case SOCK_STREAM: return "stream";
	case SOCK_DGRAM: return "datagram";
	case SOCK_SEQPACKET: return "seqpacket";
	default: return "non-stream";
	}
}

/* fd must be what bulkheadd serves: an AF_UNIX stream socket in the listening state. */
static int check_listener(int fd, char *errbuf, size_t errlen)
{
	int family = 0, type = 0, listening = 0;
	socklen_t len = sizeof(int);
	if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &family, &len) < 0) {
		int r = -errno;
		snprintf(errbuf, errlen, "socket activation: fd %d is not a socket (%s)", fd,
			 strerror(errno));
		return r;
	}
	len = sizeof(int);
	getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len);
	len = sizeof(int);
	getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len);
	if (family != AF_UNIX || type != SOCK_STREAM) {
		snprintf(errbuf, errlen,
			 "socket activation: fd %d is an %s %s socket; bulkheadd serves an "
			 "AF_UNIX stream socket (ListenStream=/path in the .socket unit)",
			 fd, family_name(family), type_name(type));
		return -EPROTOTYPE;
	}
	if (!listening) {
		snprintf(errbuf, errlen,
			 "socket activation: fd %d is an AF_UNIX stream socket that does not "
			 "listen (Accept=no in the .socket unit)",
			 fd);
		return -EINVAL;
	}
	return 0;
}
#endif

int bh_service_listen_fd(int *ret_fd, char *errbuf, size_t errlen)
{
#ifdef BH_HAVE_LIBSYSTEMD
	if (!activated()) {
		/* Nothing for us: nothing started later should believe it either. */
		unsetenv("LISTEN_FDS");
		unsetenv("LISTEN_PID");
		unsetenv("LISTEN_FDNAMES");
		return 0;
	}
	char why[256];
	if (load_libsystemd(why, sizeof(why)) < 0) {
		snprintf(errbuf, errlen, "socket activation: LISTEN_FDS is set, but %s", why);
		return -ELIBACC;
	}
	/* Unsets LISTEN_* so that nothing started later believes it was activated. */
	int n = lib.sd_listen_fds(1);
	if (n < 0) {
		snprintf(errbuf, errlen, "socket activation: LISTEN_FDS: %s", strerror(-n));
		return n;
	}
	if (n == 0)
		return 0;
	int fd = SD_LISTEN_FDS_START;
	if (n > 1) {
		snprintf(errbuf, errlen,
			 "socket activation: %d sockets were passed (LISTEN_FDS=%d); bulkheadd "
			 "serves exactly one",
			 n, n);
		for (int i = 0; i < n; i++)
			close(fd + i);
		return -E2BIG;
	}
	int r = check_listener(fd, errbuf, errlen);
	if (r == 0 && (fcntl(fd, F_SETFD, FD_CLOEXEC) < 0 ||
		       fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0)) {
		r = -errno;
		snprintf(errbuf, errlen, "socket activation: fd %d: %s", fd, strerror(errno));
	}
	if (r < 0) {
		close(fd);
		return r;
	}
	*ret_fd = fd;
	return 1;
#else
	(void)ret_fd;
	if (!getenv("LISTEN_FDS"))
		return 0;
	snprintf(errbuf, errlen,
		 "socket activation: LISTEN_FDS is set but this bulkheadd was built without "
		 "libsystemd; rebuild with libsystemd-dev, or start it without the .socket "
		 "unit");
	return -ENOTSUP;
#endif
}

/* ---- state ---------------------------------------------------------------------------- */

void bh_service_summary(const struct bh_daemon *d, char *buf, size_t len)
{
	static const char *const state_names[] = {
		[BH_SLOT_STARTING] = "starting",       [BH_SLOT_READY] = "ready",
		[BH_SLOT_QUARANTINED] = "quarantined", [BH_SLOT_FAILED] = "failed",
		[BH_SLOT_UNLOADING] = "unloading",
	};
	unsigned count[sizeof(state_names) / sizeof(state_names[0])] = {0};
	unsigned total = 0;
	struct bh_list *pos, *tmp;
	bh_list_for_each_safe(pos, tmp, &d->slots)
	{
		const struct bh_slot *s = bh_container_of(pos, struct bh_slot, link);
		if ((size_t)s->state < sizeof(count) / sizeof(count[0]))
			count[s->state]++;
		total++;
	}
	int n = snprintf(buf, len, "%u plugin%s", total, total == 1 ? "" : "s");
	const char *sep = ": ";
	for (size_t i = 0; i < sizeof(count) / sizeof(count[0]) && n > 0 && (size_t)n < len; i++) {
		if (!count[i])
			continue;
		n += snprintf(buf + n, len - (size_t)n, "%s%u %s", sep, count[i], state_names[i]);
		sep = ", ";
	}
	if (n > 0 && (size_t)n < len)
		snprintf(buf + n, len - (size_t)n, "; %u client%s", d->n_conns,
			 d->n_conns == 1 ? "" : "s");
}

/* Send msg followed by STATUS= when the summary changed (or always, with force). */
static void notify_with_status(struct bh_daemon *d, const char *msg, bool force)
{
	char status[sizeof(d->service.status)];
	bh_service_summary(d, status, sizeof(status));
	char buf[64 + sizeof(status)];
	bool changed = force || strcmp(status, d->service.status) != 0;
	if (changed)
		memcpy(d->service.status, status, sizeof(status));
	snprintf(buf, sizeof(buf), "%s%s%s%s", msg, msg[0] && changed ? "\n" : "",
		 changed ? "STATUS=" : "", changed ? status : "");
	if (buf[0])
		notify(d, buf);
}

static bool plugins_settled(const struct bh_daemon *d)
{
	struct bh_list *pos, *tmp;
	bh_list_for_each_safe(pos, tmp, &d->slots)
		if (bh_container_of(pos, struct bh_slot, link)->state == BH_SLOT_STARTING)
			return false;
	return true;
}

static void send_ready(struct bh_daemon *d)
{
	d->service.ready = true;
	bh_timer_disarm(d->loop, &d->service.ready_deadline);
	notify_with_status(d, "READY=1", true);
}

void bh_service_poll(struct bh_daemon *d)
{
	if (!d->service.ready && !d->shutting_down && plugins_settled(d))
		send_ready(d);
}

static void ready_deadline(struct bh_timer *t)
{
	struct bh_daemon *d = bh_container_of(t, struct bh_daemon, service.ready_deadline);
	if (d->service.ready || d->shutting_down)
		return;
	char names[256] = "";
	size_t n = 0;
	struct bh_list *pos, *tmp;
	bh_list_for_each_safe(pos, tmp, &d->slots)
	{
		const struct bh_slot *s = bh_container_of(pos, struct bh_slot, link);
		if (s->state == BH_SLOT_STARTING && n < sizeof(names))
			n += (size_t)snprintf(names + n, sizeof(names) - n, "%s%s", n ? ", " : "",
					      s->conf->name);
	}
	bh_info("ready; still starting after the longest init_timeout_ms: %s", names);
	send_ready(d);
}

static uint64_t tick_interval_ns(const struct bh_service *sv)
{
	return sv->watchdog_ns ? sv->watchdog_ns / 2 : bh_ms_to_ns(STATUS_REFRESH_MS);
}

static void tick(struct bh_timer *t)
{
	struct bh_daemon *d = bh_container_of(t, struct bh_daemon, service.tick);
	notify_with_status(d, d->service.watchdog_ns ? "WATCHDOG=1" : "", false);
	bh_timer_arm(d->loop, t, bh_now_ns() + tick_interval_ns(&d->service));
}

int bh_service_load(char *errbuf, size_t errlen)
{
	const char *socket = getenv("NOTIFY_SOCKET");
	bool notify = socket && socket[0];
#ifdef BH_HAVE_LIBSYSTEMD
	char why[256];
	if ((!notify && !activated()) || load_libsystemd(why, sizeof(why)) == 0)
		return 0;
	snprintf(errbuf, errlen, "%s is set, but %s", notify ? "NOTIFY_SOCKET" : "LISTEN_FDS",
		 why);
	return -ELIBACC;
#else
	(void)notify, (void)errbuf, (void)errlen;
	return 0;
#endif
}

void bh_service_init(struct bh_daemon *d)
{
	bh_timer_init(&d->service.tick, tick);
	bh_timer_init(&d->service.ready_deadline, ready_deadline);
}

int bh_service_start(struct bh_daemon *d)
{
	struct bh_service *sv = &d->service;
	const char *socket = getenv("NOTIFY_SOCKET");
#ifdef BH_HAVE_LIBSYSTEMD
	char why[256];
	if (socket && socket[0] && load_libsystemd(why, sizeof(why)) < 0)
		bh_warn("NOTIFY_SOCKET is set: %s; no READY=1, STATUS= or watchdog keep-alive",
			why);
	else if (socket && socket[0])
		sv->notify = true;
	uint64_t usec = 0;
	int r = sv->notify ? lib.sd_watchdog_enabled(0, &usec) : 0;
	if (r < 0)
		bh_warn("WATCHDOG_USEC: %s; no watchdog keep-alive", strerror(-r));
	else if (r > 0)
		sv->watchdog_ns = usec * 1000;
#else
	if (socket && socket[0])
		bh_warn("NOTIFY_SOCKET is set but this bulkheadd was built without libsystemd: "
			"no READY=1, STATUS= or watchdog keep-alive (Type=simple in the unit, or "
			"rebuild with libsystemd-dev)");
#endif
	if (!sv->notify) {
		sv->ready = true;
		return 0;
	}
	if (sv->watchdog_ns)
		bh_info("watchdog: keep-alive every %llu ms",
			(unsigned long long)(sv->watchdog_ns / 2000000));
	uint32_t longest = 0;
	for (size_t i = 0; i < d->cfg->n_plugins; i++)
		if (d->cfg->plugins[i].init_timeout_ms > longest)
			longest = d->cfg->plugins[i].init_timeout_ms;
	uint64_t now = bh_now_ns();
	int e = bh_timer_arm(d->loop, &sv->tick, now + tick_interval_ns(sv));
	if (e == 0)
		e = bh_timer_arm(d->loop, &sv->ready_deadline, now + bh_ms_to_ns(longest));
	return e;
}

void bh_service_reloading(struct bh_daemon *d)
{
	notify(d, "RELOADING=1");
}

void bh_service_reloaded(struct bh_daemon *d)
{
	/* A reload before the first READY=1 leaves readiness to the plugins' start. */
	if (d->service.ready)
		notify_with_status(d, "READY=1", true);
}

void bh_service_stopping(struct bh_daemon *d)
{
	bh_timer_disarm(d->loop, &d->service.ready_deadline);
	notify_with_status(d, "STOPPING=1", true);
}

void bh_service_done(struct bh_daemon *d)
{
	if (!d->loop)
		return;
	bh_timer_disarm(d->loop, &d->service.tick);
	bh_timer_disarm(d->loop, &d->service.ready_deadline);
}
