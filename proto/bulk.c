/* bulkhead proto: bulk references, memfd checks and fds received with a stream
 * (see bulk.h for the wire layout and the rules). */
#define _GNU_SOURCE
#include "bulkhead/bulk.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "wire.h"

#ifndef F_SEAL_FUTURE_WRITE
#define F_SEAL_FUTURE_WRITE 0x0010
#endif

static bool has_offset_form(const struct bh_bulk_ref *r)
{
	return r->kind == BH_BULK_SLICE || (r->kind == BH_BULK_MEMFD && r->off != 0);
}

size_t bh_bulk_ref_put(uint8_t *p, const struct bh_bulk_ref *r)
{
	bool with_off = has_offset_form(r);
	p[0] = with_off ? 0xd8 : 0xd7; /* fixext 16 : fixext 8 */
	p[1] = (uint8_t)BH_EXT_BULK;
	p[2] = r->kind;
	p[3] = r->slot;
	p[4] = p[5] = 0;
	if (!with_off) {
		bh__put_be32(p + 6, r->len);
		return BH_BULK_REF_SIZE;
	}
	memset(p + 6, 0, 4);
	bh__put_be32(p + 10, r->off);
	bh__put_be32(p + 14, r->len);
	return BH_BULK_SLICE_REF_SIZE;
}

int bh_bulk_ref_get(const uint8_t *p, size_t len, struct bh_bulk_ref *ret)
{
	struct bh__head h;
	if (bh__head_read(p, len, &h) < 0 || h.type != BH_EXT || h.ext_type != BH_EXT_BULK)
		return -ENOENT;
	bool with_off = p[0] == 0xd8 && len == BH_BULK_SLICE_REF_SIZE;
	if (!with_off && (p[0] != 0xd7 || len != BH_BULK_REF_SIZE))
		return -EPROTO;
	static const uint8_t zeros[6];
	if (memcmp(p + 4, zeros, with_off ? 6 : 2) != 0)
		return -EPROTO;
	struct bh_bulk_ref r = { .kind = p[2], .slot = p[3] };
	if (with_off) {
		r.off = bh__be32(p + 10);
		r.len = bh__be32(p + 14);
	} else {
		r.len = bh__be32(p + 6);
	}
	/* Each kind has one form; a MEMFD at offset 0 takes the short one. */
	if (r.kind < BH_BULK_POOL || r.kind > BH_BULK_SLICE || has_offset_form(&r) != with_off)
		return -EPROTO;
	unsigned slots = 1;
	if (r.kind == BH_BULK_POOL_NEW || r.kind == BH_BULK_SLICE)
		slots = BH_BULK_MAPS;
	else if (r.kind == BH_BULK_POOL)
		slots = BH_BULK_SLOTS;
	if (r.slot >= slots)
		return -EPROTO;
	*ret = r;
	return 0;
}

bool bh_bulk_ref_has_fd(const struct bh_bulk_ref *r)
{
	return r->kind == BH_BULK_POOL_NEW || r->kind == BH_BULK_AREA_NEW ||
	       r->kind == BH_BULK_MEMFD;
}

/* ---- memfds ---- */

int bh_memfd_new(const char *name, size_t size, bool populate, int *ret_fd, void **ret_map)
{
	int fd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0)
		return -errno;
	if (ftruncate(fd, (off_t)size) < 0)
		goto fail;
	/* A pooled buffer is populated now: it pays its page faults once, not per use. */
	int flags = MAP_SHARED | (populate ? MAP_POPULATE : 0);
	void *map = mmap(NULL, size, PROT_READ | PROT_WRITE, flags, fd, 0);
	if (map == MAP_FAILED)
		goto fail;
	(void)madvise(map, size, MADV_DONTFORK); /* see bh_memfd_map */
	*ret_fd = fd;
	*ret_map = map;
	return 0;
fail:;
	int err = -errno;
	close(fd);
	return err;
}

int bh_memfd_allocate(int fd, size_t len)
{
	/* All pages at once: about half the time pwrite takes to add them one by one. */
	if (fallocate(fd, 0, 0, (off_t)len) == 0)
		return 0;
	return ftruncate(fd, (off_t)len) < 0 ? -errno : 0;
}

int bh_memfd_seal_readonly(int fd)
{
	int seals = F_SEAL_FUTURE_WRITE | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL;
	return fcntl(fd, F_ADD_SEALS, seals) < 0 ? -errno : 0;
}

int bh_memfd_seal_size(int fd)
{
	return fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0 ? -errno : 0;
}

int bh_memfd_sealedv(const char *name, const struct iovec *iov, int n, int *ret_fd)
{
	size_t len = 0;
	for (int i = 0; i < n; i++)
		len += iov[i].iov_len;
	int fd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0)
		return -errno;
	/* pwrite, not a mapping: faulting in a fresh shared mapping page by page costs
	 * ~20 times more here, and F_SEAL_WRITE needs no writable mapping anyway. */
	int r = bh_memfd_allocate(fd, len);
	size_t off = 0;
	for (int i = 0; r == 0 && i < n; off += iov[i].iov_len, i++)
		for (size_t done = 0; r == 0 && done < iov[i].iov_len;) {
			ssize_t k = pwrite(fd, (const uint8_t *)iov[i].iov_base + done,
					   iov[i].iov_len - done, (off_t)(off + done));
			if (k < 0 && errno == EINTR)
				continue;
			if (k <= 0)
				r = k < 0 ? -errno : -EIO;
			else
				done += (size_t)k;
		}
	unsigned seals = BH_MEMFD_SEALS_HOSTILE | F_SEAL_SEAL;
	if (r == 0 && fcntl(fd, F_ADD_SEALS, (int)seals) < 0)
		r = -errno;
	if (r < 0) {
		close(fd);
		return r;
	}
	*ret_fd = fd;
	return 0;
}

int bh_memfd_sealed(const char *name, const void *p, size_t len, int *ret_fd)
{
	struct iovec iov = { .iov_base = (void *)p, .iov_len = len };
	return bh_memfd_sealedv(name, &iov, 1, ret_fd);
}

int bh_memfd_map(int fd, size_t len, const uint8_t **ret)
{
	void *map = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);
	if (map == MAP_FAILED)
		return -errno;
	/* A supervisor holds such mappings per instance and forks every new instance; no
	 * child needs them, and each one inherited is one more area to copy per fork. */
	(void)madvise(map, len, MADV_DONTFORK);
	*ret = map;
	return 0;
}

int bh_memfd_map_slice(int fd, uint64_t off, size_t len, struct bh_memfd_bytes *ret)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	size_t skip = (size_t)(off % page);
	void *map = mmap(NULL, skip + len, PROT_READ, MAP_SHARED, fd, (off_t)(off - skip));
	if (map == MAP_FAILED)
		return -errno;
	(void)madvise(map, skip + len, MADV_DONTFORK); /* see bh_memfd_map */
	*ret = (struct bh_memfd_bytes){ .p = (uint8_t *)map + skip, .base = map,
					.size = skip + len };
	return 0;
}

/* bh_memfd_check with the size's rule: exactly len (exact), or at least len. */
static int memfd_check(int fd, uint64_t len, size_t max, unsigned seals, bool exact)
{
	struct statfs fs;
	struct stat st;
	/* Only shmem files take seals; a hugetlb memfd could fault (SIGBUS) when the
	 * huge pages run out, so tmpfs it must be. */
	if (fstatfs(fd, &fs) < 0 || fs.f_type != TMPFS_MAGIC || fstat(fd, &st) < 0 ||
	    !S_ISREG(st.st_mode))
		return -EBADF;
	int have = fcntl(fd, F_GET_SEALS);
	if (have < 0)
		return -EBADF;
	if (((unsigned)have & seals) != seals)
		return -EPERM;
	if ((uint64_t)st.st_size > max)
		return -EMSGSIZE;
	if (exact ? (uint64_t)st.st_size != len : (uint64_t)st.st_size < len)
		return -EINVAL;
	if ((uint64_t)st.st_blocks * 512 < (uint64_t)st.st_size)
		return -ENODATA;
	return 0;
}

int bh_memfd_check(int fd, size_t len, size_t max, unsigned seals)
{
	return memfd_check(fd, len, max, seals, true);
}

int bh_memfd_check_slice(int fd, uint64_t off, size_t len, size_t max, unsigned seals)
{
	if (len > UINT64_MAX - off)
		return -EINVAL;
	return memfd_check(fd, off + len, max, seals, false);
}

const char *bh_memfd_strerror(int err)
{
	switch (err) {
	case -EBADF: return "the fd is not a memfd";
	case -EPERM: return "the memfd is not sealed against writing, shrinking and growing";
	case -EMSGSIZE: return "the memfd is larger than the payload ceiling";
	case -EINVAL: return "the memfd's size is not the length announced";
	case -ENODATA: return "the memfd has pages missing (sparse)";
	default: return "the memfd cannot be used";
	}
}

/* ---- stream sockets ---- */

/* What a socket takes without a setting: the usual default (net.core.wmem_default,
 * 208 KiB) less room for the kernel's per-buffer overhead. */
#define SNDBUF_ASSUMED (160u << 10)

void bh_sock_fit_sndbuf(int sock, size_t waiting, size_t *have)
{
	if (*have < SNDBUF_ASSUMED)
		*have = SNDBUF_ASSUMED;
	if (waiting <= *have || *have >= BH_SNDBUF_MAX)
		return;
	int want = waiting > BH_SNDBUF_MAX ? (int)BH_SNDBUF_MAX : (int)waiting;
	/* A refusal changes nothing: the message then goes in pieces, as it would. */
	(void)setsockopt(sock, SOL_SOCKET, SO_SNDBUF, &want, sizeof(want));
	*have = (size_t)want;
}

/* ---- fds received with a stream ---- */

void bh_fdq_init(struct bh_fdq *q)
{
	*q = (struct bh_fdq){ 0 };
}

void bh_fdq_clear(struct bh_fdq *q)
{
	for (unsigned i = 0; i < q->n; i++)
		close(q->fd[i]);
	q->n = 0;
}

int bh_fdq_take(struct bh_fdq *q, int *ret)
{
	if (q->n == 0)
		return -ENOENT;
	*ret = q->fd[0];
	memmove(q->fd, q->fd + 1, (q->n - 1) * sizeof(q->fd[0]));
	q->n--;
	return 0;
}

/* Room for more fds than the queue holds: whatever comes beyond is still received,
 * to be closed, rather than left for the kernel to drop with MSG_CTRUNC. */
#define RECV_FDS_MAX 64

ssize_t bh_recv_fds(int sock, void *p, size_t n, struct bh_fdq *q, int flags)
{
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(RECV_FDS_MAX * sizeof(int))];
	} ctl;
	struct iovec iov = { .iov_base = p, .iov_len = n };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf,
			     .msg_controllen = sizeof(ctl.buf) };
	ssize_t r;
	do
		r = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC | flags);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return -errno;
	if (mh.msg_flags & MSG_CTRUNC)
		q->overflow = true; /* the kernel closed what did not fit */
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < k; i++) {
			int fd;
			memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(fd));
			if (q->n < BH_FDQ_MAX) {
				q->fd[q->n++] = fd;
			} else {
				close(fd);
				q->overflow = true;
			}
		}
	}
	return r;
}

ssize_t bh_send_fd(int sock, const struct iovec *iov, int n, int fd, int flags)
{
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int))];
	} ctl;
	struct msghdr mh = { .msg_iov = (struct iovec *)iov, .msg_iovlen = (size_t)n };
	if (fd >= 0) {
		memset(&ctl, 0, sizeof(ctl));
		mh.msg_control = ctl.buf;
		mh.msg_controllen = sizeof(ctl.buf);
		struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &fd, sizeof(fd));
	}
	ssize_t r;
	do
		r = sendmsg(sock, &mh, flags);
	while (r < 0 && errno == EINTR);
	return r < 0 ? -errno : r;
}
