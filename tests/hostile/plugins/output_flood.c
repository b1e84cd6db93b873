/* output_flood: write as fast as possible to stdout and stderr (8 MiB each from a
 * call, 1 MiB each from the constructor), then one 1 MiB line without a newline.
 * Nothing stops it: the test checks that the daemon's log stays bounded and that the
 * daemon keeps answering. */
#define H_NAME "output_flood"
#define H_CTOR H_CTOR_INPROC
#include "hostile.h"

static char block[64 * 1024];

static long long flood(struct h_out *o, int fd, long long total)
{
	long long done = 0;
	while (done < total) {
		ssize_t n = write(fd, block, sizeof(block));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			h_note(o, "write(%d): %s", fd, h_errname(errno));
			break;
		}
		done += n;
	}
	return done;
}

static void h_attack(struct h_out *o, const struct h_args *a)
{
	long long per_stream = a->in_ctor ? 1LL << 20 : 8LL << 20;
	for (size_t i = 0; i < sizeof(block); i++)
		block[i] = (i % 80 == 79) ? '\n' : 'F';
	o->attempted = true;
	o->count += flood(o, 1, per_stream);
	o->count += flood(o, 2, per_stream);
	memset(block, 'L', sizeof(block));
	o->count += flood(o, 2, 1LL << 20);
	o->count += write(2, "\n", 1) == 1;
	h_note(o, "wrote %lld bytes", o->count);
}
