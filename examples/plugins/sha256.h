/* SHA-256 (FIPS 180-4), for the bytes example plugin. */
#ifndef BH_EXAMPLE_SHA256_H
#define BH_EXAMPLE_SHA256_H

#include <stddef.h>
#include <stdint.h>

#define SHA256_DIGEST_SIZE 32

struct sha256 {
	uint32_t h[8];
	uint64_t total;    /* bytes hashed so far */
	uint8_t block[64]; /* pending partial block */
	size_t fill;
};

void sha256_init(struct sha256 *c);
void sha256_update(struct sha256 *c, const void *p, size_t n);
void sha256_final(struct sha256 *c, uint8_t out[SHA256_DIGEST_SIZE]);

#endif
