/* Bulk values on an instance's channel: pool buffers for large params, the result
 * area for large results (see bulk.h here and bulkhead/bulk.h for the wire).
 *
 * Pool buffers are written by the daemon only: the child gets them sealed against
 * writes (F_SEAL_FUTURE_WRITE) and maps them read-only, while the daemon keeps
 * writing through the mapping it made before sealing. A buffer holds one call's
 * params from attach to detach and is reused for the next call at the same instance
 * only, so no plugin ever sees another instance's data. Pages are the daemon's: its
 * memory cgroup pays for them (at most BH_BULK_SLOTS buffers of max_payload each per
 * instance, kept while the instance lives).
 *
 * The result area is written by the child: the daemon never reads it in place but
 * copies the result out with pread (a hole reads as zeros and allocates nothing, a
 * page the plugin changes meanwhile only spoils its own result) and validates the
 * copy like any message. Sealed against shrinking and growing, it cannot fault. Its
 * pages are charged to the child's memory cgroup, which touches them first.
 *
 * A result may also be a slice of the call's own params (BH_BULK_SLICE), which the
 * child cannot change: read from there, or, to a client that takes memfds, its own
 * memfd sent back. */
#define _GNU_SOURCE
#include "bulk.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "call.h"
#include "config.h"
#include "conn.h"
#include "daemon.h"
#include "instance.h"

/* Smallest pool buffer: a run of calls of similar sizes reuses one. */
#define POOL_MIN (1u << 20)

void bh_bulk_init(struct bh_inst_bulk *b, uint64_t max_payload)
{
	*b = (struct bh_inst_bulk){ .area_fd = -1 };
	for (int k = 0; k < BH_BULK_SLOTS; k++)
		b->pool[k].fd = -1;
	bh_buf_init(&b->copy, 0);
	if (max_payload < BH_BULK_THRESHOLD)
		return;
	void *map;
	int fd;
	size_t size = BH_BULK_AREA_HEAD + (size_t)max_payload;
	if (bh_memfd_new("bulkhead-result", size, false, &fd, &map) < 0)
		return;
	if (bh_memfd_seal_size(fd) < 0) {
		munmap(map, size);
		close(fd);
		return;
	}
	b->area_fd = fd;
	b->area = map;
	b->area_len = (size_t)max_payload;
}

static void buf_drop(struct bh_bulk_buf *p)
{
	if (p->map)
		munmap(p->map, p->size);
	if (p->fd >= 0)
		close(p->fd);
	*p = (struct bh_bulk_buf){ .fd = -1 };
}

void bh_bulk_done(struct bh_inst_bulk *b)
{
	for (int k = 0; k < BH_BULK_SLOTS; k++)
		buf_drop(&b->pool[k]);
	if (b->area)
		munmap(b->area, BH_BULK_AREA_HEAD + b->area_len);
	if (b->area_fd >= 0)
		close(b->area_fd);
	b->area = NULL;
	b->area_fd = -1;
	bh_buf_done(&b->copy);
}

size_t bh_bulk_area_ref(const struct bh_instance *inst, uint8_t *p)
{
	if (inst->bulk.area_fd < 0)
		return 0;
	bh_bulk_ref_put(p, &(struct bh_bulk_ref){ .kind = BH_BULK_AREA_NEW,
						  .len = (uint32_t)inst->bulk.area_len });
	return BH_BULK_REF_SIZE;
}

static size_t pool_size(size_t len)
{
	size_t size = POOL_MIN;
	while (size < len)
		size *= 2;
	return size;
}

/* A free buffer for len bytes: one large enough, else a free slot to (re)fill, else
 * none (all busy: the params stay inline). */
static int pick_slot(struct bh_inst_bulk *b, size_t len)
{
	int spare = -1;
	for (int k = 0; k < BH_BULK_SLOTS; k++) {
		if (b->pool[k].busy)
			continue;
		if (b->pool[k].map && b->pool[k].size >= len)
			return k;
		if (spare < 0 || !b->pool[k].map)
			spare = k;
	}
	if (spare < 0)
		return -1;
	struct bh_bulk_buf *p = &b->pool[spare];
	buf_drop(p);
	size_t size = pool_size(len);
	void *map;
	if (bh_memfd_new("bulkhead-params", size, true, &p->fd, &map) < 0)
		return -1;
	p->map = map;
	p->size = size;
	if (bh_memfd_seal_readonly(p->fd) < 0) {
		buf_drop(p);
		return -1;
	}
	return spare;
}

/* Params in a client's memfd go on in it: the request's reference becomes one to the
 * passed slot, the memfd goes with it. */
static void attach_passed(struct bh_call *c)
{
	size_t at = c->full_len - c->params_len;
	bh_bulk_ref_put(c->req + at,
			&(struct bh_bulk_ref){ .kind = BH_BULK_POOL_NEW, .slot = BH_BULK_SLOT_PASSED,
					       .len = (uint32_t)c->passed.len });
	c->bulk_slot = BH_BULK_SLOT_PASSED;
	c->bulk_new = true;
}

void bh_bulk_attach(struct bh_instance *inst, struct bh_call *c)
{
	if (c->bulk_slot == BH_BULK_AREA_SLOT)
		return;
	if (c->passed.fd >= 0)
		return attach_passed(c);
	c->bulk_slot = BH_BULK_NONE;
	const struct bh_config *cfg = inst->d->cfg;
	int k = -1;
	/* Not for small params, params beyond the ceiling, a child without bulk, or a call
	 * a plugin made: its request carries its options after the params (call.h), and
	 * call-out params travel inline. */
	if (c->params_len >= BH_BULK_THRESHOLD && c->params_len <= cfg->max_payload &&
	    inst->bulk.area_fd >= 0 && !c->reenter_off)
		k = pick_slot(&inst->bulk, c->params_len);
	if (k < 0) {
		bh_call_own_params(c); /* inline */
		return;
	}
	struct bh_bulk_buf *p = &inst->bulk.pool[k];
	size_t at = c->full_len - c->params_len;
	if (c->params_src) {
		/* The one copy of a client's params: the request keeps only the reference. */
		memcpy(p->map, c->params_src, c->params_len);
		c->params_src = NULL;
		c->at_pool_only = true;
	} else {
		memcpy(p->map, c->req + at, c->params_len);
		memcpy(c->bulk_saved, c->req + at, BH_BULK_REF_SIZE);
	}
	p->busy = true;
	c->bulk_slot = k;
	c->bulk_new = !p->at_child;
	bh_bulk_ref_put(c->req + at,
			&(struct bh_bulk_ref){ .kind = c->bulk_new ? BH_BULK_POOL_NEW : BH_BULK_POOL,
					       .slot = (uint8_t)k,
					       .len = (uint32_t)c->params_len });
	c->req_len = at + BH_BULK_REF_SIZE;
}

void bh_bulk_detach(struct bh_instance *inst, struct bh_call *c)
{
	if (c->bulk_slot == BH_BULK_SLOT_PASSED && c->passed.fd >= 0) {
		c->bulk_slot = BH_BULK_NONE; /* the reference is rewritten at the next attach */
		return;
	}
	if (c->bulk_slot < 0 || c->bulk_slot >= BH_BULK_SLOTS)
		return;
	struct bh_bulk_buf *p = &inst->bulk.pool[c->bulk_slot];
	p->busy = false;
	size_t at = c->full_len - c->params_len;
	/* Only the daemon writes a pool buffer (the child's mapping is read-only): what
	 * is there is the params as they came. */
	if (c->at_pool_only)
		memcpy(c->req + at, p->map, c->params_len);
	else
		memcpy(c->req + at, c->bulk_saved, BH_BULK_REF_SIZE);
	c->at_pool_only = false;
	c->req_len = c->full_len;
	c->bulk_slot = BH_BULK_NONE;
	c->bulk_new = false;
}

int bh_bulk_call_fd(const struct bh_instance *inst, const struct bh_call *c)
{
	if (c->sent > 0 || c->bulk_slot < 0)
		return -1;
	if (c->passed.fd >= 0)
		return c->passed.fd;
	if (c->bulk_slot == BH_BULK_AREA_SLOT)
		return inst->bulk.area_fd;
	return c->bulk_new ? inst->bulk.pool[c->bulk_slot].fd : -1;
}

void bh_bulk_fd_sent(struct bh_instance *inst, struct bh_call *c)
{
	if (c->bulk_slot >= 0 && c->bulk_slot < BH_BULK_SLOTS && c->passed.fd < 0)
		inst->bulk.pool[c->bulk_slot].at_child = true;
	c->bulk_new = false;
}

/* The client call a response answers, when it is still owed a result and the
 * response is one (error nil) that the instance may give: what handle_response
 * checks before it answers. NULL otherwise. */
static struct bh_call *result_caller(struct bh_instance *inst, const struct bh_rpc *rpc)
{
	struct bh_call *c = inst->pending[rpc->msgid & (inst->pending_cap - 1)];
	if (!c || c->iid != rpc->msgid || c->sent != c->req_len ||
	    !bh_instance_call_started(inst, c) || c->kind != BH_CALL_CLIENT || !c->conn ||
	    c->answered || c->reply_fd >= 0 || rpc->error_len != 1 || rpc->error[0] != 0xc0)
		return NULL;
	return c;
}

/* The result's len bytes, from the area into a new memfd by the kernel: no copy
 * through the daemon's memory, no page of it faulted in here. 0 and *ret_fd, or
 * -errno (then the result goes the ordinary way). */
static int area_to_memfd(struct bh_inst_bulk *b, size_t len, int *ret_fd)
{
	int fd = memfd_create("bulkhead-reply", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0)
		return -errno;
	int r = bh_memfd_allocate(fd, len);
	loff_t in = BH_BULK_AREA_HEAD, out = 0;
	while (r == 0 && (size_t)out < len) {
		ssize_t n = copy_file_range(b->area_fd, &in, fd, &out, len - (size_t)out, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			r = n < 0 ? -errno : -EIO;
	}
	if (r == 0 && fcntl(fd, F_ADD_SEALS, (int)(BH_MEMFD_SEALS_HOSTILE | F_SEAL_SEAL)) < 0)
		r = -errno;
	if (r < 0) {
		close(fd);
		return r;
	}
	*ret_fd = fd;
	return 0;
}

/* Where a bulk result's bytes are copied from: a file (the area, a client's memfd)
 * at an offset, or memory only the daemon writes (a pool buffer). */
struct result_src {
	int fd;
	off_t off;
	const uint8_t *p;
};

/* len bytes of src into dst: 0, or -EPROTO. */
static int src_read(const struct result_src *src, uint8_t *dst, size_t len)
{
	if (src->p) {
		memcpy(dst, src->p, len);
		return 0;
	}
	size_t done = 0;
	while (done < len) {
		ssize_t n = pread(src->fd, dst + done, len - done, src->off + (off_t)done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -EPROTO;
		done += (size_t)n;
	}
	return 0;
}

/* Copied out: the area is the child's again. */
static void area_release(struct bh_inst_bulk *b)
{
	atomic_store_explicit((_Atomic uint32_t *)(void *)b->area, 0, memory_order_release);
}

/* A result copied out of the child's reach is checked like any message. */
static bool result_ok(const struct bh_instance *inst, const uint8_t *p, size_t len)
{
	struct bh_limits lim = inst->d->cfg->limits;
	struct bh_scan sc;
	struct bh_bulk_ref ref;
	/* A result that is itself a bulk reference would pose, to a memfd client, as one
	 * of ours and take another response's fd. */
	if (bh_bulk_ref_get(p, len, &ref) != -ENOENT)
		return false;
	lim.max_message = lim.max_bytes = (uint32_t)len;
	lim.max_depth = lim.max_depth > 1 ? lim.max_depth - 1 : 1;
	return bh_scan(p, len, &lim, &sc) == 0 && sc.size == len;
}

/* A result that lies in a sealed memfd of ours. */
static bool memfd_result_ok(const struct bh_instance *inst, int fd, size_t len)
{
	const uint8_t *map;
	if (bh_memfd_map(fd, len, &map) < 0)
		return false;
	bool ok = result_ok(inst, map, len);
	munmap((void *)map, len);
	return ok;
}

/* The result's len bytes copied where they are wanted, then checked: straight into
 * the output of a plain client that waits for them, after the response's envelope
 * (the response is complete once checked: handle_response then finds the call
 * answered); else into the instance's copy, where rpc->result then points. */
static int copy_result(struct bh_instance *inst, struct bh_rpc *rpc, struct bh_call *caller,
		       const struct result_src *src, size_t len, const char **why)
{
	struct bh_inst_bulk *b = &inst->bulk;
	size_t mark;
	uint8_t *out = caller && !caller->conn->memfd ? bh_conn_reply_begin(caller, len, &mark)
						      : NULL;
	if (out) {
		bool ok = src_read(src, out, len) == 0 && result_ok(inst, out, len);
		bh_conn_reply_end(caller, mark, len, ok);
		return ok ? 0 : -EPROTO;
	}
	b->copy.len = 0;
	if (bh_buf_reserve(&b->copy, len) < 0) {
		*why = "no memory for a bulk result";
		return -EPROTO;
	}
	if (src_read(src, b->copy.data, len) < 0) {
		*why = "cannot read a bulk result";
		return -EPROTO;
	}
	b->copy.len = len;
	inst->d->output.result_staged += len;
	if (!result_ok(inst, b->copy.data, len))
		return -EPROTO;
	rpc->result = b->copy.data;
	rpc->result_len = len;
	return 0;
}

/* For a client that takes memfds, the slice of its own memfd c's params came in:
 * checked in place, in the mapping the call keeps (only the pages the scan reads are
 * touched), the memfd goes back as the result. 0; -EPROTO when the slice is no valid
 * result; -EAGAIN when its fd cannot be duplicated (the result is then copied). */
static int passed_back(const struct bh_instance *inst, struct bh_call *c,
		       const struct bh_bulk_ref *ref)
{
	if (!result_ok(inst, c->passed.map + ref->off, ref->len))
		return -EPROTO;
	int fd = fcntl(c->passed.fd, F_DUPFD_CLOEXEC, 0);
	if (fd < 0)
		return -EAGAIN;
	c->reply_fd = fd;
	c->reply_off = ref->off;
	c->reply_len = ref->len;
	return 0;
}

/* A result that is a slice of the call's own params (BH_BULK_SLICE), which the child
 * cannot change: a pool buffer only the daemon writes, or a client's memfd sealed
 * against writes. */
static int slice_result(struct bh_instance *inst, struct bh_rpc *rpc,
			const struct bh_bulk_ref *ref, const char **why)
{
	struct bh_call *c = inst->pending[rpc->msgid & (inst->pending_cap - 1)];
	if (!c || c->iid != rpc->msgid)
		return 0; /* handle_response refuses it */
	bool passed = ref->slot == BH_BULK_SLOT_PASSED;
	size_t have = passed ? c->passed.len : c->params_len;
	*why = "bulk result: a slice of params the call does not have";
	if (c->bulk_slot != (int)ref->slot || (passed && c->passed.fd < 0) ||
	    (uint64_t)ref->off + ref->len > have)
		return -EPROTO;
	if (ref->len < BH_BULK_THRESHOLD) {
		*why = "bulk result under the threshold (it goes inline)";
		return -EPROTO;
	}
	*why = "malformed bulk result";
	struct bh_call *caller = result_caller(inst, rpc);
	if (!passed) {
		const uint8_t *p = inst->bulk.pool[ref->slot].map + ref->off;
		return copy_result(inst, rpc, caller, &(struct result_src){ .p = p }, ref->len, why);
	}
	if (!caller) {
		/* Nobody waits for it (answered already): the call just ends well. */
		static const uint8_t nil = 0xc0;
		rpc->result = &nil;
		rpc->result_len = 1;
		return 0;
	}
	int r = caller->conn->memfd ? passed_back(inst, caller, ref) : -EAGAIN;
	if (r != -EAGAIN)
		return r;
	return copy_result(inst, rpc, caller,
			   &(struct result_src){ .fd = caller->passed.fd, .off = (off_t)ref->off },
			   ref->len, why);
}

int bh_bulk_result(struct bh_instance *inst, struct bh_rpc *rpc, const char **why)
{
	struct bh_inst_bulk *b = &inst->bulk;
	struct bh_bulk_ref ref;
	int r = bh_bulk_ref_get(rpc->result, rpc->result_len, &ref);
	if (r == -ENOENT)
		return 0;
	if (r == 0 && ref.kind == BH_BULK_SLICE)
		return slice_result(inst, rpc, &ref, why);
	if (r < 0 || ref.kind != BH_BULK_AREA) {
		*why = "bad bulk reference in a result";
		return -EPROTO;
	}
	if (b->area_fd < 0 || ref.len > b->area_len) {
		*why = "bulk result beyond its result area";
		return -EPROTO;
	}
	if (ref.len < BH_BULK_THRESHOLD) {
		*why = "bulk result under the threshold (it goes inline)";
		return -EPROTO;
	}
	*why = "malformed bulk result";
	struct bh_call *c = result_caller(inst, rpc);
	int fd = -1;
	if (c && c->conn->memfd && area_to_memfd(b, ref.len, &fd) == 0) {
		/* For a client that takes memfds: the memfd is its result as it is. */
		area_release(b);
		if (!memfd_result_ok(inst, fd, ref.len)) {
			close(fd);
			return -EPROTO;
		}
		c->reply_fd = fd;
		c->reply_off = 0;
		c->reply_len = ref.len;
		return 0;
	}
	r = copy_result(inst, rpc, c,
			&(struct result_src){ .fd = b->area_fd, .off = BH_BULK_AREA_HEAD }, ref.len,
			why);
	area_release(b);
	return r;
}

void bh_bulk_result_done(struct bh_instance *inst)
{
	inst->bulk.copy.len = 0;
	bh_buf_shrink(&inst->bulk.copy, BH_BUF_KEEP);
}
