/* bulkhead: MessagePack-RPC codec, limits and stream framing (libbulkhead-proto).
 *
 * Both sockets, client <-> daemon and daemon <-> child, carry a plain MessagePack
 * stream of MessagePack-RPC messages, one after the other with no extra framing:
 *     request       [0, msgid, method, params]              (msgid: uint32)
 *                   [0, msgid, method, params, options]      (bulkhead extension)
 *     response      [1, msgid, error, result]
 *     notification  [2, method, params]
 * Message boundaries are found by bh_scan(), which also enforces every limit before a
 * single byte is allocated for the message, so a hostile length header can never make
 * anyone allocate more than the bytes actually received. The library does no I/O
 * policy and never logs. */
#ifndef BULKHEAD_PROTO_H
#define BULKHEAD_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bulkhead/error.h"
#include "bulkhead/value.h"

#ifdef __cplusplus
extern "C" {
#endif

#define BH_PROTOCOL_VERSION 1

/* Hard ceilings for one message. */
struct bh_limits {
	size_t max_message;  /* bytes of one whole message; default 16 MiB */
	uint32_t max_depth;  /* container nesting; the envelope counts as 1; default 64 */
	uint32_t max_items;  /* elements of one array / pairs of one map; default 1 Mi */
	uint32_t max_bytes;  /* length of one str / bin / ext; default 16 MiB */
};

void bh_limits_default(struct bh_limits *ret);

/* Result of scanning one complete object. */
struct bh_scan {
	size_t size;  /* bytes the object occupies */
	size_t nodes; /* values in the tree, the root included: what bh_decode needs */
};

/* Validate the object starting at buf[0] without allocating.
 * Returns 0 and fills *ret, or:
 *   -EAGAIN   buf holds only a prefix of a valid object (read more); never returned
 *             once len >= limits->max_message: then it is -EMSGSIZE
 *   -EMSGSIZE the object is, or declares itself, larger than max_message, or one
 *             str/bin/ext is longer than max_bytes
 *   -ELOOP    nesting deeper than max_depth
 *   -E2BIG    an array or map longer than max_items, or one that declares more
 *             elements than max_message could hold
 *   -EBADMSG  a byte that starts no MessagePack type (0xc1)
 * After -EMSGSIZE, -ELOOP, -E2BIG or -EBADMSG a stream cannot be resynchronised. */
int bh_scan(const uint8_t *buf, size_t len, const struct bh_limits *limits,
	    struct bh_scan *ret);

/* Deepest nesting any reader supports, whatever limits->max_depth says: it sizes the
 * explicit stacks of the scanner and the tree builder (a few KiB), so a hostile input
 * can never make proto recurse or allocate for depth. */
#define BH_SCAN_DEPTH_CAP 512

/* bh_scan that resumes: a stream reader feeds it the message received so far after
 * every read, and it continues where it stopped instead of walking the prefix again,
 * so the whole message costs work linear in its bytes however it is split. It keeps
 * the position, the stack of open containers and the rest of a str/bin/ext payload.
 * A limit is enforced as soon as the header that breaks it is in: a message too
 * large is refused on its header, not after it was buffered. Caller storage, no
 * allocation; the struct is large (the stack: BH_SCAN_DEPTH_CAP counters). */
struct bh_scanner {
	struct bh_limits limits; /* of the current message, taken at its first feed */
	bool started;            /* limits taken, some of the message fed */
	int err;                 /* sticky after a stream-breaking error */
	size_t pos;              /* bytes of the current message accepted */
	size_t skip;             /* payload bytes of the value at pos still to come */
	size_t nodes;
	uint64_t pending;        /* sum of open[]: values announced, not yet started */
	uint32_t depth;
	uint64_t work;           /* bytes examined since init, over all messages */
	uint64_t open[BH_SCAN_DEPTH_CAP]; /* children still to come, per open container */
};

void bh_scanner_init(struct bh_scanner *s);

/* Scan on: buf[0 .. len-1] is the current message as received so far: the bytes fed
 * before, unchanged (the buffer may have moved), plus more. limits (NULL: defaults)
 * apply from the message's first feed to its end. Returns what bh_scan returns for
 * buf; on 0 the scanner is ready for the next message, which starts at buf[ret->size].
 * After any error but -EAGAIN, every later feed returns that error. */
int bh_scanner_feed(struct bh_scanner *s, const uint8_t *buf, size_t len,
		    const struct bh_limits *limits, struct bh_scan *ret);

/* Human text for a bh_scan / bh_decode / bh_rpc_parse error. Static storage. */
const char *bh_proto_strerror(int err);

/* Node storage for decoded trees, reused across messages. */
struct bh_arena {
	bh_value *nodes;
	size_t cap;
};

void bh_arena_init(struct bh_arena *a);
void bh_arena_done(struct bh_arena *a);

/* Decode one object of buf (scanned with the same limits). The tree lives in the
 * arena (valid until the next decode into it or bh_arena_done) and points into buf
 * (valid while buf is). Returns 0, a bh_scan error, or -ENOMEM. Writes *ret and
 * *ret_size (bytes consumed) only on success. */
int bh_decode(const uint8_t *buf, size_t len, const struct bh_limits *limits,
	      struct bh_arena *arena, const bh_value **ret, size_t *ret_size);

/* Growing byte buffer with a ceiling. */
struct bh_buf {
	uint8_t *data;
	size_t len; /* bytes held */
	size_t cap;
	size_t max; /* appends that would pass this fail with -EMSGSIZE; 0 = SIZE_MAX */
};

void bh_buf_init(struct bh_buf *b, size_t max);
void bh_buf_done(struct bh_buf *b);
/* Make room for `extra` more bytes. 0, -ENOMEM or -EMSGSIZE. */
int bh_buf_reserve(struct bh_buf *b, size_t extra);
int bh_buf_append(struct bh_buf *b, const void *p, size_t n);
/* Drop the first n bytes (memmove of the rest). */
void bh_buf_consume(struct bh_buf *b, size_t n);
/* Give back memory after a large message once the buffer is empty again. */
void bh_buf_shrink(struct bh_buf *b, size_t keep);

/* What a stream buffer keeps after a large message: enough that a run of 1 MiB
 * messages reuses its pages instead of faulting fresh ones for each, little enough
 * that an idle connection does not pin a 16 MiB peak. */
#define BH_BUF_KEEP (4u * 1024 * 1024)

/* Writer over a bh_buf; the struct is public so it can live on the stack. */
struct bh_writer {
	struct bh_buf *buf;
	int err; /* sticky: 0, -ENOMEM or -EMSGSIZE */
	/* bh_writer_lend: the window, and the value borrowed from it (lent_len 0: none). */
	const uint8_t *window;
	size_t window_len, lend_min;
	size_t lent_off, lent_len;
};

void bh_writer_init(struct bh_writer *w, struct bh_buf *buf);
/* Let the writer borrow instead of copy: while it has written nothing yet, a str or
 * bin of at least min bytes whose body lies in window[0 .. len-1], right after the
 * header that encodes it, is not copied but remembered as that window's encoded
 * value. Any later write copies it into the buffer first, so the bytes written are
 * always the same. The window must stay unchanged while the writer is used. */
void bh_writer_lend(struct bh_writer *w, const uint8_t *window, size_t len, size_t min);
/* Whether all that was written is one value borrowed from the window: true with its
 * offset and length there (the buffer is empty). */
bool bh_writer_lent(const struct bh_writer *w, size_t *ret_off, size_t *ret_len);
/* The header msgpack-c writes for a str (str) or bin of len bytes (len < 2^32), into
 * h: its size. */
size_t bh_body_header(bool str, size_t len, uint8_t h[5]);
/* Append raw bytes that already are one or more encoded values. */
int bh_write_raw(bh_writer *w, const void *p, size_t len);
/* A uint32 always in its 5-byte form (0xce + big endian), so it can be patched in
 * place later with bh_patch_u32(). Returns the offset of the 0xce byte via *ret_off. */
int bh_write_u32_fixed(bh_writer *w, uint32_t v, size_t *ret_off);
void bh_patch_u32(uint8_t *at, uint32_t v);

enum bh_rpc_type { BH_RPC_REQUEST = 0, BH_RPC_RESPONSE = 1, BH_RPC_NOTIFY = 2 };

/* One message's envelope, parsed in place: spans point into the message bytes. */
struct bh_rpc {
	int type;             /* enum bh_rpc_type */
	uint32_t msgid;       /* request, response */
	const char *method;   /* request, notification; not NUL-terminated */
	uint32_t method_len;
	const uint8_t *params; /* request, notification: raw encoded params (an array) */
	size_t params_len;
	const uint8_t *options; /* request: raw encoded options map, or NULL */
	size_t options_len;
	const uint8_t *error; /* response: raw encoded error (nil when none) */
	size_t error_len;
	const uint8_t *result; /* response: raw encoded result */
	size_t result_len;
};

/* Parse the envelope of a message that bh_scan accepted (msg, len = scan.size).
 * 0, or -EPROTO when the shape is wrong (not an array of the right arity, unknown
 * type, msgid not a uint32, method not a string, params not an array, options not a
 * map). *ret is written only on success. If ret_why is not NULL it receives a static
 * description of what was wrong. */
int bh_rpc_parse(const uint8_t *msg, size_t len, struct bh_rpc *ret, const char **ret_why);

/* The msgid of a request whose envelope bh_rpc_parse rejected (method not a string,
 * params not an array, options not a map...), so that it still gets its one
 * response: 0 and *ret when msg is an array of 4 or 5 elements whose first element
 * is 0 and whose second is a uint32; else -EPROTO, and the message is no request:
 * nothing may answer it. */
int bh_rpc_request_msgid(const uint8_t *msg, size_t len, uint32_t *ret);

/* A request encoded in place, for a sender that re-addresses it: the size of
 * [0, msgid, method, params] with msgid in its fixed 5-byte form, and the encoder
 * into p (that many bytes), which gives the msgid's offset for bh_patch_u32(). */
size_t bh_rpc_request_size(size_t method_len, size_t params_len);
void bh_rpc_request_put(uint8_t *p, uint32_t msgid, const char *method, size_t method_len,
			const uint8_t *params, size_t params_len, size_t *ret_msgid_off);

/* Plugin and method names: 1..BH_NAME_MAX bytes of [A-Za-z0-9_-], so that
 * "plugin.method" splits at its one dot and a name is safe in paths and logs. */
#define BH_NAME_MAX 64
bool bh_name_valid(const char *name, size_t len);

/* Encoders for whole messages. params / result are raw encoded values. */
int bh_rpc_write_request(bh_writer *w, uint32_t msgid, const char *method, size_t method_len,
			 const uint8_t *params, size_t params_len);
int bh_rpc_write_notify(bh_writer *w, const char *method, size_t method_len,
			const uint8_t *params, size_t params_len);
/* [1, msgid, nil, result] */
int bh_rpc_write_result(bh_writer *w, uint32_t msgid, const uint8_t *result, size_t result_len);
/* [1, msgid, {"code","name","message"}, nil]: the answer to request msgid. */
int bh_rpc_write_error(bh_writer *w, uint32_t msgid, int32_t code, const char *message);
/* The same with the error as a map (as_map) or as text: [type, "NAME (CODE): MESSAGE"],
 * Neovim's form (bh_write_error_text). */
int bh_rpc_write_error_as(bh_writer *w, uint32_t msgid, int32_t code, const char *message,
			  bool as_map);
/* [2, method, [{"code","name","message"}]]: an error that belongs to no request,
 * for a peer that asked for such notifications. */
int bh_rpc_write_error_notify(bh_writer *w, const char *method, size_t method_len,
			      int32_t code, const char *message);
/* Only the error map. */
int bh_write_error_map(bh_writer *w, int32_t code, const char *message);
/* Only the error as text, Neovim's [type, message]: type 1 (validation) for
 * unknown_plugin, unknown_method, bad_request and invalid_params, else 0 (exception);
 * message "NAME (CODE): MESSAGE". */
int bh_write_error_text(bh_writer *w, int32_t code, const char *message);

/* Read an error map or the text form (as written above) into *ret. Any other
 * [type, str] (Neovim's errors) becomes BH_E_PLUGIN_ERROR with str as its message,
 * anything else that is not nil (a foreign server's error) BH_E_PLUGIN_ERROR with a
 * rendering of the value.
 * Returns 1 when there is an error, 0 when the error field is nil, -EPROTO when it
 * cannot be decoded. */
int bh_error_decode(const uint8_t *raw, size_t len, bh_error *ret);

#ifdef __cplusplus
}
#endif
#endif
