/* Blocking channel I/O. The shim serves one call at a time, so a blocking write of
 * the whole response is exactly right: nothing else could be done meanwhile. */
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "shim.h"

/* Sleep in poll(), never in recvmsg() itself: a reader asleep in a Unix stream
 * socket's recvmsg is woken each time the supervisor reads what this shim sent (the
 * freed bytes wake every sleeper on the socket, unix_write_space; poll() wakes only
 * for what it asked), so a blocking recvmsg costs a wake-up and two context switches
 * per call for nothing. On one CPU that was 5 µs of the supervisor's time and 8 µs
 * of a 69 µs call (README "Where the time of a routed call goes"). */
int shim_recv(struct shim *s, void *p, size_t n, size_t *ret_n, bool wait)
{
	struct pollfd pf = { .fd = s->fd, .events = POLLIN };
	if (wait)
		while (poll(&pf, 1, -1) < 0 && errno == EINTR)
			;
	ssize_t r = bh_recv_fds(s->fd, p, n, &s->fdq, wait ? 0 : MSG_DONTWAIT);
	if (r < 0)
		return (int)r;
	*ret_n = (size_t)r;
	return 0;
}

int shim_writev_all(int fd, struct iovec *iov, int n)
{
	while (n > 0) {
		/* sendmsg rather than writev only for MSG_NOSIGNAL: the plugin keeps the
		 * default SIGPIPE disposition for its own pipes. */
		struct msghdr mh = { .msg_iov = iov, .msg_iovlen = (size_t)n };
		ssize_t r = sendmsg(fd, &mh, MSG_NOSIGNAL);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		size_t done = (size_t)r;
		while (n > 0 && done >= iov->iov_len) {
			done -= iov->iov_len;
			iov++;
			n--;
		}
		if (n > 0) {
			iov->iov_base = (uint8_t *)iov->iov_base + done;
			iov->iov_len -= done;
		}
	}
	return 0;
}

/* Through the ring when it fits, waking the supervisor with one byte if it sleeps;
 * on the socket otherwise (ring.h). */
void shim_sendv(struct shim *s, struct iovec *iov, int n)
{
	static uint8_t wake_byte = BH_RING_WAKE;
	struct iovec wake_iov = { .iov_base = &wake_byte, .iov_len = 1 };
	bool wake = false;
	int r = 0;

	if (s->ring_on && bh_ring_put(&s->ring, iov, n, &wake)) {
		if (wake)
			r = shim_writev_all(s->fd, &wake_iov, 1);
	} else {
		r = shim_writev_all(s->fd, iov, n);
	}
	if (r == -EPIPE || r == -ECONNRESET)
		shim_exit_quietly();
	if (r < 0)
		shim_die(SHIM_EXIT_IO, "writing to the channel: %s", strerror(-r));
	if (s->use_claims)
		bh_bell_ring(&s->claims.bell->answered); /* a supervisor may watch for it */
}

void shim_send(struct shim *s, const void *a, size_t alen, const void *b, size_t blen)
{
	struct iovec iov[2] = {
		{ .iov_base = (void *)a, .iov_len = alen },
		{ .iov_base = (void *)b, .iov_len = blen },
	};
	shim_sendv(s, iov, blen > 0 ? 2 : 1);
}
