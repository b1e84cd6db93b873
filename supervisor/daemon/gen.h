/* Generations: one version of a plugin's code and settings. */
#ifndef BH_GEN_H
#define BH_GEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bulkhead/proto.h"
#include "bulkhead/sandbox.h"
#include "config.h"

struct bh_method_name {
	char name[BH_NAME_MAX + 1];
	uint8_t len;
};

/* A slot runs one generation (`gen`); during a swap a second one (`next`) starts,
 * and old ones drain. Instances keep their generation alive (refs). */
struct bh_gen {
	uint32_t number;
	struct bh_plugin_conf conf;        /* path, sandbox, limits of this version */
	struct bh_sandbox_profile profile; /* built from conf.sandbox; points into conf */
	/* From the first $hello of this generation. */
	bool hello_seen;
	char version[64];
	uint32_t abi_version;           /* the plugin's BH_PLUGIN_ABI_VERSION */
	struct bh_method_name *methods; /* sorted */
	uint32_t n_methods;
	bool has_state;
	uint32_t state_version;
	uint64_t calls, errors;
	uint32_t refs;
};

/* A new generation with a copy of conf (one reference, the caller's). */
struct bh_gen *bh_gen_new(const struct bh_plugin_conf *conf, uint32_t number);
struct bh_gen *bh_gen_ref(struct bh_gen *g);
void bh_gen_unref(struct bh_gen *g);
bool bh_gen_has_method(const struct bh_gen *g, const char *m, size_t len);

#endif
