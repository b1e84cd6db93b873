/* bulk_holes: spoil the result area under the daemon: get the area's file back to
 * truncate it (/proc/self/map_files), grow the mapping, punch holes in the whole
 * area (MADV_REMOVE: the head page the daemon writes to included), rewrite the start
 * of the data with bytes that are no MessagePack, then send a response claiming
 * 1 MiB of the area. The daemon copies the result out with pread (holes read as
 * zeros, never a fault: the size is sealed) and refuses the copy as malformed. */
#define H_NAME "bulk_holes"
#define H_CTOR H_CTOR_NONE
#include "hostile.h"
#include "bulk_area.h"

#include <sys/mman.h>

#define HB_GARBAGE (64 * 1024)
#define HB_CLAIM (1u << 20)

static void try_truncate(struct h_out *o, const struct hb_area *a)
{
	char path[128];
	snprintf(path, sizeof(path), "/proc/self/map_files/%lx-%lx", (unsigned long)a->start,
		 (unsigned long)a->end);
	int fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		h_note(o, "reopen %s: %s", path, h_errname(errno));
		return;
	}
	if (ftruncate(fd, 0) == 0)
		h_succeeded(o, "truncated the result area");
	else
		h_note(o, "ftruncate: %s", h_errname(errno));
	close(fd);
}

static void h_attack(struct h_out *o, const struct h_args *a)
{
	struct hb_area area;
	uint8_t msg[HB_RESPONSE_SIZE];
	(void)a;
	if (!hb_find(o, &area))
		return;
	size_t len = area.end - area.start;
	try_truncate(o, &area);
	void *p = mremap((void *)area.start, len, len * 2, 0);
	if (p != MAP_FAILED) {
		h_note(o, "mremap grew the mapping in place");
		mremap((void *)area.start, len * 2, len, 0);
	} else {
		h_note(o, "mremap: %s", h_errname(errno));
	}
	h_note(o, "MADV_REMOVE: %s",
	       madvise((void *)area.start, len, MADV_REMOVE) == 0 ? "done" : h_errname(errno));
	memset((void *)(area.start + HB_HEAD), 0xc1, HB_GARBAGE); /* 0xc1: never used */
	hb_area_response(msg, HB_CLAIM);
	h_chan_write(o, msg, sizeof(msg), "a response in a spoiled result area");
}
