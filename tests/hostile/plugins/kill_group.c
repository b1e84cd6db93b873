/* kill_group: signals to the process group and to the parent. In its pid namespace
 * getppid() is 0, so kill(getppid(), sig) is kill(0, sig): the process group, which
 * a child without a session of its own shares with the daemon and every sibling the
 * daemon started (they all run as the same host uid). The filter refuses any target
 * but the process itself (EPERM). Its own signals must keep working: raise() and
 * pthread_kill() of one of its threads ("extra" counts the handled ones, 2). */
#define H_NAME "kill_group"
#define H_CTOR H_CTOR_INPROC
#include "hostile.h"

#include <pthread.h>

static volatile sig_atomic_t h_handled;

static void h_on_usr2(int sig)
{
	(void)sig;
	h_handled++;
}

static void *h_waiter(void *arg)
{
	int *p = arg;
	char b;
	while (read(p[0], &b, 1) < 0 && errno == EINTR)
		;
	return NULL;
}

/* raise() and pthread_kill() of a thread of ours: both tgkill(getpid(), ...). */
static void h_own_signals(struct h_out *o)
{
	struct sigaction sa;
	int p[2];
	pthread_t t;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = h_on_usr2;
	sigaction(SIGUSR2, &sa, NULL);
	h_handled = 0;
	if (raise(SIGUSR2) != 0)
		h_note(o, "raise(SIGUSR2): %s", h_errname(errno));
	if (pipe2(p, O_CLOEXEC) == 0 && pthread_create(&t, NULL, h_waiter, p) == 0) {
		int e = pthread_kill(t, SIGUSR2);
		if (e)
			h_note(o, "pthread_kill(own thread): %s", h_errname(e));
		close(p[1]);
		pthread_join(t, NULL);
		close(p[0]);
	}
	o->extra = h_handled;
}

static void h_attack(struct h_out *o, const struct h_args *a)
{
	/* SIGKILL first: a stopped group would hang rather than fail the case. */
	const struct {
		long long pid;
		int sig;
		const char *what;
	} steps[] = {
		{ 0, SIGKILL, "kill(0, SIGKILL)" },
		{ getppid(), SIGKILL, "kill(getppid(), SIGKILL)" },
		{ -(long long)getpgrp(), SIGKILL, "kill(-getpgrp(), SIGKILL)" },
		{ a->sibling_pid, SIGKILL, "kill(sibling's host pid, SIGKILL)" },
		{ 0, SIGSTOP, "kill(0, SIGSTOP)" },
		{ getppid(), SIGSTOP, "kill(getppid(), SIGSTOP)" },
		{ a->daemon_pid, SIGSTOP, "kill(daemon's host pid, SIGSTOP)" },
	};
	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		if (steps[i].pid == -1 || steps[i].pid == getpid())
			continue; /* not given, or ourselves */
		if (kill((pid_t)steps[i].pid, steps[i].sig) == 0) {
			h_succeeded(o, "%s", steps[i].what);
		} else {
			h_blocked(o, steps[i].what, errno);
			o->count++;
		}
	}
	h_own_signals(o);
}
