/* Integration: many plugins at once. A daemon with hundreds of one-instance plugins
 * under the usual soft limit of 1024 open files starts every one of them, never more
 * at a time than it says (max_starting), every one answers a call, and once they are
 * idle none holds a read buffer, a scanner or a log line buffer (nor does a client,
 * but the one asking). */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "harness.h"

/* Enough that five fds per instance pass 1024, and that starting them all at once
 * would take the daemon longer than one instance's init_timeout_ms. */
#define SCALE_PLUGINS 300

/* The configuration body: SCALE_PLUGINS plugins s0..sN-1, each echo.so, one instance. */
static char *scale_conf(void)
{
	size_t cap = 64 + SCALE_PLUGINS * 128, len = 0;
	char *s = malloc(cap);
	ck_assert_ptr_nonnull(s);
	len += (size_t)snprintf(s + len, cap - len, "plugins = (\n");
	for (int i = 0; i < SCALE_PLUGINS; i++)
		len += (size_t)snprintf(s + len, cap - len,
					"  { name = \"s%d\"; path = \"%s\"; instances = 1; }%s\n",
					i, HT_PLUGIN("echo"), i + 1 < SCALE_PLUGINS ? "," : "");
	snprintf(s + len, cap - len, ");\n");
	return s;
}

/* Instances of the snapshot that are not ready yet (starting or initializing). */
static uint32_t count_starting(const bh_value *status)
{
	const bh_value *plugins = ht_get(status, "plugins");
	uint32_t n = 0;
	for (uint32_t i = 0; i < plugins->len; i++) {
		const bh_value *insts = ht_get(&plugins->as.items[i], "instances");
		for (uint32_t k = 0; k < insts->len; k++)
			n += ht_get_str_is(&insts->as.items[k], "state", "starting") ||
			     ht_get_str_is(&insts->as.items[k], "state", "initializing");
	}
	return n;
}

struct scale_call {
	int answered;
	bool ok;
	char why[160];
};

static void scale_done(void *userdata, uint32_t msgid, const bh_value *result,
		       const bh_error *err)
{
	(void)msgid;
	struct scale_call *k = userdata;
	k->answered++;
	k->ok = !err && bh_value_str_eq(result, "hi");
	if (err)
		snprintf(k->why, sizeof(k->why), "%s: %s", bh_code_name(err->code), err->message);
	else if (!k->ok)
		snprintf(k->why, sizeof(k->why), "wrong result");
}

START_TEST(hundreds_of_plugins)
{
	/* The usual soft limit (the hard one as it is): the daemon raises it itself. */
	struct rlimit rl;
	ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
	if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < 8 * SCALE_PLUGINS)
		ht_skip("the hard open files limit (%llu) is below %d",
			(unsigned long long)rl.rlim_max, 8 * SCALE_PLUGINS);
	rl.rlim_cur = 1024;
	ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);

	struct ht_daemon d;
	char *conf = scale_conf();
	ht_start(&d, "%s", conf);
	free(conf);
	bh_client *c = ht_connect(&d);

	/* One snapshot, taken while they start: never more than max_starting. */
	bh_result *st = ht_status(c);
	const bh_value *spawning = ht_get(bh_result_value(st), "spawning");
	uint64_t max = ht_get_uint(spawning, "max_starting");
	uint32_t starting = count_starting(bh_result_value(st));
	ck_assert_uint_eq(ht_get_uint(spawning, "starting"), starting);
	ck_assert_msg(starting <= max, "%u instances starting at once, max_starting %llu",
		      starting, (unsigned long long)max);
	bh_result_free(st);

	/* Every plugin answers (calls to those still starting wait in their queues). */
	static struct scale_call calls[SCALE_PLUGINS];
	memset(calls, 0, sizeof(calls));
	for (int i = 0; i < SCALE_PLUGINS; i++) {
		char method[32];
		snprintf(method, sizeof(method), "s%d.echo", i);
		bh_writer *w = bh_client_params(c);
		bh_write_array(w, 1);
		bh_write_cstr(w, "hi");
		int r = bh_call_start(c, method, HT_LONG_MS * 4, scale_done, &calls[i], NULL);
		ck_assert_msg(r == 0, "bh_call_start %s: %d", method, r);
	}
	ht_run_clients(&c, 1, HT_LONG_MS * 4);
	for (int i = 0; i < SCALE_PLUGINS; i++) {
		ck_assert_msg(calls[i].answered == 1, "s%d answered %d times", i, calls[i].answered);
		ck_assert_msg(calls[i].ok, "s%d: %s", i, calls[i].why);
	}
	/* None had to be restarted (an init timeout) or retried (no fds), and idle, none
	 * holds a read buffer, a scanner or a log line buffer. */
	st = ht_status(c);
	const bh_value *buffers = ht_get(bh_result_value(st), "buffers");
	ck_assert_uint_eq(ht_get_uint(buffers, "instance_readers"), 0);
	ck_assert_uint_eq(ht_get_uint(buffers, "log_lines"), 0);
	ck_assert_uint_le(ht_get_uint(buffers, "client_readers"), 1); /* the one asking */
	const bh_value *plugins = ht_get(bh_result_value(st), "plugins");
	ck_assert_uint_eq(plugins->len, SCALE_PLUGINS);
	for (uint32_t i = 0; i < plugins->len; i++) {
		ck_assert_uint_eq(ht_get_uint(&plugins->as.items[i], "spawn_failures"), 0);
		ck_assert_uint_eq(ht_get_uint(&plugins->as.items[i], "restarts"), 0);
	}
	bh_result_free(st);
	bh_client_free(c);
	ck_assert_msg(ht_log_has(&d, "open files limit raised from 1024"),
		      "the daemon did not say it raised its open files limit");
	ht_stop(&d);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("scale");
	TCase *tc = ht_tcase("scale");
	tcase_set_timeout(tc, 240); /* the start of 300 sandboxes under sanitizers */
	tcase_add_test(tc, hundreds_of_plugins);
	suite_add_tcase(s, tc);
	return ht_main(s);
}
