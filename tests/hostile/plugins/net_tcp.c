/* net_tcp: connect to the TCP listener the test opened on the host loopback. A
 * completed connect() is a connection to the host; the test also checks that its
 * listener never got one. */
#define H_NAME "net_tcp"
#define H_CTOR H_CTOR_INPROC
#include "hostile.h"

#include <netinet/in.h>
#include <sys/socket.h>

static void h_attack(struct h_out *o, const struct h_args *a)
{
	struct sockaddr_in sin = {
		.sin_family = AF_INET,
		.sin_port = htons(H_TCP_PORT),
		.sin_addr.s_addr = htonl(INADDR_LOOPBACK),
	};
	(void)a;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return h_blocked(o, "socket(AF_INET, SOCK_STREAM)", errno);
	if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0)
		h_succeeded(o, "connected to 127.0.0.1:%d", H_TCP_PORT);
	else
		h_blocked(o, "connect(127.0.0.1)", errno);
	close(fd);
}
