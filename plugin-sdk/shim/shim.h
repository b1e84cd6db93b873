/* bulkhead-shim internals: the host program that loads one plugin and serves the
 * supervisor's channel (see bulkhead/channel.h for the protocol).
 *
 * The shim is single-threaded and handles one message at a time with blocking I/O,
 * in the order the supervisor sent them; a call runs only once claimed in the claim
 * table (bulkhead/claims.h), so there is never anything to multiplex. Every function here either returns 0 / a negative
 * errno, or ends the process through shim_die()/shim_exit_quietly(). */
#ifndef BH_SHIM_H
#define BH_SHIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "bulkhead/bulk.h"
#include "bulkhead/channel.h"
#include "bulkhead/claims.h"
#include "bulkhead/plugin.h"
#include "bulkhead/proto.h"

/* Exit statuses. BH_SHIM_EXIT_LOAD_FAILED (2) also covers a bad command line and a
 * missing channel: in every case the plugin never ran. */
enum {
	SHIM_EXIT_OK = 0,        /* $stop, or end of file on the channel */
	SHIM_EXIT_IO = 1,        /* the channel failed, or out of memory */
	SHIM_EXIT_PROTOCOL = 3,  /* the supervisor sent something malformed or unknown */
};

#define SHIM_VERSION_MAX 256
#define SHIM_METHODS_MAX 1024

/* Room kept in a response for its envelope around the plugin's result:
 * [1, msgid, nil, [state_version, blob]] needs at most 1+1+5+1+1+5 bytes. */
#define SHIM_ENVELOPE_SLACK 64

/* --spin-us: the watch of the doorbell between close calls (hot.c). */
#define SHIM_SPIN_US_DEFAULT 50
#define SHIM_SPIN_US_MAX 1000

/* Calls running at once: the one a message started and those nested on it while
 * they wait for calls out. A deeper re-entering call is answered chain_too_deep. */
#define SHIM_FRAMES_MAX 64

/* One entry of the lookup table, sorted by (bytes, length). */
struct shim_method {
	const char *name;
	uint32_t len;
	bh_method_fn fn;
};

/* A pool buffer of the supervisor's, mapped read-only (bulk.c). */
struct shim_bulk_map {
	uint8_t *p;
	size_t len;
};

/* A call that runs, and its calls out (callout.c). Frame 0 runs the calls of the
 * stream; frame d > 0 a call that re-entered while frame d-1 waited. Everything a
 * waiting frame's call still references stays where it is while calls nest on it:
 * its message, its decoded params, its result so far (the plugin holds &out_w). */
struct shim_frame {
	uint32_t id;                 /* the call running here: "in" of its calls out */
	size_t msg_end;              /* its message ends there in the stream buffer below */
	struct bh_arena arena;       /* its decoded params */
	struct bh_buf out;           /* what the plugin writes (result, blob) */
	struct bh_writer out_w;
	bool out_in_area;            /* out is the area's data; heap_out holds its own */
	struct bh_buf heap_out;
	struct shim_bulk_map passed; /* its params in a client's memfd (BH_BULK_SLOT_PASSED) */
	/* Its call's params when they came in a bulk buffer (NULL: inline), and the slot:
	 * a result borrowed from them goes back as a slice (bulk.c). */
	const uint8_t *bulk_params;
	size_t bulk_params_len;
	uint8_t bulk_slot;

	struct bh_buf params;        /* of its next call out: bh_callout_params() */
	struct bh_writer params_w;
	struct bh_arena result;      /* its last call out's result, decoded */
	/* The stream after its message, from its first call out on: wait[0..kept) are
	 * messages it keeps until it returns (their fds in shim.kept_fds), then the last
	 * answer (answer bytes: result points into it), then what is not read yet. */
	struct bh_buf wait;
	size_t kept;
	size_t answer;
	bool waited;                 /* wait holds the stream: merge it back on return */
	bool waiting;                /* in wait_answer, for oid */
	uint32_t oid;
	bool ready;                  /* buffers initialised (frames > 0 on first use) */
};

struct shim {
	int fd;                      /* the channel, BH_CHANNEL_FD */
	const char *path;            /* plugin path as given on the command line */
	struct bh_limits limits;     /* for everything read and written on the channel */
	bool use_claims;             /* --claims: calls are claimed before they start */
	struct bh_claims claims;
	uint64_t spin_ns;            /* --spin-us: longest watch of the doorbell (hot.c) */
	uint32_t seen_posted;        /* the doorbell before the last read */
	bool hot;                    /* the last wait for a call was short */
	bool ring_wanted;            /* --ring */
	bool ring_on;                /* messages go through the answer ring (ring.h) */
	struct bh_ring_writer ring;

	/* The plugin, after shim_load(). */
	void *dl;
	struct bh_plugin desc;       /* copy of the descriptor, zero past its struct_size */
	struct shim_method *table;   /* desc.n_methods entries, sorted */
	bool has_state;              /* snapshot and restore both present */
	void *state;                 /* from init */
	bool ready;                  /* a $init succeeded */

	/* Buffers, all reused from message to message. */
	struct bh_buf in;            /* bytes received, not yet handled */
	size_t in_kept;              /* in[0..in_kept): messages kept during a wait */
	struct bh_scanner scan;      /* over the message at the front of in, or of a wait */
	struct bh_buf hdr;           /* envelopes: responses, errors, calls out */
	struct bh_writer hdr_w;

	/* Calls running: frames[0 .. depth-1], top the innermost (frames[0] when none). */
	struct shim_frame *top;
	uint32_t depth;
	uint32_t next_oid;           /* ids of calls out */
	/* Answers to calls out of outer frames, read while a frame nested on them waited
	 * for its own (the supervisor answers an outer one early when its call ends:
	 * deadline, client gone, callee crashed): whole messages, at most one per frame. */
	struct bh_buf early;
	struct shim_frame frames[SHIM_FRAMES_MAX];

	/* Bulk values (bulk.c). */
	struct bh_fdq fdq;           /* fds received, not yet claimed by a reference */
	struct bh_buf kept_fds;      /* ints: the fds of kept messages, in stream order */
	struct shim_bulk_map pool[BH_BULK_SLOTS]; /* the passed slot is per frame */
	uint8_t *area;               /* the result area: busy word, then area_len bytes */
	size_t area_len;
};

/* main.c */
/* Print "bulkhead-shim: <message>" to stderr and _exit(status) without running the
 * plugin's destructors. */
_Noreturn void shim_die(int status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The supervisor went away (end of file, EPIPE): flush stdio and _exit(0). */
_Noreturn void shim_exit_quietly(void);

/* hot.c: watching the claim table's doorbell between calls that come close together. */
/* Turn the watch off where it cannot help (one CPU, no claim table). */
void shim_hot_init(struct shim *s);
/* Just before a read of the channel: remember the doorbell. */
void shim_hot_before_read(struct shim *s);
/* Nothing is buffered in b: wait for the next message with shim_read_more(),
 * watching the doorbell first when the last wait was short. */
void shim_hot_wait(struct shim *s, struct bh_buf *b);

/* io.c */
/* Write all of iov[0..n-1], retried on EINTR and short writes, without SIGPIPE
 * (the supervisor closing its end shows up as -EPIPE). iov is modified. 0 or -errno. */
int shim_writev_all(int fd, struct iovec *iov, int n);
/* Send bytes; a channel that the supervisor closed ends the process quietly, any
 * other failure ends it with SHIM_EXIT_IO. iov is modified. */
void shim_sendv(struct shim *s, struct iovec *iov, int n);
void shim_send(struct shim *s, const void *a, size_t alen, const void *b, size_t blen);

/* load.c */
/* dlopen s->path and validate its descriptor into s->desc / s->table. On failure
 * sends [2,"$fatal",[code,message]] and exits BH_SHIM_EXIT_LOAD_FAILED. */
void shim_load(struct shim *s);
/* Tell the supervisor why the plugin cannot run ([2, "$fatal", [code, message]],
 * channel.h step 1, and stderr), then exit BH_SHIM_EXIT_LOAD_FAILED. */
_Noreturn void shim_load_fail(struct shim *s, int32_t code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Send the $hello notification (channel.h step 1). */
void shim_hello(struct shim *s);
/* The method named name[0..len-1], or NULL. */
const struct shim_method *shim_find_method(const struct shim *s, const char *name, size_t len);

/* One recvmsg of at most n bytes, retried on EINTR: 0 and *ret_n (0 at end of file),
 * or -errno. Waits in poll() first when `wait`, else -EAGAIN when nothing is there.
 * Fds that come with the bytes join s->fdq. */
int shim_recv(struct shim *s, void *p, size_t n, size_t *ret_n, bool wait);

/* bulk.c */
/* A request's params v[0 .. len-1]: when they are a bulk reference, 1 and the value's
 * bytes in the pool buffer it names (mapping it first when the message carried it,
 * its fd from kept_fds when the message was kept, else from fdq; the passed slot is
 * s->top's); 0 when they are inline. A bad reference ends the shim. */
int shim_bulk_params(struct shim *s, const uint8_t *v, size_t len, bool kept,
		     const uint8_t **ret, size_t *ret_len);
/* A request that is kept for later: its fd, if it carries one, moves from fdq to
 * kept_fds, so that calls that run before it take theirs in stream order. */
void shim_bulk_keep(struct shim *s, const struct bh_rpc *rpc);
/* A request that will not run (refused before it starts): close its fd. */
void shim_bulk_drop(struct shim *s, const struct bh_rpc *rpc);
/* $init params[1], when present: the result area, mapped read-write. */
void shim_bulk_area(struct shim *s, const bh_value *v);
/* Make s->top's out (and out_w) the result area's data when want_area and the area
 * is free (not busy, and no waiting call's result is in it), the frame's own buffer
 * otherwise. */
void shim_bulk_out(struct shim *s, bool want_area);
/* A result borrowed whole from the call's bulk params, or one of at least
 * BH_BULK_THRESHOLD bytes in the area: send the response with a reference to it
 * (envelope in s->hdr) and return true; else false. */
bool shim_bulk_send_result(struct shim *s);
/* Every byte received is handled: an fd still queued came with no reference. */
void shim_bulk_check_fds(struct shim *s);

/* serve.c */
/* Read, dispatch and answer messages until $stop or end of file; never returns. */
_Noreturn void shim_serve(struct shim *s);
/* Read more of a message into b, of which the last `partial` bytes are the part of
 * it received so far (reads grow with it). End of file ends the process quietly. */
void shim_read_more(struct shim *s, struct bh_buf *b, size_t partial);
/* The same without waiting: true when bytes were read, false when none were there. */
bool shim_read_ready(struct shim *s, struct bh_buf *b);
/* A call that re-entered while s->top waits (rpc points into s->top->wait at
 * s->top->kept, size bytes): run it nested, in a frame of its own, and answer it. */
void shim_serve_reentry(struct shim *s, struct bh_rpc *rpc, size_t size);
/* Whether a request carries the options of a re-entering call. */
bool shim_is_reentry(const struct bh_rpc *rpc);

/* callout.c: calls out (plugin.h "Calling out"), the frames. */
/* Make the plugin API find s; frame 0 ready. */
void shim_callout_init(struct shim *s);
/* Push a frame for a call whose message ends at msg_end of the stream below. */
struct shim_frame *shim_frame_push(struct shim *s, size_t msg_end);
/* A call that re-entered is refused before it starts: cut its message (size bytes
 * at s->top->kept) out of s->top's wait buffer. */
void shim_frame_skip(struct shim *s, size_t size);
/* The call of s->top returned: pop it; what its waits read and did not handle goes
 * back into the wait buffer below, right after its message, which is cut out. */
void shim_frame_pop(struct shim *s);
/* Frame 0's call returned and its message was consumed from s->in (now empty): the
 * stream its waits read becomes s->in. */
void shim_frame_resume(struct shim *s);
/* End of a call in frame f: forget params written and not sent. */
static inline void shim_frame_done(struct shim_frame *f)
{
	if (f->params.len || f->params_w.err) {
		f->params.len = 0;
		bh_writer_init(&f->params_w, &f->params);
	}
}

#endif
