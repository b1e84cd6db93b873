/* The metrics endpoint: GET /metrics over HTTP, served by libmicrohttpd.
 *
 * It runs inside the daemon's event loop, not on a thread: MHD in its external epoll
 * mode (MHD_USE_EPOLL without an internal thread) hands out one epoll fd, which the
 * loop watches like any other; MHD_run does the work when it is readable or when the
 * timeout MHD asks for (MHD_get_timeout) is due. The page is rendered in the loop
 * from the live state, so nothing is shared between threads, no lock and no
 * snapshot copy is needed, and a scrape sees one consistent moment. The price: a
 * scrape holds the loop while it renders (about 23 ms of CPU for 1000 plugins that
 * all had calls, see README); MHD then sends the page piecewise as the socket takes
 * it, and never blocks on a slow scraper.
 *
 * Bounds: at most METRICS_CONNECTIONS connections (more are refused by MHD), each
 * closed after METRICS_TIMEOUT_S idle, requests in MHD's default 32 KiB per
 * connection, the page at most METRICS_PAGE_MAX.
 *
 * libmicrohttpd is loaded only here, when metrics over HTTP are configured (dynlib.h). */
#define _GNU_SOURCE
#include "metrics.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "config.h"
#include "daemon.h"
#include "dynlib.h"
#include "log.h"
#include "loop.h"

#define METRICS_CONNECTIONS 16
#define METRICS_TIMEOUT_S 10
#define METRICS_PAGE_MAX (64u << 20)
#define METRICS_PATH "/metrics"
#define METRICS_TYPE "text/plain; version=0.0.4; charset=utf-8"

static struct {
	BH_DYNFN(MHD_start_daemon);
	BH_DYNFN(MHD_stop_daemon);
	BH_DYNFN(MHD_get_daemon_info);
	BH_DYNFN(MHD_run);
	BH_DYNFN(MHD_get_timeout);
	BH_DYNFN(MHD_create_response_from_buffer);
	BH_DYNFN(MHD_add_response_header);
	BH_DYNFN(MHD_queue_response);
	BH_DYNFN(MHD_destroy_response);
} lib;

static const struct bh_dynsym lib_syms[] = {
	BH_DYNSYM(lib, MHD_start_daemon),
	BH_DYNSYM(lib, MHD_stop_daemon),
	BH_DYNSYM(lib, MHD_get_daemon_info),
	BH_DYNSYM(lib, MHD_run),
	BH_DYNSYM(lib, MHD_get_timeout),
	BH_DYNSYM(lib, MHD_create_response_from_buffer),
	BH_DYNSYM(lib, MHD_add_response_header),
	BH_DYNSYM(lib, MHD_queue_response),
	BH_DYNSYM(lib, MHD_destroy_response),
};

struct bh_metrics {
	struct bh_daemon *d;
	struct MHD_Daemon *mhd;
	struct bh_watch watch; /* a duplicate of MHD's epoll fd (the loop closes its own) */
	struct bh_timer timer; /* MHD's next timeout */
	char *unix_path;       /* a socket path we bound, removed at stop */
};

static void run(struct bh_metrics *m)
{
	lib.MHD_run(m->mhd);
	MHD_UNSIGNED_LONG_LONG ms;
	if (lib.MHD_get_timeout(m->mhd, &ms) == MHD_YES)
		bh_timer_arm(m->d->loop, &m->timer, bh_now_ns() + bh_ms_to_ns(ms));
	else
		bh_timer_disarm(m->d->loop, &m->timer);
}

static void on_ready(struct bh_watch *w, uint32_t events)
{
	(void)events;
	run(bh_container_of(w, struct bh_metrics, watch));
}

static void on_timer(struct bh_timer *t)
{
	run(bh_container_of(t, struct bh_metrics, timer));
}

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned status, const char *text)
{
	struct MHD_Response *r =
		lib.MHD_create_response_from_buffer(strlen(text), (void *)text, MHD_RESPMEM_PERSISTENT);
	if (!r)
		return MHD_NO;
	lib.MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain; charset=utf-8");
	if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
		lib.MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
	enum MHD_Result ret = lib.MHD_queue_response(conn, status, r);
	lib.MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version,
				  const char *upload_data, size_t *upload_data_size, void **req_cls)
{
	struct bh_metrics *m = cls;
	(void)version;
	(void)upload_data;
	(void)req_cls;
	if (*upload_data_size)
		return reply(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "GET or HEAD only\n");
	if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
		return reply(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "GET or HEAD only\n");
	if (strcmp(url, METRICS_PATH) != 0)
		return reply(conn, MHD_HTTP_NOT_FOUND, "metrics are at " METRICS_PATH "\n");
	struct bh_buf page;
	bh_buf_init(&page, METRICS_PAGE_MAX);
	int r = bh_metrics_render(m->d, &page);
	if (r < 0) {
		bh_buf_done(&page);
		bh_warn("metrics: cannot render the page: %s", strerror(-r));
		return reply(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "cannot render the metrics\n");
	}
	/* The page's buffer goes to MHD, which frees it once sent. */
	struct MHD_Response *resp =
		lib.MHD_create_response_from_buffer(page.len, page.data, MHD_RESPMEM_MUST_FREE);
	if (!resp) {
		bh_buf_done(&page);
		return MHD_NO;
	}
	lib.MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, METRICS_TYPE);
	enum MHD_Result ret = lib.MHD_queue_response(conn, MHD_HTTP_OK, resp);
	lib.MHD_destroy_response(resp);
	return ret;
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	(void)cls;
	char msg[512];
	vsnprintf(msg, sizeof(msg), fmt, ap);
	size_t n = strlen(msg);
	while (n && msg[n - 1] == '\n')
		msg[--n] = '\0';
	bh_warn("metrics: %s", msg);
}

/* A socket path: a socket file left there is removed when nobody answers on it
 * (a daemon that died); one somebody serves is not taken. */
static int claim_path(const struct sockaddr_un *un, char *errbuf, size_t errlen)
{
	struct stat st;
	if (lstat(un->sun_path, &st) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISSOCK(st.st_mode)) {
		snprintf(errbuf, errlen, "metrics: %s exists and is not a socket", un->sun_path);
		return -EEXIST;
	}
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	int r = connect(fd, (const struct sockaddr *)un, sizeof(*un));
	close(fd);
	if (r == 0) {
		snprintf(errbuf, errlen, "metrics: %s is served by another process", un->sun_path);
		return -EADDRINUSE;
	}
	return unlink(un->sun_path) < 0 && errno != ENOENT ? -errno : 0;
}

static bool loopback(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET)
		return (ntohl(((const struct sockaddr_in *)ss)->sin_addr.s_addr) >> 24) == 127;
	if (ss->ss_family == AF_INET6)
		return IN6_IS_ADDR_LOOPBACK(&((const struct sockaddr_in6 *)ss)->sin6_addr);
	return true;
}

/* The listening socket, bound as listen says, mode applied to a path. */
static int open_listener(const struct bh_metrics_conf *mc, int *ret, char *errbuf, size_t errlen)
{
	struct sockaddr_storage ss;
	socklen_t len;
	const char *why;
	if (bh_metrics_listen_parse(mc->listen, &ss, &len, &why) < 0) {
		snprintf(errbuf, errlen, "metrics: \"%s\": %s", mc->listen, why);
		return -EINVAL;
	}
	int r, fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		goto fail;
	if (ss.ss_family == AF_UNIX) {
		const struct sockaddr_un *un = (const struct sockaddr_un *)&ss;
		if ((r = claim_path(un, errbuf, errlen)) < 0) {
			close(fd);
			return r;
		}
		/* Bound with no permission at all, then given its mode: never reachable
		 * by more users than the mode says, not even for a moment. */
		mode_t old = umask(0777);
		r = bind(fd, (const struct sockaddr *)&ss, len);
		umask(old);
		if (r < 0 || chmod(un->sun_path, mc->mode) < 0)
			goto fail;
	} else {
		int one = 1;
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(fd, (const struct sockaddr *)&ss, len) < 0)
			goto fail;
		if (!loopback(&ss))
			bh_warn("metrics on %s, not a loopback address: whoever reaches it reads "
				"every plugin's name and figures", mc->listen);
	}
	if (listen(fd, METRICS_CONNECTIONS) < 0)
		goto fail;
	*ret = fd;
	return 0;
fail:
	r = -errno;
	snprintf(errbuf, errlen, "metrics: %s: %s", mc->listen, strerror(errno));
	if (fd >= 0)
		close(fd);
	return r;
}

int bh_metrics_start(struct bh_daemon *d, char *errbuf, size_t errlen)
{
	const struct bh_metrics_conf *mc = &d->cfg->metrics;
	if (!mc->listen)
		return 0;
	char why[256];
	if (bh_dynlib_load(BH_MHD_SONAME, lib_syms, sizeof(lib_syms) / sizeof(lib_syms[0]), why,
			   sizeof(why)) < 0) {
		snprintf(errbuf, errlen, "metrics on %s need libmicrohttpd: %s", mc->listen, why);
		return -ENOENT;
	}
	struct bh_metrics *m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->d = d;
	m->watch.fd = -1;
	bh_timer_init(&m->timer, on_timer);
	d->metrics = m;
	int fd = -1, r = open_listener(mc, &fd, errbuf, errlen);
	if (r < 0)
		goto fail;
	if (mc->listen[0] == '/' && !(m->unix_path = strdup(mc->listen))) {
		close(fd);
		r = -ENOMEM;
		goto fail;
	}
	m->mhd = lib.MHD_start_daemon(MHD_USE_EPOLL | MHD_USE_ERROR_LOG, 0, NULL, NULL, on_request,
				      m, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
				      MHD_OPTION_LISTEN_SOCKET, fd,
				      MHD_OPTION_CONNECTION_LIMIT, (unsigned)METRICS_CONNECTIONS,
				      MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)METRICS_TIMEOUT_S,
				      MHD_OPTION_END);
	if (!m->mhd) {
		close(fd);
		snprintf(errbuf, errlen, "metrics: libmicrohttpd did not start on %s", mc->listen);
		r = -EIO;
		goto fail;
	}
	const union MHD_DaemonInfo *info =
		lib.MHD_get_daemon_info(m->mhd, MHD_DAEMON_INFO_EPOLL_FD);
	if (!info || (m->watch.fd = fcntl(info->epoll_fd, F_DUPFD_CLOEXEC, 3)) < 0) {
		r = info ? -errno : -EIO;
		snprintf(errbuf, errlen, "metrics: no epoll fd from libmicrohttpd");
		goto fail;
	}
	m->watch.events = EPOLLIN;
	m->watch.fn = on_ready;
	if ((r = bh_watch_add(d->loop, &m->watch)) < 0) {
		close(m->watch.fd);
		m->watch.fd = -1;
		snprintf(errbuf, errlen, "metrics: %s", strerror(-r));
		goto fail;
	}
	bh_info("metrics on %s, path " METRICS_PATH, mc->listen);
	return 0;
fail:
	bh_metrics_stop(d);
	return r;
}

void bh_metrics_stop(struct bh_daemon *d)
{
	struct bh_metrics *m = d->metrics;
	if (!m)
		return;
	d->metrics = NULL;
	if (d->loop) {
		bh_watch_close(d->loop, &m->watch);
		bh_timer_disarm(d->loop, &m->timer);
	}
	if (m->mhd)
		lib.MHD_stop_daemon(m->mhd); /* closes the listening socket */
	if (m->unix_path)
		unlink(m->unix_path);
	free(m->unix_path);
	free(m);
}
