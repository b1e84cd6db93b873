/* bulk_fds: fds on the channel (SCM_RIGHTS), as many as the kernel lets through: a
 * forged response sent one byte per sendmsg, each byte carrying HB_FDS copies of the
 * plugin's stderr. The daemon never takes an fd from a child: the kernel closes
 * them unread, the daemon's fd count stays, the forged response kills the instance.
 * What got through is written to stderr (the daemon's log), for the test to see. */
#define H_NAME "bulk_fds"
#define H_CTOR H_CTOR_NONE
#include "hostile.h"
#include "bulk_area.h"

#include <sched.h>
#include <sys/socket.h>

#define HB_FDS 253 /* SCM_MAX_FD */
#define HB_TRIES 1000

/* One byte with HB_FDS fds; when the kernel refuses more fds in flight
 * (ETOOMANYREFS) until the daemon reads, retry a while, then the byte alone. */
static long send_byte(uint8_t byte)
{
	union {
		char buf[CMSG_SPACE(HB_FDS * sizeof(int))];
		struct cmsghdr align;
	} u;
	struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf,
			     .msg_controllen = sizeof(u.buf) };
	struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(HB_FDS * sizeof(int));
	int *fds = (int *)(void *)CMSG_DATA(c);
	for (int i = 0; i < HB_FDS; i++)
		fds[i] = 2;
	for (int t = 0; t < HB_TRIES; t++) {
		if (sendmsg(H_CHANNEL_FD, &mh, MSG_NOSIGNAL) == 1)
			return HB_FDS;
		if (errno != ETOOMANYREFS && errno != EINTR)
			return -errno;
		sched_yield();
	}
	mh.msg_control = NULL;
	mh.msg_controllen = 0;
	return sendmsg(H_CHANNEL_FD, &mh, MSG_NOSIGNAL) == 1 ? 0 : -errno;
}

static void h_attack(struct h_out *o, const struct h_args *a)
{
	/* [1, 0xdeadbeef, nil, str8 of 200 'x']: 210 bytes, 210 chances. The message is
	 * whole (and the instance killed) only with its last byte: what got through is
	 * told before that. */
	static uint8_t msg[210] = { 0x94, 0x01, 0xce, 0xde, 0xad, 0xbe, 0xef, 0xc0, 0xd9, 200 };
	static const char told[] = "bulk_fds: fds sent on the channel\n";
	(void)a;
	memset(msg + 10, 'x', 200);
	o->attempted = true;
	for (size_t i = 0; i < sizeof(msg); i++) {
		if (i == sizeof(msg) - 1 && o->count > 0 && write(2, told, sizeof(told) - 1) < 0)
			h_note(o, "stderr: %s", h_errname(errno));
		long r = send_byte(msg[i]);
		if (r < 0) {
			h_blocked(o, "sendmsg", (int)-r);
			break;
		}
		o->count += r;
	}
}
