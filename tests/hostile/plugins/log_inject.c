/* log_inject: text meant to forge daemon log records and drive the operator's
 * terminal (ESC/CSI, OSC 52 clipboard and OSC 0 title writes, CR/BS overprinting,
 * BEL, DEL, C1 controls, bidirectional overrides, a lone 0x9b, newlines followed by
 * forged records). Mid-call it writes the text to stderr and stdout; the _ctor
 * variant also sends it before the shim's $hello in a forged $fatal, the one channel
 * message whose text the daemon logs as the plugin wrote it. The test checks that the
 * log holds only well-formed records and no raw control byte. */
#define H_NAME "log_inject"
#define H_CTOR H_CTOR_NONE
#include "hostile.h"
#include "chan.h"

#define INJ_TEXT                                                                           \
	"INJ \x1b[31mred\x1b[0m \x1b]52;c;SU5KRUNURUQ=\x07 \x1b]0;owned\x1b\\ ok\rOVER\b\bX "   \
	"\xe2\x80\xae" "txt.exe\xe2\x80\xac \xc2\x9b" "2J \x9b" "2J\x7f\n"                    \
	"12:34:56.789 error bulkhead: forged record\r\n12:34:56.789 info  forged again"

static void h_put(struct h_out *o, int fd)
{
	static const char text[] = INJ_TEXT "\n";
	ssize_t n;
	do
		n = write(fd, text, sizeof(text) - 1);
	while (n < 0 && errno == EINTR);
	o->attempted = true;
	if (n < 0)
		h_note(o, "write(%d): %s", fd, h_errname(errno));
	else
		o->count += n;
}

static void h_attack(struct h_out *o, const struct h_args *a)
{
	h_put(o, 2);
	h_put(o, 1);
	if (a->in_ctor) {
		/* [2, "$fatal", [7, INJ_TEXT]] */
		_Static_assert(sizeof(INJ_TEXT) - 1 < 256, "a str8");
		unsigned char msg[16 + sizeof(INJ_TEXT)] = { 0x93, 0x02, 0xa6 };
		size_t n = 3;
		memcpy(msg + n, "$fatal", 6);
		n += 6;
		msg[n++] = 0x92;
		msg[n++] = 0x07;
		msg[n++] = 0xd9;
		msg[n++] = (unsigned char)(sizeof(INJ_TEXT) - 1);
		memcpy(msg + n, INJ_TEXT, sizeof(INJ_TEXT) - 1);
		n += sizeof(INJ_TEXT) - 1;
		h_chan_write(o, msg, n, "a $fatal carrying the text");
	}
	h_note(o, "wrote %lld bytes of hostile text", o->count);
}
