/* Unit tests of the daemon's config parser (supervisor/daemon/config*.c).
 *
 * Each test gets a fresh temporary directory holding dummy plugin files; configs are
 * written there with mkstemp. Error cases mark the line the message must name with a
 * "#!" comment, so line numbers are never counted by hand. */
#define _GNU_SOURCE
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bulkhead/proto.h"
#include "../elf_stub.h"
#include "config.h"
#include "log.h"

/* Short, so that every path built from them fits PATH_MAX. rootdir is made by main()
 * and removed by it whatever the tests did (a failed check ends a forked test before
 * its teardown); each test works in its own tmpdir below it. */
static char rootdir[192];
static char tmpdir[256];
static char conf_path[512];
static char errbuf[1024];

/* ---- fixture --------------------------------------------------------------------------- */

static void put_file(const char *name, const char *text, mode_t mode)
{
	char p[PATH_MAX];
	snprintf(p, sizeof(p), "%s/%s", tmpdir, name);
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	ck_assert_msg(fd >= 0, "create %s: %s", p, strerror(errno));
	size_t len = strlen(text);
	ck_assert_int_eq(write(fd, text, len), (ssize_t)len);
	ck_assert_int_eq(fchmod(fd, mode), 0);
	close(fd);
}

/* An ELF header (tests/elf_stub.h), then the changes a case makes to it. */
static void put_elf(const char *name, uint16_t type, int machine_delta, int class_flip)
{
	ElfW(Ehdr) h;
	bh_test_elf_header(&h, type);
	h.e_machine = (uint16_t)(h.e_machine + machine_delta);
	if (class_flip)
		h.e_ident[EI_CLASS] = h.e_ident[EI_CLASS] == ELFCLASS64 ? ELFCLASS32 : ELFCLASS64;
	char p[PATH_MAX];
	snprintf(p, sizeof(p), "%s/%s", tmpdir, name);
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, &h, sizeof(h)), (ssize_t)sizeof(h));
	close(fd);
}

static void setup(void)
{
	snprintf(tmpdir, sizeof(tmpdir), "%s/t-XXXXXX", rootdir);
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
	put_elf("echo.so", ET_DYN, 0, 0);
	put_elf("other.so", ET_DYN, 0, 0);
	put_file("text.so", "not really ELF", 0644);
	put_elf("exec.so", ET_EXEC, 0, 0);
	put_elf("object.so", ET_REL, 0, 0);
	put_elf("arm.so", ET_DYN, 1, 0);
	put_elf("class.so", ET_DYN, 0, 1);
	put_file("shim.bin", "#!/bin/sh\n", 0755);
	char p[PATH_MAX];
	snprintf(p, sizeof(p), "%s/sub", tmpdir);
	ck_assert_int_eq(mkdir(p, 0755), 0);
	errbuf[0] = '\0';
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st, (void)flag, (void)ftw;
	return remove(path);
}

static void teardown(void)
{
	nftw(tmpdir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* text into a new file of the temp dir; its name in conf_path. */
static const char *write_conf(const char *text)
{
	snprintf(conf_path, sizeof(conf_path), "%s/conf-XXXXXX", tmpdir);
	int fd = mkstemp(conf_path);
	ck_assert_msg(fd >= 0, "mkstemp: %s", strerror(errno));
	size_t len = strlen(text);
	ck_assert_int_eq(write(fd, text, len), (ssize_t)len);
	close(fd);
	return conf_path;
}

static int load(const char *text, struct bh_config **ret)
{
	write_conf(text);
	return bh_config_load(conf_path, ret, errbuf, sizeof(errbuf));
}

static struct bh_config *load_ok(const char *text)
{
	struct bh_config *c = NULL;
	int r = load(text, &c);
	ck_assert_msg(r == 0, "load failed (%d): %s", r, errbuf);
	ck_assert_ptr_nonnull(c);
	return c;
}

/* 1-based line of the "#!" marker. */
static unsigned marker_line(const char *text)
{
	const char *m = strstr(text, "#!");
	ck_assert_msg(m != NULL, "test config has no #! marker:\n%s", text);
	unsigned line = 1;
	for (const char *p = text; p < m; p++)
		line += *p == '\n';
	return line;
}

static void expect_error_in(const char *text, const char *file, unsigned line, const char *needle)
{
	struct bh_config *c = (struct bh_config *)0x1;
	int r = load(text, &c);
	ck_assert_msg(r == -EINVAL, "expected -EINVAL, got %d (\"%s\") for:\n%s", r, errbuf, text);
	ck_assert_msg(c == (struct bh_config *)0x1, "*ret written on failure");
	char pre[PATH_MAX + 32];
	snprintf(pre, sizeof(pre), "%s:%u: ", file, line);
	ck_assert_msg(strncmp(errbuf, pre, strlen(pre)) == 0,
		      "message \"%s\" does not start with \"%s\"", errbuf, pre);
	ck_assert_msg(strstr(errbuf, needle) != NULL, "message \"%s\" lacks \"%s\"", errbuf,
		      needle);
}

/* ---- a full config ----------------------------------------------------------------------- */

static const bh_value *find(const bh_value *map, const char *key)
{
	const bh_value *v = bh_value_find(map, key);
	ck_assert_msg(v != NULL, "config map has no \"%s\"", key);
	return v;
}

START_TEST(test_full)
{
	char text[8192];
	snprintf(text, sizeof(text),
		 "socket = { path = \"run/./bh.sock\"; mode = \"0600\"; owner = \"root\"; group = "
		 "0; };\n"
		 "shim = \"shim.bin\";\n"
		 "log_level = \"debug\";\n"
		 "limits = { max_message = \"8M\"; max_depth = 32; max_items = 1000; max_bytes = "
		 "65536;\n"
		 "           max_clients = 10; max_client_pending = 20; };\n"
		 "shutdown_timeout_ms = 1234;\n"
		 "restart = { backoff_min_ms = 50; backoff_max_ms = 6000; quarantine_crashes = 3;\n"
		 "            quarantine_window_ms = 7000; };\n"
		 "access = { call = [ \"*\" ];\n"
		 "           admin = [ \"uid:0\", \"gid:root\", \"root\", \"uid:1234\", "
		 "\"gid:5678\", \"uid:0\" ]; };\n"
		 "plugin_dir = \"./plugins/\";\n"
		 "plugins = (\n"
		 "  { name = \"echo\"; path = \"echo.so\"; instances = 2; timeout_ms = 1000; "
		 "grace_ms = 250;\n"
		 "    init_timeout_ms = 3000; restart = \"always\"; max_inflight = 8; max_queue = "
		 "0;\n"
		 "    drain_timeout_ms = 700; spin_us = 0; auto_reload = true;\n"
		 "    calls = [ \"inventory\", \"prices.quote\", \"app.*\", \"bulkhead.status\" ];\n"
		 "    callback = true;\n"
		 "    access = { call = [ \"uid:1000\", \"gid:100\" ]; };\n"
		 "    config = { greeting = \"hello\"; shards = 4; big = 5000000000L; neg = -7; "
		 "ratio = 0.5;\n"
		 "               tags = [ \"a\", \"b\" ]; mixed = ( 1, \"x\", { y = false; } );\n"
		 "               nested = { x = true; }; empty = {}; };\n"
		 "    sandbox = { enabled = true; network = true; syscalls = [ \"getcpu\", "
		 "\"membarrier\" ];\n"
		 "                memory = \"512M\"; pids = 32; cpu_percent = 50; nofile = 1024;\n"
		 "                fsize = 1048576; tmp_size = \"1G\"; tmp_inodes = 100;\n"
		 "                require_limits = true; };\n"
		 "  },\n"
		 "  { name = \"Other_2-x\"; path = \"%s//sub/../other.so\"; sandbox = false; }\n"
		 ");\n",
		 tmpdir);
	struct bh_config *c = load_ok(text);
	char want[PATH_MAX];

	ck_assert_str_eq(c->path, conf_path);
	snprintf(want, sizeof(want), "%s/run/bh.sock", tmpdir);
	ck_assert_str_eq(c->socket_path, want);
	ck_assert_uint_eq(c->socket_mode, 0600);
	ck_assert_uint_eq(c->socket_uid, 0);
	ck_assert_uint_eq(c->socket_gid, 0);
	snprintf(want, sizeof(want), "%s/shim.bin", tmpdir);
	ck_assert_str_eq(c->shim_path, want);
	ck_assert_int_eq(c->log_level, BH_LOG_DEBUG);
	ck_assert_uint_eq(c->limits.max_message, 8u << 20);
	ck_assert_uint_eq(c->limits.max_depth, 32);
	ck_assert_uint_eq(c->limits.max_items, 1000);
	ck_assert_uint_eq(c->limits.max_bytes, 65536);
	ck_assert_uint_eq(c->max_clients, 10);
	ck_assert_uint_eq(c->max_client_pending, 20);
	ck_assert_uint_eq(c->shutdown_timeout_ms, 1234);
	ck_assert_uint_eq(c->restart_backoff_min_ms, 50);
	ck_assert_uint_eq(c->restart_backoff_max_ms, 6000);
	ck_assert_uint_eq(c->quarantine_crashes, 3);
	ck_assert_uint_eq(c->quarantine_window_ms, 7000);

	ck_assert(c->call_acl.anyone);
	ck_assert_uint_eq(c->call_acl.n_uids, 0);
	ck_assert_uint_eq(c->call_acl.n_gids, 0);
	ck_assert(!c->admin_acl.anyone);
	ck_assert_uint_eq(c->admin_acl.n_uids, 2); /* 0 three times, once */
	ck_assert_uint_eq(c->admin_acl.uids[0], 0);
	ck_assert_uint_eq(c->admin_acl.uids[1], 1234);
	ck_assert_uint_eq(c->admin_acl.n_gids, 2);
	ck_assert_uint_eq(c->admin_acl.gids[0], 0);
	ck_assert_uint_eq(c->admin_acl.gids[1], 5678);

	snprintf(want, sizeof(want), "%s/plugins", tmpdir);
	ck_assert_str_eq(c->plugin_dir, want);

	ck_assert_uint_eq(c->n_plugins, 2);
	const struct bh_plugin_conf *p = &c->plugins[0];
	ck_assert_str_eq(p->name, "echo");
	snprintf(want, sizeof(want), "%s/echo.so", tmpdir);
	ck_assert_str_eq(p->path, want);
	ck_assert_uint_eq(p->instances, 2);
	ck_assert_uint_eq(p->timeout_ms, 1000);
	ck_assert_uint_eq(p->grace_ms, 250);
	ck_assert_uint_eq(p->init_timeout_ms, 3000);
	ck_assert_int_eq(p->restart, BH_RESTART_ALWAYS);
	ck_assert_uint_eq(p->max_inflight, 8);
	ck_assert_uint_eq(p->max_queue, 0);
	ck_assert_uint_eq(p->drain_timeout_ms, 700);
	ck_assert_uint_eq(p->spin_us, 0);
	ck_assert(p->auto_reload);
	ck_assert_uint_eq(p->n_calls, 4);
	ck_assert_str_eq(p->calls[1], "prices.quote");
	ck_assert_str_eq(p->calls[2], "app.*");
	ck_assert(p->callback);
	ck_assert(!p->call_acl.anyone);
	ck_assert_uint_eq(p->call_acl.n_uids, 1);
	ck_assert_uint_eq(p->call_acl.uids[0], 1000);
	ck_assert_uint_eq(p->call_acl.n_gids, 1);
	ck_assert_uint_eq(p->call_acl.gids[0], 100);
	ck_assert(p->sandbox.enabled);
	ck_assert(p->sandbox.network);
	ck_assert_uint_eq(p->sandbox.n_extra_syscalls, 2);
	ck_assert_str_eq(p->sandbox.extra_syscalls[0], "getcpu");
	ck_assert_str_eq(p->sandbox.extra_syscalls[1], "membarrier");
	ck_assert_uint_eq(p->sandbox.memory_bytes, 512u << 20);
	ck_assert_uint_eq(p->sandbox.pids_max, 32);
	ck_assert_uint_eq(p->sandbox.cpu_percent, 50);
	ck_assert_uint_eq(p->sandbox.nofile, 1024);
	ck_assert_uint_eq(p->sandbox.fsize_bytes, 1048576);
	ck_assert_uint_eq(p->sandbox.tmp_bytes, UINT64_C(1) << 30);
	ck_assert_uint_eq(p->sandbox.tmp_inodes, 100);
	ck_assert(p->sandbox.require_limits);

	/* The config map, decoded. */
	struct bh_limits lim;
	bh_limits_default(&lim);
	struct bh_arena arena;
	bh_arena_init(&arena);
	const bh_value *m;
	size_t used;
	ck_assert_int_eq(bh_decode(p->config_msgpack, p->config_len, &lim, &arena, &m, &used), 0);
	ck_assert_uint_eq(used, p->config_len);
	ck_assert_int_eq(m->type, BH_MAP);
	ck_assert_uint_eq(m->len, 9);
	ck_assert(bh_value_str_eq(&m->as.items[0], "greeting")); /* file order kept */
	ck_assert(bh_value_str_eq(find(m, "greeting"), "hello"));
	int64_t i;
	ck_assert_int_eq(bh_value_get_int(find(m, "shards"), &i), 0);
	ck_assert_int_eq(i, 4);
	ck_assert_int_eq(bh_value_get_int(find(m, "big"), &i), 0);
	ck_assert_int_eq(i, INT64_C(5000000000));
	ck_assert_int_eq(bh_value_get_int(find(m, "neg"), &i), 0);
	ck_assert_int_eq(i, -7);
	const bh_value *v = find(m, "ratio");
	ck_assert_int_eq(v->type, BH_FLOAT);
	ck_assert_uint_eq(v->len, 8);
	ck_assert(v->as.f == 0.5);
	v = find(m, "tags");
	ck_assert_int_eq(v->type, BH_ARRAY);
	ck_assert_uint_eq(v->len, 2);
	ck_assert(bh_value_str_eq(bh_value_at(v, 0), "a"));
	ck_assert(bh_value_str_eq(bh_value_at(v, 1), "b"));
	v = find(m, "mixed");
	ck_assert_int_eq(v->type, BH_ARRAY);
	ck_assert_uint_eq(v->len, 3);
	ck_assert_int_eq(bh_value_get_int(bh_value_at(v, 0), &i), 0);
	ck_assert_int_eq(i, 1);
	ck_assert(bh_value_str_eq(bh_value_at(v, 1), "x"));
	bool b = true;
	ck_assert_int_eq(bh_value_get_bool(find(bh_value_at(v, 2), "y"), &b), 0);
	ck_assert(!b);
	ck_assert_int_eq(bh_value_get_bool(find(find(m, "nested"), "x"), &b), 0);
	ck_assert(b);
	v = find(m, "empty");
	ck_assert_int_eq(v->type, BH_MAP);
	ck_assert_uint_eq(v->len, 0);
	bh_arena_done(&arena);

	p = &c->plugins[1];
	ck_assert_str_eq(p->name, "Other_2-x");
	/* "//" and "/./" are tidied, ".." is kept (sub may be a symlink). */
	snprintf(want, sizeof(want), "%s/sub/../other.so", tmpdir);
	ck_assert_str_eq(p->path, want);
	ck_assert(!p->sandbox.enabled);
	ck_assert_uint_eq(p->instances, 1);
	ck_assert_uint_eq(p->config_len, 1);
	ck_assert_uint_eq(p->config_msgpack[0], 0x80); /* {} */
	bh_config_free(c);
}
END_TEST

/* ---- defaults ---------------------------------------------------------------------------- */

static void check_global_defaults(const struct bh_config *c)
{
	ck_assert_str_eq(c->socket_path, "/run/bulkhead/bulkhead.sock");
	ck_assert_uint_eq(c->socket_mode, 0660);
	ck_assert_uint_eq(c->socket_uid, (uid_t)-1);
	ck_assert_uint_eq(c->socket_gid, (gid_t)-1);
	ck_assert_ptr_null(c->shim_path);
	ck_assert_int_eq(c->log_level, BH_LOG_INFO);
	struct bh_limits lim;
	bh_limits_default(&lim);
	ck_assert_uint_eq(c->limits.max_message, lim.max_message);
	ck_assert_uint_eq(c->limits.max_depth, lim.max_depth);
	ck_assert_uint_eq(c->limits.max_items, lim.max_items);
	ck_assert_uint_eq(c->limits.max_bytes, lim.max_bytes);
	ck_assert_uint_eq(c->max_clients, 256);
	ck_assert_uint_eq(c->max_client_pending, 1024);
	ck_assert_uint_eq(c->shutdown_timeout_ms, 5000);
	ck_assert_uint_eq(c->restart_backoff_min_ms, 100);
	ck_assert_uint_eq(c->restart_backoff_max_ms, 30000);
	ck_assert_uint_eq(c->quarantine_crashes, 5);
	ck_assert_uint_eq(c->quarantine_window_ms, 60000);
	/* Empty ACLs: the daemon applies its own defaults. */
	ck_assert(!c->call_acl.anyone);
	ck_assert_uint_eq(c->call_acl.n_uids + c->call_acl.n_gids, 0);
	ck_assert(!c->admin_acl.anyone);
	ck_assert_uint_eq(c->admin_acl.n_uids + c->admin_acl.n_gids, 0);
	ck_assert_ptr_null(c->plugin_dir);
}

static void check_plugin_defaults(const struct bh_plugin_conf *p)
{
	ck_assert_uint_eq(p->instances, 1);
	ck_assert_uint_eq(p->timeout_ms, 5000);
	ck_assert_uint_eq(p->grace_ms, 1000);
	ck_assert_uint_eq(p->init_timeout_ms, 5000);
	ck_assert_int_eq(p->restart, BH_RESTART_ON_FAILURE);
	ck_assert_uint_eq(p->max_inflight, 64);
	ck_assert_uint_eq(p->max_queue, 1024);
	ck_assert(!p->auto_reload);
	ck_assert_uint_eq(p->drain_timeout_ms, 5000);
	ck_assert_uint_eq(p->spin_us, 50);
	ck_assert_uint_eq(p->n_calls, 0); /* calling out: default deny */
	ck_assert(!p->callback);
	ck_assert(!p->call_acl.anyone);
	ck_assert_uint_eq(p->call_acl.n_uids + p->call_acl.n_gids, 0);
	ck_assert(p->sandbox.enabled);
	ck_assert(!p->sandbox.network);
	ck_assert_uint_eq(p->sandbox.n_extra_syscalls, 0);
	ck_assert_uint_eq(p->sandbox.memory_bytes, 256u << 20);
	ck_assert_uint_eq(p->sandbox.pids_max, 64);
	ck_assert_uint_eq(p->sandbox.cpu_percent, 100);
	ck_assert_uint_eq(p->sandbox.nofile, 256);
	ck_assert_uint_eq(p->sandbox.fsize_bytes, 64u << 20);
	ck_assert_uint_eq(p->sandbox.tmp_bytes, 16u << 20);
	ck_assert_uint_eq(p->sandbox.tmp_inodes, 4096);
	ck_assert(!p->sandbox.require_limits);
	ck_assert_uint_eq(p->health.interval_ms, 10000);
	ck_assert_uint_eq(p->health.timeout_ms, 1000);
	ck_assert_uint_eq(p->health.failures, 3);
	ck_assert_uint_eq(p->max_calls, 0);
	ck_assert_uint_eq(p->max_rss, 0);
	ck_assert_uint_eq(p->breaker.failures, 0);
	ck_assert_uint_eq(p->breaker.error_pct, 0);
	ck_assert_uint_eq(p->breaker.min_calls, 20);
	ck_assert_uint_eq(p->breaker.window_ms, 10000);
	ck_assert_uint_eq(p->breaker.cooldown_ms, 30000);
	ck_assert_uint_eq(p->breaker.half_open_calls, 1);
	ck_assert(!p->breaker.plugin_error);
}

/* Health, recycling and breaker settings; a reload that changes one is a change. */
START_TEST(test_heal_settings)
{
	struct bh_config *c = load_ok(
		"plugins = ( { name = \"h\"; path = \"echo.so\"; max_calls = 500; max_rss = \"64M\";\n"
		"  health = { interval_ms = 0; timeout_ms = 20; failures = 7; };\n"
		"  breaker = { failures = 4; error_pct = 50; min_calls = 9; window_ms = 3000;\n"
		"              cooldown_ms = 250; half_open_calls = 2; plugin_error = true; }; } );\n");
	const struct bh_plugin_conf *p = &c->plugins[0];
	ck_assert_uint_eq(p->max_calls, 500);
	ck_assert_uint_eq(p->max_rss, 64u << 20);
	ck_assert_uint_eq(p->health.interval_ms, 0);
	ck_assert_uint_eq(p->health.timeout_ms, 20);
	ck_assert_uint_eq(p->health.failures, 7);
	ck_assert_uint_eq(p->breaker.failures, 4);
	ck_assert_uint_eq(p->breaker.error_pct, 50);
	ck_assert_uint_eq(p->breaker.min_calls, 9);
	ck_assert_uint_eq(p->breaker.window_ms, 3000);
	ck_assert_uint_eq(p->breaker.cooldown_ms, 250);
	ck_assert_uint_eq(p->breaker.half_open_calls, 2);
	ck_assert(p->breaker.plugin_error);
	struct bh_plugin_conf q;
	ck_assert_int_eq(bh_plugin_conf_copy(&q, p), 0);
	ck_assert(bh_plugin_conf_equal(&q, p));
	q.breaker.cooldown_ms++;
	ck_assert(!bh_plugin_conf_equal(&q, p));
	bh_plugin_conf_done(&q);
	bh_config_free(c);

	expect_error_in("plugins = ( { name = \"h\"; path = \"echo.so\";\n"
			"  health = { interval_ms = 10; failures = 0; }; } );\n",
			conf_path, 2, "failures");
	expect_error_in("plugins = ( { name = \"h\"; path = \"echo.so\";\n"
			"  breaker = { error_pct = 101; }; } );\n", conf_path, 2, "error_pct");
	expect_error_in("plugins = ( { name = \"h\"; path = \"echo.so\";\n"
			"  breaker = { cooldown = 5; }; } );\n", conf_path, 2, "cooldown");
}
END_TEST

START_TEST(test_defaults_empty_file)
{
	struct bh_config *c = load_ok("# nothing but a comment\n");
	check_global_defaults(c);
	ck_assert_uint_eq(c->n_plugins, 0);
	ck_assert_str_eq(c->path, conf_path);
	bh_config_free(c);

	ck_assert_int_eq(bh_config_default(&c), 0);
	check_global_defaults(c);
	ck_assert_ptr_null(c->path);
	ck_assert_uint_eq(c->n_plugins, 0);
	bh_config_free(c);
}
END_TEST

START_TEST(test_defaults_minimal_plugin)
{
	struct bh_config *c = load_ok("plugins = ( { name = \"echo\"; path = \"echo.so\"; } );\n");
	check_global_defaults(c);
	ck_assert_uint_eq(c->n_plugins, 1);
	check_plugin_defaults(&c->plugins[0]);
	ck_assert_uint_eq(c->plugins[0].config_len, 1);
	ck_assert_uint_eq(c->plugins[0].config_msgpack[0], 0x80);
	bh_config_free(c);

	struct bh_plugin_conf p;
	memset(&p, 0xa5, sizeof(p));
	bh_plugin_conf_default(&p);
	check_plugin_defaults(&p);
	ck_assert_ptr_null(p.path);
	ck_assert_str_eq(p.name, "");
	bh_plugin_conf_done(&p);

	c = load_ok("plugins = ();\n");
	ck_assert_uint_eq(c->n_plugins, 0);
	bh_config_free(c);
}
END_TEST

/* plugin_defaults: where every plugin's settings start; each plugin overrides. */
START_TEST(test_plugin_defaults)
{
	struct bh_config *c = load_ok(
		"plugin_defaults = { timeout_ms = 750; sandbox = false; config = { a = 1; }; };\n"
		"plugins = ( { name = \"one\"; path = \"echo.so\"; },\n"
		"            { name = \"two\"; path = \"echo.so\"; timeout_ms = 9;\n"
		"              sandbox = { enabled = true; }; config = { b = 2; }; } );\n");
	ck_assert_uint_eq(c->plugin_defaults.timeout_ms, 750);
	ck_assert(!c->plugin_defaults.sandbox.enabled);
	const struct bh_plugin_conf *one = &c->plugins[0], *two = &c->plugins[1];
	ck_assert_uint_eq(one->timeout_ms, 750);
	ck_assert(!one->sandbox.enabled);
	ck_assert_uint_eq(one->grace_ms, 1000); /* not in the defaults: the built-in one */
	ck_assert_uint_eq(one->config_len, c->plugin_defaults.config_len);
	ck_assert_mem_eq(one->config_msgpack, c->plugin_defaults.config_msgpack, one->config_len);
	ck_assert_uint_eq(two->timeout_ms, 9);
	ck_assert(two->sandbox.enabled);
	ck_assert(two->config_len != one->config_len ||
		  memcmp(two->config_msgpack, one->config_msgpack, one->config_len) != 0);
	bh_config_free(c);

	expect_error_in("plugin_defaults = { name = \"x\"; }; #!\n", conf_path,
			1, "name");
}
END_TEST

/* The shipped example is loadable and equals the defaults it claims. */
START_TEST(test_example_file)
{
	FILE *in = fopen(BH_EXAMPLE_CONF, "re");
	ck_assert_msg(in != NULL, "%s: %s", BH_EXAMPLE_CONF, strerror(errno));
	static char text[65536];
	size_t n = fread(text, 1, sizeof(text) - 1, in);
	fclose(in);
	text[n] = '\0';
	struct bh_config *c = load_ok(text);
	check_global_defaults(c);
	ck_assert_uint_eq(c->n_plugins, 1);
	ck_assert_str_eq(c->plugins[0].name, "echo");
	check_plugin_defaults(&c->plugins[0]);
	bh_config_free(c);
}
END_TEST

/* ---- values -------------------------------------------------------------------------------- */

START_TEST(test_sizes)
{
	struct bh_config *c = load_ok(
		"limits = { max_message = 5000; max_bytes = \"2k\"; };\n"
		"plugins = ( { name = \"a\"; path = \"echo.so\";\n"
		"  sandbox = { memory = 0; fsize = 0; tmp_size = \"4096\"; } },\n"
		"  { name = \"b\"; path = \"echo.so\";\n"
		"  sandbox = { memory = \"3G\"; fsize = 4294967296L; tmp_size = \"2T\"; } },\n"
		"  { name = \"c\"; path = \"echo.so\";\n"
		"  sandbox = { memory = 1048576; } } );\n");
	ck_assert_uint_eq(c->limits.max_message, 5000);
	ck_assert_uint_eq(c->limits.max_bytes, 2048);
	ck_assert_uint_eq(c->plugins[0].sandbox.memory_bytes, 0);
	ck_assert_uint_eq(c->plugins[0].sandbox.fsize_bytes, 0);
	ck_assert_uint_eq(c->plugins[0].sandbox.tmp_bytes, 4096);
	ck_assert_uint_eq(c->plugins[1].sandbox.memory_bytes, UINT64_C(3) << 30);
	ck_assert_uint_eq(c->plugins[1].sandbox.fsize_bytes, UINT64_C(4) << 30);
	ck_assert_uint_eq(c->plugins[1].sandbox.tmp_bytes, UINT64_C(2) << 40);
	ck_assert_uint_eq(c->plugins[2].sandbox.memory_bytes, 1048576);
	bh_config_free(c);
}
END_TEST

/* Big numbers in strings and comments are not literals; the L form is accepted. */
START_TEST(test_literals_not_numbers)
{
	struct bh_config *c = load_ok(
		"# max_message = 5000000000;\n"
		"/* 9999999999 */ // 8888888888\n"
		"plugins = ( { name = \"x-3000000000\"; path = \"echo.so\";\n"
		"  config = { s = \"7777777777\"; f = 3000000000.5; e = 1e12; h = 0x7fffffff;\n"
		"             w = 9223372036854775807L; n = -2147483648; d = .5; } } );\n");
	struct bh_limits lim;
	bh_limits_default(&lim);
	struct bh_arena arena;
	bh_arena_init(&arena);
	const bh_value *m;
	size_t used;
	const struct bh_plugin_conf *p = &c->plugins[0];
	ck_assert_int_eq(bh_decode(p->config_msgpack, p->config_len, &lim, &arena, &m, &used), 0);
	int64_t i;
	ck_assert(bh_value_str_eq(find(m, "s"), "7777777777"));
	ck_assert(find(m, "f")->as.f == 3000000000.5);
	ck_assert_int_eq(bh_value_get_int(find(m, "h"), &i), 0);
	ck_assert_int_eq(i, 0x7fffffff);
	ck_assert_int_eq(bh_value_get_int(find(m, "w"), &i), 0);
	ck_assert_int_eq(i, INT64_MAX);
	ck_assert_int_eq(bh_value_get_int(find(m, "n"), &i), 0);
	ck_assert_int_eq(i, INT32_MIN);
	bh_arena_done(&arena);
	bh_config_free(c);
}
END_TEST

START_TEST(test_acl_forms)
{
	struct bh_config *c =
		load_ok("access = { call = [ \"root\", \"uid:root\", \"gid:root\" ];\n"
			"           admin = ( \"*\" ); };\n");
	ck_assert(!c->call_acl.anyone);
	ck_assert_uint_eq(c->call_acl.n_uids, 1);
	ck_assert_uint_eq(c->call_acl.uids[0], 0);
	ck_assert_uint_eq(c->call_acl.n_gids, 1);
	ck_assert(c->admin_acl.anyone);
	ck_assert_ptr_null(c->admin_acl.uids);
	ck_assert_ptr_null(c->admin_acl.gids);
	bh_config_free(c);
}
END_TEST

START_TEST(test_sandbox_ids)
{
	struct bh_config *c = load_ok("");
	ck_assert_uint_eq(c->sandbox_ids.first, 1879048192u);
	ck_assert_uint_eq(c->sandbox_ids.count, 65536);
	ck_assert(c->sandbox_ids.subordinate);
	bh_config_free(c);
	c = load_ok("sandbox_ids = { first = 3000000000L; count = 8; subordinate = false; };\n");
	ck_assert_uint_eq(c->sandbox_ids.first, 3000000000u);
	ck_assert_uint_eq(c->sandbox_ids.count, 8);
	ck_assert(!c->sandbox_ids.subordinate);
	bh_config_free(c);
}
END_TEST

START_TEST(test_socket_ids)
{
	struct bh_config *c =
		load_ok("socket = { owner = 1000; group = \"4242\"; mode = \"600\"; };\n");
	ck_assert_uint_eq(c->socket_uid, 1000);
	ck_assert_uint_eq(c->socket_gid, 4242);
	ck_assert_uint_eq(c->socket_mode, 0600);
	bh_config_free(c);
}
END_TEST

START_TEST(test_valid_name)
{
	ck_assert(bh_name_valid("echo", 4));
	ck_assert(bh_name_valid("A-z_0-9", 7));
	ck_assert(bh_name_valid("ab", 1)); /* only len bytes count */
	ck_assert(!bh_name_valid("", 0));
	ck_assert(!bh_name_valid(NULL, 3));
	ck_assert(!bh_name_valid("a.b", 3));
	ck_assert(!bh_name_valid("a b", 3));
	ck_assert(!bh_name_valid("a/b", 3));
	ck_assert(!bh_name_valid("a\0b", 3));
	ck_assert(!bh_name_valid("\xc3\xa9", 2));
	char n[BH_NAME_MAX + 2];
	memset(n, 'x', sizeof(n));
	ck_assert(bh_name_valid(n, BH_NAME_MAX));
	ck_assert(!bh_name_valid(n, BH_NAME_MAX + 1));
}
END_TEST

START_TEST(test_copy_and_free)
{
	struct bh_config *c = load_ok("plugins = ( { name = \"echo\"; path = \"echo.so\"; access = "
				      "{ call = [ \"uid:7\", \"gid:8\" ]; };\n"
				      "  config = { a = 1; }; sandbox = { syscalls = [ \"getcpu\", "
				      "\"membarrier\" ]; };\n"
				      "  env = { RUST_BACKTRACE = \"1\"; GOMAXPROCS = \"2\"; }; } );\n");
	struct bh_plugin_conf copy;
	ck_assert_int_eq(bh_plugin_conf_copy(&copy, &c->plugins[0]), 0);
	const struct bh_plugin_conf *o = &c->plugins[0];
	ck_assert_str_eq(copy.name, "echo");
	ck_assert_str_eq(copy.path, o->path);
	ck_assert_ptr_ne(copy.path, o->path);
	ck_assert_uint_eq(copy.config_len, o->config_len);
	ck_assert_ptr_ne(copy.config_msgpack, o->config_msgpack);
	ck_assert_mem_eq(copy.config_msgpack, o->config_msgpack, o->config_len);
	ck_assert_uint_eq(copy.call_acl.n_uids, 1);
	ck_assert_ptr_ne(copy.call_acl.uids, o->call_acl.uids);
	ck_assert_uint_eq(copy.call_acl.uids[0], 7);
	ck_assert_uint_eq(copy.call_acl.gids[0], 8);
	ck_assert_uint_eq(copy.sandbox.n_extra_syscalls, 2);
	ck_assert_ptr_ne(copy.sandbox.extra_syscalls, o->sandbox.extra_syscalls);
	ck_assert_str_eq(copy.sandbox.extra_syscalls[1], "membarrier");
	ck_assert_uint_eq(copy.n_env, 2);
	ck_assert_ptr_ne(copy.env, o->env);
	ck_assert_str_eq(copy.env[0], "RUST_BACKTRACE=1");
	ck_assert(bh_plugin_conf_equal(&copy, o));
	bh_config_free(c); /* the copy outlives the original */
	ck_assert_str_eq(copy.sandbox.extra_syscalls[0], "getcpu");
	ck_assert_str_eq(copy.env[1], "GOMAXPROCS=2");
	bh_plugin_conf_done(&copy);
	bh_plugin_conf_done(&copy); /* done leaves a zeroed object: twice is fine */

	/* A default entry (nothing allocated) copies too. */
	struct bh_plugin_conf d, d2;
	bh_plugin_conf_default(&d);
	ck_assert_int_eq(bh_plugin_conf_copy(&d2, &d), 0);
	ck_assert_ptr_null(d2.path);
	ck_assert_ptr_null(d2.config_msgpack);
	bh_plugin_conf_done(&d2);
	bh_plugin_conf_done(&d);

	bh_config_free(NULL);
	bh_plugin_conf_done(NULL);
	struct bh_plugin_conf z = {0};
	bh_plugin_conf_done(&z);
}
END_TEST

/* ---- errors: one line each ----------------------------------------------------------------- */

#define P0  "plugins = (\n  { name = \"echo\"; path = \"echo.so\";\n"
#define END "  }\n);\n"

struct err_case {
	const char *text;
	const char *needle;
};

static const struct err_case err_cases[] = {
	/* syntax, from libconfig */
	{"log_level = \"info\";\nfoo = ; #!\n", "syntax error"},
	{"log_level = \"info\";\nlog_level = \"debug\"; #!\n", "duplicate setting name"},
	{"a = [ \"x\", 1 ]; #!\n", "mismatched element type"},
	{"x = 1;\n@include \"nope.conf\" #!\n", "cannot open include file"},
	/* unknown settings */
	{"log_level = \"info\";\nfoo = 1; #!\n", "unknown setting \"foo\""},
	{"log_levle = \"debug\"; #!\n",
	 "unknown setting \"log_levle\" (did you mean \"log_level\"?)"},
	{P0 "    timout_ms = 5; #!\n" END, "unknown setting \"timout_ms\" in plugins[0]"},
	{P0 "    sandbox = {\n      memroy = \"1G\"; #!\n    };\n" END,
	 "unknown setting \"memroy\" in plugins[0].sandbox"},
	{P0 "    access = { admin = [ \"*\" ]; }; #!\n" END,
	 "unknown setting \"admin\" in plugins[0].access"},
	{"limits = { max_msg = 5; }; #!\n", "unknown setting \"max_msg\" in limits"},
	{"restart = {\n quarantine = 5; #!\n};\n", "unknown setting \"quarantine\" in restart"},
	{"socket = { path = \"/x\"; perms = \"0600\"; }; #!\n",
	 "unknown setting \"perms\" in socket"},
	/* plugin names and paths */
	{P0 "  },\n  { name = \"two\"; path = \"echo.so\";\n    instances = 0; #!\n" END,
	 "plugins[1].instances: must be 1..64, got 0"},
	{P0 "    instances = 65; #!\n" END, "plugins[0].instances: must be 1..64, got 65"},
	{P0 "    spin_us = 1001; #!\n" END, "plugins[0].spin_us: must be 0..1000, got 1001"},
	{P0 "    calls = [ \"b.m\", \"x y\" ]; #!\n" END,
	 "\"x y\" does not start with a plugin or namespace name"},
	{P0 "    calls = [ \"b.m.n\" ]; #!\n" END,
	 "\"b.m.n\" is not of the form name, name.* or name.method"},
	{P0 "    calls = [ \"bulkhead.*\" ]; #!\n" END,
	 "grants control methods only one by one"},
	{P0 "    calls = \"b\"; #!\n" END, "a list of strings"},
	{P0 "    callback = 1; #!\n" END, "plugins[0].callback"},
	/* env: names, types, the variables read before it would apply, bounds */
	{P0 "    env = { LD_PRELOAD = \"/tmp/x.so\"; }; #!\n" END,
	 "plugins[0].env.LD_PRELOAD: refused: the dynamic loader and the C library read "
	 "LD_PRELOAD when a process starts"},
	{P0 "    env = { LD_LIBRARY_PATH = \"/tmp\"; }; #!\n" END, "env.LD_LIBRARY_PATH: refused"},
	{P0 "    env = { GLIBC_TUNABLES = \"glibc.malloc.check=3\"; }; #!\n" END,
	 "env.GLIBC_TUNABLES: refused"},
	{P0 "    env = { MALLOC_ARENA_MAX = \"1\"; }; #!\n" END, "env.MALLOC_ARENA_MAX: refused"},
	{P0 "    env = { GOMAXPROCS = 2; }; #!\n" END,
	 "env.GOMAXPROCS: expected a string, got an integer (quote it"},
	{P0 "    env = { a-b = \"1\"; }; #!\n" END, "env.a-b: not a variable name"},
	{P0 "    env = [ \"A=1\" ]; #!\n" END, "plugins[0].env: expected a group"},
	{"limits = { max_call_depth = 0; }; #!\n", "limits.max_call_depth: must be 1..64, got 0"},
	{"plugins = ( { name = \"a.b\"; path = \"echo.so\"; } ); #!\n",
	 "plugins[0].name \"a.b\": not an identifier (letters, digits, '_', '-')"},
	{"plugins = ( { name = \"\"; path = \"echo.so\"; } ); #!\n",
	 "plugins[0].name: must not be empty"},
	{"plugins = ( { path = \"echo.so\";\n"
	 "  name = \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"; } ); "
	 "#!\n",
	 "plugins[0].name: longer than 64 characters"},
	{"plugins = ( { name = \"bulkhead\"; path = \"echo.so\"; } ); #!\n",
	 "plugins[0].name \"bulkhead\": reserved"},
	{"plugins = ( { name = 5; path = \"echo.so\"; } ); #!\n",
	 "plugins[0].name: expected a string, got an integer"},
	{"plugins = (\n  { #!\n    path = \"echo.so\";\n  }\n);\n",
	 "plugins[0]: missing setting \"name\""},
	{"plugins = (\n  { name = \"x\"; #!\n  }\n);\n", "plugins[0]: missing setting \"path\""},
	{"plugins = (\n  { name = \"x\";\n    path = \"missing.so\"; #!\n  }\n);\n",
	 "plugins[0].path: file not found: /"},
	{"plugins = (\n  { name = \"x\";\n    path = \"sub\"; #!\n  }\n);\n",
	 "plugins[0].path: not a regular file: /"},
	/* a plugin file must be a shared object the shim of this machine can load */
	{"plugins = (\n  { name = \"x\";\n    path = \"text.so\"; #!\n  }\n);\n",
	 "text.so is not an ELF file (a plugin is a shared object, built with -shared)"},
	{"plugins = (\n  { name = \"x\";\n    path = \"exec.so\"; #!\n  }\n);\n",
	 "exec.so is an ELF executable, not a shared object"},
	{"plugins = (\n  { name = \"x\";\n    path = \"object.so\"; #!\n  }\n);\n",
	 "object.so is an ELF object file, not a shared object"},
	{"plugins = (\n  { name = \"x\";\n    path = \"arm.so\"; #!\n  }\n);\n",
	 "arm.so is built for another architecture (ELF machine"},
	{"plugins = (\n  { name = \"x\";\n    path = \"class.so\"; #!\n  }\n);\n",
	 "class.so is a 32-bit little-endian ELF file; this daemon runs 64-bit"},
	{"plugins = { name = \"x\"; }; #!\n", "plugins: expected a list of groups"},
	{"plugins = ( 5 ); #!\n", "plugins[0]: expected a group"},
	/* wrong types and ranges */
	{P0 "    timeout_ms = \"1000\"; #!\n" END,
	 "plugins[0].timeout_ms: expected an integer, got a string (\"1000\")"},
	{P0 "    timeout_ms = 1.5; #!\n" END,
	 "plugins[0].timeout_ms: expected an integer, got a float"},
	{P0 "    timeout_ms = 0; #!\n" END, "plugins[0].timeout_ms: must be 1..86400000, got 0"},
	{P0 "    max_queue = -1; #!\n" END, "plugins[0].max_queue: must be 0..1048576, got -1"},
	{P0 "    auto_reload = 1; #!\n" END,
	 "plugins[0].auto_reload: expected true or false, got an integer"},
	{P0 "    restart = \"sometimes\"; #!\n" END,
	 "plugins[0].restart: expected one of always, on-failure, never; got \"sometimes\""},
	{"log_level = \"verbose\"; #!\n",
	 "log_level: expected one of error, warn, info, debug; got \"verbose\""},
	{"log_level = 3; #!\n", "log_level: expected a string, got an integer"},
	{"socket = \"x\"; #!\n", "socket: expected a group { ... }, got a string (\"x\")"},
	{"shutdown_timeout_ms = 86400001; #!\n", "shutdown_timeout_ms: must be 0..86400000"},
	{"restart = { backoff_max_ms = 100;\n  backoff_min_ms = 500; }; #!\n",
	 "restart.backoff_min_ms: backoff_min_ms 500 is greater than backoff_max_ms 100"},
	{"limits = {\n  max_message = \"1K\"; #!\n};\n",
	 "limits.max_message: must be 4K..1G, got 1K"},
	{"limits = {\n  max_depth = 2; #!\n};\n", "limits.max_depth: must be 4..1024, got 2"},
	{"limits = {\n  max_message = 5000000000; #!\n};\n",
	 "integer 5000000000 does not fit in 32 bits and libconfig would silently wrap it; "
	 "write 5000000000L"},
	{"limits = {\n  max_clients = -3000000000; #!\n};\n", "integer -3000000000 does not fit"},
	{"limits = {\n  max_clients = 0x100000000; #!\n};\n", "integer 0x100000000 does not fit"},
	{"limits = {\n  max_clients = 99999999999999999999L; #!\n};\n", "does not fit in 64 bits"},
	{"shim = \"nope\"; #!\n", "shim: file not found: /"},
	{"shim = \"echo.so\"; #!\n", "shim: not executable: /"},
	/* sizes */
	{P0 "    sandbox = { memory = \"12X\"; }; #!\n" END,
	 "plugins[0].sandbox.memory: expected a size like \"64M\""},
	{P0 "    sandbox = { memory = \"64 M\"; }; #!\n" END, "expected a size like \"64M\""},
	{P0 "    sandbox = { memory = \"64MB\"; }; #!\n" END, "expected a size like \"64M\""},
	{P0 "    sandbox = { memory = -1; }; #!\n" END,
	 "plugins[0].sandbox.memory: must not be negative"},
	{P0 "    sandbox = { memory = 1000; }; #!\n" END, "must be 0 (no limit) or at least 1M"},
	{P0 "    sandbox = { memory = 1.5; }; #!\n" END,
	 "expected a size like \"64M\", got a float"},
	{P0 "    sandbox = { memory = \"99999999999T\"; }; #!\n" END, "is too large"},
	{P0 "    sandbox = { tmp_size = 0; }; #!\n" END,
	 "plugins[0].sandbox.tmp_size: must be at least 4K, got 0"},
	{P0 "    sandbox = { tmp_inodes = 15; }; #!\n" END, "plugins[0].sandbox.tmp_inodes: must be"},
	{P0 "    sandbox = { pids = 0; }; #!\n" END, "plugins[0].sandbox.pids: must be 1..4194304"},
	{P0 "    sandbox = { cpu_percent = 0; }; #!\n" END,
	 "plugins[0].sandbox.cpu_percent: must be 1.."},
	{P0 "    sandbox = { nofile = 8; }; #!\n" END,
	 "plugins[0].sandbox.nofile: must be 16..1048576"},
	{P0 "    sandbox = {\n      syscalls = [ \"getcpu\", \"rm -rf\" ]; #!\n    };\n" END,
	 "plugins[0].sandbox.syscalls[1]: \"rm -rf\" is not a syscall name"},
	{P0 "    sandbox = {\n      syscalls = [ \"getcpu\", \"no_such_call\" ]; #!\n    };\n" END,
	 "plugins[0].sandbox.syscalls[1]: \"no_such_call\" is not a system call on "},
	{P0 "    sandbox = {\n      syscalls = [ \"getcpu\", \"no_such_call\" ]; #!\n    };\n" END,
	 "(plugin \"echo\")"},
	{"plugin_defaults = {\n  sandbox = { syscalls = [ \"nope_nope\" ]; }; #!\n};\n",
	 "plugin_defaults.sandbox.syscalls[0]: \"nope_nope\" is not a system call on "},
	{P0 "    sandbox = { syscalls = \"getcpu\"; }; #!\n" END,
	 "plugins[0].sandbox.syscalls: expected a list of strings"},
	{P0 "    sandbox = 5; #!\n" END,
	 "plugins[0].sandbox: expected a group { ... } or a boolean, got an integer"},
	{P0 "    sandbox = { enabled = \"yes\"; }; #!\n" END,
	 "plugins[0].sandbox.enabled: expected true or false, got a string (\"yes\")"},
	/* the config map */
	{P0 "    config = 5; #!\n" END,
	 "plugins[0].config: expected a group { ... }, got an integer"},
	{"limits = { max_depth = 4; };\n" P0
	 "    config = { a = {\n      b = { c = 1; }; }; }; #!\n" END,
	 "plugins[0].config.a.b: nested deeper than 2 levels"},
	{"limits = { max_items = 16; };\n" P0
	 "    config = {\n      l = [ 1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17 ]; }; #!\n" END,
	 "plugins[0].config.l: 17 elements, more than limits.max_items (16)"},
	/* socket */
	{"socket = { owner = \"bh_no_such_user\"; }; #!\n",
	 "socket.owner: unknown user \"bh_no_such_user\""},
	{"socket = { group = \"bh_no_such_group\"; }; #!\n",
	 "socket.group: unknown group \"bh_no_such_group\""},
	{"socket = { owner = -1; }; #!\n", "socket.owner: must be 0..4294967294, got -1"},
	{"socket = { group = 1.0; }; #!\n",
	 "socket.group: expected a group name or number, got a float"},
	{"socket = { mode = 660; }; #!\n",
	 "socket.mode: expected an octal string like \"0660\", got an integer"},
	{"socket = { mode = \"0968\"; }; #!\n",
	 "socket.mode: expected an octal string like \"0660\", got \"0968\""},
	{"socket = { mode = \"\"; }; #!\n", "socket.mode: expected an octal string"},
	{"socket = { mode = \"04770\"; }; #!\n", "socket.mode: \"04770\": only permission bits"},
	{"socket = { path = "
	 "\"/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.sock\"; }; #!\n",
	 "is longer than a socket address can hold (107 bytes)"},
	{"socket = { path = \"\"; }; #!\n", "socket.path: must not be empty"},
	/* access lists */
	{"access = {\n  admin = [ \"uid:0\", \"bh_no_such_user\" ]; #!\n};\n",
	 "access.admin[1]: unknown user \"bh_no_such_user\""},
	{"access = { admin = [ \"gid:bh_no_such_group\" ]; }; #!\n",
	 "access.admin[0]: unknown group \"bh_no_such_group\""},
	{"access = { call = [ \"1000\" ]; }; #!\n",
	 "access.call[0]: \"1000\" is ambiguous: write \"uid:1000\" or \"gid:1000\""},
	{"access = { call = [ \"group:wheel\" ]; }; #!\n",
	 "access.call[0]: \"group:wheel\": unknown prefix"},
	{"access = { call = [ \"uid:\" ]; }; #!\n", "access.call[0]: empty user name"},
	{"access = { call = [ \"uid:4294967295\" ]; }; #!\n",
	 "access.call[0]: user id 4294967295 is out of range"},
	{"access = { call = [ ]; }; #!\n", "access.call: empty list"},
	{"access = { call = \"*\"; }; #!\n", "access.call: expected a list of strings"},
	{"access = { call = [ 1 ]; }; #!\n", "access.call[0]: expected a string, got an integer"},
	{"access = { call = ( \"*\", 1 ); }; #!\n",
	 "access.call[1]: expected a string, got an integer"},
	/* sandbox_ids */
	{"sandbox_ids = { first = 0; }; #!\n", "sandbox_ids.first"},
	{"sandbox_ids = { count = 2000000; }; #!\n", "sandbox_ids.count"},
	{"sandbox_ids = { first = 4294967290L; count = 10; }; #!\n",
	 "first 4294967290 + count 10 passes uid 4294967294"},
	{"sandbox_ids = { subordinate = 1; }; #!\n", "sandbox_ids.subordinate"},
	{"sandbox_ids = { frist = 1; }; #!\n", "frist"},
};

START_TEST(test_error_cases)
{
	const struct err_case *e = &err_cases[_i];
	struct bh_config *c = (struct bh_config *)0x1;
	int r = load(e->text, &c);
	ck_assert_msg(r == -EINVAL, "case %d: expected -EINVAL, got %d (\"%s\") for:\n%s", _i, r,
		      errbuf, e->text);
	ck_assert_msg(c == (struct bh_config *)0x1, "case %d: *ret written on failure", _i);
	char pre[PATH_MAX + 32];
	snprintf(pre, sizeof(pre), "%s:%u: ", conf_path, marker_line(e->text));
	ck_assert_msg(strncmp(errbuf, pre, strlen(pre)) == 0,
		      "case %d: message \"%s\" does not start with \"%s\"", _i, errbuf, pre);
	ck_assert_msg(strstr(errbuf, e->needle) != NULL, "case %d: message \"%s\" lacks \"%s\"", _i,
		      errbuf, e->needle);
}
END_TEST

/* ---- errors that need more than one line of context ----------------------------------------- */

START_TEST(test_duplicate_plugin)
{
	const char *text = "plugins = (\n"
			   "  { name = \"echo\"; path = \"echo.so\"; },\n"
			   "  { name = \"other\"; path = \"other.so\"; },\n"
			   "  { path = \"other.so\";\n"
			   "    name = \"echo\"; #!\n"
			   "  }\n"
			   ");\n";
	struct bh_config *c = NULL;
	ck_assert_int_eq(load(text, &c), -EINVAL);
	char want[PATH_MAX + 128];
	snprintf(want, sizeof(want),
		 "%s:5: plugins[2].name: duplicate plugin name \"echo\" (first at line 2)",
		 conf_path);
	ck_assert_str_eq(errbuf, want);
}
END_TEST

START_TEST(test_missing_so_path_is_absolute)
{
	struct bh_config *c = NULL;
	ck_assert_int_eq(load("plugins = ( { name = \"x\"; path = \"sub/missing.so\"; } );\n", &c),
			 -EINVAL);
	char want[PATH_MAX + 128];
	snprintf(want, sizeof(want), "%s:1: plugins[0].path: file not found: %s/sub/missing.so",
		 conf_path, tmpdir);
	ck_assert_str_eq(errbuf, want);
}
END_TEST

/* Settings of an @include are checked like the rest, and their messages name the file
 * they are in; relative paths in it resolve against the config's directory. */
START_TEST(test_include)
{
	put_file("plugins.inc", "plugins = (\n  { name = \"echo\"; path = \"echo.so\"; }\n);\n",
		 0644);
	struct bh_config *c = load_ok("log_level = \"warn\";\n@include \"plugins.inc\"\n");
	ck_assert_int_eq(c->log_level, BH_LOG_WARN);
	ck_assert_uint_eq(c->n_plugins, 1);
	char want[PATH_MAX];
	snprintf(want, sizeof(want), "%s/echo.so", tmpdir);
	ck_assert_str_eq(c->plugins[0].path, want);
	bh_config_free(c);

	char inc[PATH_MAX + 64];
	put_file("bad.inc",
		 "\nplugins = (\n  { name = \"echo\"; path = \"echo.so\"; tmeout_ms = 1; }\n);\n",
		 0644);
	snprintf(inc, sizeof(inc), "%s/bad.inc", tmpdir);
	expect_error_in("@include \"bad.inc\"\n", inc, 3,
			"unknown setting \"tmeout_ms\" in plugins[0]");

	put_file("wrap.inc", "limits = {\n  max_message = 3000000000;\n};\n", 0644);
	snprintf(inc, sizeof(inc), "%s/wrap.inc", tmpdir);
	expect_error_in("@include \"wrap.inc\"\n", inc, 2, "integer 3000000000 does not fit");

	put_file("syntax.inc", "a = 1;\nb = ;\n", 0644);
	snprintf(inc, sizeof(inc), "%s/syntax.inc", tmpdir);
	expect_error_in("@include \"syntax.inc\"\n", inc, 2, "syntax error");

	/* A duplicate across files names the first one's file. */
	put_file("one.inc", "plugins = ( { name = \"echo\"; path = \"echo.so\"; },\n", 0644);
	c = NULL;
	ck_assert_int_eq(
		load("@include \"one.inc\"\n  { name = \"echo\"; path = \"echo.so\"; } );\n", &c),
		-EINVAL);
	snprintf(inc, sizeof(inc), "(first at %s/one.inc:1)", tmpdir);
	ck_assert_msg(strstr(errbuf, inc), "\"%s\" lacks \"%s\"", errbuf, inc);
}
END_TEST

/* An @include that libconfig's scanner cannot read (a directory: its scanner would
 * call exit(2); a FIFO: it would block) is an error with the directive's place, at
 * any depth; a name that does not exist is libconfig's own error. */
START_TEST(test_include_not_a_file)
{
	expect_error_in("a = 1;\n@include \".\"\n", conf_path, 2, "not a regular file");
	expect_error_in("@include \"\"\n", conf_path, 1, "not a regular file");
	expect_error_in("  @include\t\"/sub\"\n", conf_path, 1, "@include \"/sub\"");

	put_file("outer.inc", "\n\n@include \"s\\ub\"\n", 0644);
	char inc[PATH_MAX + 64];
	snprintf(inc, sizeof(inc), "%s/outer.inc", tmpdir);
	expect_error_in("@include \"outer.inc\"\n", inc, 3, "not a regular file");

	char fifo[PATH_MAX];
	snprintf(fifo, sizeof(fifo), "%s/fifo", tmpdir);
	ck_assert_int_eq(mkfifo(fifo, 0600), 0);
	expect_error_in("\n@include \"fifo\"\n", conf_path, 2, "not a regular file");

	/* Inside a comment or a string libconfig reads nothing; a file that is there is
	 * simply checked, one that is not is not an error. */
	struct bh_config *c = load_ok("/*\n@include \"no-such.inc\"\n*/\n");
	bh_config_free(c);
	expect_error_in("@include \"no-such.inc\"\n", conf_path, 1, "cannot open include file");
}
END_TEST

/* A plugin's config map must fit the limits as part of the $init message that carries
 * it: member names count as strings, and the envelope counts towards max_message. */
START_TEST(test_config_map_fits_init)
{
	char name[1100 + 1], text[8192];
	memset(name, 'k', sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0';
	snprintf(text, sizeof(text),
		 "limits = { max_bytes = 1024; };\n" P0 "    config = {\n      %s = 1; #!\n    };\n" END,
		 name);
	expect_error_in(text, conf_path, marker_line(text),
			"a member name of 1100 bytes, longer than limits.max_bytes (1024)");

	/* {a: s, b: s, c: s, d: s} with strings of 1016 bytes: a 4085-byte map, and 4099
	 * bytes with the envelope around it. */
	char v[1016 + 1];
	memset(v, 'v', sizeof(v) - 1);
	v[sizeof(v) - 1] = '\0';
	snprintf(text, sizeof(text),
		 "limits = { max_message = 4096; };\n" P0
		 "    config = { #!\n      a = \"%s\"; b = \"%s\"; c = \"%s\"; d = \"%s\";\n    };\n" END,
		 v, v, v, v);
	expect_error_in(text, conf_path, marker_line(text),
			"the $init message carrying this map (4099 bytes) would be refused");

	/* One byte less in each string fits. */
	v[sizeof(v) - 5] = '\0';
	snprintf(text, sizeof(text),
		 "limits = { max_message = 4096; };\n" P0
		 "    config = {\n      a = \"%s\"; b = \"%s\"; c = \"%s\"; d = \"%s\";\n    };\n" END,
		 v, v, v, v);
	struct bh_config *c = load_ok(text);
	ck_assert_uint_eq(c->plugins[0].config_len, 4085 - 16);
	bh_config_free(c);
}
END_TEST

START_TEST(test_relative_config_path)
{
	char cwd[PATH_MAX];
	ck_assert_ptr_nonnull(getcwd(cwd, sizeof(cwd)));
	put_file("sub/rel.conf", "plugins = ( { name = \"x\"; path = \"../echo.so\"; } );\n", 0644);
	ck_assert_int_eq(chdir(tmpdir), 0);
	struct bh_config *c = NULL;
	int r = bh_config_load("./sub//rel.conf", &c, errbuf, sizeof(errbuf));
	ck_assert_int_eq(chdir(cwd), 0);
	ck_assert_msg(r == 0, "%s", errbuf);
	/* tmpdir itself may contain a symlink (e.g. TMPDIR); the path is as named. */
	char want[PATH_MAX];
	snprintf(want, sizeof(want), "%s/sub/rel.conf", tmpdir);
	ck_assert_str_eq(c->path, want);
	snprintf(want, sizeof(want), "%s/sub/../echo.so", tmpdir);
	ck_assert_str_eq(c->plugins[0].path, want);
	bh_config_free(c);
}
END_TEST

START_TEST(test_file_errors)
{
	struct bh_config *c = NULL;
	char path[PATH_MAX], want[PATH_MAX + 64];

	snprintf(path, sizeof(path), "%s/no-such.conf", tmpdir);
	ck_assert_int_eq(bh_config_load(path, &c, errbuf, sizeof(errbuf)), -ENOENT);
	snprintf(want, sizeof(want), "%s: %s", path, strerror(ENOENT));
	ck_assert_str_eq(errbuf, want);

	snprintf(path, sizeof(path), "%s/sub", tmpdir);
	ck_assert_int_eq(bh_config_load(path, &c, errbuf, sizeof(errbuf)), -EISDIR);
	snprintf(want, sizeof(want), "%s: not a regular file", path);
	ck_assert_str_eq(errbuf, want);

	snprintf(path, sizeof(path), "%s/nul.conf", tmpdir);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, "a = 1;\0b = 2;\n", 14), 14);
	close(fd);
	ck_assert_int_eq(bh_config_load(path, &c, errbuf, sizeof(errbuf)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(errbuf, "NUL byte"));

	ck_assert_int_eq(bh_config_load(NULL, &c, errbuf, sizeof(errbuf)), -EINVAL);
	ck_assert_int_eq(bh_config_load("", &c, errbuf, sizeof(errbuf)), -EINVAL);
	ck_assert_ptr_null(c);
}
END_TEST

/* Messages are truncated to the buffer, or skipped with no buffer. */
START_TEST(test_errbuf_sizes)
{
	write_conf("plugins = ( { name = \"a.b\"; path = \"echo.so\"; } );\n");
	struct bh_config *c = NULL;
	char small[8];
	memset(small, 'z', sizeof(small));
	ck_assert_int_eq(bh_config_load(conf_path, &c, small, sizeof(small)), -EINVAL);
	ck_assert_uint_eq(strlen(small), sizeof(small) - 1);
	ck_assert_int_eq(strncmp(small, conf_path, sizeof(small) - 1), 0);
	ck_assert_int_eq(bh_config_load(conf_path, &c, NULL, 0), -EINVAL);
	char one[1] = {'z'};
	ck_assert_int_eq(bh_config_load(conf_path, &c, one, 0), -EINVAL);
	ck_assert_int_eq(one[0], 'z');
	ck_assert_ptr_null(c);
}
END_TEST

/* ---- suite ----------------------------------------------------------------------------------- */

static Suite *config_suite(void)
{
	Suite *s = suite_create("config");
	TCase *tc = tcase_create("load");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_full);
	tcase_add_test(tc, test_defaults_empty_file);
	tcase_add_test(tc, test_defaults_minimal_plugin);
	tcase_add_test(tc, test_plugin_defaults);
	tcase_add_test(tc, test_example_file);
	tcase_add_test(tc, test_sizes);
	tcase_add_test(tc, test_literals_not_numbers);
	tcase_add_test(tc, test_acl_forms);
	tcase_add_test(tc, test_socket_ids);
	tcase_add_test(tc, test_sandbox_ids);
	tcase_add_test(tc, test_valid_name);
	tcase_add_test(tc, test_copy_and_free);
	tcase_add_test(tc, test_duplicate_plugin);
	tcase_add_test(tc, test_missing_so_path_is_absolute);
	tcase_add_test(tc, test_include);
	tcase_add_test(tc, test_include_not_a_file);
	tcase_add_test(tc, test_config_map_fits_init);
	tcase_add_test(tc, test_relative_config_path);
	tcase_add_test(tc, test_file_errors);
	tcase_add_test(tc, test_errbuf_sizes);
	tcase_add_test(tc, test_heal_settings);
	suite_add_tcase(s, tc);

	TCase *te = tcase_create("errors");
	tcase_add_checked_fixture(te, setup, teardown);
	tcase_add_loop_test(te, test_error_cases, 0,
			    (int)(sizeof(err_cases) / sizeof(err_cases[0])));
	suite_add_tcase(s, te);
	return s;
}

int main(void)
{
	const char *base = getenv("TMPDIR");
	if (!base || !base[0] || strlen(base) > 100)
		base = "/tmp";
	snprintf(rootdir, sizeof(rootdir), "%s/bh-test-config-XXXXXX", base);
	if (!mkdtemp(rootdir)) {
		perror(rootdir);
		return EXIT_FAILURE;
	}
	SRunner *sr = srunner_create(config_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	nftw(rootdir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
