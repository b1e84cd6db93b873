/* SIGHUP: re-read the configuration file and apply the difference.
 *
 * New plugins are loaded, plugins that left the file are unloaded, plugins whose
 * settings changed are swapped to the new settings (a new generation: no call
 * fails). A file that does not parse or validate is rejected with the reason and
 * nothing changes. Socket settings only take effect on a restart. Plugins loaded at
 * runtime (bulkhead load, the plugin directory) are left alone unless the file now
 * names them too. */
#include "reload.h"

#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "daemon.h"
#include "events.h"
#include "list.h"
#include "log.h"
#include "placement.h"
#include "service.h"
#include "slot.h"
#include "swap.h"
#include "watch.h"

const struct bh_plugin_conf *bh_configured(const struct bh_config *cfg, const char *name)
{
	for (size_t i = 0; i < cfg->n_plugins; i++)
		if (strcmp(cfg->plugins[i].name, name) == 0)
			return &cfg->plugins[i];
	return NULL;
}

/* Keep what cannot change while running: the socket is bound already, and a
 * command-line -s overrides the file. */
static int keep_socket_settings(struct bh_config *next, const struct bh_config *cur)
{
	if (strcmp(next->socket_path, cur->socket_path) != 0 || next->socket_mode != cur->socket_mode ||
	    next->socket_uid != cur->socket_uid || next->socket_gid != cur->socket_gid)
		bh_warn("reload: socket settings changed; they take effect when the daemon restarts");
	char *path = strdup(cur->socket_path);
	if (!path)
		return -1;
	free(next->socket_path);
	next->socket_path = path;
	next->socket_mode = cur->socket_mode;
	next->socket_uid = cur->socket_uid;
	next->socket_gid = cur->socket_gid;
	return 0;
}

static void reload(struct bh_daemon *d)
{
	if (!d->cfg->path) {
		bh_warn("SIGHUP: started without a configuration file; nothing to reload");
		return;
	}
	struct bh_config *next;
	char err[1024];
	if (bh_config_load(d->cfg->path, &next, err, sizeof(err)) < 0) {
		bh_err("SIGHUP: configuration rejected, keeping the running one: %s", err);
		bh_event_emit(d, &(struct bh_event){ .kind = BH_EV_CONFIG_REJECTED, .detail = err });
		return;
	}
	if (keep_socket_settings(next, d->cfg) < 0) {
		bh_err("SIGHUP: out of memory; keeping the running configuration");
		bh_config_free(next);
		return;
	}
	bh_info("SIGHUP: applying %s", next->path);
	/* Before any instance starts: those the reload starts are placed the new way. */
	bh_placement_apply(next->cpu_placement);

	struct bh_list *pos, *tmp;
	bh_list_for_each_safe(pos, tmp, &d->slots)
	{
		struct bh_slot *s = bh_container_of(pos, struct bh_slot, link);
		if (s->origin != BH_ORIGIN_CONFIG || bh_configured(next, s->conf->name) ||
		    s->state == BH_SLOT_UNLOADING)
			continue;
		if (bh_slot_busy(s)) {
			/* Recorded: when the operation ends the slot finds itself gone from
			 * the configuration (d->cfg by then) and unloads (bh_slot_reload). */
			bh_info("SIGHUP: %s was removed; unloading it once the operation running "
				"on it ends", s->conf->name);
			bh_slot_source_changed(s);
			continue;
		}
		bh_slot_unload(s, NULL);
	}
	for (size_t i = 0; i < next->n_plugins; i++) {
		const struct bh_plugin_conf *p = &next->plugins[i];
		struct bh_slot *s = bh_slot_find(d, p->name, strlen(p->name));
		if (!s) {
			if (bh_slot_create(d, p, &s) == 0)
				s->origin = BH_ORIGIN_CONFIG;
			continue;
		}
		s->origin = BH_ORIGIN_CONFIG;
		if (bh_plugin_conf_equal(s->conf, p))
			continue;
		if (bh_slot_busy(s)) {
			/* Recorded: when the operation ends the slot swaps to its entry in
			 * the configuration (d->cfg by then; bh_slot_reload). */
			bh_info("SIGHUP: %s changed; applying it once the operation running on "
				"it ends", p->name);
			bh_slot_source_changed(s);
			continue;
		}
		char why[512];
		if (bh_swap_start(s, p, NULL, NULL, why, sizeof(why)) < 0)
			bh_err("SIGHUP: %s changed but cannot be swapped: %s", p->name, why);
	}
	/* Daemon-wide settings (limits, deadlines, restart policy, ACLs) apply from now
	 * on; slots and connections keep copies of what they were built with. */
	struct bh_config *old = d->cfg;
	d->cfg = next;
	if (!d->verbose)
		bh_log_threshold = next->log_level;
	if (!d->log_format_forced)
		bh_log_format = next->log_format;
	bh_watch_refresh(d);
	bh_config_free(old);
	bh_event_emit(d, &(struct bh_event){ .kind = BH_EV_CONFIG_RELOADED, .detail = d->cfg->path });
}

/* The service manager sees the reload begin and end (RELOADING=1 ... READY=1), also
 * when the file is rejected: the daemon is ready either way, on the old settings. */
void bh_daemon_reload(struct bh_daemon *d)
{
	if (d->shutting_down)
		return;
	bh_service_reloading(d);
	reload(d);
	bh_service_reloaded(d);
}
