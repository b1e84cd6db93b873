/* Integration: lifecycle events (bulkhead.subscribe).
 *
 *   - a subscriber sees a plugin load, its instance start and become ready, a crash
 *     with its cause and the restart, a hot swap's phases and outcome, an unload, in
 *     the order they happened and with increasing sequence numbers;
 *   - a subscriber that does not read is not waited for: the daemon keeps serving
 *     another client, and once the subscriber reads again it gets every event up to
 *     the bound and a "dropped" event whose count is exactly the events it missed;
 *   - bad subscribe params are refused.
 *
 * Waiting is on the events themselves, each wait bounded by a deadline that only a
 * broken daemon reaches. */
#define _GNU_SOURCE
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

#define ECHO_ENTRY(extra) "{ name = \"echo\"; path = \"" HT_PLUGIN("echo") "\"; " extra " }"

/* What the subscriber saw: kind, plugin and cause of each event, and its seq. */
struct seen {
	char kind[64], plugin[64], cause[64];
	uint64_t seq;
};

struct log {
	struct seen ev[512];
	size_t n;
};

static int on_event(void *userdata, const char *method, const bh_value *params,
		    bh_writer *result, bh_error *err)
{
	struct log *l = userdata;
	(void)method, (void)result, (void)err;
	const bh_value *e = bh_value_at(params, 0);
	ck_assert_ptr_nonnull(e);
	ck_assert_uint_lt(l->n, sizeof l->ev / sizeof l->ev[0]);
	struct seen *s = &l->ev[l->n++];
	ht_str(ht_get(e, "kind"), s->kind, sizeof s->kind);
	const bh_value *p = bh_value_find(e, "plugin"), *c = bh_value_find(e, "cause");
	ht_str(p, s->plugin, sizeof s->plugin);
	ht_str(c, s->cause, sizeof s->cause);
	s->seq = ht_get_uint(e, "seq");
	ck_assert_uint_gt(ht_get_uint(e, "time_ms"), 0);
	return 0;
}

static bh_client *subscriber(const struct ht_daemon *d, struct log *l)
{
	bh_client *c = ht_connect(d);
	ck_assert_int_eq(bh_client_handle(c, "bulkhead.event", on_event, l), 0);
	bh_result *res = NULL;
	bh_error err = { 0 };
	ck_assert_int_eq(bh_call(c, "bulkhead.subscribe", HT_LONG_MS, &res, &err), 0);
	ck_assert(bh_value_get_bool(ht_get(bh_result_value(res), "subscribed"), &(bool){ 0 }) ==
		  0);
	ck_assert(ht_get_str_is(bh_result_value(res), "method", "bulkhead.event"));
	bh_result_free(res);
	return c;
}

/* Read events until one of kind (for plugin, with cause when given) arrives after
 * index *from; *from moves past it. Fails the test after HT_LONG_MS. */
static void await(bh_client *c, struct log *l, size_t *from, const char *kind,
		  const char *plugin, const char *cause)
{
	int64_t deadline = ht_now_ms() + HT_LONG_MS;
	for (;;) {
		for (size_t i = *from; i < l->n; i++) {
			const struct seen *s = &l->ev[i];
			if (strcmp(s->kind, kind) == 0 && strcmp(s->plugin, plugin) == 0 &&
			    (!cause || strcmp(s->cause, cause) == 0)) {
				*from = i + 1;
				return;
			}
		}
		int64_t left = deadline - ht_now_ms();
		ck_assert_msg(left > 0, "no %s event for %s (%zu events seen)", kind, plugin, l->n);
		struct pollfd p = { .fd = bh_client_fd(c), .events = POLLIN };
		ck_assert_int_ge(poll(&p, 1, (int)left), 0);
		ck_assert_int_eq(bh_client_step(c), 0);
	}
}

static void admin(bh_client *c, const char *method, const char *a, const char *b)
{
	bh_writer *w = bh_client_params(c);
	bh_write_array(w, b ? 2 : 1);
	bh_write_cstr(w, a);
	if (b)
		bh_write_cstr(w, b);
	bh_error err = { 0 };
	int r = bh_call(c, method, HT_LONG_MS, NULL, &err);
	ck_assert_msg(r == 0, "%s %s: %s", method, a, err.message);
}

START_TEST(lifecycle_in_order)
{
	struct ht_daemon d;
	ht_start(&d, "plugins = (" ECHO_ENTRY("") ");");
	struct log *l = calloc(1, sizeof *l);
	ck_assert_ptr_nonnull(l);
	bh_client *sub = subscriber(&d, l), *c = ht_connect(&d);
	size_t at = 0;

	admin(c, "bulkhead.load", "echo2", HT_PLUGIN("echo"));
	await(sub, l, &at, "plugin.loaded", "echo2", NULL);
	await(sub, l, &at, "instance.started", "echo2", NULL);
	await(sub, l, &at, "instance.ready", "echo2", NULL);

	bh_error err = { 0 };
	ck_assert_int_lt(ht_call_ints(c, "echo.crash", HT_LONG_MS, NULL, &err, NULL, 0), 0);
	await(sub, l, &at, "instance.exited", "echo", "crashed");
	await(sub, l, &at, "instance.restarted", "echo", NULL);
	await(sub, l, &at, "instance.started", "echo", NULL);
	await(sub, l, &at, "instance.ready", "echo", NULL);

	admin(c, "bulkhead.swap", "echo", NULL);
	await(sub, l, &at, "swap.phase", "echo", NULL);
	await(sub, l, &at, "swap.done", "echo", "committed");

	admin(c, "bulkhead.unload", "echo2", NULL);
	await(sub, l, &at, "instance.exited", "echo2", "stopped");
	await(sub, l, &at, "plugin.unloaded", "echo2", NULL);

	for (size_t i = 1; i < l->n; i++)
		ck_assert_uint_gt(l->ev[i].seq, l->ev[i - 1].seq);
	bh_client_free(sub);
	bh_client_free(c);
	free(l);
	ht_stop(&d);
}
END_TEST

/* [2, "bulkhead.event", [{...}]] from a raw connection: its map, or NULL for any
 * other message (the subscribe's response). */
static const bh_value *raw_event(const bh_value *msg)
{
	if (msg->type != BH_ARRAY || msg->len != 3 || !ht_str_has(bh_value_at(msg, 1), "event"))
		return NULL;
	return bh_value_at(bh_value_at(msg, 2), 0);
}

/* Whether a message from the daemon waits: buffered in r or in the socket. */
static bool raw_pending(struct ht_raw *r)
{
	if (r->in.len > r->used)
		return true;
	struct pollfd p = { .fd = r->fd, .events = POLLIN };
	return poll(&p, 1, 0) == 1;
}

START_TEST(slow_subscriber_is_not_waited_for)
{
	struct ht_daemon d;
	ht_start(&d, "limits = { event_backlog = 8192; }; plugins = (" ECHO_ENTRY("") ");");
	struct ht_raw sub;
	ht_raw_open(&sub, &d);
	struct bh_buf req;
	bh_buf_init(&req, 0);
	ht_req_ints(&req, 1, "bulkhead.subscribe", 0, NULL, 0);
	ck_assert_int_eq(ht_raw_send(&sub, req.data, req.len), 0);
	bh_buf_done(&req);
	struct ht_reply rep;
	ck_assert_int_eq(ht_raw_recv(&sub, &rep), 1);

	/* Without reading: plugins loaded and unloaded, four events each at least, far
	 * more than the backlog of 8 KiB holds. The daemon answers all of it. */
	bh_client *c = ht_connect(&d);
	enum { CYCLES = 12 };
	for (int i = 0; i < CYCLES; i++) {
		admin(c, "bulkhead.load", "p", HT_PLUGIN("echo"));
		admin(c, "bulkhead.unload", "p", NULL);
	}
	int64_t v = 7;
	ck_assert_int_eq(ht_call_int_ok(c, "echo.echo", &v, 1), 7);

	/* Now it reads what it was sent (all of it queued before the daemon answered c),
	 * and nothing says "dropped" yet: nothing happened since. */
	uint64_t received = 0, last = 0;
	while (raw_pending(&sub)) {
		const bh_value *msg;
		ck_assert_int_eq(ht_raw_recv_any(&sub, &msg), 1);
		const bh_value *e = raw_event(msg);
		ck_assert_ptr_nonnull(e);
		ck_assert(!ht_get_str_is(e, "kind", "dropped"));
		ck_assert_uint_gt(ht_get_uint(e, "seq"), last);
		last = ht_get_uint(e, "seq");
		received++;
	}
	ck_assert_uint_gt(received, 0);

	/* The next event: the count of what it missed comes first, and every event up to
	 * it was either received or counted. */
	admin(c, "bulkhead.load", "q", HT_PLUGIN("echo"));
	const bh_value *msg, *e;
	ck_assert_int_eq(ht_raw_recv_any(&sub, &msg), 1);
	ck_assert_ptr_nonnull(e = raw_event(msg));
	ck_assert(ht_get_str_is(e, "kind", "dropped"));
	uint64_t dropped = ht_get_uint(e, "count"), total = ht_get_uint(e, "seq");
	ck_assert_uint_gt(dropped, 0);
	ck_assert_uint_eq(received + dropped, total);
	ck_assert_uint_ge(total, (uint64_t)CYCLES * 4);
	ck_assert_int_eq(ht_raw_recv_any(&sub, &msg), 1);
	ck_assert_ptr_nonnull(e = raw_event(msg));
	ck_assert(ht_get_str_is(e, "kind", "plugin.loaded"));
	ck_assert_uint_eq(ht_get_uint(e, "seq"), total + 1);
	ht_raw_close(&sub);
	bh_client_free(c);
	ht_stop(&d);
}
END_TEST

START_TEST(subscribe_params_checked)
{
	struct ht_daemon d;
	ht_start(&d, "plugins = (" ECHO_ENTRY("") ");");
	bh_client *c = ht_connect(&d);
	bh_error err = { 0 };
	ht_assert_err(ht_call_ints(c, "bulkhead.subscribe", HT_LONG_MS, NULL, &err, HT_INTS(1)),
		      err, BH_E_INVALID_PARAMS, "subscribe expects [] or [bool]");
	bh_client_free(c);
	ht_stop(&d);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("integ_events");
	TCase *tc = ht_tcase("events");
	tcase_add_test(tc, lifecycle_in_order);
	tcase_add_test(tc, slow_subscriber_is_not_waited_for);
	tcase_add_test(tc, subscribe_params_checked);
	suite_add_tcase(s, tc);
	return ht_main(s);
}
