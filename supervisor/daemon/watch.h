/* Watching plugin files (inotify): auto-reload and the plugin directory. */
#ifndef BH_WATCH_H
#define BH_WATCH_H

struct bh_daemon;
struct bh_slot;

int bh_watch_init(struct bh_daemon *d);
void bh_watch_done(struct bh_daemon *d);
/* (Re)establish watches for every slot with auto_reload and the plugin directory. */
void bh_watch_refresh(struct bh_daemon *d);
/* A slot was removed (unloaded): reload it if it came from plugin_dir and its file
 * is there again. */
void bh_watch_slot_removed(struct bh_daemon *d, const struct bh_slot *s);
/* Apply what s's source says now (s is not busy): unload it when its plugin_dir
 * file or its configuration entry is gone, else swap it to its configured settings
 * or its file as it is on disk. */
void bh_slot_reload(struct bh_slot *s);

#endif
