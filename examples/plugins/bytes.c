/* bytes: real work on byte strings; every method takes a bin or a str.
 *
 *   sha256(data)       bin, the 32-byte SHA-256 digest
 *   crc32(data)        int, CRC-32 as zlib/PNG/Ethernet compute it
 *   reverse(data)      bin, the bytes in reverse order
 *   hex(data)          str, lower-case hexadecimal
 *   count_bytes(data)  array of 256 ints: how often each byte value occurs
 */
#include <stdlib.h>

#include <bulkhead/plugin.h>

#include "sha256.h"

/* The data argument: a bin or a str, borrowed from the call. */
static int arg_data(const bh_value *args, const uint8_t **p, size_t *n, bh_error *err)
{
	const bh_value *v = bh_value_at(args, 0);

	if (v && v->type == BH_STR)
		return bh_value_get_str(v, (const char **)p, n);
	if (bh_value_get_bin(v, p, n) < 0)
		return bh_fail(err, BH_E_INVALID_PARAMS, "want one argument, a bin or a str");
	return 0;
}

static int m_sha256(void *state, const bh_value *args, bh_writer *out, bh_error *err)
{
	(void)state;
	const uint8_t *p;
	size_t n;
	uint8_t digest[SHA256_DIGEST_SIZE];
	struct sha256 c;

	if (arg_data(args, &p, &n, err) < 0)
		return -1;
	sha256_init(&c);
	sha256_update(&c, p, n);
	sha256_final(&c, digest);
	return bh_write_bin(out, digest, sizeof(digest));
}

static uint32_t crc32_table[256];

static void crc32_table_init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;
		for (int k = 0; k < 8; k++)
			c = (c & 1) ? 0xedb88320u ^ (c >> 1) : c >> 1;
		crc32_table[i] = c;
	}
}

static int m_crc32(void *state, const bh_value *args, bh_writer *out, bh_error *err)
{
	(void)state;
	const uint8_t *p;
	size_t n;
	uint32_t crc = 0xffffffffu;

	if (arg_data(args, &p, &n, err) < 0)
		return -1;
	if (crc32_table[1] == 0) /* methods run on one thread */
		crc32_table_init();
	for (size_t i = 0; i < n; i++)
		crc = crc32_table[(crc ^ p[i]) & 0xff] ^ (crc >> 8);
	return bh_write_uint(out, crc ^ 0xffffffffu);
}

static int m_reverse(void *state, const bh_value *args, bh_writer *out, bh_error *err)
{
	(void)state;
	const uint8_t *p;
	size_t n;

	if (arg_data(args, &p, &n, err) < 0)
		return -1;
	uint8_t *r = malloc(n ? n : 1);
	if (!r)
		return bh_fail(err, BH_E_PLUGIN_ERROR, "out of memory");
	for (size_t i = 0; i < n; i++)
		r[i] = p[n - 1 - i];
	bh_write_bin(out, r, n);
	free(r);
	return bh_writer_error(out);
}

static int m_hex(void *state, const bh_value *args, bh_writer *out, bh_error *err)
{
	(void)state;
	static const char digits[] = "0123456789abcdef";
	const uint8_t *p;
	size_t n;

	if (arg_data(args, &p, &n, err) < 0)
		return -1;
	if (n > UINT32_MAX / 2)
		return bh_fail(err, BH_E_INVALID_PARAMS, "%zu bytes do not fit in one hex string", n);
	char *h = malloc(2 * n + 1);
	if (!h)
		return bh_fail(err, BH_E_PLUGIN_ERROR, "out of memory");
	for (size_t i = 0; i < n; i++) {
		h[2 * i] = digits[p[i] >> 4];
		h[2 * i + 1] = digits[p[i] & 15];
	}
	bh_write_str(out, h, 2 * n);
	free(h);
	return bh_writer_error(out);
}

static int m_count_bytes(void *state, const bh_value *args, bh_writer *out, bh_error *err)
{
	(void)state;
	const uint8_t *p;
	size_t n;
	uint64_t count[256] = { 0 };

	if (arg_data(args, &p, &n, err) < 0)
		return -1;
	for (size_t i = 0; i < n; i++)
		count[p[i]]++;
	bh_write_array(out, 256);
	for (int i = 0; i < 256; i++)
		bh_write_uint(out, count[i]);
	return bh_writer_error(out);
}

static const struct bh_method methods[] = {
	{ "sha256", m_sha256 }, { "crc32", m_crc32 },           { "reverse", m_reverse },
	{ "hex", m_hex },       { "count_bytes", m_count_bytes },
};

BH_PLUGIN_DEFINE = {
	BH_PLUGIN_HEADER,
	.name = "bytes",
	.version = "1.0.0",
	.methods = methods,
	.n_methods = sizeof(methods) / sizeof(methods[0]),
};
