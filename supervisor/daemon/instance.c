/* Instances: one sandboxed child each. Spawn, handshake, the channel's two
 * directions, and death. Everything the child sends is validated like client input;
 * a child that breaks the protocol is killed and replaced. */
#define _GNU_SOURCE
#include "instance.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bulkhead/channel.h"
#include "bulkhead/claims.h"
#include "bulkhead/error.h"
#include "bulkhead/proto.h"
#include "bulkhead/sandbox.h"
#include "bulkhead/value.h"
#include "call.h"
#include "childlog.h"
#include "config.h"
#include "conn.h"
#include "daemon.h"
#include "events.h"
#include "gen.h"
#include "ids.h"
#include "list.h"
#include "log.h"
#include "loop.h"
#include "memwatch.h"
#include "metrics.h"
#include "outcall.h"
#include "placement.h"
#include "rings.h"
#include "slot.h"
#include "spare.h"
#include "swap.h"

#define READ_CHUNK (64 * 1024)
#define STOP_TIMEOUT_MS 2000
#define MAX_IOV 64

static void inst_event(struct bh_watch *w, uint32_t events);
static bool ring_in_use(const struct bh_instance *inst);
static bool inst_read_some(struct bh_instance *inst, bool to_end);
static void inst_exited(struct bh_watch *w, uint32_t events);
static void inst_timer(struct bh_timer *t);
static void send_init(struct bh_instance *inst);
static int send_signal(struct bh_instance *inst, int sig);

/* ---- the lifecycle ----
 *
 *   event         starting       initializing   ready          stopping       dead
 *   hello         initializing   violation      violation      violation      -
 *   fatal         stopping       violation      violation      violation      -
 *   init ok       -              ready          -              -              -
 *   init failed   -              kill           -              -              -
 *   stop          kill           kill           stopping       -              -
 *   stop (busy)   kill           kill           kill           -              -
 *   timer         kill (init)    kill (init)    -              kill (stop)    -
 *   exited        dead           dead           dead           dead           -
 *
 * A kill keeps the state: the exit that follows moves to dead. Whatever the child
 * says out of turn is a protocol violation. */
enum inst_event {
	EV_HELLO, EV_FATAL, EV_INIT_OK, EV_INIT_FAILED, EV_STOP, EV_STOP_BUSY, EV_TIMER,
	EV_EXITED, EV_N
};

typedef void inst_action(struct bh_instance *inst, const void *arg);
static inst_action act_hello, act_fatal, act_ready, act_init_failed, act_kill_unready,
	act_kill_busy, act_stop, act_init_late, act_stop_late, act_exited, act_violation;

#define KEEP BH_INST_N /* the state does not change */
static const struct inst_step {
	enum bh_inst_state next;
	inst_action *act;
} lifecycle[BH_INST_N][EV_N] = {
	[BH_INST_STARTING] = {
		[EV_HELLO] = {BH_INST_INIT, act_hello},
		[EV_FATAL] = {BH_INST_STOPPING, act_fatal},
		[EV_INIT_OK] = {KEEP, NULL},
		[EV_INIT_FAILED] = {KEEP, NULL},
		[EV_STOP] = {KEEP, act_kill_unready},
		[EV_STOP_BUSY] = {KEEP, act_kill_unready},
		[EV_TIMER] = {KEEP, act_init_late},
		[EV_EXITED] = {BH_INST_DEAD, act_exited},
	},
	[BH_INST_INIT] = {
		[EV_HELLO] = {KEEP, act_violation},
		[EV_FATAL] = {KEEP, act_violation},
		[EV_INIT_OK] = {BH_INST_READY, act_ready},
		[EV_INIT_FAILED] = {KEEP, act_init_failed},
		[EV_STOP] = {KEEP, act_kill_unready},
		[EV_STOP_BUSY] = {KEEP, act_kill_unready},
		[EV_TIMER] = {KEEP, act_init_late},
		[EV_EXITED] = {BH_INST_DEAD, act_exited},
	},
	[BH_INST_READY] = {
		[EV_HELLO] = {KEEP, act_violation},
		[EV_FATAL] = {KEEP, act_violation},
		[EV_INIT_OK] = {KEEP, NULL},
		[EV_INIT_FAILED] = {KEEP, NULL},
		[EV_STOP] = {BH_INST_STOPPING, act_stop},
		[EV_STOP_BUSY] = {KEEP, act_kill_busy},
		[EV_TIMER] = {KEEP, NULL},
		[EV_EXITED] = {BH_INST_DEAD, act_exited},
	},
	[BH_INST_STOPPING] = {
		[EV_HELLO] = {KEEP, act_violation},
		[EV_FATAL] = {KEEP, act_violation},
		[EV_INIT_OK] = {KEEP, NULL},
		[EV_INIT_FAILED] = {KEEP, NULL},
		[EV_STOP] = {KEEP, NULL},
		[EV_STOP_BUSY] = {KEEP, NULL},
		[EV_TIMER] = {KEEP, act_stop_late},
		[EV_EXITED] = {BH_INST_DEAD, act_exited},
	},
	[BH_INST_DEAD] = {
		[EV_HELLO] = {KEEP, NULL},
		[EV_FATAL] = {KEEP, NULL},
		[EV_INIT_OK] = {KEEP, NULL},
		[EV_INIT_FAILED] = {KEEP, NULL},
		[EV_STOP] = {KEEP, NULL},
		[EV_STOP_BUSY] = {KEEP, NULL},
		[EV_TIMER] = {KEEP, NULL},
		[EV_EXITED] = {KEEP, NULL},
	},
};

static bool starting(enum bh_inst_state st)
{
	return st == BH_INST_STARTING || st == BH_INST_INIT;
}

/* The state moves first, so that an action sees (and may act on) where it leads. */
static void inst_on(struct bh_instance *inst, enum inst_event ev, const void *arg)
{
	const struct inst_step *step = &lifecycle[inst->state][ev];
	if (step->next != KEEP && starting(inst->state) && !starting(step->next))
		bh_slot_spawn_done(inst->d);
	if (step->next != KEEP)
		inst->state = step->next;
	if (step->act)
		step->act(inst, arg);
}

const char *bh_inst_state_name(enum bh_inst_state st)
{
	static const char *const names[] = {"starting", "initializing", "ready", "stopping",
					    "dead"};
	return names[st];
}

/* The instance's processes and cgroups are gone (or never were): its host id may go
 * to another instance. */
static void give_back_id(struct bh_instance *inst)
{
	if (inst->has_id)
		bh_ids_give_back(&inst->d->ids, inst->host_uid);
	inst->has_id = false;
}

static void inst_free(void *p)
{
	struct bh_instance *inst = p;
	give_back_id(inst);
	bh_buf_done(&inst->in);
	free(inst->scan);
	bh_buf_done(&inst->tail);
	free(inst->words);
	bh_rings_forget(inst);
	bh_bulk_done(&inst->bulk);
	bh_claims_unmap(&inst->claims);
	free(inst->pending);
	bh_gen_unref(inst->gen);
	free(inst);
}

static uint32_t pow2_above(uint32_t n)
{
	uint32_t c = 16;
	while (c <= n)
		c <<= 1;
	return c;
}

int bh_instance_spawn(struct bh_slot *s, struct bh_gen *gen, struct bh_instance **ret,
		      char *errbuf, size_t errlen)
{
	struct bh_daemon *d = s->d;
	int sv[2] = {-1, -1}, outp[2] = {-1, -1}, errp[2] = {-1, -1}, claims_fd = -1;
	struct bh_instance *inst = calloc(1, sizeof(*inst));
	int r = -ENOMEM;
	if (!inst)
		return r;
	inst->d = d;
	inst->slot = s;
	inst->gen = bh_gen_ref(gen);
	inst->generation = gen->number;
	inst->serial = ++d->next_serial;
	inst->chan.fd = inst->pidfd.fd = inst->out.watch.fd = inst->err.watch.fd = -1;
	inst->child.pidfd = -1;
	bh_list_init(&inst->sent);
	bh_list_init(&inst->sending);
	bh_list_init(&inst->outcalls);
	bh_buf_init(&inst->tail, 0);
	bh_list_init(&inst->flush_link);
	bh_list_init(&inst->ring_link);
	bh_timer_init(&inst->timer, inst_timer);
	bh_heal_instance_init(inst);
	bh_buf_init(&inst->in, d->cfg->limits.max_message + READ_CHUNK);
	bh_bulk_init(&inst->bulk, d->cfg->max_payload);
	/* Room for every call in flight plus the internal ones. An entry still held (a
	 * call stuck past its deadline) is skipped, not waited for (attach). */
	inst->pending_cap = pow2_above(gen->conf.max_inflight + 4);
	inst->pending = calloc(inst->pending_cap, sizeof(*inst->pending));
	if (!inst->pending)
		goto fail;
	if ((r = bh_claims_create(&inst->claims, inst->pending_cap, &claims_fd)) < 0) {
		snprintf(errbuf, errlen, "creating the claim table: %s", strerror(-r));
		goto fail;
	}
	inst->ring = (struct bh_ring_reader){ .ctl = inst->claims.ring, .data = inst->claims.ring_data };

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0 ||
	    pipe2(outp, O_CLOEXEC) < 0 || pipe2(errp, O_CLOEXEC) < 0) {
		r = -errno;
		goto fail;
	}
	if (fcntl(sv[0], F_SETFL, O_NONBLOCK) < 0 || fcntl(outp[0], F_SETFL, O_NONBLOCK) < 0 ||
	    fcntl(errp[0], F_SETFL, O_NONBLOCK) < 0) {
		r = -errno;
		goto fail;
	}
	const struct bh_limits *lim = &d->cfg->limits;
	char maxmsg[24], maxdepth[16], maxitems[16], maxbytes[16], spin_us[16], plugin_buf[4096];
	snprintf(maxmsg, sizeof(maxmsg), "%zu", lim->max_message);
	snprintf(maxdepth, sizeof(maxdepth), "%u", lim->max_depth);
	snprintf(maxitems, sizeof(maxitems), "%u", lim->max_items);
	snprintf(maxbytes, sizeof(maxbytes), "%u", lim->max_bytes);
	snprintf(spin_us, sizeof(spin_us), "%u", gen->conf.spin_us);
	const struct bh_sandbox_profile *prof = &gen->profile;
	/* bulkhead-shim --max-message N ... --claims --spin-us N --ring [--seccomp
	 * [--allow-syscall NAME]...] [--env NAME=VALUE]... PLUGIN */
	size_t argc = 0, max_args = 18 + 2 * prof->n_extra_syscalls + 2 * gen->conf.n_env;
	char **argv = calloc(max_args, sizeof(*argv));
	if (!argv) {
		r = -ENOMEM;
		goto fail;
	}
	argv[argc++] = "bulkhead-shim";
	argv[argc++] = "--max-message";
	argv[argc++] = maxmsg;
	argv[argc++] = "--max-depth";
	argv[argc++] = maxdepth;
	argv[argc++] = "--max-items";
	argv[argc++] = maxitems;
	argv[argc++] = "--max-bytes";
	argv[argc++] = maxbytes;
	argv[argc++] = "--claims";
	argv[argc++] = "--spin-us";
	argv[argc++] = spin_us;
	argv[argc++] = "--ring";
	struct bh_enforcement enf;
	bh_sandbox_enforcement(prof, &enf);
	if (prof->enabled && strcmp(enf.seccomp, "none") != 0) {
		argv[argc++] = "--seccomp";
		if (prof->network) { /* the host network is only useful with sockets */
			argv[argc++] = "--allow-syscall";
			argv[argc++] = "socket";
		}
		for (size_t k = 0; k < prof->n_extra_syscalls; k++) {
			argv[argc++] = "--allow-syscall";
			argv[argc++] = (char *)prof->extra_syscalls[k];
		}
	}
	for (size_t k = 0; k < gen->conf.n_env; k++) {
		argv[argc++] = "--env";
		argv[argc++] = gen->conf.env[k];
	}
	argv[argc++] = (char *)bh_sandbox_plugin_path(prof, gen->conf.path, plugin_buf,
						      sizeof(plugin_buf));
	argv[argc] = NULL;
	char name[BH_NAME_MAX + 24];
	snprintf(name, sizeof(name), "%s.%llu", s->conf->name, (unsigned long long)inst->serial);
	/* The instance's own host identity. */
	struct bh_sandbox_profile own = *prof;
	if (prof->enabled) {
		gid_t gid;
		if ((r = bh_ids_take(&d->ids, &own.host_uid, &gid)) < 0) {
			free(argv);
			snprintf(errbuf, errlen, "no free host uid for the sandbox (%u of sandbox_ids "
				 "in use by this daemon, the rest by others)", d->ids.n_used);
			goto fail;
		}
		own.host_gid = gid;
		inst->host_uid = own.host_uid;
		inst->has_id = d->ids.mode != BH_IDS_OWN;
		if (d->ids.mode == BH_IDS_SUBORDINATE) {
			own.uidmap_helper = BH_NEWUIDMAP;
			own.gidmap_helper = BH_NEWGIDMAP;
		}
	}
	struct bh_spawn_args sa = {
		.exe = d->shim_path,
		.argv = argv,
		.channel_fd = sv[1],
		.stdout_fd = outp[1],
		.stderr_fd = errp[1],
		.claims_fd = claims_fd,
		.plugin_path = gen->conf.path,
		.profile = &own,
		.name = name,
	};
	sa.cpus = bh_placement_instance_cpus(&sa.cpus_size);
	r = bh_sandbox_spawn(&sa, &inst->child, errbuf, errlen);
	free(argv);
	if (r < 0)
		goto fail;
	inst->placed_apart = bh_placement_is_apart();
	close(sv[1]);
	close(outp[1]);
	close(errp[1]);
	close(claims_fd); /* the mapping stays */
	sv[1] = outp[1] = errp[1] = claims_fd = -1;

	inst->started_ns = bh_now_ns();
	inst->state = BH_INST_STARTING;
	bh_event_instance(inst, BH_EV_INSTANCE_STARTED, NULL, NULL);
	inst->chan = (struct bh_watch){.fd = sv[0], .events = EPOLLIN, .fn = inst_event};
	sv[0] = -1;
	inst->pidfd = (struct bh_watch){.fd = inst->child.pidfd, .events = EPOLLIN,
					.fn = inst_exited};
	inst->child.pidfd = -1; /* owned by the watch now */
	/* The log pipes belong to their watches from here on, even on failure. */
	r = bh_child_log_open(inst, &inst->out, "stdout", outp[0]);
	int r2 = bh_child_log_open(inst, &inst->err, "stderr", errp[0]);
	if (r == 0)
		r = r2;
	if (r == 0)
		r = bh_watch_add(d->loop, &inst->chan);
	if (r == 0)
		r = bh_watch_add(d->loop, &inst->pidfd);
	if (r < 0) {
		/* Only epoll exhaustion gets here. Without a pidfd watch nobody would see
		 * the exit, so reap now: SIGKILL makes the wait short. */
		syscall(SYS_pidfd_send_signal, inst->pidfd.fd, SIGKILL, NULL, 0);
		waitid(P_PIDFD, (id_t)inst->pidfd.fd, &(siginfo_t){0}, WEXITED);
		bh_watch_close(d->loop, &inst->chan);
		bh_watch_close(d->loop, &inst->pidfd);
		bh_child_log_close(&inst->out);
		bh_child_log_close(&inst->err);
		bh_child_release(&inst->child);
		inst_free(inst);
		return r;
	}
	bh_list_add_tail(&s->instances, &inst->link);
	s->n_live++;
	d->n_starting++; /* until it leaves the starting states (inst_on) */
	*ret = inst;
	bh_timer_arm(d->loop, &inst->timer,
		     inst->started_ns + bh_ms_to_ns(gen->conf.init_timeout_ms));
	bh_memwatch_add(inst);
	bh_debug("%s: started instance %llu, pid %d", s->conf->name,
		 (unsigned long long)inst->serial, (int)inst->child.pid);
	return 0;

fail:
	if (claims_fd >= 0)
		close(claims_fd);
	for (int i = 0; i < 2; i++) {
		if (sv[i] >= 0)
			close(sv[i]);
		if (outp[i] >= 0)
			close(outp[i]);
		if (errp[i] >= 0)
			close(errp[i]);
	}
	inst_free(inst);
	return r;
}

/* ---- sending ---- */

bool bh_instance_has_room(const struct bh_instance *inst)
{
	/* The generation's own bound: the one its pending table was sized for. */
	return inst->inflight < inst->gen->conf.max_inflight && !inst->retiring && !inst->dying &&
	       bh_heal_routable(&inst->heal);
}

void bh_instance_retire(struct bh_instance *inst)
{
	inst->exit_expected = true;
	if (inst->inflight == 0 || inst->state != BH_INST_READY)
		bh_instance_stop(inst);
	else
		inst->retiring = true; /* stopped by inst_event once its last call returns */
}

static void schedule_flush(struct bh_instance *inst)
{
	if (!inst->want_flush) {
		inst->want_flush = true;
		bh_list_add_tail(&inst->d->flush_insts, &inst->flush_link);
	}
}

int bh_instance_attach(struct bh_instance *inst, struct bh_call *c)
{
	uint32_t mask = inst->pending_cap - 1;
	/* has_room keeps inflight below pending_cap, so there is a free entry; entries
	 * come free mostly in the order they were taken, so the next one nearly always is.
	 * Internal calls beyond has_room's bound fail rather than search forever. */
	if (inst->inflight >= inst->pending_cap)
		return -ENOSPC;
	while (inst->pending[inst->next_iid & mask])
		inst->next_iid++;
	uint32_t iid = inst->next_iid++;
	inst->pending[iid & mask] = c;
	bh_call_set_iid(c, iid);
	if (c->reenter_off) /* the shim runs it at once only when it re-enters */
		c->req[c->reenter_off] = bh_outcall_reenters(c, inst) ? 0xc3 : 0xc2;
	bh_claim_offer(&inst->claims, iid, bh_call_deadline_ns(c));
	c->inst = inst;
	c->sent = 0;
	bh_bulk_attach(inst, c);
	inst->inflight++;
	if (c->kind == BH_CALL_CLIENT) {
		inst->calls++;
		inst->gen->calls++;
		bh_heal_counted(inst, inst->calls, inst->gen->conf.max_calls);
	}
	bh_list_add_tail(&inst->sending, &c->link);
	schedule_flush(inst);
	return 0;
}

void bh_instance_detach(struct bh_instance *inst, struct bh_call *c)
{
	inst->pending[c->iid & (inst->pending_cap - 1)] = NULL;
	bh_claim_release(&inst->claims, c->iid);
	bh_bulk_detach(inst, c);
	bh_list_del(&c->link);
	inst->inflight--;
	c->inst = NULL;
}

/* A call is taken back from the child only through its claim: whoever changes
 * OFFERED first, the shim (STARTED) or we (REVOKED), decides. */
bool bh_instance_revoke(struct bh_instance *inst, struct bh_call *c)
{
	if (c->sent == 0)
		return true; /* the child has not seen a byte of it */
	if (bh_claim_revoke(&inst->claims, c->iid) == BH_CLAIM_STARTED)
		return false;
	if (c->sent < c->req_len && inst->state != BH_INST_DEAD) {
		/* Half-written: the rest must still go out, from the tail, for the stream
		 * to stay whole. It is the first call of `sending`, so nothing else has
		 * been written after its bytes. */
		size_t rest = c->req_len - c->sent;
		if (bh_buf_reserve(&inst->tail, rest) < 0) {
			/* Cannot keep the stream whole: end the instance; the call, revoked,
			 * is judged not started at its death. */
			bh_instance_kill(inst, BH_EXIT_KILLED, "out of memory");
			return false;
		}
		memcpy(inst->tail.data + inst->tail.len, c->req + c->sent, rest);
		inst->tail.len += rest;
	}
	return true;
}

bool bh_instance_call_started(const struct bh_instance *inst, const struct bh_call *c)
{
	if (c->sent == 0)
		return false;
	enum bh_claim_state st = bh_claim_state(&inst->claims, c->iid);
	return st != BH_CLAIM_OFFERED && st != BH_CLAIM_EXPIRED && st != BH_CLAIM_REVOKED;
}

/* What may wait for a child beside one message of limits.max_message. */
#define INST_TAIL_SLACK (1u << 20)

int bh_instance_queue_message(struct bh_instance *inst, const uint8_t *msg, size_t len)
{
	/* The tail goes out first, whole: so the rest of a call half-written goes there
	 * before the message (the call then counts as written), and the calls after it
	 * follow the message. */
	/* A plugin answered synchronously holds at most one answer per level of nesting
	 * here; one that keeps asking without reading would make it grow for ever. */
	size_t waiting = inst->tail.len - inst->tail_sent;
	if (waiting + len > inst->d->cfg->limits.max_message + INST_TAIL_SLACK) {
		bh_instance_kill(inst, BH_EXIT_PROTOCOL, "it does not read the answers to its "
				 "calls out (%zu bytes waiting)", waiting);
		return 0;
	}
	size_t rest = 0;
	struct bh_call *head = NULL;
	if (!bh_list_empty(&inst->sending)) {
		head = bh_container_of(inst->sending.next, struct bh_call, link);
		if (head->sent > 0)
			rest = head->req_len - head->sent;
		else
			head = NULL;
	}
	if (bh_buf_reserve(&inst->tail, rest + len) < 0)
		return -ENOMEM;
	if (head) {
		memcpy(inst->tail.data + inst->tail.len, head->req + head->sent, rest);
		inst->tail.len += rest;
		head->sent = head->req_len;
		bh_list_del(&head->link);
		bh_list_add_tail(&inst->sent, &head->link);
	}
	memcpy(inst->tail.data + inst->tail.len, msg, len);
	inst->tail.len += len;
	schedule_flush(inst);
	return 0;
}

/* The channel refused a write: the child closed its end, so it is dying or broken.
 * Stop writing, but keep reading: what it wrote before is still to be judged. */
static void write_failed(struct bh_instance *inst, int err)
{
	bh_debug("%s: instance pid %d: channel write failed: %s", inst->slot->conf->name,
		 (int)inst->child.pid, strerror(err));
	inst->dying = true;
	inst->closed_channel = true;
	send_signal(inst, SIGKILL);
	bh_watch_mod(inst->d->loop, &inst->chan, EPOLLIN);
}

/* Calls were written: watch the doorbell for the reply before sleeping (loop.h) if
 * the instance answered quickly last time and runs on another CPU now (on ours it
 * would wait for the CPU we hold; asleep, our write puts it on ours), or can run
 * on no other (cpu_placement = apart: asleep, it wakes there too). On ours, give it
 * the CPU once before sleeping instead (rings.h). `answered`: the bell before the
 * write. */
static void watch_for_reply(struct bh_instance *inst, uint32_t answered)
{
	struct bh_claims_bell *bell = inst->claims.bell;
	uint64_t now = bh_now_ns(), spin_ns = (uint64_t)inst->gen->conf.spin_us * 1000;
	int cpu = sched_getcpu();
	uint32_t here = cpu < 0 ? 0 : (uint32_t)cpu + 1, shim = bh_bell_cpu(&bell->shim_cpu);
	bool elsewhere = shim != here &&
			 (shim != 0 || (inst->placed_apart && bh_placement_is_apart()));

	inst->flushed_ns = now;
	bh_bell_set_cpu(&bell->supervisor_cpu, here);
	if (spin_ns == 0 || inst->turn_ns > spin_ns) /* not a quick answerer */
		return;
	if (here != 0 && elsewhere &&
	    bh_loop_watch_bell(inst->d->loop, &bell->answered, answered, now + spin_ns) &&
	    ring_in_use(inst))
		bh_rings_awake(inst, true); /* its answer then needs no wake-up */
	else if (!elsewhere && ring_in_use(inst))
		bh_rings_yield(inst);
}

static void inst_flush(struct bh_instance *inst)
{
	if (inst->chan.fd < 0 || inst->state == BH_INST_DEAD || inst->closed_channel)
		return;
	uint32_t answered = bh_bell_read(&inst->claims.bell->answered);
	bool wrote = false;
	while (inst->tail.len > inst->tail_sent || !bh_list_empty(&inst->sending)) {
		struct iovec iov[MAX_IOV];
		int n = 0;
		if (inst->tail.len > inst->tail_sent) {
			iov[n].iov_base = inst->tail.data + inst->tail_sent;
			iov[n].iov_len = inst->tail.len - inst->tail_sent;
			n++;
		}
		struct bh_list *pos;
		for (pos = inst->sending.next; pos != &inst->sending && n < MAX_IOV;
		     pos = pos->next) {
			struct bh_call *c = bh_container_of(pos, struct bh_call, link);
			if (n > 0 && bh_bulk_call_fd(inst, c) >= 0)
				break; /* its fd goes with its first byte: a sendmsg of its own */
			iov[n].iov_base = c->req + c->sent;
			iov[n].iov_len = c->req_len - c->sent;
			n++;
		}
		struct bh_call *first = inst->tail.len > inst->tail_sent
						? NULL
						: bh_container_of(inst->sending.next, struct bh_call, link);
		int fd = first ? bh_bulk_call_fd(inst, first) : -1;
		ssize_t w = bh_send_fd(inst->chan.fd, iov, n, fd, MSG_NOSIGNAL);
		if (w < 0) {
			if (w == -EAGAIN)
				break;
			return write_failed(inst, (int)-w);
		}
		bh_bell_ring(&inst->claims.bell->posted); /* a hot shim watches for it */
		wrote = true;
		if (fd >= 0)
			bh_bulk_fd_sent(inst, first);
		size_t left = (size_t)w;
		if (inst->tail.len > inst->tail_sent) {
			size_t take = inst->tail.len - inst->tail_sent;
			take = left < take ? left : take;
			inst->tail_sent += take;
			left -= take;
			if (inst->tail_sent == inst->tail.len) {
				inst->tail.len = inst->tail_sent = 0;
				bh_buf_shrink(&inst->tail, BH_BUF_KEEP);
			}
		}
		while (left > 0) {
			struct bh_call *c = bh_container_of(inst->sending.next, struct bh_call, link);
			size_t want = c->req_len - c->sent;
			size_t take = left < want ? left : want;
			c->sent += take;
			left -= take;
			if (c->sent == c->req_len) {
				bh_list_del(&c->link);
				bh_list_add_tail(&inst->sent, &c->link);
			}
		}
	}
	bool more = inst->tail.len > inst->tail_sent || !bh_list_empty(&inst->sending);
	bh_watch_mod(inst->d->loop, &inst->chan, EPOLLIN | (more ? EPOLLOUT : 0));
	if (wrote)
		watch_for_reply(inst, answered);
}

void bh_instance_flush_all(struct bh_daemon *d)
{
	struct bh_list *pos, *tmp;
	bh_list_for_each_safe(pos, tmp, &d->flush_insts)
	{
		struct bh_instance *inst = bh_container_of(pos, struct bh_instance, flush_link);
		bh_list_del(&inst->flush_link);
		inst->want_flush = false;
		inst_flush(inst);
	}
}

/* ---- killing and stopping ---- */

static int send_signal(struct bh_instance *inst, int sig)
{
	if (inst->pidfd.fd < 0)
		return -ESRCH;
	/* Through the pidfd: never signals a recycled pid. */
	if (syscall(SYS_pidfd_send_signal, inst->pidfd.fd, sig, NULL, 0) < 0)
		return -errno;
	return 0;
}

void bh_instance_kill(struct bh_instance *inst, enum bh_exit_cause cause, const char *fmt, ...)
{
	if (inst->state == BH_INST_DEAD)
		return;
	if (inst->cause == BH_EXIT_NONE) {
		inst->cause = cause;
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(inst->death_reason, sizeof(inst->death_reason), fmt, ap);
		va_end(ap);
		bh_warn("%s: killing instance pid %d: %s", inst->slot->conf->name,
			(int)inst->child.pid, inst->death_reason);
	}
	inst->dying = true;
	send_signal(inst, SIGKILL);
	/* The channel stays open: replies it wrote before the signal still count, and
	 * its death is judged once they are read. The pidfd reports the exit. */
}

void bh_instance_stop(struct bh_instance *inst)
{
	inst_on(inst, inst->inflight > 0 ? EV_STOP_BUSY : EV_STOP, NULL);
}

static void act_kill_unready(struct bh_instance *inst, const void *arg)
{
	(void)arg;
	inst->exit_expected = true;
	bh_instance_kill(inst, BH_EXIT_STOPPED, "stopped before it was ready");
}

/* Busy with calls whose callers were already answered: it would only read $stop
 * after them, so waiting for it helps nobody. */
static void act_kill_busy(struct bh_instance *inst, const void *arg)
{
	(void)arg;
	inst->exit_expected = true;
	bh_instance_kill(inst, BH_EXIT_STOPPED, "stopped with %u calls still running",
			 inst->inflight);
}

static void act_stop(struct bh_instance *inst, const void *arg)
{
	(void)arg;
	inst->exit_expected = true;
	static const uint8_t stop_msg[] = {0x93, 0x02, 0xa5, '$', 's', 't', 'o', 'p', 0x90};
	bool sent = false;
	if (bh_list_empty(&inst->sending) && inst->tail.len == 0) {
		ssize_t w = send(inst->chan.fd, stop_msg, sizeof(stop_msg), MSG_NOSIGNAL);
		sent = w == (ssize_t)sizeof(stop_msg);
	}
	if (!sent) /* end of file tells the shim to exit as well */
		shutdown(inst->chan.fd, SHUT_WR);
	bh_timer_arm(inst->d->loop, &inst->timer, bh_now_ns() + bh_ms_to_ns(STOP_TIMEOUT_MS));
}

void bh_instance_call_stuck(struct bh_instance *inst, struct bh_call *c)
{
	bh_instance_kill(inst, BH_EXIT_DEADLINE,
			 "its call %u exceeded its deadline (%u ms) + grace (%u ms)", c->iid,
			 c->timeout_ms, inst->slot->conf->grace_ms);
}

static void inst_timer(struct bh_timer *t)
{
	inst_on(bh_container_of(t, struct bh_instance, timer), EV_TIMER, NULL);
}

static void act_init_late(struct bh_instance *inst, const void *arg)
{
	(void)arg;
	bh_instance_kill(inst, BH_EXIT_INIT_TIMEOUT, "not ready within init_timeout_ms (%u ms)",
			 inst->gen->conf.init_timeout_ms);
}

static void act_stop_late(struct bh_instance *inst, const void *arg)
{
	(void)arg;
	bh_instance_kill(inst, BH_EXIT_KILLED, "did not stop within %d ms", STOP_TIMEOUT_MS);
}

/* ---- receiving ---- */

/* Nothing more from this child is read or trusted: the channel closes (a mask of 0
 * would still report EPOLLHUP once the child is gone). */
static void protocol_violation(struct bh_instance *inst, const char *what)
{
	bh_instance_kill(inst, BH_EXIT_PROTOCOL, "protocol violation: %s", what);
	inst->untrusted = true;
	bh_rings_forget(inst);
	bh_watch_close(inst->d->loop, &inst->chan);
}

void bh_instance_protocol_violation(struct bh_instance *inst, const char *what)
{
	protocol_violation(inst, what);
}

static void act_violation(struct bh_instance *inst, const void *arg)
{
	(void)arg;
	protocol_violation(inst, "unexpected message");
}

/* Decode a small control payload ($hello, $fatal) from the child. */
/* $hello and $fatal are small: a method table, a message. */
#define CONTROL_PAYLOAD_MAX (256 * 1024)

static int decode_small(struct bh_instance *inst, const uint8_t *p, size_t len,
			const bh_value **ret)
{
	size_t used;
	if (len > CONTROL_PAYLOAD_MAX)
		return -EMSGSIZE;
	return bh_decode(p, len, &inst->d->cfg->limits, &inst->d->arena, ret, &used);
}

static int method_cmp(const void *a, const void *b)
{
	const struct bh_method_name *x = a, *y = b;
	return strcmp(x->name, y->name);
}

static void act_hello(struct bh_instance *inst, const void *arg)
{
	const struct bh_rpc *rpc = arg;
	struct bh_slot *s = inst->slot;
	const bh_value *p;
	if (decode_small(inst, rpc->params, rpc->params_len, &p) < 0 || p->len < 7)
		return protocol_violation(inst, "$hello is malformed");
	int64_t proto, abi;
	const char *name, *version;
	size_t name_len, version_len;
	const bh_value *methods = bh_value_at(p, 4);
	if (bh_value_get_int(bh_value_at(p, 0), &proto) < 0 ||
	    bh_value_get_int(bh_value_at(p, 1), &abi) < 0 ||
	    bh_value_get_str(bh_value_at(p, 2), &name, &name_len) < 0 ||
	    bh_value_get_str(bh_value_at(p, 3), &version, &version_len) < 0 || !methods ||
	    methods->type != BH_ARRAY || methods->len > 1024)
		return protocol_violation(inst, "$hello fields have the wrong types");
	if (proto != BH_PROTOCOL_VERSION) {
		char why[128];
		snprintf(why, sizeof(why), "shim speaks protocol %lld, the daemon %d",
			 (long long)proto, BH_PROTOCOL_VERSION);
		return protocol_violation(inst, why);
	}
	struct bh_method_name *table = calloc(methods->len ? methods->len : 1, sizeof(*table));
	if (!table)
		return bh_instance_kill(inst, BH_EXIT_KILLED, "out of memory");
	for (uint32_t i = 0; i < methods->len; i++) {
		const bh_value *m = &methods->as.items[i];
		if (m->type != BH_STR || !bh_name_valid(m->as.str, m->len)) {
			free(table);
			return protocol_violation(inst, "$hello lists a method name that is not an identifier");
		}
		memcpy(table[i].name, m->as.str, m->len);
		table[i].len = (uint8_t)m->len;
	}
	qsort(table, methods->len, sizeof(*table), method_cmp);
	struct bh_gen *g = inst->gen;
	if (g->hello_seen) { /* every instance of a generation loads the same file */
		free(table);
	} else {
		g->hello_seen = true;
		g->methods = table;
		g->n_methods = methods->len;
		g->abi_version = (uint32_t)abi;
		snprintf(g->version, sizeof(g->version), "%.*s",
			 (int)(version_len > 63 ? 63 : version_len), version);
		uint64_t state_version = 0;
		bool has_state = false;
		bh_value_get_uint(bh_value_at(p, 5), &state_version);
		bh_value_get_bool(bh_value_at(p, 6), &has_state);
		g->has_state = has_state;
		g->state_version = (uint32_t)state_version;
	}
	bh_debug("%s: instance pid %d loaded plugin \"%.*s\" %s with %u methods (generation %u)",
		 s->conf->name, (int)inst->child.pid, (int)(name_len > 64 ? 64 : name_len), name,
		 g->version, g->n_methods, g->number);
	send_init(inst);
}

static void act_fatal(struct bh_instance *inst, const void *arg)
{
	const struct bh_rpc *rpc = arg;
	const bh_value *p;
	const char *msg = "?";
	size_t len = 1;
	if (decode_small(inst, rpc->params, rpc->params_len, &p) == 0)
		bh_value_get_str(bh_value_at(p, 1), &msg, &len);
	snprintf(inst->death_reason, sizeof(inst->death_reason), "cannot load %s: %.*s",
		 inst->gen->conf.path, (int)(len > 200 ? 200 : len), msg);
	inst->exit_expected = false;
	inst->cause = BH_EXIT_LOAD_FAILED;
	bh_err("%s: %s", inst->slot->conf->name, inst->death_reason);
	/* The shim exits by itself; its exit ends the instance. */
	bh_timer_arm(inst->d->loop, &inst->timer, bh_now_ns() + bh_ms_to_ns(STOP_TIMEOUT_MS));
}

static void init_done(struct bh_call *c, const bh_error *err, const uint8_t *result,
		      size_t len)
{
	(void)result;
	(void)len;
	inst_on(c->ctx, err ? EV_INIT_FAILED : EV_INIT_OK, err);
}

static void act_init_failed(struct bh_instance *inst, const void *arg)
{
	const bh_error *err = arg;
	bh_err("%s: instance pid %d: init failed: %s", inst->slot->conf->name,
	       (int)inst->child.pid, err->message);
	bh_instance_kill(inst, BH_EXIT_INIT_FAILED, "init failed: %s", err->message);
}

static void act_ready(struct bh_instance *inst, const void *arg)
{
	(void)arg;
	bh_timer_disarm(inst->d->loop, &inst->timer);
	inst->ready_ns = bh_now_ns();
	bh_info("%s: instance pid %d ready (generation %u, %.1f ms)", inst->slot->conf->name,
		(int)inst->child.pid, inst->generation,
		(double)(inst->ready_ns - inst->started_ns) / 1e6);
	bh_event_instance(inst, BH_EV_INSTANCE_READY, NULL, NULL);
	/* The shim uses its ring from now on; our wake-up request goes in only now, after
	 * whatever its plugin's constructors did to the table. */
	bh_rings_awake(inst, false);
	bh_slot_instance_ready(inst->slot, inst);
}

static void send_init(struct bh_instance *inst)
{
	struct bh_slot *s = inst->slot;
	/* params = [config_map]; no config is an empty map */
	static const uint8_t empty_map = 0x80;
	const struct bh_plugin_conf *conf = &inst->gen->conf; /* the generation's config */
	const uint8_t *config = conf->config_len ? conf->config_msgpack : &empty_map;
	size_t config_len = conf->config_len ? conf->config_len : 1;
	size_t plen = 1 + config_len;
	uint8_t *params = malloc(plen + BH_BULK_REF_SIZE);
	if (!params)
		return bh_instance_kill(inst, BH_EXIT_KILLED, "out of memory");
	memcpy(params + 1, config, config_len);
	/* [config] or, with a result area, [config, area reference] */
	size_t area = bh_bulk_area_ref(inst, params + plen);
	params[0] = area ? 0x92 : 0x91;
	struct bh_call *c = bh_call_new(inst->d, BH_CH_INIT, strlen(BH_CH_INIT), params,
					plen + area);
	free(params);
	if (!c)
		return bh_instance_kill(inst, BH_EXIT_KILLED, "out of memory");
	if (area)
		c->bulk_slot = BH_BULK_AREA_SLOT;
	c->kind = BH_CALL_INTERNAL;
	c->on_reply = init_done;
	c->ctx = inst;
	c->slot = s;
	bh_call_submit(c, inst);
}

static void handle_response(struct bh_instance *inst, const struct bh_rpc *rpc)
{
	struct bh_call *c = inst->pending[rpc->msgid & (inst->pending_cap - 1)];
	if (!c || c->iid != rpc->msgid || c->sent != c->req_len)
		return protocol_violation(inst, "response to a call it was not given");
	if (!bh_instance_call_started(inst, c))
		return protocol_violation(inst, "response to a call it did not claim");
	bh_call_returned(c);
	bool is_error = !(rpc->error_len == 1 && rpc->error[0] == 0xc0);
	bh_error err = {0};
	if (is_error && bh_error_decode(rpc->error, rpc->error_len, &err) < 0) {
		err.code = BH_E_PLUGIN_ERROR;
		snprintf(err.message, sizeof(err.message), "undecodable error from the plugin");
	}
	bool late = c->deadline_passed; /* already answered "timeout" and counted */
	if (c->kind == BH_CALL_CLIENT && !late && c->slot)
		bh_breaker_record(c->slot, is_error ? bh_code_from_plugin(err.code) : 0);
	if (c->kind == BH_CALL_INTERNAL) {
		void (*fn)(struct bh_call *, const bh_error *, const uint8_t *, size_t) = c->on_reply;
		c->on_reply = NULL;
		if (fn)
			fn(c, is_error ? &err : NULL, rpc->result, rpc->result_len);
		bh_call_finish(c);
		return;
	}
	if (is_error) {
		inst->errors++;
		inst->gen->errors++;
		if (c->slot)
			c->slot->errors++;
		bh_conn_reply_error(c, bh_code_from_plugin(err.code), "%s", err.message);
	} else {
		bh_conn_reply_result(c, rpc->result, rpc->result_len);
	}
	bh_call_finish(c);
	if (inst->slot->swap && !late)
		bh_swap_call_done(inst->slot->swap, inst->gen, is_error);
}

static void handle_message(struct bh_instance *inst, const uint8_t *msg, size_t len)
{
	struct bh_rpc rpc;
	const char *why = "malformed envelope";
	if (bh_rpc_parse(msg, len, &rpc, &why) < 0)
		return protocol_violation(inst, why);
	if (rpc.type == BH_RPC_RESPONSE) {
		if (inst->state == BH_INST_STARTING)
			return protocol_violation(inst, "response before $hello");
		if (bh_bulk_result(inst, &rpc, &why) < 0)
			return protocol_violation(inst, why);
		handle_response(inst, &rpc);
		return bh_bulk_result_done(inst);
	}
	if (rpc.type == BH_RPC_REQUEST) {
		if (inst->state != BH_INST_INIT && inst->state != BH_INST_READY &&
		    inst->state != BH_INST_STOPPING)
			return protocol_violation(inst, "a call out before $init");
		return bh_outcall_request(inst, &rpc);
	}
	if (rpc.type == BH_RPC_NOTIFY && rpc.method_len == strlen(BH_CH_HELLO) &&
	    memcmp(rpc.method, BH_CH_HELLO, rpc.method_len) == 0)
		return inst_on(inst, EV_HELLO, &rpc);
	if (rpc.type == BH_RPC_NOTIFY && rpc.method_len == strlen(BH_CH_FATAL) &&
	    memcmp(rpc.method, BH_CH_FATAL, rpc.method_len) == 0)
		return inst_on(inst, EV_FATAL, &rpc);
	protocol_violation(inst, "unexpected message");
}

/* Read and handle what the channel holds: a fair share of it (to_end false), or all
 * of it (the child is dead). False at end of file or on error. */
static bool inst_read(struct bh_instance *inst, bool to_end)
{
	/* Borrowed for the read (spare.h). */
	if (!bh_spare_lend(&inst->d->spare, &inst->in, &inst->scan)) {
		bh_instance_kill(inst, BH_EXIT_KILLED, "no memory to read its channel");
		return false;
	}
	bool more = inst_read_some(inst, to_end);
	bh_spare_take_back(&inst->d->spare, &inst->in, &inst->scan);
	return more;
}

/* Bytes came from the child: how long its first reply after our write took. */
static void note_input(struct bh_instance *inst, size_t n)
{
	inst->d->input.channel_read += n;
	if (inst->flushed_ns) {
		inst->turn_ns = bh_now_ns() - inst->flushed_ns;
		inst->flushed_ns = 0;
	}
}

/* Handle what the answer ring holds, at most a ring's worth: a plugin refilling it
 * as fast as we read gets one turn of the loop like everyone else. 1 when messages
 * were handled, 0 when there were none, -1 after a violation. */
static int read_ring(struct bh_instance *inst)
{
	uint8_t msg[BH_RING_ENTRY_MAX];
	const char *why = NULL;
	uint32_t start = inst->ring.head;
	int n, handled = 0;

	while (!inst->untrusted && inst->ring.head - start < BH_RING_DATA &&
	       (n = bh_ring_take(&inst->ring, msg, &why)) != 0) {
		if (n < 0) {
			protocol_violation(inst, why);
			return -1;
		}
		note_input(inst, (size_t)n);
		inst->d->input.ring_read += (size_t)n;
		handled = 1;
		struct bh_scan sc;
		int r = bh_scan(msg, (size_t)n, &inst->d->cfg->limits, &sc);
		inst->d->input.channel_scanned += (size_t)n;
		if (r == 0 && sc.size != (size_t)n)
			why = "answer ring: an entry holds more than one message";
		else if (r == -EAGAIN)
			why = "answer ring: an entry holds part of a message";
		else if (r < 0)
			why = bh_proto_strerror(r);
		if (why) {
			protocol_violation(inst, why);
			return -1;
		}
		handle_message(inst, msg, (size_t)n);
	}
	return inst->untrusted ? -1 : handled;
}

/* The shim writes to its ring only once its plugin is initialised (and may have until
 * its death: a dead instance's state says no more). */
static bool ring_in_use(const struct bh_instance *inst)
{
	return inst->ready_ns != 0;
}

static bool inst_read_some(struct bh_instance *inst, bool to_end)
{
	for (int rounds = 0; to_end || rounds < 16; rounds++) {
		if (bh_buf_reserve(&inst->in, READ_CHUNK) < 0 && bh_buf_reserve(&inst->in, 1) < 0) {
			protocol_violation(inst, "message larger than limits.max_message");
			return false;
		}
		size_t room = inst->in.cap - inst->in.len;
		ssize_t n = recv(inst->chan.fd, inst->in.data + inst->in.len, room, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return errno == EAGAIN;
		}
		if (n == 0)
			return false;
		inst->in.len += (size_t)n;
		note_input(inst, (size_t)n);
		size_t off = 0;
		while (off < inst->in.len && !inst->untrusted) {
			/* Resumed where the last read stopped: linear however it is split. */
			struct bh_scan sc;
			uint64_t work = inst->scan->work;
			int r = bh_scanner_feed(inst->scan, inst->in.data + off, inst->in.len - off,
						&inst->d->cfg->limits, &sc);
			inst->d->input.channel_scanned += inst->scan->work - work;
			if (r == -EAGAIN)
				break;
			if (r < 0) {
				protocol_violation(inst, bh_proto_strerror(r));
				return false;
			}
			if (sc.size == 1 && inst->in.data[off] == BH_RING_WAKE && !ring_in_use(inst)) {
				protocol_violation(inst, "a wake-up before its plugin was ready");
				return false;
			}
			if (sc.size == 1 && inst->in.data[off] == BH_RING_WAKE) {
				if (inst->state != BH_INST_DEAD) /* else read at its exit */
					bh_rings_awake(inst, false); /* it cleared our request */
			} else
				handle_message(inst, inst->in.data + off, sc.size);
			off += sc.size;
		}
		bh_buf_consume(&inst->in, off);
		if (inst->in.len == 0)
			bh_buf_shrink(&inst->in, BH_BUF_KEEP);
		if (inst->untrusted)
			return false;
		if ((size_t)n < room && !to_end)
			break;
	}
	return true;
}

/* After reading its channel or its ring: ok false at end of file or a violation. */
static void after_input(struct bh_instance *inst, bool ok)
{
	if (!ok) {
		/* It is gone for us; the pidfd reports when it is gone for the kernel. A
		 * child closing its channel is usually dying already, so its exit status
		 * tells the story; the SIGKILL only covers one that closed it and lives on. */
		inst->closed_channel = true;
		send_signal(inst, SIGKILL);
		/* Closed, not just masked: a hung-up socket reports EPOLLHUP whatever the
		 * mask, and the pidfd reports the exit. Its ring is read then too. */
		bh_watch_close(inst->d->loop, &inst->chan);
		bh_rings_forget(inst);
	} else if (inst->retiring && inst->inflight == 0) {
		bh_instance_stop(inst);
	}
	bh_slot_after_reply(inst->slot);
}

static void inst_event(struct bh_watch *w, uint32_t events)
{
	struct bh_instance *inst = bh_container_of(w, struct bh_instance, chan);
	if (events & EPOLLOUT)
		schedule_flush(inst);
	if (events & (EPOLLIN | EPOLLHUP | EPOLLERR))
		after_input(inst, inst_read(inst, false));
}

/* Also after end of file on the socket: answers written before it may wait there. */
static bool ring_readable(const struct bh_instance *inst)
{
	return ring_in_use(inst) && !inst->untrusted && inst->state != BH_INST_DEAD;
}

void bh_instance_read_ring(struct bh_instance *inst)
{
	int r = ring_readable(inst) ? read_ring(inst) : 0;
	if (r != 0)
		after_input(inst, r > 0);
}

bool bh_instance_ring_pending(struct bh_instance *inst)
{
	if (!ring_readable(inst) || !bh_ring_pending(&inst->ring))
		return false;
	inst->d->input.ring_late++;
	bh_rings_awake(inst, false);
	return true;
}

/* ---- death ---- */

static void describe_exit(const siginfo_t *si, char *buf, size_t len)
{
	if (si->si_code == CLD_EXITED)
		snprintf(buf, len, "exited with status %d", si->si_status);
	else
		snprintf(buf, len, "killed by signal %d (SIG%s)%s", si->si_status,
			 sigabbrev_np(si->si_status) ? sigabbrev_np(si->si_status) : "?",
			 si->si_code == CLD_DUMPED ? ", core dumped" : "");
}

/* A shim that is pid 1 of its pid namespace cannot die of a signal it raises itself:
 * it records the signal in the claim table and exits with BH_SHIM_EXIT_SIGNALED
 * (bulkhead/channel.h). An exit with that status and that record is reported as
 * death by the signal. The record is the child's word: a plugin can make its own
 * death read as another, nothing more. */
static void own_signal(const struct bh_instance *inst, siginfo_t *si)
{
	static const int sigs[] = { BH_SHIM_DEATH_SIGNALS };
	if (si->si_code != CLD_EXITED || !inst->claims.bell)
		return;
	uint32_t sig = atomic_load_explicit(&inst->claims.bell->died_of, memory_order_acquire);
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
		if ((uint32_t)sigs[i] == sig && si->si_status == BH_SHIM_EXIT_SIGNALED(sigs[i])) {
			si->si_code = CLD_KILLED;
			si->si_status = sigs[i];
			return;
		}
	}
}

/* The calls an instance held when it died. Its claim table says which it had
 * started: those fail with `reason`, whatever their number (one, or a stack of nested
 * calls). Every other one never ran: a client's call or notification that someone
 * still waits for goes back to the front of the slot's queue, in order, to be
 * re-dispatched; one nobody waits for (deadline passed, client gone) is dropped; an
 * internal call fails, its operation deciding what next. */
static void judge_held_calls(struct bh_instance *inst, int32_t code, const char *reason)
{
	struct bh_list requeue;
	bh_list_init(&requeue);
	/* Oldest first: those written, then those still being written. */
	bh_list_splice_tail(&inst->sent, &inst->sending);
	while (!bh_list_empty(&inst->sent)) {
		struct bh_call *c = bh_container_of(bh_list_first(&inst->sent), struct bh_call, link);
		/* Revoked first: nothing that could still hold the table (a process the
		 * plugin left behind) can start it afterwards. */
		bool started = !bh_instance_revoke(inst, c);
		bh_call_returned(c);
		if (started) {
			if (c->kind == BH_CALL_CLIENT && !c->answered && c->slot) {
				c->slot->errors++;
				inst->gen->errors++;
			}
			bh_call_fail(c, code, reason);
		} else if (c->kind == BH_CALL_INTERNAL) {
			bh_call_fail(c, code, reason);
		} else if (c->answered && !c->notifier) { /* nobody waits for it any more */
			bh_call_free(c);
		} else {
			bh_list_add_tail(&requeue, &c->link);
		}
	}
	while (!bh_list_empty(&requeue)) {
		struct bh_call *c = bh_container_of(requeue.prev, struct bh_call, link);
		bh_list_del(&c->link);
		bh_call_queue(c, true);
	}
}

static void inst_exited(struct bh_watch *w, uint32_t events)
{
	struct bh_instance *inst = bh_container_of(w, struct bh_instance, pidfd);
	(void)events;
	siginfo_t si = {0};
	if (waitid(P_PIDFD, (id_t)inst->pidfd.fd, &si, WEXITED | WNOHANG) < 0 || si.si_pid == 0)
		return; /* not yet: spurious wake-up */
	inst_on(inst, EV_EXITED, &si);
}

const char *bh_exit_cause_name(enum bh_exit_cause c)
{
	static const char *const names[BH_EXIT_N] = {
		[BH_EXIT_NONE] = "none",
		[BH_EXIT_STOPPED] = "stopped",
		[BH_EXIT_CRASHED] = "crashed",
		[BH_EXIT_CLOSED] = "closed_channel",
		[BH_EXIT_PROTOCOL] = "protocol",
		[BH_EXIT_DEADLINE] = "deadline",
		[BH_EXIT_LIMIT] = "limit",
		[BH_EXIT_FLOOD] = "output_flood",
		[BH_EXIT_INIT_TIMEOUT] = "init_timeout",
		[BH_EXIT_INIT_FAILED] = "init_failed",
		[BH_EXIT_LOAD_FAILED] = "load_failed",
		[BH_EXIT_SETUP_FAILED] = "setup_failed",
		[BH_EXIT_SETUP_SHORT] = "setup_short",
		[BH_EXIT_KILLED] = "killed",
	};
	return c < BH_EXIT_N ? names[c] : "?";
}

/* The cause of an exit nobody asked for or caused, from its status. */
static enum bh_exit_cause judge_exit(struct bh_instance *inst, const siginfo_t *si)
{
	bool exited = si->si_code == CLD_EXITED;
	if (exited && si->si_status == BH_SANDBOX_EXIT_RESOURCE)
		return BH_EXIT_SETUP_SHORT;
	if (exited &&
	    (si->si_status == BH_SANDBOX_EXIT_SETUP || si->si_status == BH_SANDBOX_EXIT_EXEC))
		return BH_EXIT_SETUP_FAILED;
	if (exited && si->si_status == BH_SHIM_EXIT_LOAD_FAILED && inst->ready_ns == 0)
		return BH_EXIT_LOAD_FAILED;
	if (inst->exit_expected)
		return BH_EXIT_STOPPED;
	if (inst->closed_channel && !exited && si->si_status == SIGKILL) {
		snprintf(inst->death_reason, sizeof(inst->death_reason), "closed its channel");
		return BH_EXIT_CLOSED;
	}
	return BH_EXIT_CRASHED;
}

static void act_exited(struct bh_instance *inst, const void *arg)
{
	siginfo_t si = *(const siginfo_t *)arg;
	struct bh_slot *s = inst->slot;
	own_signal(inst, &si);

	/* Replies it wrote before dying still count: all of them are read before its
	 * calls are judged. */
	if (!inst->untrusted && inst->chan.fd >= 0)
		inst_read(inst, true);
	if (!inst->untrusted && ring_in_use(inst))
		(void)read_ring(inst); /* a ring's worth: the dead cannot refill it */
	bh_rings_forget(inst);
	bh_child_log_drain(&inst->out);
	bh_child_log_drain(&inst->err);

	char status[96], reason[512], limit[160] = "", words[BH_LASTWORDS_MAX];
	describe_exit(&si, status, sizeof(status));
	/* A resource limit is the better explanation of a SIGKILL than the signal. */
	bh_child_limit_cause(&inst->child, &inst->gen->profile, limit, sizeof(limit));
	if (limit[0] && inst->cause == BH_EXIT_NONE) {
		inst->cause = BH_EXIT_LIMIT;
		snprintf(inst->death_reason, sizeof(inst->death_reason), "%s", limit);
	}
	if (inst->cause == BH_EXIT_NONE)
		inst->cause = judge_exit(inst, &si);
	bool clean = si.si_code == CLD_EXITED && si.si_status == 0;
	/* A plugin that cannot load will not do better next time. An init that fails, or
	 * a sandbox set-up that fails, before any instance of the plugin was ever ready
	 * is the same; for a plugin that worked before they are crashes (the host may be
	 * at fault: a cgroup removed under it), restarted and throttled by quarantine. */
	enum bh_exit_cause c = inst->cause;
	bool load_failed = inst->ready_ns == 0 &&
			   (c == BH_EXIT_LOAD_FAILED ||
			    ((c == BH_EXIT_INIT_FAILED || c == BH_EXIT_SETUP_FAILED) && !s->ever_ready));
	if (inst->death_reason[0])
		snprintf(reason, sizeof(reason), "%s instance pid %d %s: %s", s->conf->name,
			 (int)inst->child.pid, status, inst->death_reason);
	else if (!clean && inst->words && bh_lastwords_pick(inst->words, words, sizeof(words)) > 0)
		snprintf(reason, sizeof(reason), "%s instance pid %d %s; its last words: %s",
			 s->conf->name, (int)inst->child.pid, status, words);
	else
		snprintf(reason, sizeof(reason), "%s instance pid %d %s", s->conf->name,
			 (int)inst->child.pid, status);
	/* Set-up that ran short of a resource says nothing about the plugin: retried. */
	bool crashed = !inst->exit_expected && c != BH_EXIT_SETUP_SHORT;
	if (crashed)
		bh_warn("%s", reason);
	else
		bh_debug("%s", reason);
	s->exits[c]++;
	if (c == BH_EXIT_LIMIT || c == BH_EXIT_DEADLINE || c == BH_EXIT_FLOOD)
		bh_event_instance(inst, BH_EV_LIMIT_HIT, bh_exit_cause_name(c), reason);
	bh_event_instance(inst, BH_EV_INSTANCE_EXITED, bh_exit_cause_name(c), reason);
	bh_metrics_instance_exit(inst);

	bh_timer_disarm(inst->d->loop, &inst->timer);
	if (inst->want_flush) {
		bh_list_del(&inst->flush_link);
		inst->want_flush = false;
	}
	inst->dying = true;
	judge_held_calls(inst, c == BH_EXIT_LIMIT ? BH_E_LIMIT : BH_E_PLUGIN_CRASHED, reason);
	bh_outcall_instance_gone(inst);
	if (bh_child_release(&inst->child) < 0 && inst->has_id) {
		/* Its cgroup still holds a task: the id stays out of use for good rather
		 * than go to a new instance beside it. */
		bh_warn("%s: host uid %u stays out of use: a cgroup of its instance could not "
			"be removed", s->conf->name, (unsigned)inst->host_uid);
		inst->has_id = false;
	}
	give_back_id(inst);
	snprintf(s->last_exit, sizeof(s->last_exit), "%s", reason);
	bh_watch_close(inst->d->loop, &inst->chan);
	bh_watch_close(inst->d->loop, &inst->pidfd);
	bh_child_log_close(&inst->out);
	bh_child_log_close(&inst->err);
	bh_list_del(&inst->link);
	s->n_live--;
	bh_loop_defer_free(inst->d->loop, inst_free, inst);
	bh_slot_instance_gone(s, inst, crashed, load_failed);
}
