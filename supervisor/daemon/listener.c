/* The client socket: claim the path safely, bind with the configured mode, accept.
 *
 * Ownership of the path is decided by a lock on "PATH.lock", held for the daemon's
 * life: a second daemon fails to take it and refuses to start instead of stealing a
 * live socket, and a socket file left by a dead daemon is known to be stale (nobody
 * holds the lock) and removed. It is a POSIX record lock (F_SETLK), which belongs to
 * the process: children being spawned never hold it, unlike flock(), whose lock an
 * inherited fd would keep alive after the daemon died. The lock file itself is left
 * in place: removing it would reopen the race it closes. */
#define _GNU_SOURCE
#include "listener.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "config.h"
#include "conn.h"
#include "daemon.h"
#include "list.h"
#include "log.h"
#include "loop.h"

#define ACCEPT_PER_EVENT 64
#define ACCEPT_PAUSE_MS 100

static void accept_resume(struct bh_timer *t)
{
	struct bh_daemon *d = bh_container_of(t, struct bh_daemon, accept_timer);
	if (d->listener.fd >= 0)
		bh_watch_mod(d->loop, &d->listener, EPOLLIN);
}

static void listener_event(struct bh_watch *w, uint32_t events)
{
	struct bh_daemon *d = bh_container_of(w, struct bh_daemon, listener);
	(void)events;
	for (int i = 0; i < ACCEPT_PER_EVENT; i++) {
		int fd = accept4(w->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
			    errno == ENOMEM) {
				/* The pending connection stays pending, and a level-triggered
				 * listener would wake us forever: pause accepting a while. */
				bh_warn("accept: %s; not accepting for %d ms", strerror(errno),
					ACCEPT_PAUSE_MS);
				bh_watch_mod(d->loop, w, 0);
				bh_timer_arm(d->loop, &d->accept_timer,
					     bh_now_ns() + bh_ms_to_ns(ACCEPT_PAUSE_MS));
			} else if (errno != EAGAIN) {
				bh_warn("accept: %s", strerror(errno));
			}
			return;
		}
		bh_conn_accept(d, fd);
	}
}

static int claim_path(struct bh_daemon *d, const char *path, char *errbuf, size_t errlen)
{
	char lock[sizeof(((struct sockaddr_un *)0)->sun_path) + 8];
	snprintf(lock, sizeof(lock), "%s.lock", path);
	int fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		snprintf(errbuf, errlen, "%s: %s", lock, strerror(errno));
		return -errno;
	}
	struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
	if (fcntl(fd, F_SETLK, &fl) < 0) {
		int r = -errno;
		snprintf(errbuf, errlen, "%s is in use by another running bulkheadd (%s is locked)",
			 path, lock);
		close(fd);
		return r == -EAGAIN || r == -EACCES ? -EADDRINUSE : r;
	}
	struct stat st;
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			snprintf(errbuf, errlen, "%s exists and is not a socket; refusing to remove it",
				 path);
			close(fd);
			return -EEXIST;
		}
		bh_info("removing stale socket %s", path);
		unlink(path);
	}
	d->lock_fd = fd;
	return 0;
}

int bh_listener_open(struct bh_daemon *d, char *errbuf, size_t errlen)
{
	const struct bh_config *cfg = d->cfg;
	const char *path = cfg->socket_path;
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (strlen(path) >= sizeof(sa.sun_path)) {
		snprintf(errbuf, errlen, "socket path too long (max %zu bytes): %s",
			 sizeof(sa.sun_path) - 1, path);
		return -ENAMETOOLONG;
	}
	strcpy(sa.sun_path, path);
	int r = claim_path(d, path, errbuf, errlen);
	if (r < 0)
		return r;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(errbuf, errlen, "socket: %s", strerror(errno));
		return -errno;
	}
	/* The file gets the mode at creation: no window with a looser one. */
	mode_t old = umask(~cfg->socket_mode & 0777);
	r = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (r < 0) {
		r = -errno;
		snprintf(errbuf, errlen, "bind %s: %s", path, strerror(errno));
		close(fd);
		return r;
	}
	d->socket_path = strdup(path);
	if (chmod(path, cfg->socket_mode) < 0 ||
	    ((cfg->socket_uid != (uid_t)-1 || cfg->socket_gid != (gid_t)-1) &&
	     chown(path, cfg->socket_uid, cfg->socket_gid) < 0)) {
		r = -errno;
		snprintf(errbuf, errlen, "setting owner/mode of %s: %s", path, strerror(errno));
		close(fd);
		return r;
	}
	if (listen(fd, 128) < 0) {
		r = -errno;
		snprintf(errbuf, errlen, "listen %s: %s", path, strerror(errno));
		close(fd);
		return r;
	}
	d->listener = (struct bh_watch){.fd = fd, .events = EPOLLIN, .fn = listener_event};
	bh_timer_init(&d->accept_timer, accept_resume);
	r = bh_watch_add(d->loop, &d->listener);
	if (r < 0) {
		snprintf(errbuf, errlen, "epoll: %s", strerror(-r));
		close(fd);
		d->listener.fd = -1;
		return r;
	}
	return 0;
}

void bh_listener_close(struct bh_daemon *d)
{
	if (d->listener.fd >= 0)
		bh_timer_disarm(d->loop, &d->accept_timer);
	bh_watch_close(d->loop, &d->listener);
}

/* Called once at exit: the socket file goes, then the lock is released. */
void bh_listener_remove(struct bh_daemon *d)
{
	bh_listener_close(d);
	if (d->socket_path)
		unlink(d->socket_path);
	if (d->lock_fd >= 0) {
		close(d->lock_fd);
		d->lock_fd = -1;
	}
}
