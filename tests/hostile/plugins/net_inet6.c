/* net_inet6: an IPv6 datagram to the test's UDP listener on the host's ::1. */
#define H_NAME "net_inet6"
#define H_CTOR H_CTOR_INPROC
#include "hostile.h"

#include <netinet/in.h>
#include <sys/socket.h>

static void h_attack(struct h_out *o, const struct h_args *a)
{
	struct sockaddr_in6 sin6 = {
		.sin6_family = AF_INET6,
		.sin6_port = htons(H_UDP_PORT),
		.sin6_addr = IN6ADDR_LOOPBACK_INIT,
	};
	(void)a;
	int fd = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return h_blocked(o, "socket(AF_INET6)", errno);
	h_note(o, "socket(AF_INET6) allowed");
	ssize_t n = sendto(fd, "hostile-inet6", 13, 0, (struct sockaddr *)&sin6, sizeof(sin6));
	if (n < 0) {
		h_blocked(o, "sendto(::1)", errno);
	} else {
		o->attempted = true;
		o->count = n;
		h_note(o, "sendto([::1]:%d) sent %zd bytes", H_UDP_PORT, n);
	}
	close(fd);
}
