/* SIGHUP: re-read the configuration file and apply the difference. */
#ifndef BH_RELOAD_H
#define BH_RELOAD_H

struct bh_daemon;
struct bh_config;
struct bh_plugin_conf;

void bh_daemon_reload(struct bh_daemon *d);
/* cfg's entry for plugin name, or NULL. */
const struct bh_plugin_conf *bh_configured(const struct bh_config *cfg, const char *name);

#endif
