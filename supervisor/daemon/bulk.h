/* Bulk values on an instance's channel (bulkhead/bulk.h): a call's large params go
 * in one of the instance's pool buffers, a large result comes back in its result
 * area. Pool buffers are the instance's own, never another's: a plugin keeps
 * whatever mapping it got. */
#ifndef BH_DAEMON_BULK_H
#define BH_DAEMON_BULK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bulkhead/bulk.h"
#include "bulkhead/proto.h"

struct bh_instance;
struct bh_call;

/* A call's bulk state: which buffer its params are in (-1: inline). */
#define BH_BULK_NONE (-1)
#define BH_BULK_AREA_SLOT (BH_BULK_MAPS + 1) /* $init: carries the result area */

struct bh_bulk_buf {
	int fd;
	uint8_t *map; /* read-write, ours; the child's mapping is read-only */
	size_t size;
	bool busy;     /* holds the params of a call at the instance */
	bool at_child; /* its fd went to the child, which keeps it mapped in its slot */
};

struct bh_inst_bulk {
	struct bh_bulk_buf pool[BH_BULK_SLOTS];
	int area_fd;       /* the result area, -1 without */
	uint8_t *area;     /* mapped read-write for the busy word; the data is pread */
	size_t area_len;   /* bytes of data after BH_BULK_AREA_HEAD */
	struct bh_buf copy; /* the last bulk result, copied out of the area */
};

/* Set up (the result area of max_payload bytes; none when 0 or when it cannot be
 * had: results then come inline) and tear down. */
void bh_bulk_init(struct bh_inst_bulk *b, uint64_t max_payload);
void bh_bulk_done(struct bh_inst_bulk *b);
/* $init params [config] become [config, area reference] when there is an area: the
 * reference is written at p (room for BH_BULK_REF_SIZE bytes). The bytes written,
 * 0 without an area; the $init call then gets bulk_slot BH_BULK_AREA_SLOT. */
size_t bh_bulk_area_ref(const struct bh_instance *inst, uint8_t *p);
/* A call reaching / leaving the instance: large params move to a pool buffer and
 * the request shrinks to a reference; on leaving, the request is made whole again. */
void bh_bulk_attach(struct bh_instance *inst, struct bh_call *c);
void bh_bulk_detach(struct bh_instance *inst, struct bh_call *c);
/* The fd to send with the first byte of c's request, or -1; and that it went. */
int bh_bulk_call_fd(const struct bh_instance *inst, const struct bh_call *c);
void bh_bulk_fd_sent(struct bh_instance *inst, struct bh_call *c);
/* A response's result: when it is a reference to the result area, copy the result
 * out, release the area and check the copy; rpc's result then points at the copy,
 * valid until bh_bulk_result_done. Where the client waits for it, the copy goes
 * where the client gets it: for a client that takes memfds, a sealed memfd made by
 * the kernel (copy_file_range), left in the call's reply_fd for the connection to
 * send as it is; for any other, straight into the connection's output, the call
 * then answered. 0, or -EPROTO with *why. */
int bh_bulk_result(struct bh_instance *inst, struct bh_rpc *rpc, const char **why);
void bh_bulk_result_done(struct bh_instance *inst);

#endif
