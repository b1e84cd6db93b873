/* The daemon context: start-up from the config, signals, and the shutdown sequence
 * (stop accepting -> drain in-flight calls within shutdown_timeout_ms -> answer the
 * rest "shutting down" -> stop children gracefully, then SIGKILL -> exit). */
#include "daemon.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "bulkhead/error.h"
#include "bulkhead/proto.h"
#include "call.h"
#include "config.h"
#include "conn.h"
#include "ids.h"
#include "instance.h"
#include "list.h"
#include "listener.h"
#include "log.h"
#include "loop.h"
#include "memwatch.h"
#include "metrics.h"
#include "reload.h"
#include "rings.h"
#include "service.h"
#include "slot.h"
#include "watch.h"

static void before_wait(void *ctx)
{
	struct bh_daemon *d = ctx;
	bh_rings_poll(d); /* answers first: they go out in this turn's flush */
	bh_instance_flush_all(d);
	bh_conn_flush_all(d);
	bh_service_poll(d);
}

static void signal_event(struct bh_watch *w, uint32_t events)
{
	struct bh_daemon *d = bh_container_of(w, struct bh_daemon, signals);
	(void)events;
	struct signalfd_siginfo si;
	while (read(w->fd, &si, sizeof(si)) == sizeof(si)) {
		switch (si.ssi_signo) {
		case SIGTERM:
		case SIGINT:
			bh_daemon_begin_shutdown(d, si.ssi_signo == SIGTERM ? "SIGTERM" : "SIGINT");
			break;
		case SIGHUP:
			bh_daemon_reload(d);
			break;
		default:
			break;
		}
	}
}

static int setup_signals(struct bh_daemon *d)
{
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
		return -errno;
	int fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	if (fd < 0)
		return -errno;
	signal(SIGPIPE, SIG_IGN);
	d->signals = (struct bh_watch){.fd = fd, .events = EPOLLIN, .fn = signal_event};
	return bh_watch_add(d->loop, &d->signals);
}

static void shutdown_deadline(struct bh_timer *t);

/* Every instance holds about five fds (channel, pidfd, two log pipes, and its claim
 * table while it starts) and every client one: the usual soft limit of 1024 stops a
 * daemon at about 200 plugins. The soft limit goes up to the hard one, as systemd
 * does for its services. A sandboxed plugin gets its profile's nofile limit; an
 * unconfined one (sandbox = false) inherits the raised one. */
static void raise_nofile(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur >= rl.rlim_max)
		return;
	rlim_t was = rl.rlim_cur;
	rl.rlim_cur = rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
		bh_warn("cannot raise the open files limit from %llu to %llu: %s",
			(unsigned long long)was, (unsigned long long)rl.rlim_max, strerror(errno));
	else
		bh_info("open files limit raised from %llu to %llu", (unsigned long long)was,
			(unsigned long long)rl.rlim_max);
}

int bh_daemon_init(struct bh_daemon *d, struct bh_config *cfg)
{
	memset(d, 0, sizeof(*d));
	d->cfg = cfg;
	d->listener.fd = d->signals.fd = d->lock_fd = d->inotify.fd = -1;
	d->start_ns = bh_now_ns();
	bh_list_init(&d->slots);
	bh_names_init(&d->slot_names);
	bh_list_init(&d->conns);
	bh_list_init(&d->providers);
	bh_list_init(&d->flush_insts);
	bh_list_init(&d->awake_rings);
	bh_list_init(&d->flush_conns);
	bh_arena_init(&d->arena);
	bh_buf_init(&d->scratch, 0);
	bh_events_init(&d->events);
	bh_spare_init(&d->spare);
	bh_timer_init(&d->shutdown_timer, shutdown_deadline);
	bh_timer_init(&d->mem_timer, bh_memwatch_fired);
	bh_service_init(d);
	d->ids.lock_fd = -1;
	raise_nofile();
	char why[256];
	int r = bh_ids_init(&d->ids, cfg, why, sizeof(why));
	if (r < 0)
		return r;
	if (why[0])
		bh_warn("sandbox_ids: %s", why);
	bh_info("sandbox identity: %s", d->ids.why);
	r = bh_loop_new(&d->loop);
	if (r < 0)
		return r;
	bh_slot_spawning_init(d);
	bh_loop_before_wait(d->loop, before_wait, d);
	bh_loop_before_sleep(d->loop, bh_rings_sleep, d);
	return setup_signals(d);
}

void bh_daemon_done(struct bh_daemon *d)
{
	struct bh_list *pos, *tmp;
	bh_list_for_each_safe(pos, tmp, &d->slots)
	{
		struct bh_slot *s = bh_container_of(pos, struct bh_slot, link);
		bh_list_del(&s->link);
		bh_slot_free(s);
	}
	bh_names_done(&d->slot_names);
	bh_metrics_stop(d);
	bh_service_done(d);
	bh_listener_remove(d);
	bh_watch_done(d);
	if (d->loop) {
		bh_watch_close(d->loop, &d->signals);
		bh_loop_free(d->loop);
	}
	bh_arena_done(&d->arena);
	bh_buf_done(&d->scratch);
	bh_events_done(&d->events);
	bh_spare_done(&d->spare);
	bh_ids_done(&d->ids);
	free(d->socket_path);
	free(d->shim_path);
}

/* Every client call still unanswered gets "shutting down". */
static void answer_the_rest(struct bh_daemon *d)
{
	struct bh_list *cpos, *ctmp;
	bh_list_for_each_safe(cpos, ctmp, &d->conns)
	{
		struct bh_conn *cn = bh_container_of(cpos, struct bh_conn, link);
		struct bh_list *pos, *tmp;
		bh_list_for_each_safe(pos, tmp, &cn->calls)
		{
			struct bh_call *c = bh_container_of(pos, struct bh_call, conn_link);
			bh_conn_reply_error(c, BH_E_SHUTTING_DOWN,
					    "the daemon is shutting down; the call did not finish "
					    "within shutdown_timeout_ms (%u ms)",
					    d->cfg->shutdown_timeout_ms);
		}
	}
}

static void stop_children(struct bh_daemon *d)
{
	d->stopping_children = true;
	answer_the_rest(d);
	struct bh_list *pos, *tmp;
	bh_list_for_each_safe(pos, tmp, &d->slots)
	{
		struct bh_slot *s = bh_container_of(pos, struct bh_slot, link);
		while (s->n_queued > 0) {
			struct bh_call *c = bh_container_of(bh_list_first(&s->queue), struct bh_call, link);
			bh_call_fail(c, BH_E_SHUTTING_DOWN, "the daemon is shutting down");
		}
		bh_slot_stop_all(s);
	}
}

static void shutdown_deadline(struct bh_timer *t)
{
	struct bh_daemon *d = bh_container_of(t, struct bh_daemon, shutdown_timer);
	bh_warn("shutdown: calls still running after %u ms; stopping anyway",
		d->cfg->shutdown_timeout_ms);
	stop_children(d);
	bh_daemon_check_shutdown_done(d);
}

void bh_daemon_begin_shutdown(struct bh_daemon *d, const char *why)
{
	if (d->shutting_down)
		return;
	bh_info("%s: shutting down (draining for up to %u ms)", why, d->cfg->shutdown_timeout_ms);
	d->shutting_down = true;
	bh_service_stopping(d);
	bh_listener_close(d);
	bh_timer_arm(d->loop, &d->shutdown_timer,
		     bh_now_ns() + bh_ms_to_ns(d->cfg->shutdown_timeout_ms));
	bh_daemon_check_shutdown_done(d);
}

void bh_daemon_check_shutdown_done(struct bh_daemon *d)
{
	if (!d->shutting_down)
		return;
	uint32_t busy = 0, live = 0;
	struct bh_list *pos, *tmp;
	bh_list_for_each_safe(pos, tmp, &d->slots)
	{
		struct bh_slot *s = bh_container_of(pos, struct bh_slot, link);
		busy += s->n_queued;
		live += s->n_live;
		struct bh_list *ipos, *itmp;
		bh_list_for_each_safe(ipos, itmp, &s->instances)
			busy += bh_container_of(ipos, struct bh_instance, link)->inflight;
	}
	if (!d->stopping_children) {
		if (busy > 0)
			return;
		stop_children(d); /* their exits call back here */
	}
	if (live > 0)
		return;
	bh_timer_disarm(d->loop, &d->shutdown_timer);
	bh_conn_flush_all(d);
	bh_conn_close_all(d);
	bh_info("shutdown complete");
	bh_loop_stop(d->loop);
}
