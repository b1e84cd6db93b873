/* The smallest file bh_plugin_file_check takes for a plugin: an ELF header of this
 * machine's class, byte order and architecture, of type `type`, with no program
 * headers. Tests of the configuration use it where a real plugin is not needed. */
#ifndef BH_TESTS_ELF_STUB_H
#define BH_TESTS_ELF_STUB_H

#include <elf.h>
#include <link.h>
#include <string.h>

static inline void bh_test_elf_header(ElfW(Ehdr) *h, uint16_t type)
{
	memset(h, 0, sizeof(*h));
	memcpy(h->e_ident, ELFMAG, SELFMAG);
	h->e_ident[EI_CLASS] = sizeof(void *) == 8 ? ELFCLASS64 : ELFCLASS32;
	h->e_ident[EI_DATA] = __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__ ? ELFDATA2LSB : ELFDATA2MSB;
	h->e_ident[EI_VERSION] = EV_CURRENT;
	h->e_type = type;
#if defined(__x86_64__)
	h->e_machine = EM_X86_64;
#elif defined(__aarch64__)
	h->e_machine = EM_AARCH64;
#endif
	h->e_version = EV_CURRENT;
	h->e_ehsize = sizeof(*h);
	h->e_phentsize = sizeof(ElfW(Phdr));
}

#endif
