/* process_vm_writev: write into the supervisor's and the sibling's memory. The remote
 * address is unmapped, so a permitted call fails with EFAULT without writing: EFAULT
 * (or any success) means the target was reachable. */
#define H_NAME "process_vm_writev"
#define H_CTOR H_CTOR_NONE
#include "hostile.h"

#include <sys/uio.h>

static void poke(struct h_out *o, long long pid, const char *who)
{
	char byte = 'x';
	struct iovec local = { .iov_base = &byte, .iov_len = 1 };
	struct iovec remote = { .iov_base = (void *)0x10, .iov_len = 1 };

	if (pid <= 0 || pid == getpid())
		return;
	o->count++;
	ssize_t n = process_vm_writev((pid_t)pid, &local, 1, &remote, 1, 0);
	if (n >= 0 || errno == EFAULT)
		h_succeeded(o, "reached the memory of %s (pid %lld): %s", who, pid,
			    n >= 0 ? "written" : "EFAULT");
	else
		h_blocked(o, who, errno);
}

static void h_attack(struct h_out *o, const struct h_args *a)
{
	poke(o, a->daemon_pid, "process_vm_writev(daemon)");
	poke(o, a->sibling_pid, "process_vm_writev(sibling)");
	if (a->in_ctor)
		poke(o, getppid(), "process_vm_writev(parent)");
	/* Nothing to aim at (a constructor in a pid namespace of its own): a neighbour
	 * that would exist in a shared one, so that the system call is made anyway. */
	if (o->count == 0)
		poke(o, getpid() == 1 ? 2 : 1, "process_vm_writev(a neighbour pid)");
}
