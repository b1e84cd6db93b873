/* Watching plugin files (inotify): auto-reload and the plugin directory.
 *
 * A plugin with auto_reload = true is swapped when its .so is replaced on disk. Only
 * two events count: IN_CLOSE_WRITE (a writer finished writing the file in place) and
 * IN_MOVED_TO (a file was renamed over it: the atomic way). Opening or a partial
 * write never triggers anything, so a half-written file is never loaded; and should
 * a finished file still be broken, the swap rolls back and the old version serves
 * on. Events are debounced (RELOAD_DEBOUNCE_MS after the last one), and a reload
 * that finds an operation running (a swap, a load) is recorded and applied when it
 * ends (bh_slot_source_changed).
 *
 * The plugin directory (plugin_dir) loads a NAME.so that appears there as plugin
 * NAME, swaps it when it is replaced, and unloads it when it disappears.
 *
 * The same recorded change is how a plugin that must go but is busy (a swap running)
 * leaves once it is free: a plugin_dir file removed during a swap, a plugin a SIGHUP
 * removed from the configuration during one (reload.c). bh_slot_reload checks the
 * plugin's source first, and unloads a plugin whose file or configuration entry is
 * gone instead of swapping it. */
#include "watch.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bulkhead/proto.h"
#include "config.h"
#include "daemon.h"
#include "list.h"
#include "log.h"
#include "loop.h"
#include "reload.h"
#include "slot.h"
#include "swap.h"

#define RELOAD_DEBOUNCE_MS 50
#define FILE_EVENTS (IN_CLOSE_WRITE | IN_MOVED_TO)
#define DIR_EVENTS (IN_CLOSE_WRITE | IN_MOVED_TO | IN_DELETE | IN_MOVED_FROM)

struct bh_dirwatch {
	int wd;
	char *dir;
};

static const char *dir_of(int wd, const struct bh_daemon *d)
{
	for (size_t i = 0; i < d->n_dirs; i++)
		if (d->dirs[i].wd == wd)
			return d->dirs[i].dir;
	return NULL;
}

static int watch_dir(struct bh_daemon *d, const char *dir, uint32_t mask)
{
	int wd = inotify_add_watch(d->inotify.fd, dir, mask | IN_MASK_ADD | IN_ONLYDIR);
	if (wd < 0)
		return -errno;
	if (dir_of(wd, d))
		return 0;
	struct bh_dirwatch *n = realloc(d->dirs, (d->n_dirs + 1) * sizeof(*n));
	char *copy = strdup(dir);
	if (!n || !copy) {
		free(copy);
		if (n)
			d->dirs = n;
		return -ENOMEM;
	}
	d->dirs = n;
	d->dirs[d->n_dirs++] = (struct bh_dirwatch){wd, copy};
	return 0;
}

/* True, with the reason, when what loaded s no longer names it: a plugin_dir file
 * that is gone, a configured plugin the running configuration dropped. */
static bool slot_source_gone(const struct bh_slot *s, const char **ret_why)
{
	if (s->origin == BH_ORIGIN_DIR) {
		struct stat st;
		if (stat(s->conf->path, &st) == 0 || errno != ENOENT)
			return false;
		*ret_why = "its file in the plugin directory was removed";
		return true;
	}
	if (s->origin != BH_ORIGIN_CONFIG)
		return false;
	if (bh_configured(s->d->cfg, s->conf->name))
		return false;
	*ret_why = "no longer in the configuration";
	return true;
}

void bh_slot_reload(struct bh_slot *s)
{
	const char *gone;
	if (slot_source_gone(s, &gone)) {
		bh_info("%s: %s; unloading", s->conf->name, gone);
		bh_slot_unload(s, NULL);
		return;
	}
	/* A configured plugin goes to its entry in the running configuration: that is
	 * how a SIGHUP's change that found the plugin busy is applied afterwards. */
	const struct bh_plugin_conf *target = s->conf;
	if (s->origin == BH_ORIGIN_CONFIG)
		target = bh_configured(s->d->cfg, s->conf->name);
	if (bh_plugin_conf_equal(target, s->conf))
		bh_info("%s: %s changed on disk; swapping", s->conf->name, s->conf->path);
	else
		bh_info("%s: applying its new configuration", s->conf->name);
	char why[512];
	if (bh_swap_start(s, target, NULL, NULL, why, sizeof(why)) < 0)
		bh_err("%s: reload failed: %s", s->conf->name, why);
}

static void schedule_reload(struct bh_slot *s)
{
	bh_timer_arm(s->d->loop, &s->reload_timer, bh_now_ns() + bh_ms_to_ns(RELOAD_DEBOUNCE_MS));
}

/* True when a and b name the same directory. inotify watches a directory once
 * however it is reached, and dirs[] keeps the spelling that came first: another
 * plugin's path may reach it through a symlink (/lib and /usr/lib on a merged-/usr
 * system) or "..", so a string comparison alone would miss its events. */
static bool same_dir(const char *a, const char *b)
{
	if (strcmp(a, b) == 0)
		return true;
	struct stat sa, sb;
	return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev &&
	       sa.st_ino == sb.st_ino;
}

/* True when path is the entry `file` of directory dir (see same_dir). */
static bool is_entry(const char *path, const char *dir, const char *file)
{
	const char *slash = strrchr(path, '/');
	if (!slash || strcmp(slash + 1, file) != 0)
		return false;
	char pdir[PATH_MAX];
	size_t n = slash == path ? 1 : (size_t)(slash - path);
	if (n >= sizeof(pdir))
		return false;
	memcpy(pdir, path, n);
	pdir[n] = 0;
	return same_dir(pdir, dir);
}

/* NAME.so with NAME an identifier: the plugin name, in buf. */
static bool plugin_file_name(const char *file, char *buf, size_t cap)
{
	size_t n = strlen(file);
	if (n <= 3 || strcmp(file + n - 3, ".so") != 0 || n - 3 >= cap)
		return false;
	memcpy(buf, file, n - 3);
	buf[n - 3] = 0;
	return bh_name_valid(buf, n - 3) && strcmp(buf, "bulkhead") != 0;
}

/* path is dir/file, file is NAME.so and name is NAME. */
static void dir_file_appeared(struct bh_daemon *d, const char *path, const char *dir,
			      const char *file, const char *name)
{
	if (d->shutting_down)
		return;
	struct bh_slot *s = bh_slot_find(d, name, strlen(name));
	if (s) {
		if (is_entry(s->conf->path, dir, file))
			schedule_reload(s);
		else
			bh_warn("plugin directory: %s: a plugin named %s is already loaded from %s",
				path, name, s->conf->path);
		return;
	}
	char why[512];
	if (bh_plugin_file_check(path, why, sizeof(why)) < 0) {
		bh_warn("plugin directory: %s", why);
		return;
	}
	struct bh_plugin_conf conf = d->cfg->plugin_defaults; /* borrowed: copied by bh_slot_create */
	snprintf(conf.name, sizeof(conf.name), "%s", name);
	conf.path = (char *)path;
	if (bh_slot_create(d, &conf, &s) == 0)
		s->origin = BH_ORIGIN_DIR;
}

static void dir_file_gone(struct bh_daemon *d, const char *path, const char *dir,
			  const char *file, const char *name)
{
	struct bh_slot *s = bh_slot_find(d, name, strlen(name));
	if (!s || s->origin != BH_ORIGIN_DIR || !is_entry(s->conf->path, dir, file) ||
	    s->state == BH_SLOT_UNLOADING)
		return;
	if (bh_slot_busy(s)) /* applied when the operation ends: it finds the file gone */
		bh_info("plugin directory: %s removed; unloading %s once the operation running "
			"on it ends", path, name);
	else
		bh_info("plugin directory: %s removed; unloading %s", path, name);
	bh_slot_source_changed(s);
}

static void handle_event(struct bh_daemon *d, const struct inotify_event *ev)
{
	const char *dir = dir_of(ev->wd, d);
	if (!dir || !ev->len)
		return;
	char path[PATH_MAX];
	if (snprintf(path, sizeof(path), "%s/%s", dir, ev->name) >= (int)sizeof(path))
		return;
	struct bh_list *pos, *tmp;
	if (ev->mask & FILE_EVENTS) {
		bh_list_for_each_safe(pos, tmp, &d->slots)
		{
			struct bh_slot *s = bh_container_of(pos, struct bh_slot, link);
			if (s->conf->auto_reload && is_entry(s->conf->path, dir, ev->name))
				schedule_reload(s);
		}
	}
	char name[BH_NAME_MAX + 1];
	if (!d->cfg->plugin_dir || !plugin_file_name(ev->name, name, sizeof(name)) ||
	    !same_dir(dir, d->cfg->plugin_dir))
		return;
	if (ev->mask & (IN_CLOSE_WRITE | IN_MOVED_TO))
		dir_file_appeared(d, path, dir, ev->name, name);
	else if (ev->mask & (IN_DELETE | IN_MOVED_FROM))
		dir_file_gone(d, path, dir, ev->name, name);
}

static void inotify_event_ready(struct bh_watch *w, uint32_t events)
{
	struct bh_daemon *d = bh_container_of(w, struct bh_daemon, inotify);
	(void)events;
	char buf[16 * 1024] __attribute__((aligned(__alignof__(struct inotify_event))));
	for (;;) {
		ssize_t n = read(w->fd, buf, sizeof(buf));
		if (n <= 0) {
			if (n < 0 && errno == EINTR)
				continue;
			return;
		}
		for (ssize_t off = 0; off < n;) {
			const struct inotify_event *ev = (const struct inotify_event *)(buf + off);
			if (ev->mask & IN_Q_OVERFLOW)
				bh_warn("inotify queue overflowed: some plugin file changes were missed");
			else
				handle_event(d, ev);
			off += (ssize_t)(sizeof(*ev) + ev->len);
		}
	}
}

static void scan_plugin_dir(struct bh_daemon *d)
{
	DIR *dir = opendir(d->cfg->plugin_dir);
	if (!dir)
		return;
	struct dirent *e;
	while ((e = readdir(dir))) {
		char name[BH_NAME_MAX + 1], path[PATH_MAX];
		if ((e->d_type != DT_REG && e->d_type != DT_UNKNOWN) ||
		    !plugin_file_name(e->d_name, name, sizeof(name)) ||
		    snprintf(path, sizeof(path), "%s/%s", d->cfg->plugin_dir, e->d_name) >=
			    (int)sizeof(path))
			continue;
		if (!bh_slot_find(d, name, strlen(name)))
			dir_file_appeared(d, path, d->cfg->plugin_dir, e->d_name, name);
	}
	closedir(dir);
}

void bh_watch_slot_removed(struct bh_daemon *d, const struct bh_slot *s)
{
	/* Its file may have come back while it was unloading: that event found the old
	 * slot, so it is handled here, now that the name is free. */
	struct stat st;
	if (s->origin != BH_ORIGIN_DIR || d->shutting_down || stat(s->conf->path, &st) < 0 ||
	    !S_ISREG(st.st_mode) || bh_slot_find(d, s->conf->name, strlen(s->conf->name)))
		return;
	const char *slash = strrchr(s->conf->path, '/');
	char dir[PATH_MAX];
	snprintf(dir, sizeof(dir), "%.*s", slash ? (int)(slash - s->conf->path) : 0,
		 s->conf->path);
	bh_info("plugin directory: %s is back; loading %s", s->conf->path, s->conf->name);
	dir_file_appeared(d, s->conf->path, dir, slash ? slash + 1 : s->conf->path,
			  s->conf->name);
}

void bh_watch_refresh(struct bh_daemon *d)
{
	if (d->inotify.fd < 0)
		return;
	struct bh_list *pos, *tmp;
	bh_list_for_each_safe(pos, tmp, &d->slots)
	{
		struct bh_slot *s = bh_container_of(pos, struct bh_slot, link);
		if (!s->conf->auto_reload)
			continue;
		char dir[PATH_MAX];
		snprintf(dir, sizeof(dir), "%s", s->conf->path);
		char *slash = strrchr(dir, '/');
		if (slash)
			*(slash == dir ? slash + 1 : slash) = 0;
		int r = watch_dir(d, dir, FILE_EVENTS);
		if (r < 0)
			bh_warn("%s: cannot watch %s for auto_reload: %s", s->conf->name, dir,
				strerror(-r));
	}
	if (d->cfg->plugin_dir) {
		int r = watch_dir(d, d->cfg->plugin_dir, DIR_EVENTS);
		if (r < 0)
			bh_warn("plugin directory %s: %s", d->cfg->plugin_dir, strerror(-r));
		else
			scan_plugin_dir(d);
	}
}

int bh_watch_init(struct bh_daemon *d)
{
	int fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (fd < 0)
		return -errno;
	d->inotify = (struct bh_watch){.fd = fd, .events = EPOLLIN, .fn = inotify_event_ready};
	int r = bh_watch_add(d->loop, &d->inotify);
	if (r < 0) {
		close(fd);
		d->inotify.fd = -1;
		return r;
	}
	bh_watch_refresh(d);
	return 0;
}

void bh_watch_done(struct bh_daemon *d)
{
	if (d->loop)
		bh_watch_close(d->loop, &d->inotify);
	for (size_t i = 0; i < d->n_dirs; i++)
		free(d->dirs[i].dir);
	free(d->dirs);
	d->dirs = NULL;
	d->n_dirs = 0;
}
