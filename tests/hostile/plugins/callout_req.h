/* A call out as the shim writes it (bulkhead/channel.h step 6), built by hand:
 * [0, oid, target, [str of n 'x'], {"in": iid}]. Shared by the callout_* plugins that
 * write on the channel behind the shim's back. */
#ifndef BH_HOSTILE_CALLOUT_REQ_H
#define BH_HOSTILE_CALLOUT_REQ_H

static H_UNUSED unsigned char *hc_u32(unsigned char *p, uint32_t v)
{
	*p++ = 0xce;
	*p++ = (unsigned char)(v >> 24);
	*p++ = (unsigned char)(v >> 16);
	*p++ = (unsigned char)(v >> 8);
	*p++ = (unsigned char)v;
	return p;
}

/* Into buf (n + 64 + strlen(target) bytes at least, target under 32 bytes, n under
 * 64 KiB): the request's length. */
static H_UNUSED size_t hc_request(unsigned char *buf, uint32_t oid, const char *target,
				  size_t n, uint32_t iid)
{
	unsigned char *p = buf;
	size_t tlen = strlen(target);
	*p++ = 0x95;
	*p++ = 0x00;
	p = hc_u32(p, oid);
	*p++ = (unsigned char)(0xa0 | tlen);
	memcpy(p, target, tlen);
	p += tlen;
	*p++ = 0x91;
	*p++ = 0xda;
	*p++ = (unsigned char)(n >> 8);
	*p++ = (unsigned char)n;
	memset(p, 'x', n);
	p += n;
	*p++ = 0x81;
	*p++ = 0xa2;
	*p++ = 'i';
	*p++ = 'n';
	p = hc_u32(p, iid);
	return (size_t)(p - buf);
}

#endif
