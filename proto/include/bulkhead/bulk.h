/* bulkhead: large payloads as memfds passed with SCM_RIGHTS (libbulkhead-proto).
 *
 * On the supervisor <-> shim channel, a call's params or a method's result larger
 * than BH_BULK_THRESHOLD does not travel through the socket: the message carries, in
 * place of the value, a bulk reference, and the value's bytes (one whole MessagePack
 * value) lie in a memfd mapped by both sides. Wire layout of a reference (fixext 8):
 *     0xd7, BH_EXT_BULK, kind (1 byte), slot (1 byte), 0, 0, len (big endian uint32)
 * or, for a value that starts inside its memfd (fixext 16, BH_BULK_SLICE always,
 * BH_BULK_MEMFD when off is not 0; big endian uint32s):
 *     0xd8, BH_EXT_BULK, kind, slot, 0, 0, 0, 0, 0, 0, off, len
 * Kinds:
 *   BH_BULK_POOL      the value is in the receiver's mapping of pool buffer `slot`
 *   BH_BULK_POOL_NEW  the same, and the message carries that buffer's memfd: the
 *                     receiver maps it (read-only) in place of whatever slot held
 *   BH_BULK_AREA_NEW  ($init params[1]) the message carries the instance's result
 *                     area, len bytes: the shim maps it read-write and keeps it
 *   BH_BULK_AREA      (a response's result) the value is at the start of the area
 *   BH_BULK_MEMFD     (client socket, a connection that asked for it with
 *                     bulkhead.hello {"memfd": true}) the value is the whole content
 *                     of the memfd the message carries, len bytes, sealed by its
 *                     sender with BH_MEMFD_SEALS_HOSTILE; with an offset, the value
 *                     is the len bytes at off (the memfd is larger)
 *   BH_BULK_SLICE     (a response's result) the value is the len bytes at off in the
 *                     call's own params buffer, `slot` being the one they came in
 *                     (BH_BULK_SLOT_PASSED or a pool slot): a plugin that returns
 *                     part of its params, unchanged, returns it without a copy
 * A message carries at most one fd, sent with its first byte; the receiver takes it
 * from its queue of received fds when the reference asks for one. Every fd received
 * and not asked for by the message it came with is closed, and is a protocol error.
 *
 * A memfd that comes from a peer that may be hostile is checked with
 * bh_memfd_check() before it is mapped: a memfd (tmpfs, not hugetlb), sealed against
 * writes, shrinking and growing, exactly the size announced, within the ceiling, and
 * with every page present (st_blocks), so that reading it can neither fault (no
 * SIGBUS), nor change under the reader, nor charge pages to the reader's memory
 * cgroup: shmem pages are charged to whoever first touched them. */
#ifndef BULKHEAD_BULK_H
#define BULKHEAD_BULK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "bulkhead/proto.h"

#ifdef __cplusplus
extern "C" {
#endif

#define BH_EXT_BULK 98 /* 'b' */
#define BH_BULK_REF_SIZE 10
#define BH_BULK_SLICE_REF_SIZE 18 /* the form with an offset */
/* Values at least this large travel as bulk on the channel. */
#define BH_BULK_THRESHOLD (64u * 1024)
/* Pool buffers per instance (daemon -> shim). */
#define BH_BULK_SLOTS 4
/* One more slot, POOL_NEW only: params that came in a client's sealed memfd, passed
 * on to the shim as they are (no copy). The shim maps each call's memfd there, in
 * the order the requests come, replacing the previous one. */
#define BH_BULK_SLOT_PASSED BH_BULK_SLOTS
#define BH_BULK_MAPS (BH_BULK_SLOTS + 1)
/* Bytes before the data in the result area: a page whose first word (a uint32) the
 * shim sets when it sends a result in the area and the daemon clears once it has
 * copied the result out; the shim writes the next one there only once it is clear. */
#define BH_BULK_AREA_HEAD 4096
/* Most fds one receiver holds before the messages that claim them are read. */
#define BH_FDQ_MAX 8

enum bh_bulk_kind {
	BH_BULK_POOL = 1,
	BH_BULK_POOL_NEW = 2,
	BH_BULK_AREA_NEW = 3,
	BH_BULK_AREA = 4,
	BH_BULK_MEMFD = 5,
	BH_BULK_SLICE = 6,
};

struct bh_bulk_ref {
	uint8_t kind; /* enum bh_bulk_kind */
	uint8_t slot; /* POOL: < BH_BULK_SLOTS; POOL_NEW: < BH_BULK_MAPS */
	uint32_t len; /* bytes of the value (AREA_NEW: of the area's data) */
	uint32_t off; /* SLICE, MEMFD: where the value starts in its memfd */
};

/* Encode r into p: BH_BULK_REF_SIZE bytes, or BH_BULK_SLICE_REF_SIZE for a SLICE or
 * a MEMFD with an offset. Returns the size. */
size_t bh_bulk_ref_put(uint8_t *p, const struct bh_bulk_ref *r);
/* The reference that p[0 .. len-1] is: 0 and *ret; -ENOENT when it is no bulk
 * reference at all (any other value); -EPROTO when it is one but malformed (wrong
 * size or form for its kind, unknown kind, slot out of range, nonzero padding). */
int bh_bulk_ref_get(const uint8_t *p, size_t len, struct bh_bulk_ref *ret);
/* Whether a message with this reference carries an fd. */
bool bh_bulk_ref_has_fd(const struct bh_bulk_ref *r);

/* Parse a channel message: bh_rpc_parse, except that a request's params may also be a
 * bulk reference (the client socket never accepts one: bh_rpc_parse refuses it). */
int bh_rpc_parse_bulk(const uint8_t *msg, size_t len, struct bh_rpc *ret, const char **ret_why);

/* ---- memfds ---- */

/* A new memfd of `size` bytes (close-on-exec, sealing allowed), mapped read-write
 * (shared), its pages faulted in when populate. 0, *ret_fd and *ret_map; or -errno. */
int bh_memfd_new(const char *name, size_t size, bool populate, int *ret_fd, void **ret_map);
/* Size a new memfd to len bytes with its pages allocated (ftruncate where fallocate
 * cannot): 0 or -errno. */
int bh_memfd_allocate(int fd, size_t len);
/* Seal fd so that a peer can only read it (buffers the writer keeps reusing through
 * the mapping it already has): F_SEAL_FUTURE_WRITE | SHRINK | GROW | SEAL. */
int bh_memfd_seal_readonly(int fd);
/* Seal fd against any change of size: F_SEAL_SHRINK | GROW | SEAL (a shared area). */
int bh_memfd_seal_size(int fd);

/* A new memfd holding a copy of p[0 .. len-1], sealed with BH_MEMFD_SEALS_HOSTILE
 * and F_SEAL_SEAL: one that can be handed to a peer that must not be able to change
 * it. 0 and *ret_fd, or -errno. */
int bh_memfd_sealed(const char *name, const void *p, size_t len, int *ret_fd);
/* The same with the bytes of n pieces, one after the other. */
int bh_memfd_sealedv(const char *name, const struct iovec *iov, int n, int *ret_fd);
/* Map a memfd that bh_memfd_check accepted (len bytes, len > 0) read-only: 0 and
 * *ret, or -errno. munmap(*ret, len) when done. */
int bh_memfd_map(int fd, size_t len, const uint8_t **ret);

/* A memfd's value mapped read-only: bh_memfd_map_slice. */
struct bh_memfd_bytes {
	const uint8_t *p;
	void *base; /* munmap(base, size) when done */
	size_t size;
};
/* The len bytes (len > 0) at off of a memfd that bh_memfd_check(_slice) accepted,
 * mapped read-only (from the page that holds off): 0 and *ret, or -errno. */
int bh_memfd_map_slice(int fd, uint64_t off, size_t len, struct bh_memfd_bytes *ret);

/* Seals a hostile sender must have set before the receiver maps its memfd. */
/* F_SEAL_WRITE | F_SEAL_SHRINK | F_SEAL_GROW, spelled out so that this header needs
 * no <fcntl.h> with _GNU_SOURCE. */
#define BH_MEMFD_SEALS_HOSTILE (0x0008u | 0x0002u | 0x0004u)

/* Check fd before mapping it: 0, or
 *   -EBADF     not a memfd on tmpfs (another file, a socket, a hugetlb memfd)
 *   -EPERM     a seal of `seals` is missing
 *   -EMSGSIZE  its size passes max
 *   -EINVAL    its size is not len
 *   -ENODATA   some of its pages are not present (a sparse file) */
int bh_memfd_check(int fd, size_t len, size_t max, unsigned seals);
/* The same for a value of len bytes at off in a memfd that may be larger: -EINVAL
 * when the memfd does not hold off + len bytes. */
int bh_memfd_check_slice(int fd, uint64_t off, size_t len, size_t max, unsigned seals);
/* Text for a bh_memfd_check error. Static storage. */
const char *bh_memfd_strerror(int err);

/* ---- fds received with a stream ---- */

/* A FIFO of fds received on one stream socket, in arrival order. */
struct bh_fdq {
	int fd[BH_FDQ_MAX];
	unsigned n;
	bool overflow; /* more arrived than it holds: they were closed */
};

void bh_fdq_init(struct bh_fdq *q);
/* Close every fd held; overflow stays. */
void bh_fdq_clear(struct bh_fdq *q);
/* The oldest fd, now the caller's: 0 and *ret, or -ENOENT when there is none. */
int bh_fdq_take(struct bh_fdq *q, int *ret);

/* One recvmsg of at most n bytes into p with flags (e.g. MSG_DONTWAIT), retried on
 * EINTR; fds that come with it (close-on-exec) join q, those beyond its room are
 * closed (q->overflow). Returns the bytes read (0 at end of file), or -errno. */
ssize_t bh_recv_fds(int sock, void *p, size_t n, struct bh_fdq *q, int flags);
/* One sendmsg of iov with fd (or none when fd < 0) attached, MSG_NOSIGNAL |
 * MSG_DONTWAIT as flags say, retried on EINTR. Bytes written, or -errno. */
ssize_t bh_send_fd(int sock, const struct iovec *iov, int n, int fd, int flags);
/* A large message goes into a stream socket in one send instead of one per ~200 KiB
 * the peer reads (a wake-up of both sides each): before queueing `waiting` bytes,
 * grow sock's send buffer to hold them, up to BH_SNDBUF_MAX (the kernel caps it at
 * net.core.wmem_max). *have is what the socket is known to take (0 at first): the
 * buffer only grows, and only once per new high. Kernel memory a slow reader can pin
 * stays below BH_SNDBUF_MAX (twice that with the kernel's bookkeeping). */
#define BH_SNDBUF_MAX (4u << 20)
void bh_sock_fit_sndbuf(int sock, size_t waiting, size_t *have);

#ifdef __cplusplus
}
#endif
#endif
