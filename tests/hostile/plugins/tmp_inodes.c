/* tmp_inodes: empty files in /tmp until the file system says no. They take no
 * blocks, so only the tmpfs's inode cap (tmp_inodes, args "limit") stops them, with
 * ENOSPC; past 20000 (or four times the limit) the attack counts as a success. The
 * files are removed afterwards. */
#define H_NAME "tmp_inodes"
#define H_CTOR H_CTOR_INPROC
#include "hostile.h"

static void h_attack(struct h_out *o, const struct h_args *a)
{
	long long cap = a->limit > 0 && 4 * a->limit < 20000 ? 4 * a->limit : 20000;
	char path[64];

	o->attempted = true;
	while (o->count < cap) {
		snprintf(path, sizeof(path), "/tmp/hostile-%lld", o->count);
		int fd = open(path, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
		if (fd < 0) {
			h_blocked(o, "create", errno);
			break;
		}
		close(fd);
		o->count++;
	}
	if (o->count >= cap)
		h_succeeded(o, "created %lld files in /tmp", o->count);
	else
		h_note(o, "stopped after %lld files", o->count);
	for (long long i = 0; i < o->count; i++) {
		snprintf(path, sizeof(path), "/tmp/hostile-%lld", i);
		unlink(path);
	}
}
