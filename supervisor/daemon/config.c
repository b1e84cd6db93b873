/* bulkheadd configuration: the file (libconfig syntax) -> struct bh_config.
 *
 * The file is read into memory once, parsed by libconfig, checked for integer
 * literals libconfig 1.5 would wrap, and then walked section by section. Every
 * section's keys are checked against a table so that a typo is an error, and every
 * value is type- and range-checked where it is read, so each message can name the
 * file, the line and the setting. The parser never logs; the caller prints errbuf. */
#include "config.h"

#include <elf.h>
#include <link.h> /* ElfW */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <seccomp.h>

#include "bulkhead/client.h" /* BH_DEFAULT_SOCKET */
#include "config_priv.h"
#include "log.h"

/* A config file is a few kilobytes; refuse what cannot be one. */
#define CONFIG_FILE_MAX (4u << 20)

#define MS_MAX	      BH__CFG_MS_MAX

/* ---- defaults, copies, destructors -------------------------------------------------- */

void bh_plugin_conf_default(struct bh_plugin_conf *p)
{
	*p = (struct bh_plugin_conf){
		.instances = 1,
		.timeout_ms = 5000,
		.grace_ms = 1000,
		.init_timeout_ms = 5000,
		.restart = BH_RESTART_ON_FAILURE,
		.max_inflight = 64,
		.max_queue = 1024,
		.drain_timeout_ms = 5000,
		.spin_us = 50,
		.auto_reload = false,
		.output_level = BH_OUTPUT_LEVEL_AUTO,
		.sandbox =
			{
				.enabled = true,
				.network = false,
				.memory_bytes = UINT64_C(256) << 20,
				.pids_max = 64,
				.cpu_percent = 100,
				.nofile = 256,
				.fsize_bytes = UINT64_C(64) << 20,
				.tmp_bytes = UINT64_C(16) << 20,
				.tmp_inodes = 4096,
				.require_limits = false,
			},
	};
	bh__cfg_heal_default(p);
}

static void free_strv(char **v, size_t n)
{
	if (!v)
		return;
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

void bh_plugin_conf_done(struct bh_plugin_conf *p)
{
	if (!p)
		return;
	free(p->path);
	free(p->config_msgpack);
	bh__cfg_acl_done(&p->call_acl);
	free_strv(p->sandbox.extra_syscalls, p->sandbox.n_extra_syscalls);
	free_strv(p->calls, p->n_calls);
	free_strv(p->env, p->n_env);
	memset(p, 0, sizeof(*p));
}

/* A copy of v[0..n), NULL when n is 0. 0, or -ENOMEM (nothing left allocated). */
static int strv_copy(char ***ret, char *const *v, size_t n)
{
	*ret = NULL;
	if (!n)
		return 0;
	char **c = calloc(n, sizeof(*c));
	if (!c)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		if (!(c[i] = strdup(v[i]))) {
			free_strv(c, i);
			return -ENOMEM;
		}
	*ret = c;
	return 0;
}

static bool strv_equal(char *const *a, size_t na, char *const *b, size_t nb)
{
	if (na != nb)
		return false;
	for (size_t i = 0; i < na; i++)
		if (strcmp(a[i], b[i]) != 0)
			return false;
	return true;
}

int bh_plugin_conf_copy(struct bh_plugin_conf *dst, const struct bh_plugin_conf *src)
{
	struct bh_plugin_conf p = *src;
	p.path = NULL;
	p.config_msgpack = NULL;
	p.call_acl = (struct bh_acl){0};
	p.sandbox.extra_syscalls = NULL;
	p.sandbox.n_extra_syscalls = 0;
	p.calls = NULL;
	p.n_calls = 0;
	p.env = NULL;
	p.n_env = 0;

	if (src->path && !(p.path = strdup(src->path)))
		goto nomem;
	if (src->config_msgpack && src->config_len) {
		p.config_msgpack = malloc(src->config_len);
		if (!p.config_msgpack)
			goto nomem;
		memcpy(p.config_msgpack, src->config_msgpack, src->config_len);
	} else {
		p.config_len = 0;
	}
	if (bh__cfg_acl_copy(&p.call_acl, &src->call_acl) < 0)
		goto nomem;
	if (strv_copy(&p.sandbox.extra_syscalls, src->sandbox.extra_syscalls,
		      src->sandbox.n_extra_syscalls) < 0)
		goto nomem;
	p.sandbox.n_extra_syscalls = src->sandbox.n_extra_syscalls;
	if (strv_copy(&p.calls, src->calls, src->n_calls) < 0)
		goto nomem;
	p.n_calls = src->n_calls;
	if (strv_copy(&p.env, src->env, src->n_env) < 0)
		goto nomem;
	p.n_env = src->n_env;
	*dst = p;
	return 0;
nomem:
	bh_plugin_conf_done(&p);
	return -ENOMEM;
}

static bool acl_equal(const struct bh_acl *a, const struct bh_acl *b)
{
	return a->anyone == b->anyone && a->n_uids == b->n_uids && a->n_gids == b->n_gids &&
	       (!a->n_uids || memcmp(a->uids, b->uids, a->n_uids * sizeof(*a->uids)) == 0) &&
	       (!a->n_gids || memcmp(a->gids, b->gids, a->n_gids * sizeof(*a->gids)) == 0);
}

static bool sandbox_equal(const struct bh_sandbox_conf *a, const struct bh_sandbox_conf *b)
{
	if (a->enabled != b->enabled || a->network != b->network ||
	    a->memory_bytes != b->memory_bytes || a->pids_max != b->pids_max ||
	    a->cpu_percent != b->cpu_percent || a->nofile != b->nofile ||
	    a->fsize_bytes != b->fsize_bytes || a->tmp_bytes != b->tmp_bytes ||
	    a->tmp_inodes != b->tmp_inodes ||
	    a->require_limits != b->require_limits)
		return false;
	return strv_equal(a->extra_syscalls, a->n_extra_syscalls, b->extra_syscalls,
			  b->n_extra_syscalls);
}

bool bh_plugin_conf_equal(const struct bh_plugin_conf *a, const struct bh_plugin_conf *b)
{
	return strcmp(a->name, b->name) == 0 && strcmp(a->path, b->path) == 0 &&
	       a->instances == b->instances && a->timeout_ms == b->timeout_ms &&
	       a->grace_ms == b->grace_ms && a->init_timeout_ms == b->init_timeout_ms &&
	       a->restart == b->restart && a->max_inflight == b->max_inflight &&
	       a->max_queue == b->max_queue && a->auto_reload == b->auto_reload &&
	       a->drain_timeout_ms == b->drain_timeout_ms && a->spin_us == b->spin_us &&
	       a->config_len == b->config_len &&
	       (!a->config_len || memcmp(a->config_msgpack, b->config_msgpack, a->config_len) == 0) &&
	       acl_equal(&a->call_acl, &b->call_acl) && sandbox_equal(&a->sandbox, &b->sandbox) &&
	       a->callback == b->callback && a->output_level == b->output_level &&
	       strv_equal(a->calls, a->n_calls, b->calls, b->n_calls) &&
	       strv_equal(a->env, a->n_env, b->env, b->n_env) && bh__cfg_heal_equal(a, b);
}

void bh_config_free(struct bh_config *c)
{
	if (!c)
		return;
	free(c->path);
	free(c->socket_path);
	free(c->shim_path);
	free(c->plugin_dir);
	free(c->metrics.listen);
	bh__cfg_acl_done(&c->call_acl);
	bh__cfg_acl_done(&c->admin_acl);
	bh_plugin_conf_done(&c->plugin_defaults);
	if (c->plugins)
		for (size_t i = 0; i < c->n_plugins; i++)
			bh_plugin_conf_done(&c->plugins[i]);
	free(c->plugins);
	free(c);
}

/* A zeroed config with every default set; NULL on ENOMEM. */
static struct bh_config *config_new(void)
{
	struct bh_config *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->socket_path = strdup(BH_DEFAULT_SOCKET);
	if (!c->socket_path) {
		free(c);
		return NULL;
	}
	c->socket_mode = 0660;
	c->socket_uid = (uid_t)-1;
	c->socket_gid = (gid_t)-1;
	c->log_level = BH_LOG_INFO;
	c->log_format = BH_LOG_TEXT;
	bh_limits_default(&c->limits);
	c->max_clients = 256;
	c->max_client_pending = 1024;
	c->max_payload = UINT64_C(64) << 20;
	c->max_call_depth = 8;
	c->event_backlog = 1u << 20;
	c->output_rate = 16u << 20;
	c->output_flood_ms = 10000;
	c->shutdown_timeout_ms = 5000;
	c->restart_backoff_min_ms = 100;
	c->restart_backoff_max_ms = 30000;
	c->quarantine_crashes = 5;
	c->quarantine_window_ms = 60000;
	bh_plugin_conf_default(&c->plugin_defaults);
	c->sandbox_ids.first = BH_SANDBOX_IDS_FIRST;
	c->sandbox_ids.count = BH_SANDBOX_IDS_COUNT;
	c->sandbox_ids.subordinate = true;
	return c;
}

int bh_config_default(struct bh_config **ret)
{
	if (!ret)
		return -EINVAL;
	struct bh_config *c = config_new();
	if (!c)
		return -ENOMEM;
	*ret = c;
	return 0;
}

/* ---- sections ------------------------------------------------------------------------ */

/* clang-format off */
/* The settings each group may hold; anything else is reported as a typo. */
static const char *const top_keys[] = {
	"socket", "shim", "log_level", "log_format", "limits", "shutdown_timeout_ms",
	"restart", "access", "plugin_dir", "plugin_defaults", "plugins", "sandbox_ids", "metrics",
	"cpu_placement", NULL,
};
static const char *const sandbox_ids_keys[] = {"first", "count", "subordinate", NULL};
static const char *const socket_keys[] = {"path", "mode", "owner", "group", NULL};
static const char *const limits_keys[] = {
	"max_message", "max_depth", "max_items", "max_bytes",
	"max_clients", "max_client_pending", "output_rate", "output_flood_ms", "max_payload",
	"max_call_depth", "event_backlog", NULL,
};
static const char *const restart_keys[] = {
	"backoff_min_ms", "backoff_max_ms", "quarantine_crashes", "quarantine_window_ms", NULL,
};
static const char *const access_keys[] = {"call", "admin", NULL};
static const char *const plugin_access_keys[] = {"call", NULL};
/* plugin_keys without the two that name one plugin. */
#define PLUGIN_SETTINGS "instances", "timeout_ms", "grace_ms", "init_timeout_ms", \
	"restart", "max_inflight", "max_queue", "drain_timeout_ms", "spin_us", "auto_reload", \
	"access", "config", "sandbox", "calls", "callback", "env", "output_level", \
	"health", "max_calls", "max_rss", "breaker"
static const char *const plugin_defaults_keys[] = {PLUGIN_SETTINGS, NULL};
static const char *const plugin_keys[] = {"name", "path", PLUGIN_SETTINGS, NULL};
static const char *const sandbox_keys[] = {
	"enabled", "network", "syscalls", "memory", "pids", "cpu_percent",
	"nofile", "fsize", "tmp_size", "tmp_inodes", "require_limits", NULL,
};

/* clang-format on */

/* A string member that must be one of names[] (NULL-terminated); *ret = its index. */
static int one_of(struct bh__cfg *x, const config_setting_t *g, const char *key,
		  const char *const *names, int *ret)
{
	const char *v = NULL;
	int r = bh__cfg_str(x, g, key, &v);
	if (r < 0 || !v)
		return r;
	char list[128] = "";
	for (int i = 0; names[i]; i++) {
		if (strcmp(v, names[i]) == 0) {
			*ret = i;
			return 0;
		}
		size_t n = strlen(list);
		snprintf(list + n, sizeof(list) - n, "%s%s", i ? ", " : "", names[i]);
	}
	return bh__cfg_fail(x, config_setting_get_member(g, key),
			    "expected one of %s; got \"%.40s\"", list, v);
}

static int parse_socket(struct bh__cfg *x, const config_setting_t *g, struct bh_config *c)
{
	int r = bh__cfg_keys(x, g, socket_keys);
	if (r < 0)
		return r;
	if ((r = bh__cfg_path(x, g, "path", &c->socket_path)) < 0)
		return r;
	if (strlen(c->socket_path) >= sizeof(((struct sockaddr_un *)0)->sun_path))
		return bh__cfg_fail(x, config_setting_get_member(g, "path"),
				    "\"%s\" is longer than a socket address can hold (%zu bytes)",
				    c->socket_path,
				    sizeof(((struct sockaddr_un *)0)->sun_path) - 1);

	const config_setting_t *s;
	if ((r = bh__cfg_mode(x, g, "mode", &c->socket_mode)) < 0)
		return r;
	if ((s = config_setting_get_member(g, "owner")) &&
	    (r = bh__cfg_uid(x, s, &c->socket_uid)) < 0)
		return r;
	if ((s = config_setting_get_member(g, "group")) &&
	    (r = bh__cfg_gid(x, s, &c->socket_gid)) < 0)
		return r;
	return 0;
}

static int parse_limits(struct bh__cfg *x, const config_setting_t *g, struct bh_config *c)
{
	int r = bh__cfg_keys(x, g, limits_keys);
	if (r < 0)
		return r;
	uint64_t v = c->limits.max_message;
	/* At least what a handshake with a method table needs; at most what one buffer
	 * per connection can reasonably be allowed to grow to. */
	if ((r = bh__cfg_size(x, g, "max_message", 4096, UINT64_C(1) << 30, &v)) < 0)
		return r;
	c->limits.max_message = (size_t)v;
	v = c->limits.max_bytes;
	if ((r = bh__cfg_size(x, g, "max_bytes", 1024, UINT64_C(1) << 30, &v)) < 0)
		return r;
	c->limits.max_bytes = (uint32_t)v;
	if ((r = bh__cfg_u32(x, g, "max_depth", 4, 1024, &c->limits.max_depth)) < 0 ||
	    (r = bh__cfg_u32(x, g, "max_items", 16, UINT32_C(1) << 30, &c->limits.max_items)) < 0 ||
	    (r = bh__cfg_u32(x, g, "max_clients", 1, 65536, &c->max_clients)) < 0 ||
	    (r = bh__cfg_u32(x, g, "max_client_pending", 1, UINT32_C(1) << 20,
			     &c->max_client_pending)) < 0 ||
	    (r = bh__cfg_size(x, g, "output_rate", 64 * 1024, UINT64_C(1) << 40,
			      &c->output_rate)) < 0 ||
	    (r = bh__cfg_u32(x, g, "output_flood_ms", 1000, MS_MAX, &c->output_flood_ms)) < 0 ||
	    /* 0: off. Below 4 GiB: a length on the channel is a uint32. */
	    (r = bh__cfg_size(x, g, "max_payload", 0, UINT64_C(1) << 31, &c->max_payload)) < 0 ||
	    (r = bh__cfg_u32(x, g, "max_call_depth", 1, 64, &c->max_call_depth)) < 0 ||
	    (r = bh__cfg_size(x, g, "event_backlog", 4096, UINT64_C(1) << 30,
			      &c->event_backlog)) < 0)
		return r;
	return 0;
}

static int parse_restart(struct bh__cfg *x, const config_setting_t *g, struct bh_config *c)
{
	int r = bh__cfg_keys(x, g, restart_keys);
	if (r < 0)
		return r;
	if ((r = bh__cfg_u32(x, g, "backoff_min_ms", 1, MS_MAX, &c->restart_backoff_min_ms)) < 0 ||
	    (r = bh__cfg_u32(x, g, "backoff_max_ms", 1, MS_MAX, &c->restart_backoff_max_ms)) < 0 ||
	    (r = bh__cfg_u32(x, g, "quarantine_crashes", 1, 1000, &c->quarantine_crashes)) < 0)
		return r;
	r = bh__cfg_u32(x, g, "quarantine_window_ms", 1, MS_MAX, &c->quarantine_window_ms);
	if (r < 0)
		return r;
	if (c->restart_backoff_min_ms > c->restart_backoff_max_ms) {
		const config_setting_t *s = config_setting_get_member(g, "backoff_min_ms");
		return bh__cfg_fail(x, s ? s : config_setting_get_member(g, "backoff_max_ms"),
				    "backoff_min_ms %u is greater than backoff_max_ms %u",
				    c->restart_backoff_min_ms, c->restart_backoff_max_ms);
	}
	return 0;
}

/* Resolved against the seccomp tables when the sandbox is built; here only what
 * cannot be a syscall name at all. NULL when fine, else why not. */
static const char *syscall_name_error(const char *name)
{
	size_t len = strlen(name);
	if (len == 0 || len > 64 || strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789_") != len)
		return "is not a syscall name";
	return NULL;
}

/* A grant of `calls`: "ns", "ns.*" or "ns.method", identifiers; control methods one by
 * one. NULL when fine, else why not. */
static const char *grant_error(const char *g)
{
	const char *dot = strchr(g, '.');
	size_t ns = dot ? (size_t)(dot - g) : strlen(g);
	if (!bh_name_valid(g, ns))
		return "does not start with a plugin or namespace name";
	if (dot && strcmp(dot + 1, "*") != 0 && !bh_name_valid(dot + 1, strlen(dot + 1)))
		return "is not of the form name, name.* or name.method";
	if (ns == strlen(BH_CONTROL_NS) && memcmp(g, BH_CONTROL_NS, ns) == 0 &&
	    (!dot || strcmp(dot + 1, "*") == 0))
		return "grants control methods only one by one (\"bulkhead.status\")";
	return NULL;
}

/* A list of strings, each checked by error_of, into a new *ret (the old one freed). */
static int parse_strv(struct bh__cfg *x, const config_setting_t *list,
		      const char *(*error_of)(const char *), char ***ret, size_t *ret_n)
{
	int r = bh__cfg_strings(x, list);
	if (r < 0)
		return r;
	size_t n = (size_t)config_setting_length(list);
	char **v = n ? calloc(n, sizeof(*v)) : NULL;
	if (n && !v)
		return bh__cfg_nomem(x);
	for (size_t i = 0; i < n; i++) {
		const config_setting_t *e = config_setting_get_elem(list, (unsigned)i);
		const char *s = config_setting_get_string(e);
		const char *why = error_of(s);
		if (why) {
			free_strv(v, i);
			return bh__cfg_fail(x, e, "\"%.40s\" %s", s, why);
		}
		if (!(v[i] = strdup(s))) {
			free_strv(v, i);
			return bh__cfg_nomem(x);
		}
	}
	free_strv(*ret, *ret_n);
	*ret = v;
	*ret_n = n;
	return 0;
}

static int parse_sandbox_ids(struct bh__cfg *x, const config_setting_t *g,
			     struct bh_sandbox_ids *ids)
{
	int r = bh__cfg_keys(x, g, sandbox_ids_keys);
	if (r < 0)
		return r;
	if ((r = bh__cfg_u32(x, g, "first", 1, UINT32_MAX - 1, &ids->first)) < 0 ||
	    (r = bh__cfg_u32(x, g, "count", 1, BH_SANDBOX_IDS_MAX, &ids->count)) < 0 ||
	    (r = bh__cfg_bool(x, g, "subordinate", &ids->subordinate)) < 0)
		return r;
	/* (uid_t)-1 means "no change" to the kernel. */
	if ((uint64_t)ids->first + ids->count > UINT32_MAX)
		return bh__cfg_fail(x, g, "sandbox_ids: first %u + count %u passes uid 4294967294",
				    ids->first, ids->count);
	return 0;
}

static int parse_access(struct bh__cfg *x, const config_setting_t *g, struct bh_acl *call,
			struct bh_acl *admin)
{
	int r = bh__cfg_keys(x, g, admin ? access_keys : plugin_access_keys);
	if (r < 0)
		return r;
	const config_setting_t *s = config_setting_get_member(g, "call");
	if (s && (r = bh__cfg_acl(x, s, call)) < 0)
		return r;
	s = admin ? config_setting_get_member(g, "admin") : NULL;
	if (s && (r = bh__cfg_acl(x, s, admin)) < 0)
		return r;
	return 0;
}

/* A file that must exist and be a regular file (after symlinks) when the config is
 * loaded. exec also asks for execute permission. */
/* The ELF machine of the programs this daemon runs (elf.h EM_*). */
#if defined(__x86_64__)
#define HOST_EM EM_X86_64
#elif defined(__aarch64__)
#define HOST_EM EM_AARCH64
#elif defined(__i386__)
#define HOST_EM EM_386
#elif defined(__arm__)
#define HOST_EM EM_ARM
#elif defined(__riscv)
#define HOST_EM EM_RISCV
#elif defined(__powerpc64__)
#define HOST_EM EM_PPC64
#elif defined(__s390x__)
#define HOST_EM EM_S390
#endif

int bh_plugin_file_check(const char *path, char *why, size_t why_len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		int err = errno;
		snprintf(why, why_len, "cannot read %s: %s", path, strerror(err));
		return -err;
	}
	ElfW(Ehdr) h; /* the identification, e_type and e_machine sit alike in every class */
	ssize_t n;
	do
		n = pread(fd, &h, sizeof(h), 0);
	while (n < 0 && errno == EINTR);
	int err = n < 0 ? errno : 0;
	/* A position-independent executable is ET_DYN too; it asks for an interpreter. */
	bool interp = false;
	for (unsigned i = 0; !err && (size_t)n == sizeof(h) && h.e_phentsize == sizeof(ElfW(Phdr)) &&
			     i < h.e_phnum && i < 64; i++) {
		ElfW(Phdr) ph;
		if (pread(fd, &ph, sizeof(ph), (off_t)(h.e_phoff + i * sizeof(ph))) != sizeof(ph))
			break;
		interp |= ph.p_type == PT_INTERP;
	}
	close(fd);
	if (err) {
		snprintf(why, why_len, "cannot read %s: %s", path, strerror(err));
		return -err;
	}
	const unsigned char want_class = sizeof(void *) == 8 ? ELFCLASS64 : ELFCLASS32;
	const unsigned char want_data = __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__ ? ELFDATA2LSB
										   : ELFDATA2MSB;
	if ((size_t)n < EI_NIDENT + 4 || memcmp(h.e_ident, ELFMAG, SELFMAG) != 0)
		snprintf(why, why_len, "%s is not an ELF file (a plugin is a shared object, "
			 "built with -shared)", path);
	else if (h.e_ident[EI_CLASS] != want_class || h.e_ident[EI_DATA] != want_data)
		snprintf(why, why_len, "%s is a %d-bit %s-endian ELF file; this daemon runs "
			 "%d-bit %s-endian plugins", path,
			 h.e_ident[EI_CLASS] == ELFCLASS64 ? 64 : 32,
			 h.e_ident[EI_DATA] == ELFDATA2MSB ? "big" : "little",
			 want_class == ELFCLASS64 ? 64 : 32,
			 want_data == ELFDATA2MSB ? "big" : "little");
	else if (h.e_type != ET_DYN || interp)
		snprintf(why, why_len, "%s is an ELF %s, not a shared object (build the "
			 "plugin with -shared)", path,
			 h.e_type == ET_EXEC || interp ? "executable"
			 : h.e_type == ET_REL ? "object file" : "file of another type");
#ifdef HOST_EM
	else if (h.e_machine != HOST_EM)
		snprintf(why, why_len, "%s is built for another architecture (ELF machine %u, "
			 "this one is %u)", path, (unsigned)h.e_machine, (unsigned)HOST_EM);
#endif
	else
		return 0;
	return -ENOEXEC;
}

static int check_file(struct bh__cfg *x, const config_setting_t *s, const char *path, bool exec)
{
	struct stat st;
	if (stat(path, &st) < 0) {
		if (errno == ENOENT || errno == ENOTDIR)
			return bh__cfg_fail(x, s, "file not found: %s", path);
		return bh__cfg_fail(x, s, "cannot access %s: %s", path, strerror(errno));
	}
	if (!S_ISREG(st.st_mode))
		return bh__cfg_fail(x, s, "not a regular file: %s", path);
	if (exec && access(path, X_OK) < 0)
		return bh__cfg_fail(x, s, "not executable: %s", path);
	char why[PATH_MAX + 160];
	if (!exec && bh_plugin_file_check(path, why, sizeof(why)) < 0)
		return bh__cfg_fail(x, s, "%s", why);
	return 0;
}

/* Each name of `syscalls` must be a system call of this machine's architecture: the
 * shim builds its filter from them, and a name it cannot resolve would fail every
 * spawn of the plugin instead of the load of this file. */
static int check_syscalls(struct bh__cfg *x, const config_setting_t *sandbox,
			  const config_setting_t *list, const struct bh_sandbox_conf *sb)
{
	struct utsname u;
	if (uname(&u) < 0)
		snprintf(u.machine, sizeof(u.machine), "this machine");
	const config_setting_t *owner = config_setting_parent(sandbox);
	const char *plugin = NULL;
	if (owner)
		config_setting_lookup_string(owner, "name", &plugin);
	for (size_t i = 0; i < sb->n_extra_syscalls; i++) {
		if (seccomp_syscall_resolve_name(sb->extra_syscalls[i]) != __NR_SCMP_ERROR)
			continue;
		char whose[96] = "";
		if (plugin)
			snprintf(whose, sizeof(whose), " (plugin \"%.64s\")", plugin);
		return bh__cfg_fail(x, config_setting_get_elem(list, (unsigned)i),
				    "\"%.40s\" is not a system call on %s%s",
				    sb->extra_syscalls[i], u.machine, whose);
	}
	return 0;
}

static int parse_sandbox(struct bh__cfg *x, const config_setting_t *s, struct bh_sandbox_conf *sb)
{
	/* "sandbox = false;" is the short form of "sandbox = { enabled = false; };". */
	if (s->type == CONFIG_TYPE_BOOL) {
		sb->enabled = config_setting_get_bool(s) != 0;
		return 0;
	}
	if (s->type != CONFIG_TYPE_GROUP)
		return bh__cfg_fail(x, s, "expected a group { ... } or a boolean, got %s",
				    bh__cfg_type_name(s->type));
	int r = bh__cfg_keys(x, s, sandbox_keys);
	if (r < 0)
		return r;
	long ncpu = sysconf(_SC_NPROCESSORS_CONF);
	if (ncpu < 1)
		ncpu = 1;
	if (ncpu > 4096)
		ncpu = 4096;
	uint32_t cpu_max = (uint32_t)(100 * ncpu);
	uint64_t mem = sb->memory_bytes;
	if ((r = bh__cfg_bool(x, s, "enabled", &sb->enabled)) < 0 ||
	    (r = bh__cfg_bool(x, s, "network", &sb->network)) < 0 ||
	    (r = bh__cfg_bool(x, s, "require_limits", &sb->require_limits)) < 0 ||
	    (r = bh__cfg_size(x, s, "memory", 0, UINT64_MAX, &mem)) < 0 ||
	    (r = bh__cfg_u32(x, s, "pids", 1, 4194304, &sb->pids_max)) < 0 ||
	    (r = bh__cfg_u32(x, s, "cpu_percent", 1, cpu_max, &sb->cpu_percent)) < 0 ||
	    (r = bh__cfg_size(x, s, "fsize", 0, UINT64_MAX, &sb->fsize_bytes)) < 0 ||
	    (r = bh__cfg_size(x, s, "tmp_size", 4096, UINT64_MAX, &sb->tmp_bytes)) < 0 ||
	    (r = bh__cfg_u32(x, s, "tmp_inodes", 16, UINT32_MAX, &sb->tmp_inodes)) < 0)
		return r;
	/* 0 is "no limit"; anything between is a limit the shim could not even start in. */
	if (mem && mem < (UINT64_C(1) << 20))
		return bh__cfg_fail(x, config_setting_get_member(s, "memory"),
				    "must be 0 (no limit) or at least 1M");
	sb->memory_bytes = mem;
	const config_setting_t *m = config_setting_get_member(s, "nofile");
	if (m) {
		int64_t v;
		if ((r = bh__cfg_int(x, m, 16, 1 << 20, &v)) < 0)
			return r;
		sb->nofile = (uint64_t)v;
	}

	const config_setting_t *list = config_setting_get_member(s, "syscalls");
	if (!list)
		return 0;
	if ((r = parse_strv(x, list, syscall_name_error, &sb->extra_syscalls,
			    &sb->n_extra_syscalls)) < 0)
		return r;
	return check_syscalls(x, s, list, sb);
}

static const char *const restart_names[] = {"always", "on-failure", "never", NULL};
_Static_assert(BH_RESTART_ALWAYS == 0 && BH_RESTART_ON_FAILURE == 1 && BH_RESTART_NEVER == 2,
	       "restart_names follows enum bh_restart_policy");

static int parse_plugin_settings(struct bh__cfg *x, const config_setting_t *g,
				 struct bh_plugin_conf *p);

static const char *const output_level_names[] = {
	[BH_LOG_ERROR] = "error", [BH_LOG_WARN] = "warn",  [BH_LOG_INFO] = "info",
	[BH_LOG_DEBUG] = "debug", [BH_OUTPUT_LEVEL_AUTO] = "auto", NULL,
};

/* plugins[i] into p, which the caller has set to the defaults and owns (freed by
 * bh_config_free on every path). */
static int parse_plugin(struct bh__cfg *x, const config_setting_t *g, struct bh_plugin_conf *p)
{
	if (g->type != CONFIG_TYPE_GROUP)
		return bh__cfg_fail(x, g, "expected a group { name = ...; path = ...; }, got %s",
				    bh__cfg_type_name(g->type));
	int r = bh__cfg_keys(x, g, plugin_keys);
	if (r < 0)
		return r;

	char where[64];
	bh__cfg_path_of(g, where, sizeof(where));
	const config_setting_t *s = config_setting_get_member(g, "name");
	if (!s)
		return bh__cfg_fail(x, g, "missing setting \"name\"");
	const char *name = NULL;
	if ((r = bh__cfg_str(x, g, "name", &name)) < 0)
		return r;
	size_t len = strlen(name);
	if (len > BH_NAME_MAX)
		return bh__cfg_fail(x, s, "longer than %d characters", BH_NAME_MAX);
	if (!bh_name_valid(name, len))
		return bh__cfg_fail_at(x, s,
				       "%s.name \"%.64s\": not an identifier (letters, digits, "
				       "'_', '-')",
				       where, name);
	if (strcmp(name, BH_CONTROL_NS) == 0)
		return bh__cfg_fail_at(x, s,
				       "%s.name \"%s\": reserved for the daemon's control "
				       "namespace",
				       where, name);
	memcpy(p->name, name, len + 1);

	if (!config_setting_get_member(g, "path"))
		return bh__cfg_fail(x, g, "missing setting \"path\" (the plugin's .so)");
	if ((r = bh__cfg_path(x, g, "path", &p->path)) < 0)
		return r;
	if ((r = check_file(x, config_setting_get_member(g, "path"), p->path, false)) < 0)
		return r;
	return parse_plugin_settings(x, g, p);
}

/* Every setting of a plugin but its name and path, from g into p (which holds the
 * values to keep for settings g does not have). */
static int parse_plugin_settings(struct bh__cfg *x, const config_setting_t *g,
				 struct bh_plugin_conf *p)
{
	const config_setting_t *s;
	int r;
	int restart = (int)p->restart;
	if ((r = bh__cfg_u32(x, g, "instances", 1, 64, &p->instances)) < 0 ||
	    (r = bh__cfg_u32(x, g, "timeout_ms", 1, MS_MAX, &p->timeout_ms)) < 0 ||
	    (r = bh__cfg_u32(x, g, "grace_ms", 0, MS_MAX, &p->grace_ms)) < 0 ||
	    (r = bh__cfg_u32(x, g, "init_timeout_ms", 1, MS_MAX, &p->init_timeout_ms)) < 0 ||
	    (r = one_of(x, g, "restart", restart_names, &restart)) < 0 ||
	    (r = bh__cfg_u32(x, g, "max_inflight", 1, 65536, &p->max_inflight)) < 0 ||
	    (r = bh__cfg_u32(x, g, "max_queue", 0, UINT32_C(1) << 20, &p->max_queue)) < 0 ||
	    (r = bh__cfg_u32(x, g, "drain_timeout_ms", 0, MS_MAX, &p->drain_timeout_ms)) < 0 ||
	    (r = bh__cfg_u32(x, g, "spin_us", 0, 1000, &p->spin_us)) < 0 ||
	    (r = bh__cfg_bool(x, g, "auto_reload", &p->auto_reload)) < 0 ||
	    (r = bh__cfg_bool(x, g, "callback", &p->callback)) < 0 ||
	    (r = one_of(x, g, "output_level", output_level_names, &p->output_level)) < 0)
		return r;
	p->restart = (enum bh_restart_policy)restart;
	if ((s = config_setting_get_member(g, "calls")) &&
	    (r = parse_strv(x, s, grant_error, &p->calls, &p->n_calls)) < 0)
		return r;

	const config_setting_t *acc;
	if ((r = bh__cfg_group(x, g, "access", &acc)) < 0)
		return r;
	if (acc && (r = parse_access(x, acc, &p->call_acl, NULL)) < 0)
		return r;

	const config_setting_t *conf;
	if ((r = bh__cfg_group(x, g, "config", &conf)) < 0)
		return r;
	if (conf || !p->config_len) { /* else the defaults' map stays */
		uint8_t *mp = NULL;
		size_t mp_len = 0;
		if ((r = bh__cfg_encode_map(x, conf, &mp, &mp_len)) < 0)
			return r;
		free(p->config_msgpack);
		p->config_msgpack = mp;
		p->config_len = mp_len;
	}

	if ((s = config_setting_get_member(g, "sandbox")) &&
	    (r = parse_sandbox(x, s, &p->sandbox)) < 0)
		return r;
	if ((s = config_setting_get_member(g, "env")) && (r = bh__cfg_env(x, s, &p->env, &p->n_env)) < 0)
		return r;
	return bh__cfg_heal(x, g, p);
}

static int parse_plugins(struct bh__cfg *x, const config_setting_t *list, struct bh_config *c)
{
	if (list->type != CONFIG_TYPE_LIST)
		return bh__cfg_fail(x, list,
				    "expected a list of groups ( { ... }, { ... } ), got %s",
				    bh__cfg_type_name(list->type));
	size_t n = (size_t)config_setting_length(list);
	if (n == 0)
		return 0;
	c->plugins = calloc(n, sizeof(*c->plugins));
	if (!c->plugins)
		return bh__cfg_nomem(x);
	for (size_t i = 0; i < n; i++) {
		const config_setting_t *g = config_setting_get_elem(list, (unsigned)i);
		struct bh_plugin_conf *p = &c->plugins[i];
		if (bh_plugin_conf_copy(p, &c->plugin_defaults) < 0)
			return bh__cfg_nomem(x);
		c->n_plugins = i + 1;
		int r = parse_plugin(x, g, p);
		if (r < 0)
			return r;
		for (size_t j = 0; j < i; j++) {
			if (strcmp(c->plugins[j].name, p->name) != 0)
				continue;
			const config_setting_t *first = config_setting_get_member(
				config_setting_get_elem(list, (unsigned)j), "name");
			const config_setting_t *dup = config_setting_get_member(g, "name");
			char where[64], fbuf[PATH_MAX], first_at[PATH_MAX + 32];
			bh__cfg_path_of(dup, where, sizeof(where));
			/* Name the first one's file too when it is another (an @include). */
			const char *ff = config_setting_source_file(first);
			const char *df = config_setting_source_file(dup);
			if ((ff == NULL) == (df == NULL) && (!ff || strcmp(ff, df) == 0))
				snprintf(first_at, sizeof(first_at), "line %u",
					 config_setting_source_line(first));
			else
				snprintf(first_at, sizeof(first_at), "%s:%u",
					 bh__cfg_file_of(x, ff, fbuf, sizeof(fbuf)),
					 config_setting_source_line(first));
			return bh__cfg_fail_at(x, dup,
					       "%s: duplicate plugin name \"%s\" (first at %s)",
					       where, p->name, first_at);
		}
	}
	return 0;
}

static const char *const log_names[] = {
	[BH_LOG_ERROR] = "error",
	[BH_LOG_WARN] = "warn",
	[BH_LOG_INFO] = "info",
	[BH_LOG_DEBUG] = "debug",
	NULL,
};

static int parse_root(struct bh__cfg *x, const config_setting_t *root, struct bh_config *c)
{
	int r = bh__cfg_keys(x, root, top_keys);
	if (r < 0)
		return r;
	const config_setting_t *g;

	if ((r = bh__cfg_group(x, root, "socket", &g)) < 0 ||
	    (g && (r = parse_socket(x, g, c)) < 0))
		return r;
	if ((r = bh__cfg_path(x, root, "shim", &c->shim_path)) < 0)
		return r;
	if (c->shim_path &&
	    (r = check_file(x, config_setting_get_member(root, "shim"), c->shim_path, true)) < 0)
		return r;
	static const char *const log_formats[] = {[BH_LOG_TEXT] = "text", [BH_LOG_JSON] = "json", NULL};
	static const char *const placements[] = {[BH_PLACE_SHARED] = "shared",
						 [BH_PLACE_APART] = "apart", NULL};
	if ((r = one_of(x, root, "log_level", log_names, &c->log_level)) < 0 ||
	    (r = one_of(x, root, "log_format", log_formats, &c->log_format)) < 0 ||
	    (r = one_of(x, root, "cpu_placement", placements, &c->cpu_placement)) < 0)
		return r;
	/* Limits before the plugins: each plugin's config map is checked against them. */
	if ((r = bh__cfg_group(x, root, "limits", &g)) < 0 ||
	    (g && (r = parse_limits(x, g, c)) < 0))
		return r;
	r = bh__cfg_u32(x, root, "shutdown_timeout_ms", 0, MS_MAX, &c->shutdown_timeout_ms);
	if (r < 0)
		return r;
	if ((r = bh__cfg_group(x, root, "restart", &g)) < 0 ||
	    (g && (r = parse_restart(x, g, c)) < 0))
		return r;
	if ((r = bh__cfg_group(x, root, "access", &g)) < 0 ||
	    (g && (r = parse_access(x, g, &c->call_acl, &c->admin_acl)) < 0))
		return r;
	if ((r = bh__cfg_path(x, root, "plugin_dir", &c->plugin_dir)) < 0)
		return r;
	if ((r = bh__cfg_group(x, root, "plugin_defaults", &g)) < 0 ||
	    (g && ((r = bh__cfg_keys(x, g, plugin_defaults_keys)) < 0 ||
		   (r = parse_plugin_settings(x, g, &c->plugin_defaults)) < 0)))
		return r;
	if ((r = bh__cfg_group(x, root, "sandbox_ids", &g)) < 0 ||
	    (g && (r = parse_sandbox_ids(x, g, &c->sandbox_ids)) < 0))
		return r;
	if ((r = bh__cfg_group(x, root, "metrics", &g)) < 0 ||
	    (g && (r = bh__cfg_metrics(x, g, &c->metrics)) < 0))
		return r;
	const config_setting_t *plugins = config_setting_get_member(root, "plugins");
	if (plugins && (r = parse_plugins(x, plugins, c)) < 0)
		return r;
	return 0;
}

/* ---- files --------------------------------------------------------------------------- */

/* The whole of a file, NUL-terminated, in *ret (malloc'd) and *ret_len.
 * -errno, or -EFBIG past CONFIG_FILE_MAX, -EINVAL for a non-regular file or a NUL byte
 * (libconfig would stop reading there); the message is written by the caller. */
static int slurp(const char *path, char **ret, size_t *ret_len, const char **ret_why)
{
	*ret_why = NULL;
	/* O_NONBLOCK: a FIFO in place of a config file must not block the daemon. */
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return -errno;
	char *buf = NULL;
	int r;
	struct stat st;
	if (fstat(fd, &st) < 0) {
		r = -errno;
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		*ret_why = "not a regular file";
		r = S_ISDIR(st.st_mode) ? -EISDIR : -EINVAL;
		goto out;
	}
	size_t cap = (size_t)st.st_size + 1, len = 0;
	if (cap > CONFIG_FILE_MAX + 1)
		cap = CONFIG_FILE_MAX + 1;
	buf = malloc(cap + 1);
	if (!buf) {
		r = -ENOMEM;
		goto out;
	}
	/* Read to EOF rather than trusting st_size (the file may be growing). */
	for (;;) {
		if (len == cap) {
			if (cap > CONFIG_FILE_MAX) {
				*ret_why = "larger than 4 MiB; not a config file";
				r = -EFBIG;
				goto out;
			}
			char *nb = realloc(buf, cap * 2 + 1);
			if (!nb) {
				r = -ENOMEM;
				goto out;
			}
			buf = nb;
			cap *= 2;
		}
		ssize_t n = read(fd, buf + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = -errno;
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	if (len > CONFIG_FILE_MAX) {
		*ret_why = "larger than 4 MiB; not a config file";
		r = -EFBIG;
		goto out;
	}
	if (memchr(buf, '\0', len)) {
		*ret_why = "contains a NUL byte; not a text file";
		r = -EINVAL;
		goto out;
	}
	buf[len] = '\0';
	*ret = buf;
	*ret_len = len;
	buf = NULL;
	r = 0;
out:
	free(buf);
	close(fd);
	return r;
}

/* "/abs/dir/file" of a possibly relative path: no symlinks are resolved, so relative
 * settings are taken against the directory the caller named. */
static char *absolute(const char *path)
{
	if (path[0] == '/')
		return bh__cfg_join("/", path);
	char *cwd = getcwd(NULL, 0);
	if (!cwd)
		return NULL;
	char *abs = bh__cfg_join(cwd, path);
	free(cwd);
	return abs;
}

/* libconfig 1.5 opens each `@include "name"` itself, as include_dir + "/" + name (a
 * leading '/' of name dropped), and when reading it fails (a directory, a file that
 * gives EIO) its scanner calls exit(2); a FIFO would block it forever. So a config
 * could end the daemon. Every include libconfig would open is checked here first: it
 * must be a regular file that reads whole, and so must its own includes. A name that
 * does not exist is left to libconfig, which reports it. (Whoever can replace a file
 * between this check and libconfig's read can write the configuration anyway.)
 *
 * The directive as libconfig's scanner matches it: at the start of a line, [ \t]*,
 * "@include", [ \t]+, then a string in which \\ is \, \" is ", and any other
 * backslash is dropped. Lines inside comments and strings match here too, which only
 * checks a file more. */
#define INCLUDE_DEPTH_MAX 10 /* libconfig's: deeper includes are refused unread */

static int check_includes(struct bh__cfg *x, const char *file, const char *text, unsigned depth);

static int check_include(struct bh__cfg *x, const char *file, unsigned line, const char *name,
			 unsigned depth)
{
	const char *rel = name[0] == '/' ? name + 1 : name;
	size_t dlen = strlen(x->dir);
	char *path = malloc(dlen + strlen(rel) + 2);
	if (!path)
		return bh__cfg_nomem(x);
	sprintf(path, "%s/%s", x->dir, rel);
	char *text = NULL;
	size_t len;
	const char *why = NULL;
	struct stat st;
	int r = 0;
	if (stat(path, &st) == 0 && depth < INCLUDE_DEPTH_MAX) {
		r = slurp(path, &text, &len, &why);
		if (r == -ENOMEM)
			r = bh__cfg_nomem(x);
		else if (r < 0)
			r = bh__cfg_fail_line(x, -EINVAL, file, line, "@include \"%s\": %s: %s", name,
					      path, why ? why : strerror(-r));
		else
			r = check_includes(x, name, text, depth + 1);
	}
	free(text);
	free(path);
	return r;
}

/* The include named by a directive at p (a line start), or 0 when there is none. */
static int include_at(struct bh__cfg *x, const char *file, unsigned line, const char *p,
		      unsigned depth)
{
	p += strspn(p, " \t");
	if (strncmp(p, "@include", 8) != 0 || (p[8] != ' ' && p[8] != '\t'))
		return 0;
	p += 8;
	p += strspn(p, " \t");
	if (*p++ != '"')
		return 0;
	size_t n = 0;
	while (p[n] && p[n] != '"')
		n += p[n] == '\\' && (p[n + 1] == '\\' || p[n + 1] == '"') ? 2 : 1;
	if (p[n] != '"')
		return 0; /* unterminated: libconfig opens nothing */
	char *name = malloc(n + 1), *o = name;
	if (!name)
		return bh__cfg_nomem(x);
	for (const char *end = p + n; p < end; p++) {
		if (*p != '\\')
			*o++ = *p;
		else if (p[1] == '\\' || p[1] == '"')
			*o++ = *++p;
	}
	*o = '\0';
	int r = check_include(x, file, line, name, depth);
	free(name);
	return r;
}

static int check_includes(struct bh__cfg *x, const char *file, const char *text, unsigned depth)
{
	unsigned line = 1;
	for (const char *p = text; *p; line++) {
		int r = include_at(x, file, line, p, depth);
		if (r < 0)
			return r;
		const char *nl = strchr(p, '\n');
		if (!nl)
			break;
		p = nl + 1;
	}
	return 0;
}

/* Check the literals of every file libconfig read: the main one (already in memory)
 * and each @include, re-read from the config directory. */
static int check_all_literals(struct bh__cfg *x, config_t *lc, const char *text, size_t len)
{
	int r = bh__cfg_check_literals(x, NULL, text, len);
	for (unsigned i = 0; r == 0 && i < lc->num_filenames; i++) {
		const char *f = lc->filenames[i];
		char *abs = bh__cfg_join(x->dir, f);
		if (!abs)
			return bh__cfg_nomem(x);
		char *inc = NULL;
		size_t inc_len = 0;
		const char *why;
		r = slurp(abs, &inc, &inc_len, &why);
		free(abs);
		if (r == -ENOMEM)
			return bh__cfg_nomem(x);
		if (r < 0)
			return bh__cfg_fail_line(x, -EINVAL, f, 0, "%s", why ? why : strerror(-r));
		r = bh__cfg_check_literals(x, f, inc, inc_len);
		free(inc);
	}
	return r;
}

int bh_config_load(const char *path, struct bh_config **ret, char *errbuf, size_t errlen)
{
	if (errbuf && errlen)
		errbuf[0] = '\0';
	struct bh__cfg x = {.file = path ? path : "(null)", .errbuf = errbuf, .errlen = errlen};
	if (!path || !path[0] || !ret)
		return bh__cfg_fail_line(&x, -EINVAL, NULL, 0, "no config file given");

	config_t lc;
	config_init(&lc);
	char *text = NULL, *dir = NULL;
	size_t len = 0;
	int r;
	struct bh_config *c = config_new();
	if (!c) {
		r = bh__cfg_nomem(&x);
		goto out;
	}
	c->path = absolute(path);
	if (!c->path) {
		r = errno == ENOMEM ? bh__cfg_nomem(&x)
				    : bh__cfg_fail_line(&x, -errno, NULL, 0,
							"cannot resolve the current directory: %s",
							strerror(errno));
		goto out;
	}
	dir = strdup(c->path);
	if (!dir) {
		r = bh__cfg_nomem(&x);
		goto out;
	}
	char *slash = strrchr(dir, '/');
	if (slash == dir)
		slash[1] = '\0';
	else
		*slash = '\0';
	x.dir = dir;
	x.limits = &c->limits;

	const char *why;
	r = slurp(path, &text, &len, &why);
	if (r == -ENOMEM) {
		r = bh__cfg_nomem(&x);
		goto out;
	}
	if (r < 0) {
		bh__cfg_fail_line(&x, r, NULL, 0, "%s", why ? why : strerror(-r));
		goto out;
	}

	/* Includes are resolved against the config's directory, like every other
	 * relative name in it. */
	config_set_include_dir(&lc, dir);
	if ((r = check_includes(&x, NULL, text, 0)) < 0)
		goto out;
	if (!config_read_string(&lc, text)) {
		const char *etext = config_error_text(&lc);
		r = bh__cfg_fail_line(
			&x, -EINVAL, config_error_file(&lc),
			(unsigned)(config_error_line(&lc) > 0 ? config_error_line(&lc) : 0), "%s",
			etext ? etext : "syntax error");
		goto out;
	}
	if ((r = check_all_literals(&x, &lc, text, len)) < 0)
		goto out;
	if ((r = parse_root(&x, config_root_setting(&lc), c)) < 0)
		goto out;
	*ret = c;
	c = NULL;
	r = 0;
out:
	config_destroy(&lc);
	bh_config_free(c);
	free(text);
	free(dir);
	return r;
}
