/* Bulk values on the channel (bulkhead/bulk.h): params that the supervisor put in a
 * pool buffer, and results that go back through the instance's result area.
 *
 * The supervisor is trusted here: a reference that does not make sense is a bug on
 * its side, and the shim stops (SHIM_EXIT_PROTOCOL). What the plugin can reach: the
 * pool buffers are mapped read-only from memfds sealed against future writes, and
 * every received fd is closed once mapped, so the plugin never holds one. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bulkhead/bulk.h"
#include "shim.h"

/* The fd that a reference carries: the oldest one received, or, for a message kept
 * during a wait, the oldest one set aside for kept messages. */
static int take_fd(struct shim *s, bool kept)
{
	int fd;
	if (kept) {
		if (s->kept_fds.len < sizeof(fd))
			shim_die(SHIM_EXIT_PROTOCOL, "a kept bulk reference has no fd set aside");
		memcpy(&fd, s->kept_fds.data, sizeof(fd));
		bh_buf_consume(&s->kept_fds, sizeof(fd));
		return fd;
	}
	if (s->fdq.overflow)
		shim_die(SHIM_EXIT_PROTOCOL, "more fds on the channel than %d", BH_FDQ_MAX);
	if (bh_fdq_take(&s->fdq, &fd) < 0)
		shim_die(SHIM_EXIT_PROTOCOL, "a bulk reference came without its fd");
	return fd;
}

/* Map fd (then closed) whole: len bytes at least. */
static uint8_t *map_fd(int fd, size_t len, int prot, size_t *ret_size)
{
	struct stat st;
	if (fstat(fd, &st) < 0 || (uint64_t)st.st_size < len || st.st_size == 0)
		shim_die(SHIM_EXIT_PROTOCOL, "a bulk buffer is smaller than announced");
	void *p = mmap(NULL, (size_t)st.st_size, prot, MAP_SHARED, fd, 0);
	int err = errno;
	close(fd);
	if (p == MAP_FAILED)
		shim_die(SHIM_EXIT_IO, "mapping a bulk buffer: %s", strerror(err));
	*ret_size = (size_t)st.st_size;
	return p;
}

/* A request's bulk reference: 1 and *ret, 0 when its params are inline. */
static int request_ref(const uint8_t *v, size_t len, struct bh_bulk_ref *ret)
{
	int r = bh_bulk_ref_get(v, len, ret);
	if (r == -ENOENT)
		return 0;
	if (r < 0 || (ret->kind != BH_BULK_POOL && ret->kind != BH_BULK_POOL_NEW))
		shim_die(SHIM_EXIT_PROTOCOL, "bad bulk reference in a request");
	return 1;
}

int shim_bulk_params(struct shim *s, const uint8_t *v, size_t len, bool kept,
		     const uint8_t **ret, size_t *ret_len)
{
	struct bh_bulk_ref ref;
	s->top->bulk_params = NULL;
	if (!request_ref(v, len, &ref))
		return 0;
	/* Each call's passed memfd replaces the last one's, but calls nested on a call
	 * must not take its params away: the passed slot is per frame. */
	struct shim_bulk_map *m = ref.slot == BH_BULK_SLOT_PASSED ? &s->top->passed
								  : &s->pool[ref.slot];
	if (ref.kind == BH_BULK_POOL_NEW) {
		if (m->p)
			munmap(m->p, m->len);
		m->p = NULL;
		m->p = map_fd(take_fd(s, kept), ref.len, PROT_READ, &m->len);
	}
	if (!m->p || ref.len > m->len)
		shim_die(SHIM_EXIT_PROTOCOL, "bulk reference to pool buffer %u, which it is not in",
			 ref.slot);
	*ret = m->p;
	*ret_len = ref.len;
	s->top->bulk_params = m->p;
	s->top->bulk_params_len = ref.len;
	s->top->bulk_slot = ref.slot;
	return 1;
}

void shim_bulk_keep(struct shim *s, const struct bh_rpc *rpc)
{
	struct bh_bulk_ref ref;
	if (rpc->type != BH_RPC_REQUEST || !request_ref(rpc->params, rpc->params_len, &ref) ||
	    !bh_bulk_ref_has_fd(&ref))
		return;
	int fd = take_fd(s, false);
	if (bh_buf_append(&s->kept_fds, &fd, sizeof(fd)) < 0)
		shim_die(SHIM_EXIT_IO, "out of memory");
}

void shim_bulk_drop(struct shim *s, const struct bh_rpc *rpc)
{
	struct bh_bulk_ref ref;
	if (request_ref(rpc->params, rpc->params_len, &ref) && bh_bulk_ref_has_fd(&ref))
		close(take_fd(s, false));
}

void shim_bulk_area(struct shim *s, const bh_value *v)
{
	uint8_t raw[BH_BULK_REF_SIZE] = { 0xd7, BH_EXT_BULK };
	struct bh_bulk_ref ref;
	if (!v || v->type != BH_EXT || v->ext_type != BH_EXT_BULK || v->len != 8)
		return;
	memcpy(raw + 2, v->as.bin, 8);
	if (bh_bulk_ref_get(raw, sizeof(raw), &ref) < 0 || ref.kind != BH_BULK_AREA_NEW ||
	    s->area)
		shim_die(SHIM_EXIT_PROTOCOL, "bad result area in $init");
	size_t size;
	s->area = map_fd(take_fd(s, false), BH_BULK_AREA_HEAD + (size_t)ref.len,
			 PROT_READ | PROT_WRITE, &size);
	s->area_len = size - BH_BULK_AREA_HEAD;
}

static _Atomic uint32_t *area_busy(struct shim *s)
{
	return (_Atomic uint32_t *)(void *)s->area;
}

/* Whether a call that waits below the top one writes its result in the area. */
static bool area_held_below(const struct shim *s)
{
	for (const struct shim_frame *f = s->frames; f < s->top; f++)
		if (f->out_in_area)
			return true;
	return false;
}

void shim_bulk_out(struct shim *s, bool want_area)
{
	struct shim_frame *f = s->top;
	bool use = want_area && s->area && !area_held_below(s) &&
		   atomic_load_explicit(area_busy(s), memory_order_acquire) == 0;
	if (use == f->out_in_area)
		return;
	if (use) {
		f->heap_out = f->out;
		f->out = (struct bh_buf){ .data = s->area + BH_BULK_AREA_HEAD,
					  .cap = s->area_len, .max = s->area_len };
	} else {
		f->out = f->heap_out;
	}
	f->out_in_area = use;
	bh_writer_init(&f->out_w, &f->out);
}

bool shim_bulk_send_result(struct shim *s)
{
	struct shim_frame *f = s->top;
	size_t off, len;
	if (bh_writer_lent(&f->out_w, &off, &len)) {
		/* The window is the sealed (or daemon-only) params buffer: the supervisor
		 * finds the very bytes the plugin was given, without a copy on either side. */
		uint8_t ref[BH_BULK_SLICE_REF_SIZE];
		size_t n = bh_bulk_ref_put(ref, &(struct bh_bulk_ref){ .kind = BH_BULK_SLICE,
								.slot = f->bulk_slot,
								.off = (uint32_t)off,
								.len = (uint32_t)len });
		shim_send(s, s->hdr.data, s->hdr.len, ref, n);
		return true;
	}
	if (!f->out_in_area || f->out.len < BH_BULK_THRESHOLD)
		return false;
	uint8_t ref[BH_BULK_REF_SIZE];
	bh_bulk_ref_put(ref, &(struct bh_bulk_ref){ .kind = BH_BULK_AREA,
						    .len = (uint32_t)f->out.len });
	/* Set before the reference goes out: the area is the supervisor's to read now. */
	atomic_store_explicit(area_busy(s), 1, memory_order_release);
	shim_send(s, s->hdr.data, s->hdr.len, ref, sizeof(ref));
	return true;
}

void shim_bulk_check_fds(struct shim *s)
{
	if (s->fdq.n > 0 || s->fdq.overflow || s->kept_fds.len > 0)
		shim_die(SHIM_EXIT_PROTOCOL, "an fd came on the channel with no reference to it");
}
