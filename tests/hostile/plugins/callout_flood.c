/* callout_flood: calls out as fast as it can write, behind the shim's back, and never
 * reads an answer: requests [0, oid, "echo.echo", [60 KB string], {"in": id}] from the
 * call it runs (its id read in the claim table), echo granted, so that echo answers
 * each with 60 KB and the overloaded ones (past 32 waiting) are refused at once. The
 * daemon must kill it once a bounded amount of answers waits for it, never buffer
 * without bound, and echo keeps answering its own clients. */
#define H_NAME "callout_flood"
#define H_CTOR H_CTOR_NONE
#include "hostile.h"
#include "chan.h"
#include "callout_req.h"
#include "claim_table.h"

#define HF_PARAM 60000
/* Far more than the daemon may buffer for it (HX_CALLOUT_CONF: max_message 1M). */
#define HF_REQUESTS 4000

static unsigned char hf_msg[HF_PARAM + 64];

static void h_attack(struct h_out *o, const struct h_args *a)
{
	struct hc_entry *e;
	uint32_t iid;
	(void)a;
	if (!hc_own_call(o, &e, &iid))
		return;
	long long sent = 0;
	for (uint32_t oid = 1; oid <= HF_REQUESTS; oid++) {
		size_t len = hc_request(hf_msg, oid, "echo.echo", HF_PARAM, iid), done = 0;
		while (done < len) {
			ssize_t n = write(H_CHANNEL_FD, hf_msg + done, len - done);
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0) {
				o->extra = oid;
				h_blocked(o, "write(fd 3)", errno);
				return;
			}
			done += (size_t)n;
			sent += n;
			o->count = sent;
		}
	}
	o->extra = HF_REQUESTS;
	h_succeeded(o, "%d calls out written (%lld bytes) without reading one answer, and "
		    "still alive", HF_REQUESTS, sent);
}
