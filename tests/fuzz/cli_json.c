/* Fuzz target: the CLI's JSON -> MessagePack mapping (`bulkhead call` arguments).
 * Property (json.c's promise that the mapping is exact): for JSON the CLI accepts,
 * MessagePack -> JSON text -> MessagePack gives back the same bytes. */
#include <errno.h>
#include <string.h>

#include "bulkhead/proto.h"
#include "cli.h"
#include "fuzz.h"

/* MessagePack bytes of JSON text, or -1 when the CLI rejects the text. */
static int to_msgpack(const char *text, size_t len, struct bh_buf *out)
{
	json_error_t jerr;
	json_t *j = json_loadb(text, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL | JSON_DECODE_ANY,
			       &jerr);
	if (!j)
		return -1;
	struct bh_writer w;
	bh_writer_init(&w, out);
	char why[320];
	int r = cli_json_to_msgpack(j, &w, why, sizeof why);
	json_decref(j);
	if (r < 0)
		FUZZ_CHECK(why[0] != '\0' || r == -ENOMEM);
	return r < 0 ? -1 : 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct bh_buf first, second;
	bh_buf_init(&first, 0);
	bh_buf_init(&second, 0);
	if (to_msgpack((const char *)data, size, &first) == 0) {
		struct bh_limits lim;
		bh_limits_default(&lim);
		lim.max_depth = UINT32_MAX;
		struct bh_arena arena;
		bh_arena_init(&arena);
		const bh_value *v;
		FUZZ_CHECK(bh_decode(first.data, first.len, &lim, &arena, &v, NULL) == 0);
		json_t *j = cli_json_from_value(v);
		FUZZ_CHECK(j != NULL);
		for (int pretty = 0; pretty <= 1; pretty++) {
			char *text = cli_json_dump(j, pretty);
			FUZZ_CHECK(text != NULL);
			second.len = 0;
			FUZZ_CHECK(to_msgpack(text, strlen(text), &second) == 0);
			FUZZ_CHECK(second.len == first.len &&
				   memcmp(second.data, first.data, first.len) == 0);
			free(text);
		}
		json_decref(j);
		bh_arena_done(&arena);
	}
	bh_buf_done(&first);
	bh_buf_done(&second);
	return 0;
}
