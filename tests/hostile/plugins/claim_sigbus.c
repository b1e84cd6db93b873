/* claim_sigbus: try to make the daemon's mapping of the claim table fault (SIGBUS)
 * or to get the table's file back: fd 4 (closed before the plugin loads), the memfd
 * reopened through /proc/self/fd and /proc/self/map_files, then truncated or holes
 * punched in it; and on its own mapping MADV_REMOVE (a hole punch: the daemon reads
 * zeros, never a fault, as the size is sealed), MADV_DONTNEED and mremap. */
#define H_NAME "claim_sigbus"
#define H_CTOR H_CTOR_INPROC
#include "hostile.h"
#include "claim_table.h"

#include <linux/falloc.h>
#include <sys/mman.h>

/* Got the file back: try to shrink it under the daemon's mapping. */
static void shrink(struct h_out *o, int fd, const char *how)
{
	if (ftruncate(fd, 0) == 0)
		h_succeeded(o, "truncated the claim table through %s", how);
	else
		h_note(o, "ftruncate(%s): %s", how, h_errname(errno));
	if (fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, 4096) == 0)
		h_note(o, "punched a hole through %s", how);
	close(fd);
}

static void reopen(struct h_out *o, const char *path)
{
	int fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		h_blocked(o, path, errno);
		return;
	}
	char link[128] = "";
	char self[64];
	snprintf(self, sizeof(self), "/proc/self/fd/%d", fd);
	ssize_t n = readlink(self, link, sizeof(link) - 1);
	link[n > 0 ? n : 0] = 0;
	if (strstr(link, "bulkhead-claims")) {
		h_succeeded(o, "reopened the claim table (%s)", path);
		shrink(o, fd, path);
	} else {
		h_note(o, "%s is %s", path, link);
		close(fd);
	}
}

static void h_attack(struct h_out *o, const struct h_args *a)
{
	struct hc_table t;
	char path[128];
	(void)a;
	if (fcntl(4, F_GETFD) < 0) {
		h_blocked(o, "fd 4", errno);
	} else {
		h_succeeded(o, "fd 4 is open in the plugin");
		shrink(o, 4, "fd 4");
	}
	reopen(o, "/proc/self/fd/4");
	if (!hc_find(o, &t))
		return;
	size_t len = t.end - t.start;
	/* The mapping itself: the plugin's own address space, every call allowed. */
	h_note(o, "MADV_REMOVE: %s",
	       madvise((void *)t.start, len, MADV_REMOVE) == 0 ? "done" : h_errname(errno));
	h_note(o, "MADV_DONTNEED: %s",
	       madvise((void *)t.start, len, MADV_DONTNEED) == 0 ? "done" : h_errname(errno));
	void *p = mremap((void *)t.start, len, len * 2, 0);
	if (p != MAP_FAILED) {
		h_note(o, "mremap grew the mapping in place");
		mremap((void *)t.start, len * 2, len, 0);
	} else {
		h_note(o, "mremap: %s", h_errname(errno));
	}
	o->count = (long long)t.n;
	snprintf(path, sizeof(path), "/proc/self/map_files/%lx-%lx", (unsigned long)t.start,
		 (unsigned long)t.end);
	reopen(o, path); /* last: its errno is the outcome's */
}
