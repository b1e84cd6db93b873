/* What every fuzz target defines (libFuzzer's interface), and the check that makes a
 * broken property a crash the fuzzer reports. Targets are built twice: with clang and
 * -fsanitize=fuzzer (BH_FUZZ) to fuzz, and with replay.c into the ordinary sanitizer
 * build to replay the committed inputs. */
#ifndef BH_FUZZ_H
#define BH_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

#define FUZZ_CHECK(cond)                                                                    \
	do {                                                                                \
		if (!(cond)) {                                                              \
			fprintf(stderr, "%s:%d: property broken: %s\n", __FILE__, __LINE__, \
				#cond);                                                     \
			abort();                                                            \
		}                                                                           \
	} while (0)

#endif
