/* Lifecycle events (events.h): one encoding per event, appended to the output of
 * every subscriber that keeps up. */
#include "events.h"

#include <linux/sockios.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>

#include "config.h"
#include "conn.h"
#include "daemon.h"
#include "gen.h"
#include "instance.h"
#include "kv.h"
#include "log.h"
#include "slot.h"

static const char *const names[BH_EV_N] = {
	[BH_EV_INSTANCE_STARTED] = "instance.started",
	[BH_EV_INSTANCE_READY] = "instance.ready",
	[BH_EV_INSTANCE_EXITED] = "instance.exited",
	[BH_EV_INSTANCE_RESTARTED] = "instance.restarted",
	[BH_EV_QUARANTINED] = "plugin.quarantined",
	[BH_EV_UNQUARANTINED] = "plugin.unquarantined",
	[BH_EV_HEALTH_FAILED] = "instance.health_failed",
	[BH_EV_RECYCLED] = "instance.recycled",
	[BH_EV_BREAKER_OPEN] = "breaker.open",
	[BH_EV_BREAKER_HALF_OPEN] = "breaker.half_open",
	[BH_EV_BREAKER_CLOSED] = "breaker.closed",
	[BH_EV_SWAP_PHASE] = "swap.phase",
	[BH_EV_SWAP_DONE] = "swap.done",
	[BH_EV_CANARY] = "swap.canary",
	[BH_EV_CONFIG_RELOADED] = "config.reloaded",
	[BH_EV_CONFIG_REJECTED] = "config.rejected",
	[BH_EV_PLUGIN_LOADED] = "plugin.loaded",
	[BH_EV_PLUGIN_UNLOADED] = "plugin.unloaded",
	[BH_EV_LIMIT_HIT] = "limit.hit",
};

const char *bh_event_name(enum bh_event_kind kind)
{
	return (unsigned)kind < BH_EV_N ? names[kind] : "unknown";
}

void bh_events_init(struct bh_events *ev)
{
	*ev = (struct bh_events){ 0 };
	bh_list_init(&ev->subscribers);
	bh_buf_init(&ev->buf, 0);
}

void bh_events_done(struct bh_events *ev)
{
	bh_buf_done(&ev->buf);
}

bool bh_events_wanted(const struct bh_daemon *d)
{
	return d->events.n_subscribers > 0 || bh_log_format == BH_LOG_JSON;
}

/* In JSON logs every event is a record of its own, with its kind in "event". */
static void log_event(const struct bh_event *e)
{
	struct bh_log_fields f = { .plugin = e->plugin, .pid = (int)e->pid,
				   .generation = e->generation, .event = bh_event_name(e->kind) };
	bh_logf(BH_LOG_INFO, &f, "%s%s%s%s%s", bh_event_name(e->kind), e->cause ? " " : "",
		e->cause ? e->cause : "", e->detail ? ": " : "", e->detail ? e->detail : "");
}

static uint64_t wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* [{seq, time_ms, kind, ...}]: the params of one notification. */
static void encode(struct bh_events *ev, bh_writer *w, const char *kind, const struct bh_event *e,
		   uint64_t dropped)
{
	uint32_t n = 3 + (e && e->plugin) + (e && e->generation) + (e && e->instance) +
		     (e && e->pid > 0) + (e && e->cause) + (e && e->detail) + (dropped > 0);
	bh_write_array(w, 1);
	bh_write_map(w, n);
	kv_uint(w, "seq", ev->seq);
	kv_uint(w, "time_ms", wall_ms());
	kv_str(w, "kind", kind);
	if (dropped)
		kv_uint(w, "count", dropped);
	if (!e)
		return;
	if (e->plugin)
		kv_str(w, "plugin", e->plugin);
	if (e->generation)
		kv_uint(w, "generation", e->generation);
	if (e->instance)
		kv_uint(w, "instance", e->instance);
	if (e->pid > 0)
		kv_uint(w, "pid", (uint64_t)e->pid);
	if (e->cause)
		kv_str(w, "cause", e->cause);
	if (e->detail)
		kv_str(w, "detail", e->detail);
}

/* Whether cn can take one more event now: what it has not read, in the daemon's
 * buffer and in the socket's (limits.event_backlog), leaves room. */
static bool keeps_up(const struct bh_conn *cn)
{
	int queued = 0;
	if (ioctl(cn->watch.fd, SIOCOUTQ, &queued) < 0 || queued < 0)
		queued = 0;
	return bh_conn_unread(cn) + (size_t)queued < cn->d->cfg->event_backlog;
}

static void send_to(struct bh_conn *cn, const struct bh_buf *b)
{
	if (!keeps_up(cn) ||
	    !bh_conn_send_notify(cn, BH_EVENT_METHOD, strlen(BH_EVENT_METHOD), b->data, b->len))
		cn->events_dropped++;
}

void bh_event_emit(struct bh_daemon *d, const struct bh_event *e)
{
	struct bh_events *ev = &d->events;
	if (bh_log_format == BH_LOG_JSON)
		log_event(e);
	if (!ev->n_subscribers)
		return;
	struct bh_list *pos, *tmp;
	bh_list_for_each_safe(pos, tmp, &ev->subscribers)
	{
		/* What it missed comes before what it gets next. */
		bh_events_resume(bh_container_of(pos, struct bh_conn, events_link));
	}
	ev->seq++;
	ev->buf.len = 0;
	bh_writer w;
	bh_writer_init(&w, &ev->buf);
	encode(ev, &w, bh_event_name(e->kind), e, 0);
	if (bh_writer_error(&w) < 0)
		return;
	bh_list_for_each_safe(pos, tmp, &ev->subscribers)
	{
		send_to(bh_container_of(pos, struct bh_conn, events_link), &ev->buf);
	}
	bh_buf_shrink(&ev->buf, 64 * 1024);
}

void bh_event_instance(struct bh_instance *inst, enum bh_event_kind kind, const char *cause,
		       const char *detail)
{
	if (!bh_events_wanted(inst->d))
		return;
	bh_event_emit(inst->d, &(struct bh_event){ .kind = kind,
						   .plugin = inst->slot->conf->name,
						   .generation = inst->generation,
						   .instance = inst->serial,
						   .pid = inst->child.pid,
						   .cause = cause,
						   .detail = detail });
}

void bh_event_slot(struct bh_slot *s, enum bh_event_kind kind, const char *cause,
		   const char *detail)
{
	if (!bh_events_wanted(s->d))
		return;
	bh_event_emit(s->d, &(struct bh_event){ .kind = kind,
						.plugin = s->conf->name,
						.generation = s->generation,
						.cause = cause,
						.detail = detail });
}

void bh_events_subscribe(struct bh_conn *cn)
{
	if (cn->subscribed)
		return;
	cn->subscribed = true;
	bh_list_add_tail(&cn->d->events.subscribers, &cn->events_link);
	cn->d->events.n_subscribers++;
}

void bh_events_unsubscribe(struct bh_conn *cn)
{
	if (!cn->subscribed)
		return;
	cn->subscribed = false;
	bh_list_del(&cn->events_link);
	cn->d->events.n_subscribers--;
}

void bh_events_resume(struct bh_conn *cn)
{
	if (!cn->subscribed || !cn->events_dropped || !keeps_up(cn))
		return;
	struct bh_events *ev = &cn->d->events;
	struct bh_buf b;
	bh_buf_init(&b, 0);
	bh_writer w;
	bh_writer_init(&w, &b);
	encode(ev, &w, "dropped", NULL, cn->events_dropped);
	if (bh_writer_error(&w) == 0 &&
	    bh_conn_send_notify(cn, BH_EVENT_METHOD, strlen(BH_EVENT_METHOD), b.data, b.len))
		cn->events_dropped = 0;
	bh_buf_done(&b);
}
