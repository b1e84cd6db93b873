/* ignore_sigterm: ignore SIGTERM, SIGINT, SIGHUP and SIGQUIT (from the constructor and
 * again in a call), and never return from shutdown(): a stop must still end it,
 * with SIGKILL after the stop timeout. */
#define H_NAME "ignore_sigterm"
#define H_CTOR H_CTOR_INPROC
#define H_SHUTDOWN h_shutdown
#include "hostile.h"

static void h_shutdown(void *state)
{
	(void)state;
	for (;;)
		pause();
}

static void h_attack(struct h_out *o, const struct h_args *a)
{
	static const int sigs[] = { SIGTERM, SIGINT, SIGHUP, SIGQUIT };
	struct sigaction sa;
	(void)a;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_IGN;
	o->attempted = true;
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
		if (sigaction(sigs[i], &sa, NULL) == 0)
			o->count++;
		else
			h_blocked(o, "sigaction", errno);
	}
	h_note(o, "%lld signals ignored; shutdown() never returns", o->count);
}
