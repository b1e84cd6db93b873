/* Internals of the config parser shared by config.c, config_read.c and config_acl.c.
 * Nothing here is part of the daemon's interface; everything is bh__cfg_. */
#ifndef BH_CONFIG_PRIV_H
#define BH_CONFIG_PRIV_H

#include <libconfig.h>
#include <stdint.h>

#include "config.h"

/* Longest duration any *_ms setting accepts: one day. */
#define BH__CFG_MS_MAX 86400000u

/* One load in progress: where messages go and what relative names resolve against. */
struct bh__cfg {
	const char *file; /* the config file as the caller named it (for messages) */
	const char *dir;  /* absolute directory of the config file; "/" or no trailing '/' */
	char *errbuf;	  /* may be NULL */
	size_t errlen;
	const struct bh_limits *limits; /* the ones parsed so far (for the plugin config maps) */
};

/* Error reporting. Each writes one message into x->errbuf and returns -EINVAL (or the
 * code named). s, when not NULL, gives the file and line; bh__cfg_fail also prefixes the
 * setting's path ("plugins[1].instances: "), bh__cfg_fail_at does not. */
int bh__cfg_fail(struct bh__cfg *x, const config_setting_t *s, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
int bh__cfg_fail_at(struct bh__cfg *x, const config_setting_t *s, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* "FILE:LINE: problem" for a line of a file named as libconfig names it (NULL = the main
 * file); line 0 gives "FILE: problem". Returns err. */
int bh__cfg_fail_line(struct bh__cfg *x, int err, const char *file, unsigned line, const char *fmt,
		      ...) __attribute__((format(printf, 5, 6)));
/* "FILE: out of memory", -ENOMEM. */
int bh__cfg_nomem(struct bh__cfg *x);

/* The dotted path of a setting ("plugins[0].sandbox.memory") into buf; "" for the root. */
void bh__cfg_path_of(const config_setting_t *s, char *buf, size_t len);
/* The file a setting came from, as it should appear in a message: the main file as the
 * caller named it, an included one joined to the config directory. Returns buf, or
 * x->file itself. */
const char *bh__cfg_file_of(const struct bh__cfg *x, const char *libconfig_file, char *buf,
			    size_t len);
/* "an integer", "a string", ... for messages. */
const char *bh__cfg_type_name(int type);

/* A plugin's env group (config_env.c) into *ret ("NAME=value" strings, *ret_n of
 * them), replacing what was there. */
int bh__cfg_env(struct bh__cfg *x, const config_setting_t *g, char ***ret, size_t *ret_n);

/* Reject members of group g whose names are not in allowed (NULL-terminated). */
int bh__cfg_keys(struct bh__cfg *x, const config_setting_t *g, const char *const *allowed);

/* Optional typed members of group g. Each leaves *ret untouched when the member is
 * absent, and on any error. */
int bh__cfg_int(struct bh__cfg *x, const config_setting_t *s, int64_t min, int64_t max,
		int64_t *ret);
int bh__cfg_u32(struct bh__cfg *x, const config_setting_t *g, const char *key, uint32_t min,
		uint32_t max, uint32_t *ret);
int bh__cfg_bool(struct bh__cfg *x, const config_setting_t *g, const char *key, bool *ret);
/* Borrowed from libconfig: valid until config_destroy. Never an empty string. */
int bh__cfg_str(struct bh__cfg *x, const config_setting_t *g, const char *key, const char **ret);
/* A size: an integer (bytes) or a string "<digits>[K|M|G|T]" (binary units), min..max. */
int bh__cfg_size(struct bh__cfg *x, const config_setting_t *g, const char *key, uint64_t min,
		 uint64_t max, uint64_t *ret);
/* A path resolved against the config directory: *ret is replaced (the old value freed)
 * with a malloc'd absolute path. */
int bh__cfg_path(struct bh__cfg *x, const config_setting_t *g, const char *key, char **ret);
/* A socket's permission bits: an octal string "0660" (libconfig reads 0660 as decimal
 * 660), at most 0777. */
int bh__cfg_mode(struct bh__cfg *x, const config_setting_t *g, const char *key, mode_t *ret);
/* The metrics group (config_metrics.c). */
int bh__cfg_metrics(struct bh__cfg *x, const config_setting_t *g, struct bh_metrics_conf *ret);
/* A group member (or NULL when absent); anything but a group is an error. */
int bh__cfg_group(struct bh__cfg *x, const config_setting_t *g, const char *key,
		  const config_setting_t **ret);
/* A list or array whose elements are all strings (possibly none). */
int bh__cfg_strings(struct bh__cfg *x, const config_setting_t *s);

/* "dir/name" made absolute and tidied ("//" and "/./" removed; ".." kept, since the
 * directories may be symlinks). malloc'd, or NULL on ENOMEM. */
char *bh__cfg_join(const char *dir, const char *name);

/* libconfig 1.5 wraps integer literals that do not fit 32 bits (3000000000 reads as
 * -1294967296) without an error. Check the literals of text (a whole file) and fail on
 * the first such one. file is as libconfig names it (NULL = the main file). */
int bh__cfg_check_literals(struct bh__cfg *x, const char *file, const char *text, size_t len);

/* The group s (or an empty map when s is NULL) encoded as a MessagePack map. */
int bh__cfg_encode_map(struct bh__cfg *x, const config_setting_t *s, uint8_t **ret,
		       size_t *ret_len);

/* ACLs and identities (config_acl.c). */
int bh__cfg_acl(struct bh__cfg *x, const config_setting_t *list, struct bh_acl *ret);
void bh__cfg_acl_done(struct bh_acl *acl);
int bh__cfg_acl_copy(struct bh_acl *dst, const struct bh_acl *src);
/* A user or group given as a name, a numeric string or an integer. */
int bh__cfg_uid(struct bh__cfg *x, const config_setting_t *s, uid_t *ret);
int bh__cfg_gid(struct bh__cfg *x, const config_setting_t *s, gid_t *ret);

/* config_heal.c: health, max_calls, max_rss, breaker (defaults, equality, parsing). */
void bh__cfg_heal_default(struct bh_plugin_conf *p);
bool bh__cfg_heal_equal(const struct bh_plugin_conf *a, const struct bh_plugin_conf *b);
int bh__cfg_heal(struct bh__cfg *x, const config_setting_t *g, struct bh_plugin_conf *p);

#endif
