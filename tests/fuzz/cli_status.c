/* Fuzz target: what the CLI does with a result from the daemon: the status printer
 * (text and JSON renderings) on any MessagePack value. Property (json.c's promise): a
 * value -> JSON text -> MessagePack gives back an equal value (float32 aside, which is
 * widened on purpose). */
#include <errno.h>
#include <string.h>

#include "bulkhead/proto.h"
#include "cli.h"
#include "fuzz.h"

static FILE *sink;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	sink = fopen("/dev/null", "we");
	FUZZ_CHECK(sink != NULL);
	return 0;
}

static bool has_float32(const bh_value *v)
{
	if (v->type == BH_FLOAT)
		return v->len == 4;
	if (v->type != BH_ARRAY && v->type != BH_MAP)
		return false;
	uint64_t n = v->type == BH_MAP ? 2 * (uint64_t)v->len : v->len;
	for (uint64_t i = 0; i < n; i++)
		if (has_float32(&v->as.items[i]))
			return true;
	return false;
}

static void json_round_trip(const bh_value *v)
{
	json_t *j = cli_json_from_value(v);
	FUZZ_CHECK(j != NULL);
	char *text = cli_json_dump(j, false);
	FUZZ_CHECK(text != NULL);
	json_decref(j);

	json_error_t jerr;
	json_t *back = json_loads(text, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL | JSON_DECODE_ANY,
				  &jerr);
	FUZZ_CHECK(back != NULL);
	struct bh_buf b;
	struct bh_writer w;
	bh_buf_init(&b, 0);
	bh_writer_init(&w, &b);
	char why[320];
	FUZZ_CHECK(cli_json_to_msgpack(back, &w, why, sizeof why) == 0);
	json_decref(back);

	struct bh_limits lim;
	bh_limits_default(&lim);
	struct bh_arena arena;
	bh_arena_init(&arena);
	const bh_value *again;
	FUZZ_CHECK(bh_decode(b.data, b.len, &lim, &arena, &again, NULL) == 0);
	FUZZ_CHECK(has_float32(v) || bh_value_equal(v, again));
	bh_arena_done(&arena);
	bh_buf_done(&b);
	free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct bh_limits lim;
	bh_limits_default(&lim);
	struct bh_arena arena;
	bh_arena_init(&arena);
	const bh_value *v;
	if (bh_decode(data, size, &lim, &arena, &v, NULL) == 0) {
		FUZZ_CHECK(cli_print_status(sink, v, NULL, 80) == 0);
		int r = cli_print_status(sink, v, "echo", 0);
		FUZZ_CHECK(r == 0 || r == -ENOENT);
		free(cli_value_text(v));
		json_round_trip(v);
	}
	bh_arena_done(&arena);
	return 0;
}
