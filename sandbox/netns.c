/* The new network namespace starts with loopback down: bring it up, so that the
 * plugin has a working 127.0.0.1 and nothing else. */
#define _GNU_SOURCE
#include <errno.h>
#include <net/if.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "internal.h"

void bh__net_loopback_up(const struct bh__plan *pl)
{
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		bh__child_die(pl, "loopback: socket", errno);
	/* SIOCSIFFLAGS changes only the flags a user may change; the others (LOOPBACK,
	 * RUNNING) stay as the device has them, so no SIOCGIFFLAGS round trip. */
	struct ifreq ifr;
	memset(&ifr, 0, sizeof(ifr));
	memcpy(ifr.ifr_name, "lo", 3);
	ifr.ifr_flags = IFF_UP;
	if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0)
		bh__child_die(pl, "loopback: SIOCSIFFLAGS", errno);
	close(s);
}
