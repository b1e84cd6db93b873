/* Users, groups and access lists of the config file.
 *
 * An ACL entry is one of
 *     "*"                anyone
 *     "uid:N" "uid:name" one user, by number or name
 *     "gid:N" "gid:name" members of one group (primary gid of the peer; the daemon
 *                        decides how supplementary groups count)
 *     "name"             one user by name
 * A bare number is refused: it is unclear whether a uid or a gid is meant. Names are
 * resolved once, at load time, through NSS. */
#include "config_priv.h"

#include <errno.h>
#include <grp.h>
#include <inttypes.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* getpw*_r / getgr*_r want a caller buffer whose size only ERANGE reveals. */
#define ID_BUF_MAX (1u << 20)

/* One getpwnam_r / getgrnam_r call: 0 (found or not, *found says) or an errno. */
static int pw_lookup(const char *name, char *buf, size_t len, uint32_t *ret, bool *found)
{
	struct passwd pw, *res = NULL;
	int r = getpwnam_r(name, &pw, buf, len, &res);
	if (r == 0 && res)
		*ret = res->pw_uid;
	*found = res != NULL;
	return r;
}

static int gr_lookup(const char *name, char *buf, size_t len, uint32_t *ret, bool *found)
{
	struct group gr, *res = NULL;
	int r = getgrnam_r(name, &gr, buf, len, &res);
	if (r == 0 && res)
		*ret = res->gr_gid;
	*found = res != NULL;
	return r;
}

/* Run lookup with a buffer grown until it fits. 0 and *ret, -ENOENT for an unknown
 * name, or another -errno. */
static int id_by_name(const char *name, uint32_t *ret,
		      int (*lookup)(const char *, char *, size_t, uint32_t *, bool *))
{
	for (size_t len = 1024;; len *= 2) {
		char *buf = malloc(len);
		if (!buf)
			return -ENOMEM;
		bool found = false;
		int r = lookup(name, buf, len, ret, &found);
		free(buf);
		if (r == ERANGE && len < ID_BUF_MAX)
			continue;
		if (r == 0)
			return found ? 0 : -ENOENT;
		/* Several NSS modules report "no such user" as one of these. */
		if (r == ENOENT || r == ESRCH || r == EBADF || r == EPERM)
			return -ENOENT;
		return -r;
	}
}

static int user_by_name(const char *name, uid_t *ret)
{
	uint32_t id;
	int r = id_by_name(name, &id, pw_lookup);
	if (r == 0)
		*ret = id;
	return r;
}

static int group_by_name(const char *name, gid_t *ret)
{
	uint32_t id;
	int r = id_by_name(name, &id, gr_lookup);
	if (r == 0)
		*ret = id;
	return r;
}

/* A decimal id: 1 when s is all digits (then *ret, or -ERANGE), 0 when it is not a
 * number at all. (uid_t)-1 is "no id" to the kernel and never accepted. */
static int parse_id(const char *s, uint32_t *ret)
{
	if (!*s)
		return 0;
	uint64_t v = 0;
	for (const char *p = s; *p; p++) {
		if (*p < '0' || *p > '9')
			return 0;
		v = v * 10 + (uint64_t)(*p - '0');
		if (v >= UINT32_MAX)
			return -ERANGE;
	}
	*ret = (uint32_t)v;
	return 1;
}

enum id_kind { ID_USER, ID_GROUP };

/* A name or decimal string -> id, with a message on failure. s is the setting the
 * text came from (for file, line and path). */
static int resolve(struct bh__cfg *x, const config_setting_t *s, enum id_kind kind,
		   const char *text, uint32_t *ret)
{
	uint32_t id;
	int r = parse_id(text, &id);
	if (r == -ERANGE)
		return bh__cfg_fail(x, s, "%s id %s is out of range",
				    kind == ID_USER ? "user" : "group", text);
	if (r == 1) {
		*ret = id;
		return 0;
	}
	if (!*text)
		return bh__cfg_fail(x, s, "empty %s name", kind == ID_USER ? "user" : "group");
	if (kind == ID_USER) {
		uid_t u;
		r = user_by_name(text, &u);
		if (r == 0)
			*ret = (uint32_t)u;
	} else {
		gid_t g;
		r = group_by_name(text, &g);
		if (r == 0)
			*ret = (uint32_t)g;
	}
	if (r == -ENOENT)
		return bh__cfg_fail(x, s, "unknown %s \"%s\"", kind == ID_USER ? "user" : "group",
				    text);
	if (r == -ENOMEM)
		return bh__cfg_nomem(x);
	if (r < 0)
		return bh__cfg_fail(x, s, "cannot look up %s \"%s\": %s",
				    kind == ID_USER ? "user" : "group", text, strerror(-r));
	return 0;
}

/* A setting holding a user or a group: an integer, or a string resolve() takes. */
static int setting_id(struct bh__cfg *x, const config_setting_t *s, enum id_kind kind,
		      uint32_t *ret)
{
	if (s->type == CONFIG_TYPE_INT || s->type == CONFIG_TYPE_INT64) {
		int64_t v;
		int r = bh__cfg_int(x, s, 0, (int64_t)UINT32_MAX - 1, &v);
		if (r < 0)
			return r;
		*ret = (uint32_t)v;
		return 0;
	}
	if (s->type != CONFIG_TYPE_STRING)
		return bh__cfg_fail(x, s, "expected a %s name or number, got %s",
				    kind == ID_USER ? "user" : "group", bh__cfg_type_name(s->type));
	return resolve(x, s, kind, config_setting_get_string(s), ret);
}

int bh__cfg_uid(struct bh__cfg *x, const config_setting_t *s, uid_t *ret)
{
	uint32_t id;
	int r = setting_id(x, s, ID_USER, &id);
	if (r == 0)
		*ret = (uid_t)id;
	return r;
}

int bh__cfg_gid(struct bh__cfg *x, const config_setting_t *s, gid_t *ret)
{
	uint32_t id;
	int r = setting_id(x, s, ID_GROUP, &id);
	if (r == 0)
		*ret = (gid_t)id;
	return r;
}

static void add_id(uint32_t *ids, size_t *n, uint32_t id)
{
	for (size_t i = 0; i < *n; i++)
		if (ids[i] == id)
			return;
	ids[(*n)++] = id;
}

int bh__cfg_acl(struct bh__cfg *x, const config_setting_t *list, struct bh_acl *ret)
{
	int r = bh__cfg_strings(x, list);
	if (r < 0)
		return r;
	int n = config_setting_length(list);
	/* An empty list would read as "use the default", the opposite of what someone
	 * who writes [] most likely means. */
	if (n == 0)
		return bh__cfg_fail(x, list,
				    "empty list; leave the setting out for the default, or list "
				    "who is allowed");
	struct bh_acl acl = {0};
	acl.uids = calloc((size_t)n, sizeof(*acl.uids));
	acl.gids = calloc((size_t)n, sizeof(*acl.gids));
	if (!acl.uids || !acl.gids) {
		r = bh__cfg_nomem(x);
		goto fail;
	}
	_Static_assert(sizeof(uid_t) == sizeof(uint32_t) && sizeof(gid_t) == sizeof(uint32_t),
		       "ids are 32 bits");
	for (int i = 0; i < n; i++) {
		const config_setting_t *e = config_setting_get_elem(list, (unsigned)i);
		const char *s = config_setting_get_string(e);
		uint32_t id, dummy;
		if (strcmp(s, "*") == 0) {
			acl.anyone = true;
		} else if (strncmp(s, "uid:", 4) == 0) {
			r = resolve(x, e, ID_USER, s + 4, &id);
			if (r < 0)
				goto fail;
			add_id((uint32_t *)acl.uids, &acl.n_uids, id);
		} else if (strncmp(s, "gid:", 4) == 0) {
			r = resolve(x, e, ID_GROUP, s + 4, &id);
			if (r < 0)
				goto fail;
			add_id((uint32_t *)acl.gids, &acl.n_gids, id);
		} else if (parse_id(s, &dummy) != 0) {
			r = bh__cfg_fail(x, e,
					 "\"%s\" is ambiguous: write \"uid:%s\" or \"gid:%s\"", s,
					 s, s);
			goto fail;
		} else if (strchr(s, ':')) {
			r = bh__cfg_fail(
				x, e,
				"\"%s\": unknown prefix (expected \"*\", \"uid:\", \"gid:\" "
				"or a user name)",
				s);
			goto fail;
		} else {
			r = resolve(x, e, ID_USER, s, &id);
			if (r < 0)
				goto fail;
			add_id((uint32_t *)acl.uids, &acl.n_uids, id);
		}
	}
	if (acl.n_uids == 0) {
		free(acl.uids);
		acl.uids = NULL;
	}
	if (acl.n_gids == 0) {
		free(acl.gids);
		acl.gids = NULL;
	}
	bh__cfg_acl_done(ret);
	*ret = acl;
	return 0;
fail:
	bh__cfg_acl_done(&acl);
	return r;
}

void bh__cfg_acl_done(struct bh_acl *acl)
{
	if (!acl)
		return;
	free(acl->uids);
	free(acl->gids);
	*acl = (struct bh_acl){0};
}

static int dup_ids(void **dst, const void *src, size_t n, size_t size)
{
	*dst = NULL;
	if (n == 0 || !src)
		return 0;
	*dst = malloc(n * size);
	if (!*dst)
		return -ENOMEM;
	memcpy(*dst, src, n * size);
	return 0;
}

int bh__cfg_acl_copy(struct bh_acl *dst, const struct bh_acl *src)
{
	struct bh_acl a = {.anyone = src->anyone};
	void *u, *g;
	if (dup_ids(&u, src->uids, src->n_uids, sizeof(uid_t)) < 0)
		return -ENOMEM;
	if (dup_ids(&g, src->gids, src->n_gids, sizeof(gid_t)) < 0) {
		free(u);
		return -ENOMEM;
	}
	a.uids = u;
	a.n_uids = u ? src->n_uids : 0;
	a.gids = g;
	a.n_gids = g ? src->n_gids : 0;
	*dst = a;
	return 0;
}
