/* Loading the plugin: dlopen, the descriptor checks, and the first message on the
 * channel ($hello, or $fatal when the plugin cannot be used). */
#include <dlfcn.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shim.h"

/* Tell the supervisor why the plugin cannot run, then exit. channel.h step 1:
 *     [2, "$fatal", [code, message]]
 * The message also goes to stderr for whoever runs the shim by hand. */
_Noreturn void shim_load_fail(struct shim *s, int32_t code, const char *fmt, ...)
{
	char msg[BH_ERROR_MESSAGE_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fprintf(stderr, "bulkhead-shim: %s\n", msg);

	bh_writer *w = &s->hdr_w;
	s->hdr.len = 0;
	bh_writer_init(w, &s->hdr);
	bh_write_array(w, 3);
	bh_write_int(w, BH_RPC_NOTIFY);
	bh_write_cstr(w, BH_CH_FATAL);
	bh_write_array(w, 2);
	bh_write_int(w, code);
	bh_write_cstr(w, msg);
	if (bh_writer_error(w) == 0) {
		struct iovec iov = { .iov_base = s->hdr.data, .iov_len = s->hdr.len };
		(void)shim_writev_all(s->fd, &iov, 1); /* nobody left to tell if this fails */
	}
	fflush(NULL);
	_exit(BH_SHIM_EXIT_LOAD_FAILED);
}

/* An identifier (bh_name_valid). Returns its length, or 0. */
static size_t ident_len(const char *s)
{
	size_t n = s ? strnlen(s, BH_NAME_MAX + 1) : 0;

	return bh_name_valid(s, n) ? n : 0;
}

static int name_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
	int c = memcmp(a, b, alen < blen ? alen : blen);

	if (c != 0)
		return c;
	return (alen > blen) - (alen < blen);
}

static int method_cmp(const void *pa, const void *pb)
{
	const struct shim_method *a = pa, *b = pb;

	return name_cmp(a->name, a->len, b->name, b->len);
}

struct method_key {
	const char *name;
	size_t len;
};

static int method_key_cmp(const void *pk, const void *pm)
{
	const struct method_key *k = pk;
	const struct shim_method *m = pm;

	return name_cmp(k->name, k->len, m->name, m->len);
}

const struct shim_method *shim_find_method(const struct shim *s, const char *name, size_t len)
{
	struct method_key k = { name, len };

	if (s->desc.n_methods == 0)
		return NULL;
	return bsearch(&k, s->table, s->desc.n_methods, sizeof(*s->table), method_key_cmp);
}

/* Check the descriptor's contents; the ABI version and size are already known good. */
static void check_descriptor(struct shim *s)
{
	const struct bh_plugin *d = &s->desc;

	if (ident_len(d->name) == 0)
		shim_load_fail(s, BH_E_PLUGIN_ERROR,
			  "plugin %s: its name is not an identifier of 1-%d letters, digits, '_' or '-'",
			  s->path, BH_NAME_MAX);
	if (d->version && strnlen(d->version, SHIM_VERSION_MAX + 1) > SHIM_VERSION_MAX)
		shim_load_fail(s, BH_E_PLUGIN_ERROR, "plugin %s: version string longer than %d bytes",
			  d->name, SHIM_VERSION_MAX);
	if (d->n_methods > SHIM_METHODS_MAX)
		shim_load_fail(s, BH_E_PLUGIN_ERROR, "plugin %s: %u methods, at most %d are allowed",
			  d->name, d->n_methods, SHIM_METHODS_MAX);
	if (d->n_methods > 0 && !d->methods)
		shim_load_fail(s, BH_E_PLUGIN_ERROR, "plugin %s: n_methods is %u but methods is NULL",
			  d->name, d->n_methods);
	if (!d->snapshot != !d->restore)
		shim_load_fail(s, BH_E_PLUGIN_ERROR,
			  "plugin %s: snapshot and restore must be defined together", d->name);

	if (d->n_methods == 0)
		return;
	s->table = calloc(d->n_methods, sizeof(*s->table));
	if (!s->table)
		shim_load_fail(s, BH_E_INTERNAL, "out of memory");
	for (uint32_t i = 0; i < d->n_methods; i++) {
		const struct bh_method *m = &d->methods[i];
		size_t len = ident_len(m->name);
		if (len == 0)
			shim_load_fail(s, BH_E_PLUGIN_ERROR,
				  "plugin %s: the name of method %u is not an identifier of 1-%d "
				  "letters, digits, '_' or '-'", d->name, i, BH_NAME_MAX);
		if (!m->fn)
			shim_load_fail(s, BH_E_PLUGIN_ERROR, "plugin %s: method %s has no function",
				  d->name, m->name);
		s->table[i] = (struct shim_method){ .name = m->name, .len = (uint32_t)len, .fn = m->fn };
	}
	qsort(s->table, d->n_methods, sizeof(*s->table), method_cmp);
	for (uint32_t i = 1; i < d->n_methods; i++)
		if (method_cmp(&s->table[i - 1], &s->table[i]) == 0)
			shim_load_fail(s, BH_E_PLUGIN_ERROR, "plugin %s: method %s is defined twice",
				  d->name, s->table[i].name);
	s->has_state = d->snapshot != NULL;
}

void shim_load(struct shim *s)
{
	/* dlopen searches the library path for a name without a slash; a plugin is a
	 * file, so make such a name relative to the working directory. */
	char rel[4096];
	const char *path = s->path;
	if (!strchr(path, '/')) {
		if ((size_t)snprintf(rel, sizeof(rel), "./%s", path) >= sizeof(rel))
			shim_load_fail(s, BH_E_PLUGIN_ERROR, "plugin path too long");
		path = rel;
	}

	/* The plugin's constructors run here: whatever confinement applies to it is
	 * already in place (the supervisor set it up before exec). */
	dlerror();
	s->dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!s->dl) {
		const char *e = dlerror();
		shim_load_fail(s, BH_E_PLUGIN_ERROR, "dlopen: %s", e ? e : "unknown error");
	}
	const struct bh_plugin *d = dlsym(s->dl, BH_PLUGIN_SYMBOL);
	if (!d)
		shim_load_fail(s, BH_E_PLUGIN_ERROR, "symbol %s not found in %s", BH_PLUGIN_SYMBOL,
			  s->path);

	/* The version decides how the rest is read, so it is checked before anything
	 * else is looked at. */
	if (d->abi_version != BH_PLUGIN_ABI_VERSION)
		shim_load_fail(s, BH_E_PROTOCOL, "plugin ABI version %u, this shim supports %d",
			  d->abi_version, BH_PLUGIN_ABI_VERSION);
	/* The first revision of ABI 1 ended before `health` (since taken from reserved). */
	size_t need = offsetof(struct bh_plugin, health);
	if (d->struct_size < need)
		shim_load_fail(s, BH_E_PLUGIN_ERROR,
			  "plugin descriptor is %u bytes, ABI version %d needs at least %zu",
			  d->struct_size, BH_PLUGIN_ABI_VERSION, need);
	/* A descriptor from a later revision of ABI 1 may be longer; only what this
	 * shim knows is copied. A shorter one lacks only (zero) reserved fields. */
	memset(&s->desc, 0, sizeof(s->desc));
	memcpy(&s->desc, d, d->struct_size < sizeof(s->desc) ? d->struct_size : sizeof(s->desc));
	check_descriptor(s);
}

void shim_hello(struct shim *s)
{
	/* channel.h step 1:
	 *   [2, "$hello", [protocol_version, abi_version, plugin_name, plugin_version,
	 *                  [method_name, ...], state_version, has_state]]
	 * Methods in the plugin's own order; state_version is 0 without state. */
	const struct bh_plugin *d = &s->desc;
	bh_writer *w = &s->hdr_w;

	s->hdr.len = 0;
	bh_writer_init(w, &s->hdr);
	bh_write_array(w, 3);
	bh_write_int(w, BH_RPC_NOTIFY);
	bh_write_cstr(w, BH_CH_HELLO);
	bh_write_array(w, 7);
	bh_write_uint(w, BH_PROTOCOL_VERSION);
	bh_write_uint(w, d->abi_version);
	bh_write_cstr(w, d->name);
	bh_write_cstr(w, d->version ? d->version : "");
	bh_write_array(w, d->n_methods);
	for (uint32_t i = 0; i < d->n_methods; i++)
		bh_write_cstr(w, d->methods[i].name);
	bh_write_uint(w, s->has_state ? d->state_version : 0);
	bh_write_bool(w, s->has_state);
	int r = bh_writer_error(w);
	if (r < 0)
		shim_load_fail(s, BH_E_PLUGIN_ERROR, "plugin %s: its $hello does not fit in %zu bytes",
			  d->name, s->limits.max_message);
	/* What the supervisor would reject (too many methods for max_items, ...) is
	 * better reported as what it is. */
	struct bh_scan sc;
	r = bh_scan(s->hdr.data, s->hdr.len, &s->limits, &sc);
	if (r < 0)
		shim_load_fail(s, BH_E_PLUGIN_ERROR, "plugin %s: its $hello exceeds the channel limits: %s",
			  d->name, bh_proto_strerror(r));
	shim_send(s, s->hdr.data, s->hdr.len, NULL, 0);
}
