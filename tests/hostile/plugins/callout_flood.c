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
#include "claim_table.h"

#define HF_PARAM 60000
/* Far more than the daemon may buffer for it (HX_CALLOUT_CONF: max_message 1M). */
#define HF_REQUESTS 4000

static unsigned char hf_msg[HF_PARAM + 64];

static unsigned char *hf_u32(unsigned char *p, uint32_t v)
{
	*p++ = 0xce;
	*p++ = (unsigned char)(v >> 24);
	*p++ = (unsigned char)(v >> 16);
	*p++ = (unsigned char)(v >> 8);
	*p++ = (unsigned char)v;
	return p;
}

static size_t hf_request(uint32_t oid, uint32_t iid)
{
	unsigned char *p = hf_msg;
	*p++ = 0x95;
	*p++ = 0x00;
	p = hf_u32(p, oid);
	*p++ = 0xa9;
	memcpy(p, "echo.echo", 9);
	p += 9;
	*p++ = 0x91;
	*p++ = 0xda;
	*p++ = (unsigned char)(HF_PARAM >> 8);
	*p++ = (unsigned char)HF_PARAM;
	memset(p, 'x', HF_PARAM);
	p += HF_PARAM;
	*p++ = 0x81;
	*p++ = 0xa2;
	*p++ = 'i';
	*p++ = 'n';
	p = hf_u32(p, iid);
	return (size_t)(p - hf_msg);
}

static void h_attack(struct h_out *o, const struct h_args *a)
{
	struct hc_entry *e;
	uint32_t iid;
	(void)a;
	if (!hc_own_call(o, &e, &iid))
		return;
	long long sent = 0;
	for (uint32_t oid = 1; oid <= HF_REQUESTS; oid++) {
		size_t len = hf_request(oid, iid), done = 0;
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
