/* fill_tmp: write to /tmp until the file system says no. The private /tmp is small
 * (args "limit" bytes): the write must end in ENOSPC near that size. Past four times
 * the limit (or 64 MiB from the constructor, which does not know it) it stops and
 * counts as a success. The file is removed afterwards. */
#define H_NAME "fill_tmp"
#define H_CTOR H_CTOR_INPROC
#include "hostile.h"

#include <sys/vfs.h>

static char block[64 * 1024];

static void h_attack(struct h_out *o, const struct h_args *a)
{
	const char *path = "/tmp/bulkhead-hostile-fill";
	long long cap = a->limit > 0 ? 4 * a->limit : 64LL << 20;
	struct statfs sf;

	if (statfs("/tmp", &sf) == 0) {
		o->extra = (long long)sf.f_blocks * (long long)sf.f_bsize;
		h_note(o, "/tmp: %lld bytes, type 0x%llx", o->extra, (unsigned long long)sf.f_type);
	}
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return h_blocked(o, "create /tmp/bulkhead-hostile-fill", errno);
	memset(block, 'x', sizeof(block));
	o->attempted = true;
	while (o->count < cap) {
		ssize_t n = write(fd, block, sizeof(block));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			h_blocked(o, "write", errno);
			break;
		}
		o->count += n;
	}
	if (o->count >= cap)
		h_succeeded(o, "wrote %lld bytes to /tmp", o->count);
	else
		h_note(o, "stopped after %lld bytes", o->count);
	close(fd);
	unlink(path);
}
