/* Writing raw bytes on the channel (fd 3, bulkhead/channel.h) behind the shim's back:
 * shared by the chan_* plugins. */
#ifndef BH_HOSTILE_CHAN_H
#define BH_HOSTILE_CHAN_H

#define H_CHANNEL_FD 3

static H_UNUSED void h_chan_write(struct h_out *o, const void *bytes, size_t len, const char *what)
{
	ssize_t n;
	do
		n = write(H_CHANNEL_FD, bytes, len);
	while (n < 0 && errno == EINTR);
	o->attempted = true;
	if (n < 0) {
		h_blocked(o, "write(fd 3)", errno);
		return;
	}
	o->count = n;
	h_note(o, "wrote %zd bytes of %s on the channel", n, what);
}

#endif
