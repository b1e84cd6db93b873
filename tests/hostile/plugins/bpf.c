/* bpf: load a trivial socket filter program and create a map. */
#define H_NAME "bpf"
#define H_CTOR H_CTOR_NONE
#include "hostile.h"

#include <linux/bpf.h>

static void h_attack(struct h_out *o, const struct h_args *a)
{
	struct bpf_insn insns[2];
	union bpf_attr attr;
	(void)a;

	memset(insns, 0, sizeof(insns));
	insns[0].code = BPF_ALU64 | BPF_MOV | BPF_K; /* r0 = 0 */
	insns[1].code = BPF_JMP | BPF_EXIT;
	memset(&attr, 0, sizeof(attr));
	attr.prog_type = BPF_PROG_TYPE_SOCKET_FILTER;
	attr.insn_cnt = 2;
	attr.insns = (uint64_t)(uintptr_t)insns;
	attr.license = (uint64_t)(uintptr_t) "GPL";
	int fd = (int)syscall(SYS_bpf, BPF_PROG_LOAD, &attr, sizeof(attr));
	if (fd >= 0) {
		close(fd);
		h_succeeded(o, "BPF_PROG_LOAD gave a program");
	} else {
		h_blocked(o, "bpf(BPF_PROG_LOAD)", errno);
	}
	memset(&attr, 0, sizeof(attr));
	attr.map_type = BPF_MAP_TYPE_ARRAY;
	attr.key_size = 4;
	attr.value_size = 4;
	attr.max_entries = 1;
	fd = (int)syscall(SYS_bpf, BPF_MAP_CREATE, &attr, sizeof(attr));
	if (fd >= 0) {
		close(fd);
		h_succeeded(o, "BPF_MAP_CREATE gave a map");
	} else {
		h_note(o, "bpf(BPF_MAP_CREATE): %s", h_errname(errno));
	}
}
