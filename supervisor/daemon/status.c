/* `bulkhead.status`: the daemon's state as one MessagePack map. */
#include "status.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bulkhead/proto.h"
#include "bulkhead/sandbox.h"
#include "bulkhead/value.h"
#include "call.h"
#include "conn.h"
#include "daemon.h"
#include "gen.h"
#include "heal.h"
#include "ids.h"
#include "instance.h"
#include "kv.h"
#include "list.h"
#include "loop.h"
#include "memwatch.h"
#include "outcall.h"
#include "placement.h"
#include "slot.h"
#include "swap.h"

#define BH_STR_(x) #x
#define BH_STR(x) BH_STR_(x)

/* Resident set of pid in KiB, 0 when unknown. Reads /proc (never blocks on I/O). */
static uint64_t rss_kb(pid_t pid)
{
	char path[64], buf[128];
	snprintf(path, sizeof(path), "/proc/%d/statm", (int)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = 0;
	unsigned long long size, resident;
	if (sscanf(buf, "%llu %llu", &size, &resident) != 2)
		return 0;
	return resident * (uint64_t)sysconf(_SC_PAGESIZE) / 1024;
}

/* Its calls in flight it has begun, as its claim table says (the rest wait on its
 * channel behind them). */
static uint64_t started_calls(const struct bh_instance *i)
{
	uint64_t n = 0;
	for (const struct bh_list *l = i->sent.next; l != &i->sent; l = l->next)
		n += bh_instance_call_started(i, bh_container_of(l, struct bh_call, link));
	return n;
}

static void write_instance(bh_writer *w, const struct bh_instance *i, uint64_t now)
{
	bh_write_map(w, 10 + 3);
	bh_heal_write_status(w, i);
	kv_uint(w, "pid", (uint64_t)i->child.pid);
	/* Its host identity (the daemon's own uid in the "own" mode); -1 unconfined. */
	bh_write_cstr(w, "host_uid");
	if (i->gen->profile.enabled)
		bh_write_uint(w, i->host_uid);
	else
		bh_write_int(w, -1);
	kv_uint(w, "generation", i->generation);
	kv_str(w, "state", bh_inst_state_name(i->state));
	kv_uint(w, "uptime_ms", (now - i->started_ns) / 1000000);
	kv_uint(w, "rss_kb", rss_kb(i->child.pid));
	kv_uint(w, "calls", i->calls);
	kv_uint(w, "errors", i->errors);
	kv_uint(w, "inflight", i->inflight);
	kv_uint(w, "started", started_calls(i));
}

/* How the plugin is confined: every loosening and every fallback is visible here. */
static void write_sandbox(bh_writer *w, const struct bh_slot *s)
{
	const struct bh_sandbox_profile *p = &s->gen->profile;
	struct bh_enforcement e;
	bh_sandbox_enforcement(p, &e);
	char buf[96];
	bh_write_map(w, 13);
	bh_write_cstr(w, "enabled");
	bh_write_bool(w, p->enabled);
	bh_write_cstr(w, "network");
	bh_write_bool(w, p->network);
	kv_str(w, "namespaces", e.namespaces);
	kv_str(w, "seccomp", e.seccomp);
	bh_write_cstr(w, "extra_syscalls");
	bh_write_array(w, (uint32_t)p->n_extra_syscalls);
	for (size_t i = 0; i < p->n_extra_syscalls; i++)
		bh_write_cstr(w, p->extra_syscalls[i]);
#define LIMIT(key, fmt, val, zero, how)                                                    \
	do {                                                                               \
		if (zero)                                                                  \
			snprintf(buf, sizeof(buf), "unlimited");                           \
		else                                                                       \
			snprintf(buf, sizeof(buf), fmt " via %s", val, how);               \
		kv_str(w, key, buf);                                                       \
	} while (0)
	LIMIT("memory", "%llu MiB", (unsigned long long)(p->memory_bytes >> 20),
	      !p->memory_bytes, e.memory);
	LIMIT("pids", "%u", p->pids_max, !p->pids_max, e.pids);
	LIMIT("cpu", "%u%%", p->cpu_percent, !p->cpu_percent, e.cpu);
	LIMIT("nofile", "%llu", (unsigned long long)p->nofile, !p->nofile, e.nofile);
	LIMIT("fsize", "%llu MiB", (unsigned long long)(p->fsize_bytes >> 20), false, e.fsize);
#undef LIMIT
	snprintf(buf, sizeof(buf), "%llu KiB, %llu inodes via %s",
		 (unsigned long long)(p->tmp_bytes >> 10), (unsigned long long)p->tmp_inodes, e.tmp);
	kv_str(w, "tmp", buf);
	bh_write_cstr(w, "require_limits");
	bh_write_bool(w, p->require_limits);
	/* What the memory fallback does and does not bound. */
	kv_str(w, "memory_enforced",
	       !p->enabled || !p->memory_bytes ? "nothing"
	       : strcmp(e.memory, BH_SANDBOX_MEMORY_FALLBACK) != 0
		       ? "everything the cgroup charges (anonymous, page cache, shmem and memfd, "
			 "kernel memory)"
		       : "RLIMIT_DATA bounds private writable memory (address space reserved "
			 "PROT_NONE is not counted); the daemon kills an instance whose resident "
			 "memory plus memfd pages pass the limit, checked every "
			 BH_STR(BH_MEMWATCH_MS) " ms. Not bounded: growth between two checks, "
			 "page cache, kernel memory; the private /tmp has its own tmp size");
}

/* Every generation with a live instance, plus the active and the incoming one. */
static void write_generations(bh_writer *w, const struct bh_slot *s)
{
	const struct bh_gen *gens[16];
	uint32_t n = 0;
	gens[n++] = s->gen;
	if (s->next)
		gens[n++] = s->next;
	struct bh_list *pos, *tmp;
	bh_list_for_each_safe(pos, tmp, (struct bh_list *)&s->instances)
	{
		const struct bh_gen *g = bh_container_of(pos, struct bh_instance, link)->gen;
		bool seen = false;
		for (uint32_t k = 0; k < n; k++)
			seen |= gens[k] == g;
		if (!seen && n < 16)
			gens[n++] = g;
	}
	bh_write_array(w, n);
	for (uint32_t k = 0; k < n; k++) {
		const struct bh_gen *g = gens[k];
		uint32_t live = 0;
		bh_list_for_each_safe(pos, tmp, (struct bh_list *)&s->instances)
			live += bh_container_of(pos, struct bh_instance, link)->gen == g;
		const char *role = g == s->gen ? "active" : g == s->next ? "incoming" : "draining";
		if (g == s->next && s->swap && bh_swap_canary_pct(s->swap))
			role = "canary";
		bh_write_map(w, 8);
		kv_uint(w, "generation", g->number);
		kv_str(w, "role", role);
		kv_str(w, "version", g->version);
		kv_str(w, "path", g->conf.path);
		kv_uint(w, "instances", live);
		kv_uint(w, "calls", g->calls);
		kv_uint(w, "errors", g->errors);
		kv_uint(w, "canary_percent", g == s->next && s->swap ? bh_swap_canary_pct(s->swap) : 0);
	}
}

/* How its instances ended, by cause: only the causes seen. */
static void write_exits(bh_writer *w, const struct bh_slot *s)
{
	uint32_t n = 0;
	for (int c = BH_EXIT_STOPPED; c < BH_EXIT_N; c++)
		n += s->exits[c] != 0;
	bh_write_cstr(w, "exits");
	bh_write_map(w, n);
	for (int c = BH_EXIT_STOPPED; c < BH_EXIT_N; c++)
		if (s->exits[c])
			kv_uint(w, bh_exit_cause_name((enum bh_exit_cause)c), s->exits[c]);
}

/* What its plugin may call (outcall.h), and how many calls it made. */
static void write_grants(bh_writer *w, const struct bh_slot *s)
{
	bh_write_cstr(w, "grants");
	bh_write_map(w, 3);
	bh_write_cstr(w, "calls");
	bh_write_array(w, (uint32_t)s->conf->n_calls);
	for (size_t i = 0; i < s->conf->n_calls; i++)
		bh_write_cstr(w, s->conf->calls[i]);
	bh_write_cstr(w, "callback");
	bh_write_bool(w, s->conf->callback);
	kv_uint(w, "calls_made", s->outcalls);
}

/* Its instances' environment (config env), NAME -> value. */
static void write_env(bh_writer *w, const struct bh_slot *s)
{
	bh_write_cstr(w, "env");
	bh_write_map(w, (uint32_t)s->conf->n_env);
	for (size_t i = 0; i < s->conf->n_env; i++) {
		const char *kv = s->conf->env[i], *eq = strchr(kv, '=');
		bh_write_str(w, kv, (size_t)(eq - kv));
		bh_write_cstr(w, eq + 1);
	}
}

static void write_slot(bh_writer *w, const struct bh_slot *s, uint64_t now)
{
	bh_write_map(w, 21 + 3);
	kv_str(w, "breaker", bh_breaker_state_name(s->breaker.state));
	kv_str(w, "breaker_reason", s->breaker.state != BH_BREAKER_CLOSED ? s->breaker.reason : "");
	kv_uint(w, "recycled", s->recycled);
	write_grants(w, s);
	write_env(w, s);
	bh_write_cstr(w, "generations");
	write_generations(w, s);
	kv_str(w, "swap", s->swap ? bh_swap_phase_name(s->swap) : "none");
	kv_str(w, "last_swap", s->last_swap);
	bh_write_cstr(w, "sandbox");
	write_sandbox(w, s);
	kv_str(w, "name", s->conf->name);
	kv_str(w, "state", bh_slot_state_name(s->state));
	kv_str(w, "path", s->conf->path);
	kv_str(w, "version", s->gen->version);
	kv_uint(w, "generation", s->generation);
	kv_uint(w, "uptime_ms", (now - s->loaded_ns) / 1000000);
	kv_uint(w, "calls", s->calls);
	kv_uint(w, "errors", s->errors);
	kv_uint(w, "restarts", s->restarts);
	write_exits(w, s);
	kv_uint(w, "spawn_failures", s->spawn_failures);
	kv_uint(w, "queued", s->n_queued);
	kv_uint(w, "moved", s->moved);
	kv_str(w, "last_exit", s->state == BH_SLOT_FAILED || s->state == BH_SLOT_QUARANTINED
				       ? s->fail_reason
				       : s->last_exit);
	bh_write_cstr(w, "instances");
	uint32_t n = 0;
	struct bh_list *pos, *tmp;
	bh_list_for_each_safe(pos, tmp, &s->instances) n++;
	bh_write_array(w, n);
	bh_list_for_each_safe(pos, tmp, &s->instances)
		write_instance(w, bh_container_of(pos, struct bh_instance, link), now);
}

/* Which host identities instances get, and why. */
static void write_identity(bh_writer *w, const struct bh_ids *ids)
{
	bh_write_cstr(w, "identity");
	bh_write_map(w, 5);
	kv_str(w, "mode", bh_ids_mode_name(ids->mode));
	kv_str(w, "why", ids->why);
	kv_uint(w, "first", ids->first);
	kv_uint(w, "count", ids->count);
	kv_uint(w, "in_use", ids->n_used);
}

/* What instances and clients hold between messages: read buffers and scanners (each
 * holding part of a message), log line buffers (each holding part of a line); idle
 * ones hold none. The daemon's spare read buffer is counted in bytes. */
static void write_buffers(bh_writer *w, const struct bh_daemon *d)
{
	uint64_t readers = 0, bytes = d->spare.buf.cap, lines = 0;
	struct bh_list *spos, *stmp, *pos, *tmp;
	bh_list_for_each_safe(spos, stmp, (struct bh_list *)&d->slots)
	{
		struct bh_slot *s = bh_container_of(spos, struct bh_slot, link);
		bh_list_for_each_safe(pos, tmp, &s->instances)
		{
			const struct bh_instance *i = bh_container_of(pos, struct bh_instance, link);
			readers += i->in.cap || i->scan;
			bytes += i->in.cap;
			lines += (i->out.line != NULL) + (i->err.line != NULL);
		}
	}
	uint64_t clients = 0;
	bh_list_for_each_safe(pos, tmp, (struct bh_list *)&d->conns)
	{
		const struct bh_conn *cn = bh_container_of(pos, struct bh_conn, link);
		clients += cn->in.cap || cn->scan; /* the one asking, at least */
		bytes += cn->in.cap;
	}
	bh_write_cstr(w, "buffers");
	bh_write_map(w, 4);
	kv_uint(w, "instance_readers", readers);
	kv_uint(w, "client_readers", clients);
	kv_uint(w, "read_bytes", bytes);
	kv_uint(w, "log_lines", lines);
}

static void write_provider(void *w, const char *ns, const struct bh_conn *cn)
{
	bh_write_map(w, 3);
	kv_str(w, "namespace", ns);
	kv_uint(w, "client", cn->serial);
	kv_uint(w, "pid", (uint64_t)cn->pid);
}

int bh_status_write(struct bh_daemon *d, bh_writer *w)
{
	uint64_t now = bh_now_ns();
	const struct bh_loop_bell_stats *bell = bh_loop_bell_stats(d->loop);
	char placement[160];
	bh_placement_describe(placement, sizeof(placement));
	bh_write_map(w, 13);
	kv_str(w, "version", BH_VERSION);
	write_identity(w, &d->ids);
	kv_uint(w, "pid", (uint64_t)getpid());
	kv_str(w, "cpu_placement", placement);
	kv_uint(w, "uptime_ms", (now - d->start_ns) / 1000000);
	kv_uint(w, "clients", d->n_conns);
	bh_write_cstr(w, "input");
	bh_write_map(w, 7);
	kv_uint(w, "client_bytes_read", d->input.client_read);
	kv_uint(w, "client_bytes_scanned", d->input.client_scanned);
	kv_uint(w, "channel_bytes_read", d->input.channel_read);
	kv_uint(w, "channel_bytes_scanned", d->input.channel_scanned);
	kv_uint(w, "ring_bytes_read", d->input.ring_read);
	kv_uint(w, "ring_reads_at_deadline", d->input.ring_late);
	kv_uint(w, "output_bytes_read", d->input.output_read);
	bh_write_cstr(w, "output");
	bh_write_map(w, 3);
	kv_uint(w, "client_bytes_sent", d->output.client_sent);
	kv_uint(w, "client_bytes_moved", d->output.client_moved);
	kv_uint(w, "result_bytes_staged", d->output.result_staged);
	/* The watches for close replies (spin_us): what they caught and cost. */
	bh_write_cstr(w, "reply_watch");
	bh_write_map(w, 7);
	kv_uint(w, "watches", bell->watches);
	kv_uint(w, "replies_caught", bell->rang);
	kv_uint(w, "other_events", bell->other_events);
	kv_uint(w, "timed_out", bell->timed_out);
	kv_uint(w, "spent_us", bell->watch_ns / 1000);
	kv_uint(w, "yields", d->ring_yield.yields);
	kv_uint(w, "replies_after_yield", d->ring_yield.answered);
	/* Instances starting (spawned, not ready yet), at most max_starting at a time
	 * unless a swap starts its own; plugins waiting for their turn to start one. */
	struct bh_list *pos, *tmp;
	uint32_t n = 0;
	bh_list_for_each_safe(pos, tmp, &d->spawn_wait) n++;
	bh_write_cstr(w, "spawning");
	bh_write_map(w, 3);
	kv_uint(w, "starting", d->n_starting);
	kv_uint(w, "max_starting", d->max_starting);
	kv_uint(w, "waiting", n);
	write_buffers(w, d);
	bh_write_cstr(w, "providers");
	bh_write_array(w, bh_provider_count(d));
	bh_provider_each(d, write_provider, w);
	bh_write_cstr(w, "plugins");
	n = 0;
	bh_list_for_each_safe(pos, tmp, &d->slots) n++;
	bh_write_array(w, n);
	bh_list_for_each_safe(pos, tmp, &d->slots)
		write_slot(w, bh_container_of(pos, struct bh_slot, link), now);
	return bh_writer_error(w);
}
