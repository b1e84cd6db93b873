/* The client socket: claim the path safely, bind with the configured mode, accept.
 *
 * Ownership of the path is decided by a lock on "PATH.lock", held for the daemon's
 * life: a second daemon fails to take it and refuses to start instead of stealing a
 * live socket, and a socket file left by a dead daemon is known to be stale (nobody
 * holds the lock) and removed. It is a POSIX record lock (F_SETLK), which belongs to
 * the process: children being spawned never hold it, unlike flock(), whose lock an
 * inherited fd would keep alive after the daemon died. The lock file itself is left
 * in place: removing it would reopen the race it closes.
 *
 * The directory: the default socket's (/run/bulkhead for root, mode 0755 so that
 * group members reach the 0660 socket; $XDG_RUNTIME_DIR/bulkhead for a user, 0700)
 * is created when missing, as systemd's RuntimeDirectory= would. A configured
 * path's directory is the operator's: a missing one is named, never created.
 *
 * Socket activation: a socket passed by the service manager is served as it is;
 * the manager owns its path, mode and owner (the .socket unit's SocketMode= ...), so
 * there is no lock, no bind and no unlink at exit. */
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
#include "service.h"

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

/* The socket's directory exists, or is the default one and has been created. */
static int socket_dir(const struct bh_daemon *d, const char *path, char *errbuf, size_t errlen)
{
	const char *slash = strrchr(path, '/');
	if (!slash || slash == path)
		return 0; /* relative to the working directory, or in / */
	char dir[sizeof(((struct sockaddr_un *)0)->sun_path)];
	snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path), path);
	struct stat st;
	if (stat(dir, &st) == 0) {
		if (S_ISDIR(st.st_mode))
			return 0;
		snprintf(errbuf, errlen, "socket %s: %s is not a directory", path, dir);
		return -ENOTDIR;
	}
	int r = -errno;
	if (r == -ENOENT && d->default_socket) {
		mode_t mode = geteuid() == 0 ? 0755 : 0700;
		/* chmod: the umask must not narrow it. */
		if ((mkdir(dir, mode) == 0 && chmod(dir, mode) == 0) || errno == EEXIST) {
			bh_info("created the socket directory %s (mode %04o)", dir, (unsigned)mode);
			return 0;
		}
		r = -errno;
		snprintf(errbuf, errlen, "socket %s: cannot create its directory %s: %s", path, dir,
			 strerror(errno));
		return r;
	}
	if (r == -ENOENT)
		snprintf(errbuf, errlen,
			 "socket %s: the directory %s does not exist (create it, or choose "
			 "another socket.path or -s)",
			 path, dir);
	else
		snprintf(errbuf, errlen, "socket %s: directory %s: %s", path, dir, strerror(errno));
	return r;
}

/* A socket the service manager passed: served as it is. */
static int adopt(struct bh_daemon *d, int fd)
{
	struct sockaddr_un sa = {0};
	socklen_t len = sizeof(sa);
	if (getsockname(fd, (struct sockaddr *)&sa, &len) == 0 && len > sizeof(sa_family_t) &&
	    sa.sun_path[0]) {
		sa.sun_path[sizeof(sa.sun_path) - 1] = 0;
		if (strcmp(sa.sun_path, d->cfg->socket_path) != 0 && !d->default_socket)
			bh_warn("socket activation: serving %s, not the configured %s",
				sa.sun_path, d->cfg->socket_path);
		char *path = strdup(sa.sun_path);
		if (path) {
			free(d->cfg->socket_path);
			d->cfg->socket_path = path;
		}
	}
	d->socket_activated = true;
	return fd;
}

/* Serve the listening socket fd (owned from here on). */
static int watch_listener(struct bh_daemon *d, int fd, char *errbuf, size_t errlen)
{
	d->listener = (struct bh_watch){.fd = fd, .events = EPOLLIN, .fn = listener_event};
	bh_timer_init(&d->accept_timer, accept_resume);
	int r = bh_watch_add(d->loop, &d->listener);
	if (r < 0) {
		snprintf(errbuf, errlen, "epoll: %s", strerror(-r));
		close(fd);
		d->listener.fd = -1;
		return r;
	}
	return 0;
}

int bh_listener_open(struct bh_daemon *d, char *errbuf, size_t errlen)
{
	const struct bh_config *cfg = d->cfg;
	int fd;
	int r = bh_service_listen_fd(&fd, errbuf, errlen);
	if (r < 0)
		return r;
	if (r > 0)
		return watch_listener(d, adopt(d, fd), errbuf, errlen);
	const char *path = cfg->socket_path;
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (strlen(path) >= sizeof(sa.sun_path)) {
		snprintf(errbuf, errlen, "socket path too long (max %zu bytes): %s",
			 sizeof(sa.sun_path) - 1, path);
		return -ENAMETOOLONG;
	}
	strcpy(sa.sun_path, path);
	if ((r = socket_dir(d, path, errbuf, errlen)) < 0 ||
	    (r = claim_path(d, path, errbuf, errlen)) < 0)
		return r;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
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
	return watch_listener(d, fd, errbuf, errlen);
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
