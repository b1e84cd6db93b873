/* net_netlink: rtnetlink, and through it an attempt to add an address to lo. Either
 * the socket is refused, or the kernel refuses the change (no CAP_NET_ADMIN). */
#define H_NAME "net_netlink"
#define H_CTOR H_CTOR_INPROC
#include "hostile.h"

#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <netinet/in.h>
#include <sys/socket.h>

static void h_attack(struct h_out *o, const struct h_args *a)
{
	struct {
		struct nlmsghdr nh;
		struct ifaddrmsg ifa;
		char attrs[64];
	} req;
	char buf[4096];
	uint32_t addr = htonl(0x0afefefe); /* 10.254.254.254 */
	(void)a;

	int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	if (fd < 0)
		return h_blocked(o, "socket(AF_NETLINK)", errno);
	h_note(o, "socket(AF_NETLINK) allowed");
	memset(&req, 0, sizeof(req));
	req.nh.nlmsg_len = NLMSG_LENGTH(sizeof(struct ifaddrmsg));
	req.nh.nlmsg_type = RTM_NEWADDR;
	req.nh.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL;
	req.nh.nlmsg_seq = 1;
	req.ifa.ifa_family = AF_INET;
	req.ifa.ifa_prefixlen = 32;
	req.ifa.ifa_index = 1; /* lo */
	struct rtattr *rta = (struct rtattr *)((char *)&req + NLMSG_ALIGN(req.nh.nlmsg_len));
	rta->rta_type = IFA_LOCAL;
	rta->rta_len = RTA_LENGTH(sizeof(addr));
	memcpy(RTA_DATA(rta), &addr, sizeof(addr));
	req.nh.nlmsg_len = NLMSG_ALIGN(req.nh.nlmsg_len) + RTA_LENGTH(sizeof(addr));
	if (send(fd, &req, req.nh.nlmsg_len, 0) < 0) {
		h_blocked(o, "send(RTM_NEWADDR)", errno);
		goto out;
	}
	/* rtnetlink answers inside send(): the acknowledgement is already queued. */
	ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
	if (n < (ssize_t)NLMSG_LENGTH(sizeof(struct nlmsgerr))) {
		h_blocked(o, "recv(ack)", n < 0 ? errno : EPROTO);
		goto out;
	}
	struct nlmsghdr *h = (struct nlmsghdr *)buf;
	struct nlmsgerr *e = NLMSG_DATA(h);
	if (h->nlmsg_type != NLMSG_ERROR) {
		h_blocked(o, "unexpected netlink answer", EPROTO);
	} else if (e->error == 0) {
		h_succeeded(o, "added 10.254.254.254/32 to lo");
		req.nh.nlmsg_type = RTM_DELADDR;
		req.nh.nlmsg_flags = NLM_F_REQUEST;
		send(fd, &req, req.nh.nlmsg_len, 0);
	} else {
		h_blocked(o, "RTM_NEWADDR", -e->error);
	}
out:
	close(fd);
}
