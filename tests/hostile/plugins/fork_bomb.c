/* fork_bomb: fork until the kernel or the sandbox says no. Children wait to be killed;
 * all of them are killed and reaped before the call returns. */
#define H_NAME "fork_bomb"
#define H_CTOR H_CTOR_INPROC
#include "hostile.h"

#define MAX_KIDS 600 /* past the outer containment's cap: reaching it is a success */

static pid_t kids[MAX_KIDS];

static void h_attack(struct h_out *o, const struct h_args *a)
{
	int n = 0;
	(void)a;
	for (; n < MAX_KIDS; n++) {
		pid_t pid = fork();
		if (pid == 0)
			for (;;)
				pause();
		if (pid < 0) {
			h_blocked(o, "fork", errno);
			break;
		}
		kids[n] = pid;
	}
	o->attempted = true;
	o->count = n;
	if (n == MAX_KIDS)
		h_succeeded(o, "forked %d processes", n);
	else
		h_note(o, "%d forked before that", n);
	for (int i = 0; i < n; i++)
		kill(kids[i], SIGKILL);
	for (int i = 0; i < n; i++)
		while (waitpid(kids[i], NULL, 0) < 0 && errno == EINTR)
			;
}
