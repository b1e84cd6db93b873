/* A plugin's `env` group: environment variables for its instances.
 *
 *     env = { RUST_BACKTRACE = "1"; GOMAXPROCS = "2"; };
 *
 * The shim applies them (putenv) after the seccomp filter is in place and before it
 * loads the plugin (plugin-sdk/shim/main.c): they are data the plugin reads, never
 * input to code that runs before confinement. The dynamic loader and the C library
 * read some variables only when a process starts, before that point; naming one here
 * would do nothing, so the load refuses it with the reason (SECURITY.md). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_priv.h"

/* Read at process start by ld.so or by libc's start-up (tunables, malloc): too early
 * for an environment applied after confinement. */
static const char *const start_prefixes[] = {"LD_", "MALLOC_", NULL};
static const char *const start_names[] = {"GLIBC_TUNABLES", NULL};

static bool name_valid(const char *s)
{
	if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || *s == '_'))
		return false;
	for (s++; *s; s++)
		if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') ||
		      (*s >= '0' && *s <= '9') || *s == '_'))
			return false;
	return true;
}

static bool read_at_start(const char *name)
{
	for (const char *const *p = start_prefixes; *p; p++)
		if (strncmp(name, *p, strlen(*p)) == 0)
			return true;
	for (const char *const *n = start_names; *n; n++)
		if (strcmp(name, *n) == 0)
			return true;
	return false;
}

static void free_env(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

int bh__cfg_env(struct bh__cfg *x, const config_setting_t *g, char ***ret, size_t *ret_n)
{
	if (g->type != CONFIG_TYPE_GROUP)
		return bh__cfg_fail(x, g, "expected a group { NAME = \"value\"; ... }, got %s",
				    bh__cfg_type_name(g->type));
	size_t n = (size_t)config_setting_length(g), total = 0;
	if (n > BH_ENV_MAX_VARS)
		return bh__cfg_fail(x, g, "%zu variables, at most %d", n, BH_ENV_MAX_VARS);
	char **v = n ? calloc(n, sizeof(*v)) : NULL;
	if (n && !v)
		return bh__cfg_nomem(x);
	int r = 0;
	for (size_t i = 0; i < n; i++) {
		const config_setting_t *e = config_setting_get_elem(g, (unsigned)i);
		const char *name = config_setting_name(e);
		if (!name_valid(name) || strlen(name) > BH_ENV_MAX_NAME) {
			r = bh__cfg_fail(x, e, "not a variable name ([A-Za-z_][A-Za-z0-9_]*, at "
					 "most %d characters)", BH_ENV_MAX_NAME);
			goto fail;
		}
		if (read_at_start(name)) {
			r = bh__cfg_fail(x, e, "refused: the dynamic loader and the C library read "
					 "%s when a process starts, before a plugin's environment "
					 "is applied (after its seccomp filter is in place)", name);
			goto fail;
		}
		if (e->type != CONFIG_TYPE_STRING) {
			r = bh__cfg_fail(x, e, "expected a string, got %s (quote it: \"...\")",
					 bh__cfg_type_name(e->type));
			goto fail;
		}
		const char *value = config_setting_get_string(e);
		size_t len = strlen(value); /* libconfig strings hold no NUL */
		if (len > BH_ENV_MAX_VALUE) {
			r = bh__cfg_fail(x, e, "%zu bytes, at most %d", len, BH_ENV_MAX_VALUE);
			goto fail;
		}
		total += strlen(name) + 1 + len + 1;
		if (total > BH_ENV_MAX_TOTAL) {
			r = bh__cfg_fail(x, g, "more than %d bytes of NAME=value", BH_ENV_MAX_TOTAL);
			goto fail;
		}
		size_t size = strlen(name) + 1 + len + 1;
		if (!(v[i] = malloc(size))) {
			r = bh__cfg_nomem(x);
			goto fail;
		}
		snprintf(v[i], size, "%s=%s", name, value);
	}
	free_env(*ret, *ret_n);
	*ret = v;
	*ret_n = n;
	return 0;
fail:
	free_env(v, n);
	return r;
}
