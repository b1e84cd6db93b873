/* net_packet: a raw AF_PACKET socket (sniffing and forging frames). */
#define H_NAME "net_packet"
#define H_CTOR H_CTOR_INPROC
#include "hostile.h"

#include <linux/if_ether.h>
#include <netinet/in.h>
#include <sys/socket.h>

static void h_attack(struct h_out *o, const struct h_args *a)
{
	(void)a;
	int fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ETH_P_ALL));
	if (fd < 0)
		return h_blocked(o, "socket(AF_PACKET, SOCK_RAW)", errno);
	h_succeeded(o, "opened an AF_PACKET socket");
	close(fd);
}
