/* net_inet: an IPv4 datagram to the test's UDP listener on the host loopback.
 * Confined, the socket is refused or lives in a network namespace of its own, where
 * 127.0.0.1 is not the host's: the datagram never reaches the test (which checks). */
#define H_NAME "net_inet"
#define H_CTOR H_CTOR_INPROC
#include "hostile.h"

#include <netinet/in.h>
#include <sys/socket.h>

static void h_attack(struct h_out *o, const struct h_args *a)
{
	struct sockaddr_in sin = {
		.sin_family = AF_INET,
		.sin_port = htons(H_UDP_PORT),
		.sin_addr.s_addr = htonl(INADDR_LOOPBACK),
	};
	(void)a;
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return h_blocked(o, "socket(AF_INET)", errno);
	h_note(o, "socket(AF_INET) allowed");
	ssize_t n = sendto(fd, "hostile-inet", 12, 0, (struct sockaddr *)&sin, sizeof(sin));
	if (n < 0) {
		h_blocked(o, "sendto(127.0.0.1)", errno);
	} else {
		o->attempted = true;
		o->count = n;
		h_note(o, "sendto(127.0.0.1:%d) sent %zd bytes", H_UDP_PORT, n);
	}
	close(fd);
}
