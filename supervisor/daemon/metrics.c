/* Metrics: what the hooks count, and the text a scrape gets (see metrics.h). Runs on
 * the daemon's one thread, like everything it reads. */
#include "metrics.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "breaker.h"
#include "bulkhead/error.h"
#include "bulkhead/sandbox.h"
#include "call.h"
#include "conn.h"
#include "daemon.h"
#include "gen.h"
#include "instance.h"
#include "list.h"
#include "loop.h"
#include "names.h"
#include "slot.h"

/* Outcomes: BH_OK and bulkhead's codes by number, then every application code as
 * one, then any other code. */
#define OUT_APPLICATION (BH_E_CHAIN_TOO_DEEP + 1)
#define OUT_UNKNOWN (OUT_APPLICATION + 1)
#define OUT_N (OUT_UNKNOWN + 1)

/* Latency buckets (upper bounds), 10 µs to 10 s: a call answered from a warm
 * instance takes tens of µs, a slow plugin seconds. */
static const uint64_t bucket_ns[] = {
	10000, 25000, 50000, 100000, 250000, 500000,
	1000000, 2500000, 5000000, 10000000, 25000000, 50000000,
	100000000, 250000000, 500000000, 1000000000, 2500000000, 5000000000, 10000000000,
};
#define N_BUCKETS (sizeof(bucket_ns) / sizeof(bucket_ns[0]))

/* Instances killed by a resource limit, by limit. */
enum limit { LIMIT_MEMORY, LIMIT_PIDS, LIMIT_OTHER, LIMIT_N };
static const char *const limit_names[LIMIT_N] = {"memory", "pids", "other"};

struct method_stats {
	uint64_t outcomes[OUT_N];
	uint64_t buckets[N_BUCKETS + 1]; /* per bucket, not cumulative; the last is +Inf */
	uint64_t count, sum_ns;
};

struct bh_slot_metrics {
	struct bh_names methods; /* declared method name -> struct method_stats */
	struct method_stats other; /* methods it did not declare */
	enum bh_exit_cause last_cause; /* of the instance that ended last */
	uint64_t restarts[BH_EXIT_N];
	uint64_t limit_kills[LIMIT_N];
	uint64_t swaps[2]; /* rolled back, completed */
};

/* s's counters, made on first use; NULL without memory (the event goes uncounted). */
static struct bh_slot_metrics *slot_metrics(struct bh_slot *s)
{
	if (!s->metrics) {
		s->metrics = calloc(1, sizeof(*s->metrics));
		if (s->metrics)
			bh_names_init(&s->metrics->methods);
	}
	return s->metrics;
}

void bh_metrics_slot_free(struct bh_slot *s)
{
	struct bh_slot_metrics *m = s->metrics;
	if (!m)
		return;
	for (size_t i = 0; i < m->methods.cap; i++)
		if (m->methods.tab[i].key)
			free(m->methods.tab[i].value);
	bh_names_done(&m->methods);
	free(m);
	s->metrics = NULL;
}

/* The method name in c's request ([0, iid, method, params], iid in its 5-byte form),
 * or NULL. */
static const char *method_of(const struct bh_call *c, size_t *len)
{
	const uint8_t *p = c->req + c->iid_off + 5, *end = c->req + c->req_len;
	if (p >= end)
		return NULL;
	size_t n;
	if ((*p & 0xe0) == 0xa0) {
		n = *p & 0x1f;
		p += 1;
	} else if (*p == 0xd9 && end - p >= 2) {
		n = p[1];
		p += 2;
	} else {
		return NULL; /* longer than any name a plugin may declare */
	}
	if ((size_t)(end - p) < n)
		return NULL;
	*len = n;
	return (const char *)p;
}

/* The stats of the method c called: its own when s declared it, else "other". */
static struct method_stats *stats_for(struct bh_slot *s, struct bh_slot_metrics *m,
				      const struct bh_call *c)
{
	size_t len = 0;
	const char *name = method_of(c, &len);
	if (!name)
		return &m->other;
	struct method_stats *st = bh_names_get(&m->methods, name, len);
	if (st)
		return st;
	if (!bh_slot_has_method(s, name, len) || !(st = calloc(1, sizeof(*st))))
		return &m->other;
	if (bh_names_put(&m->methods, name, len, st) < 0) {
		free(st);
		return &m->other;
	}
	return st;
}

void bh_metrics_call_done(const struct bh_call *c, int32_t code)
{
	struct bh_slot *s = c->slot;
	struct bh_slot_metrics *m;
	if (!s || c->kind != BH_CALL_CLIENT || !(m = slot_metrics(s)))
		return;
	struct method_stats *st = stats_for(s, m, c);
	int out = code >= 0 && code < OUT_APPLICATION ? code
		  : code >= BH_E_APPLICATION_MIN     ? OUT_APPLICATION
						     : OUT_UNKNOWN;
	st->outcomes[out]++;
	uint64_t ns = bh_now_ns() - c->start_ns;
	size_t b = 0;
	while (b < N_BUCKETS && ns > bucket_ns[b])
		b++;
	st->buckets[b]++;
	st->count++;
	st->sum_ns += ns;
}

void bh_metrics_instance_exit(const struct bh_instance *inst)
{
	struct bh_slot_metrics *m = slot_metrics(inst->slot);
	if (!m)
		return;
	m->last_cause = inst->cause;
	if (inst->cause != BH_EXIT_LIMIT)
		return;
	/* Which limit, from the reason the sandbox (a cgroup's OOM kill or pids.max) or
	 * the memory watchdog gave: both name memory "out of memory", pids "pids limit". */
	const char *why = inst->death_reason;
	enum limit l = strncmp(why, "out of memory", 13) == 0 ? LIMIT_MEMORY
		       : strncmp(why, "pids limit", 10) == 0  ? LIMIT_PIDS
							      : LIMIT_OTHER;
	m->limit_kills[l]++;
}

void bh_metrics_restart(struct bh_slot *s)
{
	struct bh_slot_metrics *m = slot_metrics(s);
	if (m)
		m->restarts[m->last_cause]++;
}

void bh_metrics_swap(struct bh_slot *s, bool completed)
{
	struct bh_slot_metrics *m = slot_metrics(s);
	if (m)
		m->swaps[completed]++;
}

/* ---- rendering ---- */

struct out {
	struct bh_buf *b;
	int err;
};

static void put(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(struct out *o, const char *fmt, ...)
{
	if (o->err)
		return;
	for (size_t room = 256;; room *= 2) {
		if ((o->err = bh_buf_reserve(o->b, room)) < 0)
			return;
		va_list ap;
		va_start(ap, fmt);
		int n = vsnprintf((char *)o->b->data + o->b->len, o->b->cap - o->b->len, fmt, ap);
		va_end(ap);
		if (n < 0) {
			o->err = -EINVAL;
			return;
		}
		if ((size_t)n < o->b->cap - o->b->len) {
			o->b->len += (size_t)n;
			return;
		}
		room = (size_t)n + 1;
	}
}

static void family(struct out *o, const char *name, const char *type, const char *help)
{
	put(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A label value as the text format wants it: \, " and newline escaped. Names are
 * identifiers today; this keeps the output well-formed whatever they become. */
static const char *esc(const char *v, char *buf, size_t len)
{
	size_t j = 0;
	for (; *v && j + 3 < len; v++) {
		if (*v == '\\' || *v == '"' || *v == '\n') {
			buf[j++] = '\\';
			buf[j++] = *v == '\n' ? 'n' : *v;
		} else {
			buf[j++] = *v;
		}
	}
	buf[j] = '\0';
	return buf;
}

/* CPU time (ns) and resident memory (bytes) of pid from /proc/PID/stat; false when
 * it cannot be read (the process is gone). */
static bool proc_usage(pid_t pid, uint64_t *cpu_ns, uint64_t *rss)
{
	char path[64], buf[1024];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	/* The command name may hold anything, ')' included: fields follow the last one. */
	const char *p = strrchr(buf, ')');
	unsigned long long utime, stime;
	long long rss_pages;
	if (!p || sscanf(p + 2,
			 "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %*d %*d %*d %*d "
			 "%*d %*d %*u %*u %lld",
			 &utime, &stime, &rss_pages) != 3)
		return false;
	long tck = sysconf(_SC_CLK_TCK);
	*cpu_ns = (utime + stime) * (1000000000ull / (uint64_t)(tck > 0 ? tck : 100));
	*rss = rss_pages > 0 ? (uint64_t)rss_pages * (uint64_t)sysconf(_SC_PAGESIZE) : 0;
	return true;
}

typedef void (*slot_fn)(struct out *o, struct bh_slot *s, const char *plugin);

/* fn for every slot, with its name escaped. */
static void each_slot(struct out *o, struct bh_daemon *d, slot_fn fn)
{
	char plugin[2 * BH_NAME_MAX + 4];
	struct bh_list *pos, *tmp;
	bh_list_for_each_safe(pos, tmp, &d->slots)
	{
		struct bh_slot *s = bh_container_of(pos, struct bh_slot, link);
		fn(o, s, esc(s->conf->name, plugin, sizeof(plugin)));
	}
}

typedef void (*method_fn)(struct out *o, const char *plugin, const char *method,
			  const struct method_stats *st);

static void each_method(struct out *o, struct bh_slot *s, const char *plugin, method_fn fn)
{
	struct bh_slot_metrics *m = s->metrics;
	if (!m)
		return;
	char method[2 * BH_NAME_MAX + 4];
	for (size_t i = 0; i < m->methods.cap; i++) {
		const struct bh_name_entry *e = &m->methods.tab[i];
		if (e->key)
			fn(o, plugin, esc(e->key, method, sizeof(method)), e->value);
	}
	if (m->other.count)
		fn(o, plugin, "other", &m->other);
}

static void calls_of_method(struct out *o, const char *plugin, const char *method,
			    const struct method_stats *st)
{
	for (int k = 0; k < OUT_N; k++)
		if (st->outcomes[k])
			put(o, "bulkhead_calls_total{plugin=\"%s\",method=\"%s\",outcome=\"%s\"} %llu\n",
			    plugin, method,
			    k == BH_OK		     ? "ok"
			    : k == OUT_UNKNOWN ? "unknown"
					       : bh_code_name(k == OUT_APPLICATION ? BH_E_APPLICATION_MIN
									   : k),
			    (unsigned long long)st->outcomes[k]);
}

static void latency_of_method(struct out *o, const char *plugin, const char *method,
			      const struct method_stats *st)
{
	uint64_t cum = 0;
	for (size_t b = 0; b < N_BUCKETS; b++) {
		cum += st->buckets[b];
		put(o, "bulkhead_call_duration_seconds_bucket{plugin=\"%s\",method=\"%s\",le=\"%g\"} %llu\n",
		    plugin, method, (double)bucket_ns[b] / 1e9, (unsigned long long)cum);
	}
	put(o, "bulkhead_call_duration_seconds_bucket{plugin=\"%s\",method=\"%s\",le=\"+Inf\"} %llu\n"
	       "bulkhead_call_duration_seconds_sum{plugin=\"%s\",method=\"%s\"} %.9f\n"
	       "bulkhead_call_duration_seconds_count{plugin=\"%s\",method=\"%s\"} %llu\n",
	    plugin, method, (unsigned long long)st->count, plugin, method,
	    (double)st->sum_ns / 1e9, plugin, method, (unsigned long long)st->count);
}

static void calls_of(struct out *o, struct bh_slot *s, const char *plugin)
{
	each_method(o, s, plugin, calls_of_method);
}

static void latency_of(struct out *o, struct bh_slot *s, const char *plugin)
{
	each_method(o, s, plugin, latency_of_method);
}

static void queued_of(struct out *o, struct bh_slot *s, const char *plugin)
{
	put(o, "bulkhead_plugin_queued_calls{plugin=\"%s\"} %u\n", plugin, s->n_queued);
}

static void inflight_of(struct out *o, struct bh_slot *s, const char *plugin)
{
	uint64_t n = 0;
	struct bh_list *pos, *tmp;
	bh_list_for_each_safe(pos, tmp, &s->instances)
		n += bh_container_of(pos, struct bh_instance, link)->inflight;
	put(o, "bulkhead_plugin_calls_in_flight{plugin=\"%s\"} %llu\n", plugin,
	    (unsigned long long)n);
}

static void restarts_of(struct out *o, struct bh_slot *s, const char *plugin)
{
	for (int c = 0; s->metrics && c < BH_EXIT_N; c++)
		if (s->metrics->restarts[c])
			put(o, "bulkhead_plugin_restarts_total{plugin=\"%s\",cause=\"%s\"} %llu\n",
			    plugin, bh_exit_cause_name((enum bh_exit_cause)c),
			    (unsigned long long)s->metrics->restarts[c]);
}

static void exits_of(struct out *o, struct bh_slot *s, const char *plugin)
{
	for (int c = BH_EXIT_STOPPED; c < BH_EXIT_N; c++)
		if (s->exits[c])
			put(o, "bulkhead_plugin_instance_exits_total{plugin=\"%s\",cause=\"%s\"} %llu\n",
			    plugin, bh_exit_cause_name((enum bh_exit_cause)c),
			    (unsigned long long)s->exits[c]);
}

static void limit_kills_of(struct out *o, struct bh_slot *s, const char *plugin)
{
	for (int l = 0; l < LIMIT_N; l++)
		put(o, "bulkhead_plugin_limit_kills_total{plugin=\"%s\",limit=\"%s\"} %llu\n", plugin,
		    limit_names[l],
		    (unsigned long long)(s->metrics ? s->metrics->limit_kills[l] : 0));
}

static void swaps_of(struct out *o, struct bh_slot *s, const char *plugin)
{
	static const char *const names[2] = {"rolled_back", "completed"};
	for (int k = 0; k < 2; k++)
		put(o, "bulkhead_plugin_swaps_total{plugin=\"%s\",outcome=\"%s\"} %llu\n", plugin,
		    names[k], (unsigned long long)(s->metrics ? s->metrics->swaps[k] : 0));
}

static void instances_of(struct out *o, struct bh_slot *s, const char *plugin)
{
	uint32_t n[BH_INST_N] = {0};
	struct bh_list *pos, *tmp;
	bh_list_for_each_safe(pos, tmp, &s->instances)
		n[bh_container_of(pos, struct bh_instance, link)->state]++;
	for (int st = 0; st < BH_INST_N; st++)
		put(o, "bulkhead_plugin_instances{plugin=\"%s\",state=\"%s\"} %u\n", plugin,
		    bh_inst_state_name((enum bh_inst_state)st), n[st]);
}

static void state_of(struct out *o, struct bh_slot *s, const char *plugin)
{
	for (int st = BH_SLOT_STARTING; st <= BH_SLOT_UNLOADING; st++)
		put(o, "bulkhead_plugin_state{plugin=\"%s\",state=\"%s\"} %d\n", plugin,
		    bh_slot_state_name((enum bh_slot_state)st), s->state == (enum bh_slot_state)st);
}

static void breaker_of(struct out *o, struct bh_slot *s, const char *plugin)
{
	for (int st = BH_BREAKER_CLOSED; st <= BH_BREAKER_HALF_OPEN; st++)
		put(o, "bulkhead_plugin_breaker_state{plugin=\"%s\",state=\"%s\"} %d\n", plugin,
		    bh_breaker_state_name((enum bh_breaker_state)st),
		    s->breaker.state == (enum bh_breaker_state)st);
}

static void recycled_of(struct out *o, struct bh_slot *s, const char *plugin)
{
	put(o, "bulkhead_plugin_recycled_total{plugin=\"%s\"} %llu\n", plugin,
	    (unsigned long long)s->recycled);
}

static void generation_of(struct out *o, struct bh_slot *s, const char *plugin)
{
	put(o, "bulkhead_plugin_generation{plugin=\"%s\"} %u\n", plugin, s->generation);
}

/* What one instance uses: CPU and memory from its cgroup where it has one (the whole
 * sandbox: every process of the plugin), else from /proc for its one process. */
struct usage {
	const struct bh_instance *inst;
	uint64_t cpu_ns, memory;
	bool has_cpu, has_memory;
};

static void measure(const struct bh_instance *i, struct usage *u)
{
	struct bh_child_usage cg;
	bh_child_usage(&i->child, &cg);
	uint64_t cpu_ns = 0, rss = 0;
	bool proc = (cg.cpu_ns < 0 || cg.memory_bytes < 0) &&
		    proc_usage(i->child.pid, &cpu_ns, &rss);
	*u = (struct usage){
		.inst = i,
		.cpu_ns = cg.cpu_ns >= 0 ? (uint64_t)cg.cpu_ns : cpu_ns,
		.memory = cg.memory_bytes >= 0 ? (uint64_t)cg.memory_bytes : rss,
		.has_cpu = cg.cpu_ns >= 0 || proc,
		.has_memory = cg.memory_bytes >= 0 || proc,
	};
}

/* Every live instance's usage, measured once for the three families. NULL (and 0)
 * without memory: the families are then empty. */
static struct usage *measure_all(struct bh_daemon *d, size_t *ret_n)
{
	size_t n = 0, k = 0;
	struct bh_list *spos, *stmp, *pos, *tmp;
	bh_list_for_each_safe(spos, stmp, &d->slots)
		bh_list_for_each_safe(pos, tmp, &bh_container_of(spos, struct bh_slot, link)->instances)
			n++;
	struct usage *u = n ? calloc(n, sizeof(*u)) : NULL;
	if (!u) {
		*ret_n = 0;
		return NULL;
	}
	bh_list_for_each_safe(spos, stmp, &d->slots)
		bh_list_for_each_safe(pos, tmp, &bh_container_of(spos, struct bh_slot, link)->instances)
		{
			const struct bh_instance *i = bh_container_of(pos, struct bh_instance, link);
			if (i->state != BH_INST_DEAD)
				measure(i, &u[k++]);
		}
	*ret_n = k;
	return u;
}

enum usage_kind { U_CPU, U_MEMORY, U_UPTIME };

static void usage_family(struct out *o, const struct usage *u, size_t n, enum usage_kind kind)
{
	static const char *const fam[][3] = {
		[U_CPU] = {"bulkhead_instance_cpu_seconds_total", "counter",
			   "CPU time of an instance (its cgroup, else its process)."},
		[U_MEMORY] = {"bulkhead_instance_memory_bytes", "gauge",
			      "Memory of an instance (charged to its cgroup, else its resident set)."},
		[U_UPTIME] = {"bulkhead_instance_uptime_seconds", "gauge",
			      "Time since the instance was spawned."},
	};
	family(o, fam[kind][0], fam[kind][1], fam[kind][2]);
	uint64_t now = bh_now_ns();
	char plugin[2 * BH_NAME_MAX + 4];
	for (size_t k = 0; k < n; k++) {
		const struct bh_instance *i = u[k].inst;
		if ((kind == U_CPU && !u[k].has_cpu) || (kind == U_MEMORY && !u[k].has_memory))
			continue;
		put(o, "%s{plugin=\"%s\",generation=\"%u\",pid=\"%d\"} ", fam[kind][0],
		    esc(i->slot->conf->name, plugin, sizeof(plugin)), i->generation,
		    (int)i->child.pid);
		if (kind == U_CPU)
			put(o, "%.6f\n", (double)u[k].cpu_ns / 1e9);
		else if (kind == U_MEMORY)
			put(o, "%llu\n", (unsigned long long)u[k].memory);
		else
			put(o, "%.3f\n", (double)(now - i->started_ns) / 1e9);
	}
}

/* clang-format off */
static const struct {
	const char *name, *type, *help;
	slot_fn fn;
} slot_families[] = {
	{"bulkhead_calls_total", "counter", "Calls to a plugin's method answered, by outcome "
	 "(ok or the error code's name; undeclared methods count as \"other\").", calls_of},
	{"bulkhead_call_duration_seconds", "histogram", "Time from a call's arrival to its "
	 "answer.", latency_of},
	{"bulkhead_plugin_queued_calls", "gauge", "Calls waiting for an instance with room.",
	 queued_of},
	{"bulkhead_plugin_calls_in_flight", "gauge", "Calls at the plugin's instances.",
	 inflight_of},
	{"bulkhead_plugin_restarts_total", "counter", "Instances started to replace one that "
	 "ended, by how it ended.", restarts_of},
	{"bulkhead_plugin_instance_exits_total", "counter", "Instances ended, by cause.",
	 exits_of},
	{"bulkhead_plugin_limit_kills_total", "counter", "Instances killed by a resource limit, "
	 "by limit.", limit_kills_of},
	{"bulkhead_plugin_swaps_total", "counter", "Hot swaps ended, by outcome.", swaps_of},
	{"bulkhead_plugin_instances", "gauge", "Instances by state.", instances_of},
	{"bulkhead_plugin_state", "gauge", "1 for the state the plugin is in.", state_of},
	{"bulkhead_plugin_breaker_state", "gauge", "1 for the state its circuit breaker is in.",
	 breaker_of},
	{"bulkhead_plugin_recycled_total", "counter", "Instances replaced gracefully (max_calls, "
	 "max_rss, health).", recycled_of},
	{"bulkhead_plugin_generation", "gauge", "The generation calls are routed to.",
	 generation_of},
};
/* clang-format on */

int bh_metrics_render(struct bh_daemon *d, struct bh_buf *b)
{
	struct out o = {.b = b};
	for (size_t k = 0; k < sizeof(slot_families) / sizeof(slot_families[0]); k++) {
		family(&o, slot_families[k].name, slot_families[k].type, slot_families[k].help);
		each_slot(&o, d, slot_families[k].fn);
	}
	size_t n_usage;
	struct usage *u = measure_all(d, &n_usage);
	for (enum usage_kind kind = U_CPU; kind <= U_UPTIME; kind++)
		usage_family(&o, u, n_usage, kind);
	free(u);
	uint32_t n = 0;
	struct bh_list *pos, *tmp;
	bh_list_for_each_safe(pos, tmp, &d->slots) n++;
	family(&o, "bulkhead_plugins", "gauge", "Plugins loaded.");
	put(&o, "bulkhead_plugins %u\n", n);
	family(&o, "bulkhead_clients", "gauge", "Client connections.");
	put(&o, "bulkhead_clients %u\n", d->n_conns);
	family(&o, "bulkhead_client_received_bytes_total", "counter", "Bytes read from clients.");
	put(&o, "bulkhead_client_received_bytes_total %llu\n",
	    (unsigned long long)d->input.client_read);
	family(&o, "bulkhead_client_sent_bytes_total", "counter", "Bytes of responses sent to "
	       "clients.");
	put(&o, "bulkhead_client_sent_bytes_total %llu\n", (unsigned long long)d->output.client_sent);
	uint64_t cpu_ns = 0, rss = 0;
	if (proc_usage(getpid(), &cpu_ns, &rss)) {
		family(&o, "bulkhead_process_cpu_seconds_total", "counter", "CPU time of the daemon.");
		put(&o, "bulkhead_process_cpu_seconds_total %.6f\n", (double)cpu_ns / 1e9);
		family(&o, "bulkhead_process_resident_memory_bytes", "gauge", "Resident memory of "
		       "the daemon.");
		put(&o, "bulkhead_process_resident_memory_bytes %llu\n", (unsigned long long)rss);
	}
	family(&o, "bulkhead_uptime_seconds", "gauge", "Time since the daemon started.");
	put(&o, "bulkhead_uptime_seconds %.3f\n", (double)(bh_now_ns() - d->start_ns) / 1e9);
	family(&o, "bulkhead_build_info", "gauge", "The daemon's version.");
	put(&o, "bulkhead_build_info{version=\"%s\"} 1\n", BH_VERSION);
	return o.err;
}
