/* memfd_exec: write an executable into a memfd and execveat() it (fileless exec).
 * The executable is 132 bytes that exit_group(42): an instance (or probe child)
 * exiting with status 42 is the proof that the exec went through. */
#define H_NAME "memfd_exec"
#define H_CTOR H_CTOR_NONE
#include "hostile.h"

#include <sys/mman.h>

static const unsigned char tiny_elf[132] = {
	/* ELF64 header */
	0x7f, 'E', 'L', 'F', 2, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	2, 0, 0x3e, 0, 1, 0, 0, 0,           /* ET_EXEC, x86-64, version 1 */
	0x78, 0, 0x40, 0, 0, 0, 0, 0,        /* e_entry 0x400078 */
	0x40, 0, 0, 0, 0, 0, 0, 0,           /* e_phoff 64 */
	0, 0, 0, 0, 0, 0, 0, 0,              /* e_shoff */
	0, 0, 0, 0,                          /* e_flags */
	0x40, 0, 0x38, 0, 1, 0, 0, 0, 0, 0, 0, 0, /* ehsize, phentsize, phnum 1, sh* */
	/* program header: PT_LOAD, R+X, the whole file at 0x400000 */
	1, 0, 0, 0, 5, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0,              /* p_offset */
	0, 0, 0x40, 0, 0, 0, 0, 0,           /* p_vaddr */
	0, 0, 0x40, 0, 0, 0, 0, 0,           /* p_paddr */
	132, 0, 0, 0, 0, 0, 0, 0,            /* p_filesz */
	132, 0, 0, 0, 0, 0, 0, 0,            /* p_memsz */
	0, 0x10, 0, 0, 0, 0, 0, 0,           /* p_align */
	/* code at 0x78: mov edi, 42; mov eax, 231 (exit_group); syscall */
	0xbf, 42, 0, 0, 0, 0xb8, 231, 0, 0, 0, 0x0f, 0x05,
};

static void h_attack(struct h_out *o, const struct h_args *a)
{
	char *const argv[] = { "hostile-payload", NULL };
	char *const envp[] = { NULL };
	(void)a;
	int fd = memfd_create("bulkhead-hostile", MFD_CLOEXEC);
	if (fd < 0)
		return h_blocked(o, "memfd_create", errno);
	h_note(o, "memfd_create allowed");
	if (write(fd, tiny_elf, sizeof(tiny_elf)) != (ssize_t)sizeof(tiny_elf)) {
		h_blocked(o, "write(memfd)", errno);
		close(fd);
		return;
	}
	syscall(SYS_execveat, fd, "", argv, envp, AT_EMPTY_PATH);
	h_blocked(o, "execveat(memfd)", errno);
	close(fd);
}
