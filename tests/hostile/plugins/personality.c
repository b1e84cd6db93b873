/* personality: switch to PER_LINUX32 and to READ_IMPLIES_EXEC (makes every readable
 * mapping executable); a personality that took is put back. */
#define H_NAME "personality"
#define H_CTOR H_CTOR_INPROC
#include "hostile.h"

#include <sys/personality.h>

static void try_persona(struct h_out *o, unsigned long persona, const char *name)
{
	int old = personality(0xffffffff);
	o->count++;
	if (personality(persona) < 0) {
		h_blocked(o, name, errno);
		return;
	}
	int now = personality(0xffffffff);
	if (now >= 0 && (unsigned long)now == persona)
		h_succeeded(o, "personality(%s) took", name);
	else
		h_note(o, "personality(%s) returned but did not take", name);
	personality((unsigned long)old);
}

static void h_attack(struct h_out *o, const struct h_args *a)
{
	(void)a;
	try_persona(o, PER_LINUX32, "PER_LINUX32");
	try_persona(o, READ_IMPLIES_EXEC, "READ_IMPLIES_EXEC");
}
