/* Fuzz target: the daemon's config loader on any file text. The file sits in a
 * directory with a plugin, a subdirectory and an include, so that paths and @include
 * resolve. Properties: loading never exits or crashes; it fails with a message, or
 * gives a config whose plugin maps decode, and whose $init messages pass the scan, under
 * the limits it parsed. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bulkhead/proto.h"
#include "config.h"
#include "../elf_stub.h"
#include "fuzz.h"

/* libconfig 1.5 (Debian 12) leaks its scanner's string buffer on some syntax errors
 * (regressions/config/libconfig-leak-in-string); not ours to fix. LeakSanitizer
 * reads this hook in every build of the target. */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
	return "leak:libconfig.so\n";
}

static char dir[] = "/tmp/bh-fuzz-config-XXXXXX";
static char conf[sizeof dir + 16];

static void put(const char *name, const char *text, mode_t mode)
{
	char p[sizeof dir + 32];
	snprintf(p, sizeof p, "%s/%s", dir, name);
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	FUZZ_CHECK(fd >= 0);
	FUZZ_CHECK(write(fd, text, strlen(text)) == (ssize_t)strlen(text));
	close(fd);
}

static void cleanup(void)
{
	static const char *const names[] = { "bulkhead.conf", "echo.so", "shim", "a.inc", "sub" };
	char p[sizeof dir + 32];
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		snprintf(p, sizeof p, "%s/%s", dir, names[i]);
		(void)remove(p);
	}
	rmdir(dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	FUZZ_CHECK(mkdtemp(dir) != NULL);
	atexit(cleanup);
	ElfW(Ehdr) h; /* a plugin file the configuration takes (tests/elf_stub.h) */
	bh_test_elf_header(&h, ET_DYN);
	char so[sizeof dir + 32];
	snprintf(so, sizeof so, "%s/echo.so", dir);
	int fd = open(so, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	FUZZ_CHECK(fd >= 0 && write(fd, &h, sizeof h) == (ssize_t)sizeof h);
	close(fd);
	put("shim", "#!/bin/sh\n", 0755);
	put("a.inc", "log_level = \"warn\";\n", 0644);
	char p[sizeof dir + 32];
	snprintf(p, sizeof p, "%s/sub", dir);
	FUZZ_CHECK(mkdir(p, 0755) == 0);
	snprintf(conf, sizeof conf, "%s/bulkhead.conf", dir);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int fd = open(conf, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	FUZZ_CHECK(fd >= 0);
	FUZZ_CHECK(write(fd, data, size) == (ssize_t)size);
	close(fd);

	char err[512];
	struct bh_config *c = NULL;
	int r = bh_config_load(conf, &c, err, sizeof err);
	if (r < 0) {
		FUZZ_CHECK(c == NULL && err[0] != '\0');
		return 0;
	}
	for (size_t i = 0; i < c->n_plugins; i++) {
		const struct bh_plugin_conf *p = &c->plugins[i];
		struct bh_arena arena;
		bh_arena_init(&arena);
		const bh_value *v;
		size_t used;
		if (p->config_len) {
			FUZZ_CHECK(bh_decode(p->config_msgpack, p->config_len, &c->limits, &arena, &v,
					     &used) == 0);
			FUZZ_CHECK(used == p->config_len && v->type == BH_MAP);
		}
		bh_arena_done(&arena);

		/* The $init request that carries it passes the receiver's scan. */
		struct bh_buf params, msg;
		bh_writer pw, mw;
		bh_buf_init(&params, 0);
		bh_buf_init(&msg, 0);
		bh_writer_init(&pw, &params);
		bh_writer_init(&mw, &msg);
		bh_write_array(&pw, 1);
		if (p->config_len)
			bh_write_raw(&pw, p->config_msgpack, p->config_len);
		else
			bh_write_map(&pw, 0);
		FUZZ_CHECK(bh_rpc_write_request(&mw, UINT32_MAX, "$init", 5, params.data,
						params.len) == 0);
		struct bh_scan scan;
		FUZZ_CHECK(bh_scan(msg.data, msg.len, &c->limits, &scan) == 0);
		bh_buf_done(&params);
		bh_buf_done(&msg);
	}
	bh_config_free(c);
	return 0;
}
