/* Generations: one version of a plugin (its file, settings and what its $hello
 * declared), shared by the slot and the instances running it. */
#include "gen.h"

#include <stdlib.h>
#include <string.h>

#include "bulkhead/proto.h"
#include "bulkhead/sandbox.h"
#include "config.h"

/* The unprivileged host identity confined children run as (root daemon): the
 * conventional overflow user, never root. */
#define SANDBOX_HOST_ID 65534

static void build_profile(struct bh_gen *g)
{
	const struct bh_sandbox_conf *c = &g->conf.sandbox;
	g->profile = (struct bh_sandbox_profile){
		.enabled = c->enabled,
		.network = c->network,
		.extra_syscalls = (const char *const *)c->extra_syscalls,
		.n_extra_syscalls = c->n_extra_syscalls,
		.memory_bytes = c->memory_bytes,
		.pids_max = c->pids_max,
		.cpu_percent = c->cpu_percent,
		.nofile = c->nofile,
		.fsize_bytes = c->fsize_bytes,
		.tmp_bytes = c->tmp_bytes,
		.tmp_inodes = c->tmp_inodes,
		.require_limits = c->require_limits,
		.host_uid = SANDBOX_HOST_ID,
		.host_gid = SANDBOX_HOST_ID,
	};
}

struct bh_gen *bh_gen_new(const struct bh_plugin_conf *conf, uint32_t number)
{
	struct bh_gen *g = calloc(1, sizeof(*g));
	if (!g || bh_plugin_conf_copy(&g->conf, conf) < 0) {
		free(g);
		return NULL;
	}
	g->number = number;
	g->refs = 1;
	build_profile(g);
	return g;
}

struct bh_gen *bh_gen_ref(struct bh_gen *g)
{
	g->refs++;
	return g;
}

void bh_gen_unref(struct bh_gen *g)
{
	if (!g || --g->refs > 0)
		return;
	free(g->methods);
	bh_plugin_conf_done(&g->conf);
	free(g);
}

bool bh_gen_has_method(const struct bh_gen *g, const char *m, size_t len)
{
	if (!g->hello_seen) /* not known before the first handshake: the shim decides */
		return true;
	if (len > BH_NAME_MAX)
		return false;
	struct bh_method_name key = {0};
	memcpy(key.name, m, len);
	size_t lo = 0, hi = g->n_methods;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int c = strcmp(key.name, g->methods[mid].name);
		if (c == 0)
			return true;
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return false;
}
