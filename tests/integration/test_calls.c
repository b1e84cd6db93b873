/* Integration: calls through the real daemon to real plugins — every value type
 * round trip, state across calls, routing errors, plugin errors and their
 * sanitising, many pipelined clients, deadlines. */
#define _GNU_SOURCE
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

#define ECHO_CONF(extra)                                                                   \
	"plugins = ({ name = \"echo\"; path = \"" HT_PLUGIN("echo") "\"; " extra " });"

/* ---- every MessagePack type through echo.echo -------------------------------------- */

static uint8_t *pattern(size_t n)
{
	uint8_t *p = malloc(n ? n : 1);
	ck_assert_ptr_nonnull(p);
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(i * 131 + (i >> 8));
	return p;
}

static char *text(size_t n)
{
	char *s = malloc(n + 1);
	ck_assert_ptr_nonnull(s);
	for (size_t i = 0; i < n; i++)
		s[i] = (char)('a' + i % 26);
	s[n] = 0;
	return s;
}

static void w_str_n(bh_writer *w, size_t n)
{
	char *s = text(n);
	bh_write_str(w, s, n);
	free(s);
}

static void w_bin_n(bh_writer *w, size_t n)
{
	uint8_t *p = pattern(n);
	bh_write_bin(w, p, n);
	free(p);
}

static void w_ext_n(bh_writer *w, int8_t type, size_t n)
{
	uint8_t *p = pattern(n);
	bh_write_ext(w, type, p, n);
	free(p);
}

/* depth arrays inside each other: [0, [[2, [[4, ... "bottom"]]]]] */
static void w_nested(bh_writer *w, int depth)
{
	for (int i = 0; i < depth; i++) {
		if (i % 2) {
			bh_write_array(w, 1);
		} else {
			bh_write_array(w, 2);
			bh_write_int(w, i);
		}
	}
	bh_write_cstr(w, "bottom");
}

/* A map of every kind of key and value. */
static void w_mixed_map(bh_writer *w)
{
	bh_write_map(w, 7);
	bh_write_cstr(w, "s");
	bh_write_cstr(w, "v");
	bh_write_int(w, -7);
	bh_write_nil(w);
	bh_write_nil(w);
	bh_write_bool(w, true);
	bh_write_cstr(w, "arr");
	bh_write_array(w, 3);
	bh_write_float(w, 0.25);
	bh_write_float32(w, -2.5f);
	bh_write_map(w, 0);
	bh_write_bin(w, "k", 1);
	bh_write_ext(w, 42, "ext", 3);
	bh_write_array(w, 0);
	bh_write_map(w, 1);
	bh_write_cstr(w, "inner");
	bh_write_map(w, 1);
	bh_write_uint(w, UINT64_MAX);
	bh_write_int(w, INT64_MIN);
	bh_write_cstr(w, "");
	bh_write_str(w, "", 0);
}

struct case_ {
	const char *name;
	void (*build)(bh_writer *w, int arg);
	int arg;
};

static void c_nil(bh_writer *w, int a) { (void)a; bh_write_nil(w); }
static void c_bool(bh_writer *w, int a) { bh_write_bool(w, a != 0); }
static void c_int(bh_writer *w, int a)
{
	static const int64_t v[] = {0, 1, -1, 127, 128, -32, -33, 255, 256, -128, -129,
				    65535, 65536, -32768, -32769, INT32_MAX, INT32_MIN,
				    (int64_t)UINT32_MAX + 1, INT64_MAX, INT64_MIN};
	bh_write_int(w, v[a]);
}
static void c_uint(bh_writer *w, int a)
{
	static const uint64_t v[] = {(uint64_t)INT64_MAX + 1, UINT64_MAX, 0, 200, 70000};
	bh_write_uint(w, v[a]);
}
static void c_f32(bh_writer *w, int a)
{
	static const float v[] = {0.0f, 1.5f, -0.0f, 3.4028235e38f, 1e-45f, -123.25f};
	if (a == 6)
		bh_write_float32(w, INFINITY);
	else
		bh_write_float32(w, v[a]);
}
static void c_f64(bh_writer *w, int a)
{
	static const double v[] = {0.0, 3.141592653589793, -1e300, 5e-324, 1.0 / 3.0};
	if (a == 5)
		bh_write_float(w, -INFINITY);
	else
		bh_write_float(w, v[a]);
}
static void c_str(bh_writer *w, int a) { w_str_n(w, (size_t)a); }
static void c_bin(bh_writer *w, int a) { w_bin_n(w, (size_t)a); }
static void c_ext(bh_writer *w, int a) { w_ext_n(w, (int8_t)(a % 7 - 3), (size_t)a); }
static void c_array_n(bh_writer *w, int a)
{
	bh_write_array(w, (uint32_t)a);
	for (int i = 0; i < a; i++)
		bh_write_int(w, i - a / 2);
}
static void c_map_n(bh_writer *w, int a)
{
	bh_write_map(w, (uint32_t)a);
	for (int i = 0; i < a; i++) {
		char k[16];
		snprintf(k, sizeof(k), "k%d", i);
		bh_write_cstr(w, k);
		bh_write_int(w, i);
	}
}
static void c_nested(bh_writer *w, int a) { w_nested(w, a); }
static void c_mixed(bh_writer *w, int a) { (void)a; w_mixed_map(w); }

#define MiB (1 << 20)

static const struct case_ cases[] = {
	{"nil", c_nil, 0},
	{"false", c_bool, 0},
	{"true", c_bool, 1},
	{"int 0", c_int, 0}, {"int 1", c_int, 1}, {"int -1", c_int, 2},
	{"int 127", c_int, 3}, {"int 128", c_int, 4}, {"int -32", c_int, 5},
	{"int -33", c_int, 6}, {"int 255", c_int, 7}, {"int 256", c_int, 8},
	{"int -128", c_int, 9}, {"int -129", c_int, 10}, {"int 65535", c_int, 11},
	{"int 65536", c_int, 12}, {"int -32768", c_int, 13}, {"int -32769", c_int, 14},
	{"INT32_MAX", c_int, 15}, {"INT32_MIN", c_int, 16}, {"2^32", c_int, 17},
	{"INT64_MAX", c_int, 18}, {"INT64_MIN", c_int, 19},
	{"uint 2^63", c_uint, 0}, {"UINT64_MAX", c_uint, 1}, {"uint 0", c_uint, 2},
	{"uint 200", c_uint, 3}, {"uint 70000", c_uint, 4},
	{"float32 0", c_f32, 0}, {"float32 1.5", c_f32, 1}, {"float32 -0", c_f32, 2},
	{"float32 max", c_f32, 3}, {"float32 denormal", c_f32, 4}, {"float32 -123.25", c_f32, 5},
	{"float32 inf", c_f32, 6},
	{"float64 0", c_f64, 0}, {"float64 pi", c_f64, 1}, {"float64 -1e300", c_f64, 2},
	{"float64 denormal", c_f64, 3}, {"float64 1/3", c_f64, 4}, {"float64 -inf", c_f64, 5},
	{"str empty", c_str, 0}, {"str 1", c_str, 1}, {"str 31", c_str, 31},
	{"str 32", c_str, 32}, {"str 255", c_str, 255}, {"str 256", c_str, 256},
	{"str 65535", c_str, 65535}, {"str 65536", c_str, 65536}, {"str 1 MiB", c_str, MiB},
	{"bin empty", c_bin, 0}, {"bin 1", c_bin, 1}, {"bin 255", c_bin, 255},
	{"bin 256", c_bin, 256}, {"bin 65536", c_bin, 65536}, {"bin 1 MiB", c_bin, MiB},
	{"fixext 1", c_ext, 1}, {"fixext 2", c_ext, 2}, {"fixext 4", c_ext, 4},
	{"fixext 8", c_ext, 8}, {"fixext 16", c_ext, 16}, {"ext8 0", c_ext, 0},
	{"ext8 3", c_ext, 3}, {"ext16 300", c_ext, 300}, {"ext32 70000", c_ext, 70000},
	{"array empty", c_array_n, 0}, {"array 15", c_array_n, 15},
	{"array 16", c_array_n, 16}, {"array 70000", c_array_n, 70000},
	{"map empty", c_map_n, 0}, {"map 15", c_map_n, 15}, {"map 16", c_map_n, 16},
	{"map 70000", c_map_n, 70000},
	{"nested 1", c_nested, 1}, {"nested 40", c_nested, 40},
	{"mixed map", c_mixed, 0},
};

/* echo.echo(v) returns v: equal as trees, floats of the same width. */
static void assert_echoes(bh_client *c, const struct case_ *k)
{
	struct ht_value hv;
	ht_value_init(&hv);
	k->build(&hv.w, k->arg);
	const bh_value *want = ht_value_seal(&hv);

	bh_writer *pw = bh_client_params(c);
	bh_write_array(pw, 1);
	bh_write_raw(pw, hv.buf.data, hv.buf.len);
	bh_result *res = NULL;
	bh_error err = {0};
	int r = bh_call(c, "echo.echo", HT_LONG_MS, &res, &err);
	ck_assert_msg(r == 0, "echo of %s: rc %d, %s: %s", k->name, r, bh_code_name(err.code),
		      err.message);
	ck_assert_msg(bh_value_equal(bh_result_value(res), want), "echo of %s came back different",
		      k->name);
	bh_result_free(res);
	ht_value_done(&hv);
}

START_TEST(echo_every_type)
{
	struct ht_daemon d;
	ht_start(&d, ECHO_CONF(""));
	bh_client *c = ht_connect(&d);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_echoes(c, &cases[i]);

	/* All of them at once, as one array argument. */
	struct ht_value hv;
	ht_value_init(&hv);
	bh_write_array(&hv.w, sizeof(cases) / sizeof(cases[0]));
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		cases[i].build(&hv.w, cases[i].arg);
	const bh_value *want = ht_value_seal(&hv);
	bh_writer *pw = bh_client_params(c);
	bh_write_array(pw, 1);
	bh_write_raw(pw, hv.buf.data, hv.buf.len);
	bh_result *res = NULL;
	bh_error err = {0};
	ht_assert_ok(bh_call(c, "echo.echo", HT_LONG_MS, &res, &err), err);
	ck_assert(bh_value_equal(bh_result_value(res), want));
	bh_result_free(res);
	ht_value_done(&hv);

	/* No argument at all: nil. */
	ht_assert_ok(bh_call(c, "echo.echo", HT_LONG_MS, &res, &err), err);
	ck_assert_int_eq(bh_result_value(res)->type, BH_NIL);
	bh_result_free(res);

	/* A large result produced by the plugin, not echoed. */
	ht_assert_ok(ht_call_ints(c, "echo.blob", HT_LONG_MS, &res, &err, HT_INTS(3 * MiB)), err);
	const uint8_t *b;
	size_t blen;
	ck_assert_int_eq(bh_value_get_bin(bh_result_value(res), &b, &blen), 0);
	ck_assert_uint_eq(blen, 3 * MiB);
	ck_assert(b[0] == 'x' && b[blen / 2] == 'x' && b[blen - 1] == 'x');
	bh_result_free(res);

	bh_client_free(c);
	ht_stop(&d);
}
END_TEST

/* ---- state, routing errors ----------------------------------------------------------- */

static void kv_set_int(bh_client *c, const char *key, int64_t v)
{
	bh_writer *w = bh_client_params(c);
	bh_write_array(w, 2);
	bh_write_cstr(w, key);
	bh_write_int(w, v);
	bh_error err = {0};
	bh_result *res = NULL;
	ht_assert_ok(bh_call(c, "kv.set", HT_LONG_MS, &res, &err), err);
	ck_assert_int_eq(bh_result_value(res)->type, BH_NIL);
	bh_result_free(res);
}

static int64_t kv_int(bh_client *c, const char *method, const char *key)
{
	bh_result *res = NULL;
	bh_error err = {0};
	ht_assert_ok(ht_call_str(c, method, HT_LONG_MS, &res, &err, key), err);
	int64_t v;
	ck_assert_int_eq(bh_value_get_int(bh_result_value(res), &v), 0);
	bh_result_free(res);
	return v;
}

START_TEST(kv_keeps_state)
{
	struct ht_daemon d;
	ht_start(&d, "plugins = ({ name = \"kv\"; path = \"" HT_PLUGIN("kv") "\"; });");
	bh_client *c = ht_connect(&d);
	bh_client *c2 = ht_connect(&d);
	bh_result *res = NULL;
	bh_error err = {0};

	kv_set_int(c, "alpha", 41);
	kv_set_int(c, "beta", -5);
	/* A structured value, read back from another connection. */
	struct ht_value hv;
	ht_value_init(&hv);
	bh_write_array(&hv.w, 3);
	bh_write_cstr(&hv.w, "x");
	bh_write_map(&hv.w, 1);
	bh_write_cstr(&hv.w, "y");
	bh_write_float(&hv.w, 2.5);
	bh_write_bin(&hv.w, "\0\1", 2);
	const bh_value *want = ht_value_seal(&hv);
	bh_writer *w = bh_client_params(c);
	bh_write_array(w, 2);
	bh_write_cstr(w, "tree");
	bh_write_raw(w, hv.buf.data, hv.buf.len);
	ht_assert_ok(bh_call(c, "kv.set", HT_LONG_MS, NULL, &err), err);
	ht_assert_ok(ht_call_str(c2, "kv.get", HT_LONG_MS, &res, &err, "tree"), err);
	ck_assert(bh_value_equal(bh_result_value(res), want));
	bh_result_free(res);
	ht_value_done(&hv);

	ck_assert_int_eq(kv_int(c2, "kv.get", "alpha"), 41);
	ck_assert_int_eq(kv_int(c, "kv.incr", "alpha"), 42);
	ck_assert_int_eq(kv_int(c2, "kv.incr", "alpha"), 43);
	ck_assert_int_eq(kv_int(c, "kv.incr", "fresh"), 1);
	ck_assert_int_eq(ht_call_int_ok(c, "kv.count", NULL, 0), 4);

	ht_assert_ok(ht_call_str(c, "kv.del", HT_LONG_MS, &res, &err, "beta"), err);
	ck_assert(bh_result_value(res)->type == BH_BOOL && bh_result_value(res)->as.b);
	bh_result_free(res);
	ht_assert_ok(ht_call_str(c, "kv.get", HT_LONG_MS, &res, &err, "beta"), err);
	ck_assert_int_eq(bh_result_value(res)->type, BH_NIL);
	bh_result_free(res);

	ht_assert_ok(bh_call(c2, "kv.keys", HT_LONG_MS, &res, &err), err);
	const bh_value *keys = bh_result_value(res);
	ck_assert_int_eq(keys->type, BH_ARRAY);
	ck_assert_uint_eq(keys->len, 3);
	ck_assert(bh_value_str_eq(&keys->as.items[0], "alpha"));
	ck_assert(bh_value_str_eq(&keys->as.items[1], "fresh"));
	ck_assert(bh_value_str_eq(&keys->as.items[2], "tree"));
	bh_result_free(res);

	/* Wrong arguments are the plugin's invalid_params. */
	ht_assert_err(ht_call_ints(c, "kv.get", HT_LONG_MS, NULL, &err, HT_INTS(7)), err,
		      BH_E_INVALID_PARAMS, NULL);

	bh_client_free(c);
	bh_client_free(c2);
	ht_stop(&d);
}
END_TEST

START_TEST(unknown_plugin_and_method)
{
	struct ht_daemon d;
	ht_start(&d, ECHO_CONF(""));
	bh_client *c = ht_connect(&d);
	bh_error err = {0};

	/* Before and after the plugin's method table is known. */
	ht_assert_err(bh_call(c, "echo.nosuchmethod", HT_LONG_MS, NULL, &err), err,
		      BH_E_UNKNOWN_METHOD, "nosuchmethod");
	ck_assert_str_eq(bh_call(c, "echo.ping", HT_LONG_MS, NULL, &err) == 0 ? "ok" : err.message,
			 "ok");
	ht_assert_err(bh_call(c, "echo.nosuchmethod", HT_LONG_MS, NULL, &err), err,
		      BH_E_UNKNOWN_METHOD, "nosuchmethod");
	ht_assert_err(bh_call(c, "nope.x", HT_LONG_MS, NULL, &err), err, BH_E_UNKNOWN_PLUGIN,
		      "nope");
	ht_assert_err(bh_call(c, "bulkhead.nosuch", HT_LONG_MS, NULL, &err), err,
		      BH_E_UNKNOWN_METHOD, NULL);
	/* Internal channel names are not methods a client can reach. */
	ht_assert_err(bh_call(c, "echo.$init", HT_LONG_MS, NULL, &err), err,
		      BH_E_UNKNOWN_METHOD, NULL);
	/* Not plugin.method at all. */
	ht_assert_err(bh_call(c, "echo", HT_LONG_MS, NULL, &err), err, BH_E_BAD_REQUEST, NULL);
	ht_assert_err(bh_call(c, "echo.", HT_LONG_MS, NULL, &err), err, BH_E_BAD_REQUEST, NULL);
	ht_assert_err(bh_call(c, ".ping", HT_LONG_MS, NULL, &err), err, BH_E_BAD_REQUEST, NULL);
	ht_assert_err(bh_call(c, "ec ho.ping", HT_LONG_MS, NULL, &err), err, BH_E_BAD_REQUEST,
		      NULL);
	/* The connection is still fine. */
	bh_result *res = NULL;
	ht_assert_ok(bh_call(c, "echo.ping", HT_LONG_MS, &res, &err), err);
	ck_assert(bh_value_str_eq(bh_result_value(res), "pong"));
	bh_result_free(res);
	bh_client_free(c);
	ht_stop(&d);
}
END_TEST

/* ---- errors a plugin returns -------------------------------------------------------- */

static int call_fail(bh_client *c, int64_t code, const char *msg, bh_error *err)
{
	bh_writer *w = bh_client_params(c);
	bh_write_array(w, 2);
	bh_write_int(w, code);
	bh_write_cstr(w, msg);
	return bh_call(c, "echo.fail", HT_LONG_MS, NULL, err);
}

START_TEST(plugin_errors_are_sanitised)
{
	struct ht_daemon d;
	ht_start(&d, ECHO_CONF(""));
	bh_client *c = ht_connect(&d);
	bh_error err = {0};

	/* What a plugin may say passes through, message included. */
	ht_assert_err(call_fail(c, 1001, "application says no", &err), err, 1001,
		      "application says no");
	ck_assert_str_eq(bh_code_name(err.code), "application");
	ht_assert_err(call_fail(c, 2000000, "big code", &err), err, 2000000, "big code");
	ht_assert_err(call_fail(c, BH_E_INVALID_PARAMS, "want a unicorn", &err), err,
		      BH_E_INVALID_PARAMS, "want a unicorn");
	ht_assert_err(call_fail(c, BH_E_PLUGIN_ERROR, "generic", &err), err, BH_E_PLUGIN_ERROR,
		      "generic");
	/* A plugin cannot claim to be the daemon: bulkhead's own codes become plugin_error. */
	static const int64_t claimed[] = {BH_E_TIMEOUT,     BH_E_UNKNOWN_PLUGIN, BH_E_UNAVAILABLE,
					  BH_E_OVERLOADED,  BH_E_SHUTTING_DOWN,  BH_E_INTERNAL,
					  BH_E_PERMISSION_DENIED, BH_E_PLUGIN_CRASHED, 999, 0, -1,
					  INT32_MIN};
	for (size_t i = 0; i < sizeof(claimed) / sizeof(claimed[0]); i++) {
		char msg[64];
		snprintf(msg, sizeof(msg), "pretending %lld", (long long)claimed[i]);
		int r = call_fail(c, claimed[i], msg, &err);
		ck_assert_msg(r == -BH_E_PLUGIN_ERROR && err.code == BH_E_PLUGIN_ERROR,
			      "plugin-returned code %lld came through as %d (%s)",
			      (long long)claimed[i], (int)err.code, err.message);
		ck_assert_msg(strstr(err.message, msg) != NULL, "message \"%s\" lost \"%s\"",
			      err.message, msg);
	}
	/* The plugin's own argument check. */
	ht_assert_err(ht_call_ints(c, "echo.fail", HT_LONG_MS, NULL, &err, HT_INTS(1)), err,
		      BH_E_INVALID_PARAMS, "fail(code");

	/* Methods that break the result contract. */
	ht_assert_err(bh_call(c, "echo.noresult", HT_LONG_MS, NULL, &err), err,
		      BH_E_PLUGIN_ERROR, NULL);
	ht_assert_err(bh_call(c, "echo.tworesults", HT_LONG_MS, NULL, &err), err,
		      BH_E_PLUGIN_ERROR, NULL);
	ht_assert_err(bh_call(c, "echo.partial", HT_LONG_MS, NULL, &err), err,
		      BH_E_PLUGIN_ERROR, NULL);

	/* None of it hurt the instance or the connection; the counters saw it all. */
	bh_result *res = NULL;
	ht_assert_ok(bh_call(c, "echo.ping", HT_LONG_MS, &res, &err), err);
	ck_assert(bh_value_str_eq(bh_result_value(res), "pong"));
	bh_result_free(res);
	bh_result *st = ht_status(c);
	const bh_value *p = ht_status_plugin(bh_result_value(st), "echo");
	ck_assert_ptr_nonnull(p);
	ck_assert_uint_eq(ht_get_uint(p, "restarts"), 0);
	ck_assert_uint_ge(ht_get_uint(p, "errors"), 20);
	bh_result_free(st);
	bh_client_free(c);
	ht_stop(&d);
}
END_TEST

/* ---- many pipelined clients ------------------------------------------------------- */

#define MC_CLIENTS 8
#define MC_CALLS 200

struct mc_call {
	int client, idx;
	uint32_t msgid;
	int answered;
	bool ok;
	char why[128];
};

/* What call (client, idx) sends and must get back: a mix of types. */
static void mc_value(bh_writer *w, int client, int idx)
{
	switch (idx % 3) {
	case 0:
		bh_write_int(w, (int64_t)client * 100000 + idx);
		break;
	case 1: {
		char s[32];
		snprintf(s, sizeof(s), "client %d call %d", client, idx);
		bh_write_cstr(w, s);
		break;
	}
	default:
		bh_write_array(w, 3);
		bh_write_int(w, client);
		bh_write_int(w, -idx);
		bh_write_bin(w, &idx, sizeof(idx));
		break;
	}
}

static void mc_done(void *userdata, uint32_t msgid, const bh_value *result, const bh_error *err)
{
	struct mc_call *k = userdata;
	k->answered++;
	if (msgid != k->msgid) {
		snprintf(k->why, sizeof(k->why), "answered with msgid %u, sent %u", msgid, k->msgid);
		return;
	}
	if (err) {
		snprintf(k->why, sizeof(k->why), "%s: %s", bh_code_name(err->code), err->message);
		return;
	}
	struct ht_value hv;
	ht_value_init(&hv);
	mc_value(&hv.w, k->client, k->idx);
	k->ok = bh_value_equal(result, ht_value_seal(&hv));
	if (!k->ok)
		snprintf(k->why, sizeof(k->why), "wrong result");
	ht_value_done(&hv);
}

START_TEST(many_clients_pipelined)
{
	struct ht_daemon d;
	/* All 1600 calls may be waiting at once: the queue must hold them. */
	ht_start(&d, ECHO_CONF("instances = 2; max_queue = 4096;"));
	bh_client *cs[MC_CLIENTS];
	static struct mc_call calls[MC_CLIENTS][MC_CALLS];
	memset(calls, 0, sizeof(calls));
	for (int i = 0; i < MC_CLIENTS; i++)
		cs[i] = ht_connect(&d);
	/* Interleave the starts across connections so that they are all busy at once. */
	for (int j = 0; j < MC_CALLS; j++) {
		for (int i = 0; i < MC_CLIENTS; i++) {
			struct mc_call *k = &calls[i][j];
			k->client = i;
			k->idx = j;
			bh_writer *w = bh_client_params(cs[i]);
			bh_write_array(w, 1);
			mc_value(w, i, j);
			int r = bh_call_start(cs[i], "echo.echo", 0, mc_done, k, &k->msgid);
			ck_assert_msg(r == 0, "bh_call_start: %d", r);
		}
	}
	ht_run_clients(cs, MC_CLIENTS, 50000);
	for (int i = 0; i < MC_CLIENTS; i++)
		for (int j = 0; j < MC_CALLS; j++) {
			struct mc_call *k = &calls[i][j];
			ck_assert_msg(k->answered == 1, "client %d call %d answered %d times", i, j,
				      k->answered);
			ck_assert_msg(k->ok, "client %d call %d: %s", i, j, k->why);
		}
	/* Every call was counted once, none as an error. */
	bh_result *st = ht_status(cs[0]);
	const bh_value *p = ht_status_plugin(bh_result_value(st), "echo");
	ck_assert_uint_eq(ht_get_uint(p, "calls"), MC_CLIENTS * MC_CALLS);
	ck_assert_uint_eq(ht_get_uint(p, "errors"), 0);
	ck_assert_uint_eq(ht_get(p, "instances")->len, 2);
	bh_result_free(st);
	for (int i = 0; i < MC_CLIENTS; i++)
		bh_client_free(cs[i]);
	ht_stop(&d);
}
END_TEST

/* ---- deadlines ------------------------------------------------------------------------ */

START_TEST(timeout_option_honoured)
{
	struct ht_daemon d;
	ht_start(&d, "plugins = ({ name = \"echo\"; path = \"" HT_PLUGIN("echo") "\"; "
		     "grace_ms = 50; },"
		     "{ name = \"slow\"; path = \"" HT_PLUGIN("echo") "\"; timeout_ms = 150; "
		     "grace_ms = 50; });");
	/* On a raw socket, so that the answer is the daemon's, not a local deadline. */
	struct ht_raw r;
	ht_raw_open(&r, &d);
	struct bh_buf out;
	bh_buf_init(&out, 0);
	struct ht_reply rep;

	ht_req_ints(&out, 1, "echo.sleep_ms", 200, HT_INTS(600000));
	ck_assert_int_eq(ht_raw_send(&r, out.data, out.len), 0);
	ck_assert_int_eq(ht_raw_recv(&r, &rep), 1);
	ck_assert_uint_eq(rep.msgid, 1);
	ck_assert_int_eq(rep.code, BH_E_TIMEOUT);
	ck_assert_str_eq(rep.name, "timeout");
	ck_assert_msg(strstr(rep.message, "200 ms"), "message: %s", rep.message);

	/* The plugin's configured deadline when the client gives none. */
	out.len = 0;
	ht_req_ints(&out, 2, "slow.hang", 0, NULL, 0);
	ck_assert_int_eq(ht_raw_send(&r, out.data, out.len), 0);
	ck_assert_int_eq(ht_raw_recv(&r, &rep), 1);
	ck_assert_uint_eq(rep.msgid, 2);
	ck_assert_int_eq(rep.code, BH_E_TIMEOUT);
	ck_assert_msg(strstr(rep.message, "150 ms"), "message: %s", rep.message);

	/* A deadline long enough: the call completes (on the replacement of the instance
	 * that the sleeping call got killed: queued behind it, it is not lost). */
	out.len = 0;
	ht_req_ints(&out, 3, "echo.sleep_ms", HT_LONG_MS, HT_INTS(20));
	ck_assert_int_eq(ht_raw_send(&r, out.data, out.len), 0);
	ck_assert_int_eq(ht_raw_recv(&r, &rep), 1);
	ck_assert_uint_eq(rep.msgid, 3);
	ck_assert_msg(rep.code == 0, "%s: %s", rep.name, rep.message);
	int64_t v;
	ck_assert(bh_value_get_int(rep.result, &v) == 0 && v == 20);

	/* Bad options are the request's fault. */
	static const uint8_t zero[] = {0x95, 0x00, 0x04, 0xa9, 'e', 'c', 'h', 'o', '.', 'p', 'i',
				       'n', 'g', 0x90, 0x81, 0xaa, 't', 'i', 'm', 'e', 'o', 'u',
				       't', '_', 'm', 's', 0x00};
	static const uint8_t str[] = {0x95, 0x00, 0x05, 0xa9, 'e', 'c', 'h', 'o', '.', 'p', 'i',
				      'n', 'g', 0x90, 0x81, 0xaa, 't', 'i', 'm', 'e', 'o', 'u',
				      't', '_', 'm', 's', 0xa1, '1'};
	ck_assert_int_eq(ht_raw_send(&r, zero, sizeof(zero)), 0);
	ck_assert_int_eq(ht_raw_recv(&r, &rep), 1);
	ck_assert_uint_eq(rep.msgid, 4);
	ck_assert_int_eq(rep.code, BH_E_BAD_REQUEST);
	ck_assert_int_eq(ht_raw_send(&r, str, sizeof(str)), 0);
	ck_assert_int_eq(ht_raw_recv(&r, &rep), 1);
	ck_assert_uint_eq(rep.msgid, 5);
	ck_assert_int_eq(rep.code, BH_E_BAD_REQUEST);

	/* Through the SDK. */
	bh_client *c = ht_connect(&d);
	bh_error err = {0};
	ht_assert_err(bh_call(c, "slow.hang", 300, NULL, &err), err, BH_E_TIMEOUT, NULL);
	int64_t ms = ht_call_int_ok(c, "echo.sleep_ms", HT_INTS(10));
	ck_assert_int_eq(ms, 10);

	bh_client_free(c);
	bh_buf_done(&out);
	ht_raw_close(&r);
	ht_stop(&d);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("integ_calls");
	TCase *tc = ht_tcase("calls");
	tcase_add_test(tc, echo_every_type);
	tcase_add_test(tc, kv_keeps_state);
	tcase_add_test(tc, unknown_plugin_and_method);
	tcase_add_test(tc, plugin_errors_are_sanitised);
	tcase_add_test(tc, many_clients_pipelined);
	tcase_add_test(tc, timeout_option_honoured);
	suite_add_tcase(s, tc);
	return ht_main(s);
}
