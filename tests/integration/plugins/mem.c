/* mem: memory the way runtimes and hostile plugins hold it, for the memory-limit
 * fallback tests (integ_ident).
 *
 *   init             reserves 4 GiB PROT_NONE and makes 1 MiB of it writable and
 *                    touched, as the Go runtime does at start
 *   ping()           "pong"
 *   memfd(mib)       writes mib MiB into memfds of 8 MiB each (under RLIMIT_FSIZE),
 *                    keeps them open and unmapped, then blocks until killed
 *   whoami()         [uid, gid] inside the sandbox */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <bulkhead/plugin.h>

#define CHUNK (8u << 20)

static int mem_init(const bh_value *config, void **ret_state, bh_error *err)
{
	(void)config;
	size_t len = (size_t)4 << 30;
	char *p = mmap(NULL, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED)
		return bh_fail(err, BH_E_PLUGIN_ERROR, "reserving 4 GiB: %s", strerror(errno));
	if (mprotect(p, 1 << 20, PROT_READ | PROT_WRITE) < 0)
		return bh_fail(err, BH_E_PLUGIN_ERROR, "mprotect: %s", strerror(errno));
	memset(p, 1, 1 << 20);
	*ret_state = p;
	return 0;
}

static int m_ping(void *state, const bh_value *args, bh_writer *out, bh_error *err)
{
	(void)state, (void)args, (void)err;
	return bh_write_cstr(out, "pong");
}

static int m_memfd(void *state, const bh_value *args, bh_writer *out, bh_error *err)
{
	(void)state, (void)out;
	int64_t mib;
	if (bh_value_get_int(bh_value_at(args, 0), &mib) < 0 || mib < 1 || mib > 4096)
		return bh_fail(err, BH_E_INVALID_PARAMS, "memfd(mib: 1..4096)");
	static char buf[1 << 16];
	memset(buf, 'm', sizeof(buf));
	uint64_t want = (uint64_t)mib << 20, have = 0;
	while (have < want) {
		int fd = memfd_create("hold", MFD_CLOEXEC);
		if (fd < 0)
			return bh_fail(err, BH_E_PLUGIN_ERROR, "memfd_create: %s", strerror(errno));
		for (uint32_t k = 0; k < CHUNK && have < want; k += sizeof(buf), have += sizeof(buf))
			if (write(fd, buf, sizeof(buf)) != (ssize_t)sizeof(buf))
				return bh_fail(err, BH_E_PLUGIN_ERROR, "write: %s", strerror(errno));
	}
	for (;;)
		poll(NULL, 0, -1);
}

static int m_whoami(void *state, const bh_value *args, bh_writer *out, bh_error *err)
{
	(void)state, (void)args, (void)err;
	bh_write_array(out, 2);
	bh_write_int(out, getuid());
	return bh_write_int(out, getgid());
}

static const struct bh_method methods[] = {
	{ "ping", m_ping },
	{ "memfd", m_memfd },
	{ "whoami", m_whoami },
};

BH_PLUGIN_DEFINE = {
	BH_PLUGIN_HEADER,
	.name = "mem",
	.version = "1.0.0",
	.init = mem_init,
	.methods = methods,
	.n_methods = sizeof(methods) / sizeof(methods[0]),
};
