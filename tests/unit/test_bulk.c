/* Unit tests: bulk references, the checks on a memfd from a hostile peer, and the
 * fds that come with a stream (bulkhead/bulk.h). Every test counts the process's
 * open fds before and after: nothing may leak. */
#define _GNU_SOURCE
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bulkhead/bulk.h"
#include "bulkhead/proto.h"

static int open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;
	ck_assert_ptr_nonnull(d);
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

START_TEST(ref_roundtrip)
{
	uint8_t p[BH_BULK_REF_SIZE];
	struct bh_bulk_ref r = { .kind = BH_BULK_POOL_NEW, .slot = 3, .len = 0x01020304 }, got;
	bh_bulk_ref_put(p, &r);
	ck_assert_int_eq(bh_bulk_ref_get(p, sizeof(p), &got), 0);
	ck_assert_uint_eq(got.kind, r.kind);
	ck_assert_uint_eq(got.slot, 3);
	ck_assert_uint_eq(got.len, 0x01020304);
	ck_assert(bh_bulk_ref_has_fd(&got));
	/* Any other value is no reference; a malformed one is an error. */
	static const uint8_t nil = 0xc0, other_ext[] = { 0xd7, 5, 1, 0, 0, 0, 0, 0, 0, 1 };
	ck_assert_int_eq(bh_bulk_ref_get(&nil, 1, &got), -ENOENT);
	ck_assert_int_eq(bh_bulk_ref_get(other_ext, sizeof(other_ext), &got), -ENOENT);
	uint8_t bad[BH_BULK_REF_SIZE];
	memcpy(bad, p, sizeof(p));
	bad[3] = BH_BULK_MAPS; /* slot out of range */
	ck_assert_int_eq(bh_bulk_ref_get(bad, sizeof(bad), &got), -EPROTO);
	memcpy(bad, p, sizeof(p));
	bad[2] = 9; /* unknown kind */
	ck_assert_int_eq(bh_bulk_ref_get(bad, sizeof(bad), &got), -EPROTO);
	memcpy(bad, p, sizeof(p));
	bad[4] = 1; /* padding */
	ck_assert_int_eq(bh_bulk_ref_get(bad, sizeof(bad), &got), -EPROTO);
	static const uint8_t ext8[] = { 0xc7, 8, BH_EXT_BULK, 1, 0, 0, 0, 0, 0, 1 };
	ck_assert_int_eq(bh_bulk_ref_get(ext8, 9, &got), -EPROTO);
}
END_TEST

/* A value that starts inside its memfd: the long form, for SLICE always and for
 * MEMFD with an offset; each kind in its own form only. */
START_TEST(ref_with_offset)
{
	uint8_t p[BH_BULK_SLICE_REF_SIZE];
	struct bh_bulk_ref got;
	struct bh_bulk_ref slice = { .kind = BH_BULK_SLICE, .slot = BH_BULK_SLOT_PASSED,
				     .off = 0x0a0b0c0d, .len = 70000 };
	memset(p, 0xee, sizeof(p)); /* every byte is written: no stale memory goes out */
	ck_assert_uint_eq(bh_bulk_ref_put(p, &slice), BH_BULK_SLICE_REF_SIZE);
	static const uint8_t want[] = { 0xd8, BH_EXT_BULK, BH_BULK_SLICE, BH_BULK_SLOT_PASSED,
					0, 0, 0, 0, 0, 0, 0x0a, 0x0b, 0x0c, 0x0d, 0, 1, 0x11, 0x70 };
	ck_assert_mem_eq(p, want, sizeof(want));
	ck_assert_uint_eq(p[0], 0xd8);
	ck_assert_int_eq(bh_bulk_ref_get(p, sizeof(p), &got), 0);
	ck_assert_uint_eq(got.kind, BH_BULK_SLICE);
	ck_assert_uint_eq(got.slot, BH_BULK_SLOT_PASSED);
	ck_assert_uint_eq(got.off, 0x0a0b0c0d);
	ck_assert_uint_eq(got.len, 70000);
	ck_assert(!bh_bulk_ref_has_fd(&got));
	/* Cut short, or with padding set: malformed. */
	ck_assert_int_eq(bh_bulk_ref_get(p, sizeof(p) - 1, &got), -EPROTO);
	for (int i = 4; i < 10; i++) {
		p[i] = 1;
		ck_assert_int_eq(bh_bulk_ref_get(p, sizeof(p), &got), -EPROTO);
		p[i] = 0;
	}
	p[3] = BH_BULK_MAPS;
	ck_assert_int_eq(bh_bulk_ref_get(p, sizeof(p), &got), -EPROTO);

	struct bh_bulk_ref at = { .kind = BH_BULK_MEMFD, .off = 1, .len = 65536 };
	ck_assert_uint_eq(bh_bulk_ref_put(p, &at), BH_BULK_SLICE_REF_SIZE);
	ck_assert_int_eq(bh_bulk_ref_get(p, sizeof(p), &got), 0);
	ck_assert_uint_eq(got.off, 1);
	ck_assert(bh_bulk_ref_has_fd(&got));
	/* A MEMFD at offset 0 has the short form only, a SLICE the long one only, and
	 * the old kinds never take an offset. */
	p[13] = 0;
	ck_assert_int_eq(bh_bulk_ref_get(p, sizeof(p), &got), -EPROTO);
	at.off = 0;
	ck_assert_uint_eq(bh_bulk_ref_put(p, &at), BH_BULK_REF_SIZE);
	p[2] = BH_BULK_SLICE;
	ck_assert_int_eq(bh_bulk_ref_get(p, BH_BULK_REF_SIZE, &got), -EPROTO);
	bh_bulk_ref_put(p, &slice);
	p[2] = BH_BULK_POOL;
	ck_assert_int_eq(bh_bulk_ref_get(p, sizeof(p), &got), -EPROTO);
}
END_TEST

/* A reference in place of params: only the channel's parser takes it. */
START_TEST(parse_bulk_params)
{
	uint8_t msg[64] = { 0x94, 0x00, 0x07, 0xa1, 'm' };
	bh_bulk_ref_put(msg + 5, &(struct bh_bulk_ref){ .kind = BH_BULK_POOL, .len = 70000 });
	size_t len = 5 + BH_BULK_REF_SIZE;
	struct bh_rpc rpc;
	ck_assert_int_eq(bh_rpc_parse(msg, len, &rpc, NULL), -EPROTO);
	ck_assert_int_eq(bh_rpc_parse_bulk(msg, len, &rpc, NULL), 0);
	ck_assert_uint_eq(rpc.params_len, BH_BULK_REF_SIZE);
	msg[6] = 5; /* another ext type: still not params */
	ck_assert_int_eq(bh_rpc_parse_bulk(msg, len, &rpc, NULL), -EPROTO);
}
END_TEST

static int filled_memfd(size_t size, unsigned seals)
{
	int fd = memfd_create("t", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(fallocate(fd, 0, 0, (off_t)size), 0);
	if (seals)
		ck_assert_int_eq(fcntl(fd, F_ADD_SEALS, seals), 0);
	return fd;
}

START_TEST(memfd_checks)
{
	int before = open_fds();
	const unsigned hostile = BH_MEMFD_SEALS_HOSTILE;
	ck_assert_uint_eq(hostile, F_SEAL_WRITE | F_SEAL_SHRINK | F_SEAL_GROW);

	int fd = filled_memfd(8192, hostile);
	ck_assert_int_eq(bh_memfd_check(fd, 8192, 1 << 20, hostile), 0);
	ck_assert_int_eq(bh_memfd_check(fd, 4096, 1 << 20, hostile), -EINVAL);
	ck_assert_int_eq(bh_memfd_check(fd, 8192, 4096, hostile), -EMSGSIZE);
	close(fd);

	fd = filled_memfd(8192, 0); /* no seals */
	ck_assert_int_eq(bh_memfd_check(fd, 8192, 1 << 20, hostile), -EPERM);
	close(fd);
	fd = filled_memfd(8192, F_SEAL_SHRINK | F_SEAL_GROW); /* writable */
	ck_assert_int_eq(bh_memfd_check(fd, 8192, 1 << 20, hostile), -EPERM);
	close(fd);

	/* Sparse: reading it would allocate pages on the reader's account. */
	fd = memfd_create("t", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	ck_assert_int_eq(ftruncate(fd, 1 << 20), 0);
	ck_assert_int_eq(fcntl(fd, F_ADD_SEALS, hostile), 0);
	ck_assert_int_eq(bh_memfd_check(fd, 1 << 20, 1 << 20, hostile), -ENODATA);
	close(fd);

	int p[2];
	ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
	ck_assert_int_eq(bh_memfd_check(p[0], 0, 1 << 20, hostile), -EBADF);
	close(p[0]);
	close(p[1]);
	int sv[2];
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	ck_assert_int_eq(bh_memfd_check(sv[0], 0, 1 << 20, hostile), -EBADF);
	close(sv[0]);
	close(sv[1]);
	ck_assert_str_eq(bh_memfd_strerror(-EPERM),
			 "the memfd is not sealed against writing, shrinking and growing");
	ck_assert_int_eq(open_fds(), before);
}
END_TEST

/* A value inside a larger memfd: the memfd must hold all of it; the same seals,
 * ceiling and sparse checks as a whole one. Mapped, it reads the same from any
 * offset, in a page or across pages. */
START_TEST(memfd_slices)
{
	int before = open_fds();
	const unsigned hostile = BH_MEMFD_SEALS_HOSTILE;
	size_t size = (4u << 20) + 8192;
	int fd = memfd_create("t", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	ck_assert_int_ge(fd, 0);
	uint8_t *data = malloc(size);
	ck_assert_ptr_nonnull(data);
	for (size_t i = 0; i < size; i++)
		data[i] = (uint8_t)(i * 7 + i / 4096);
	ck_assert_int_eq(pwrite(fd, data, size, 0), (ssize_t)size);
	ck_assert_int_eq(fcntl(fd, F_ADD_SEALS, hostile), 0);

	ck_assert_int_eq(bh_memfd_check_slice(fd, 5, size - 5, size, hostile), 0);
	ck_assert_int_eq(bh_memfd_check_slice(fd, 6, size - 5, size, hostile), -EINVAL);
	ck_assert_int_eq(bh_memfd_check_slice(fd, UINT32_MAX, 1, size, hostile), -EINVAL);
	ck_assert_int_eq(bh_memfd_check_slice(fd, UINT64_MAX, 2, size, hostile), -EINVAL);
	ck_assert_int_eq(bh_memfd_check_slice(fd, 0, 10, size - 1, hostile), -EMSGSIZE);
	ck_assert_int_eq(bh_memfd_check_slice(fd, 0, 10, size, hostile | F_SEAL_SEAL), -EPERM);

	static const size_t offs[] = { 0, 1, 4095, 4097 };
	static const size_t lens[] = { 1, 70000, 2u << 20, (2u << 20) + 4099 };
	for (size_t i = 0; i < sizeof(offs) / sizeof(offs[0]); i++) {
		for (size_t j = 0; j < sizeof(lens) / sizeof(lens[0]); j++) {
			struct bh_memfd_bytes m;
			ck_assert_int_eq(bh_memfd_map_slice(fd, offs[i], lens[j], &m), 0);
			ck_assert_mem_eq(m.p, data + offs[i], lens[j]);
			ck_assert_uint_ge(m.size, lens[j]);
			munmap(m.base, m.size);
		}
	}
	free(data);
	close(fd);
	ck_assert_int_eq(open_fds(), before);
}
END_TEST

/* A memfd sized with its pages: the sparse check of a receiver passes before a byte
 * is written. */
START_TEST(memfd_allocate_has_pages)
{
	int before = open_fds();
	int fd = memfd_create("t", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(bh_memfd_allocate(fd, 1 << 20), 0);
	ck_assert_int_eq(fcntl(fd, F_ADD_SEALS, (int)BH_MEMFD_SEALS_HOSTILE), 0);
	ck_assert_int_eq(bh_memfd_check(fd, 1 << 20, 1 << 20, BH_MEMFD_SEALS_HOSTILE), 0);
	close(fd);
	ck_assert_int_eq(open_fds(), before);
}
END_TEST

static size_t sndbuf_of(int fd)
{
	int v = 0;
	socklen_t len = sizeof(v);
	ck_assert_int_eq(getsockopt(fd, SOL_SOCKET, SO_SNDBUF, &v, &len), 0);
	return (size_t)v;
}

/* The send buffer grows with the largest message waiting, never shrinks, and stops
 * at the ceiling; small messages leave the kernel's default alone. */
START_TEST(sndbuf_grows_with_large_messages)
{
	int sv[2];
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	size_t have = 0, dflt = sndbuf_of(sv[0]);
	bh_sock_fit_sndbuf(sv[0], 64, &have);
	ck_assert_uint_eq(sndbuf_of(sv[0]), dflt);

	bh_sock_fit_sndbuf(sv[0], 1 << 20, &have);
	ck_assert_uint_eq(have, 1 << 20);
	FILE *f = fopen("/proc/sys/net/core/wmem_max", "r");
	unsigned long wmem_max = 0;
	if (f) {
		ck_assert_int_eq(fscanf(f, "%lu", &wmem_max), 1);
		fclose(f);
	}
	/* The kernel doubles what it grants, up to net.core.wmem_max. */
	size_t granted = wmem_max >= (1 << 20) ? 2u << 20 : 2 * wmem_max;
	if (f)
		ck_assert_uint_eq(sndbuf_of(sv[0]), granted);

	bh_sock_fit_sndbuf(sv[0], 4096, &have); /* never shrinks */
	ck_assert_uint_eq(have, 1 << 20);
	bh_sock_fit_sndbuf(sv[0], 64u << 20, &have);
	ck_assert_uint_eq(have, BH_SNDBUF_MAX);
	close(sv[0]);
	close(sv[1]);
}
END_TEST

/* A pooled buffer: the peer cannot write it, the owner still can. */
START_TEST(memfd_readonly_for_peer)
{
	int before = open_fds();
	int fd;
	void *map;
	ck_assert_int_eq(bh_memfd_new("t", 65536, true, &fd, &map), 0);
	ck_assert_int_eq(bh_memfd_seal_readonly(fd), 0);
	memset(map, 7, 65536); /* our mapping made before the seal */
	ck_assert_ptr_eq(mmap(NULL, 65536, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0), MAP_FAILED);
	ck_assert_int_eq(ftruncate(fd, 4096), -1);
	void *ro = mmap(NULL, 65536, PROT_READ, MAP_SHARED, fd, 0);
	ck_assert_ptr_ne(ro, MAP_FAILED);
	ck_assert_int_eq(mprotect(ro, 65536, PROT_READ | PROT_WRITE), -1);
	ck_assert_uint_eq(((uint8_t *)ro)[100], 7);
	munmap(ro, 65536);
	munmap(map, 65536);
	close(fd);
	ck_assert_int_eq(open_fds(), before);
}
END_TEST

static void send_fds(int sock, const int *fds, int n)
{
	char buf[CMSG_SPACE(32 * sizeof(int))];
	memset(buf, 0, sizeof(buf));
	struct iovec iov = { .iov_base = "x", .iov_len = 1 };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = buf,
			     .msg_controllen = CMSG_SPACE((size_t)n * sizeof(int)) };
	struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN((size_t)n * sizeof(int));
	memcpy(CMSG_DATA(c), fds, (size_t)n * sizeof(int));
	ck_assert_int_eq(sendmsg(sock, &mh, 0), 1);
}

START_TEST(fdq_order_and_overflow)
{
	int before = open_fds();
	int sv[2], fds[32];
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	struct bh_fdq q;
	bh_fdq_init(&q);
	char byte;

	/* A reference with no fd: nothing to take. */
	int got;
	ck_assert_int_eq(bh_fdq_take(&q, &got), -ENOENT);

	/* Two fds with one message: in order, close-on-exec. */
	int a = filled_memfd(4096, 0), b = filled_memfd(8192, 0);
	fds[0] = a;
	fds[1] = b;
	send_fds(sv[1], fds, 2);
	close(a);
	close(b);
	ck_assert_int_eq(bh_recv_fds(sv[0], &byte, 1, &q, 0), 1);
	ck_assert_uint_eq(q.n, 2);
	ck_assert(!q.overflow);
	ck_assert_int_eq(bh_fdq_take(&q, &got), 0);
	ck_assert_int_eq(lseek(got, 0, SEEK_END), 4096);
	ck_assert_int_eq(fcntl(got, F_GETFD), FD_CLOEXEC);
	close(got);
	/* An fd with no reference: cleared (closed) by the receiver. */
	bh_fdq_clear(&q);
	ck_assert_uint_eq(q.n, 0);

	/* Too many fds: the queue keeps BH_FDQ_MAX, the rest are closed at once. */
	int many = BH_FDQ_MAX + 5;
	for (int i = 0; i < many; i++)
		fds[i] = filled_memfd(4096, 0);
	send_fds(sv[1], fds, many);
	for (int i = 0; i < many; i++)
		close(fds[i]);
	ck_assert_int_eq(bh_recv_fds(sv[0], &byte, 1, &q, 0), 1);
	ck_assert_uint_eq(q.n, BH_FDQ_MAX);
	ck_assert(q.overflow);
	bh_fdq_clear(&q);

	close(sv[0]);
	close(sv[1]);
	ck_assert_int_eq(open_fds(), before);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("bulk");
	TCase *tc = tcase_create("bulk");
	tcase_add_test(tc, ref_roundtrip);
	tcase_add_test(tc, ref_with_offset);
	tcase_add_test(tc, memfd_slices);
	tcase_add_test(tc, parse_bulk_params);
	tcase_add_test(tc, memfd_checks);
	tcase_add_test(tc, memfd_readonly_for_peer);
	tcase_add_test(tc, memfd_allocate_has_pages);
	tcase_add_test(tc, sndbuf_grows_with_large_messages);
	tcase_add_test(tc, fdq_order_and_overflow);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
