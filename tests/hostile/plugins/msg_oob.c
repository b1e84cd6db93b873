/* msg_oob: out-of-band data (MSG_OOB) on an AF_UNIX stream pair of its own and on the
 * channel to the daemon, with send, sendto, sendmsg, sendmmsg, recv, recvmsg and
 * recvmmsg. The filter refuses the flag (EOPNOTSUPP); the same calls without it must
 * work ("extra": plain send and receive that did, 2). */
#define H_NAME "msg_oob"
#define H_CTOR H_CTOR_INPROC
#include "hostile.h"

#include <sys/socket.h>

static void h_step(struct h_out *o, const char *what, long r)
{
	if (r >= 0) {
		h_succeeded(o, "%s", what);
		return;
	}
	h_blocked(o, what, errno);
	o->count++;
}

static void h_attack(struct h_out *o, const struct h_args *a)
{
	int sv[2];
	char b = '!';
	struct iovec iov = { .iov_base = &b, .iov_len = 1 };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	struct mmsghdr mm = { .msg_hdr = mh };

	(void)a;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return h_blocked(o, "socketpair", errno);
	h_step(o, "send(MSG_OOB)", send(sv[0], &b, 1, MSG_OOB | MSG_NOSIGNAL));
	h_step(o, "sendto(MSG_OOB)", sendto(sv[0], &b, 1, MSG_OOB | MSG_NOSIGNAL, NULL, 0));
	h_step(o, "sendmsg(MSG_OOB)", sendmsg(sv[0], &mh, MSG_OOB | MSG_NOSIGNAL));
	h_step(o, "sendmmsg(MSG_OOB)", sendmmsg(sv[0], &mm, 1, MSG_OOB | MSG_NOSIGNAL));
	h_step(o, "recv(MSG_OOB)", recv(sv[1], &b, 1, MSG_OOB | MSG_DONTWAIT));
	h_step(o, "recvmsg(MSG_OOB)", recvmsg(sv[1], &mh, MSG_OOB | MSG_DONTWAIT));
	h_step(o, "recvmmsg(MSG_OOB)", recvmmsg(sv[1], &mm, 1, MSG_OOB | MSG_DONTWAIT, NULL));
	/* the channel: an urgent byte in the supervisor's stream */
	h_step(o, "send(channel, MSG_OOB)", send(3, &b, 1, MSG_OOB | MSG_NOSIGNAL));
	if (send(sv[0], &b, 1, MSG_NOSIGNAL) == 1)
		o->extra++;
	if (recv(sv[1], &b, 1, MSG_DONTWAIT) == 1)
		o->extra++;
	close(sv[0]);
	close(sv[1]);
}
