/* The frame every hostile plugin shares: constructor, methods, outcome encoding.
 *
 * A plugin file defines H_NAME (its name) and H_CTOR (how its constructor attacks),
 * includes this header, and defines
 *     static void h_attack(struct h_out *o, const struct h_args *a);
 * which performs ONE attack and records how it ended in *o. The same function runs
 * from the ELF constructor (before any plugin API call; a->in_ctor is true) and from
 * the `attack` method (in the middle of a call). See ../hostile_proto.h for the
 * methods and the outcome map.
 *
 * H_CTOR:
 *   H_CTOR_INPROC  the constructor attacks in its own process: for attacks that the
 *                  sandbox answers with an errno or a clean limit.
 *   H_CTOR_NONE    the constructor does not attack: the attack would kill the
 *                  process at load (a seccomp kill, a channel violation, a crash),
 *                  so the instance could never be attacked from a call. Its
 *                  constructor form is tested separately, for a representative
 *                  subset: those plugins are built a second time with
 *                  -DH_CTOR_DIRECT (NAME_ctor.so), whose constructor attacks
 *                  in-process whatever H_CTOR says, and must die at load.
 * (A forked probe cannot stand in for the process: the sandbox refuses fork.)
 *
 * Interlock: before attacking at all, the constructor checks that it runs confined
 * (seccomp filter, no_new_privs, no capabilities, not host root). When it does not,
 * it attacks nothing and every method reports "refused": a hostile plugin loaded
 * without a sandbox stays harmless.
 *
 * Plugins never use malloc for their attacks (the shim may be sanitized: the
 * allocator is the shim's). */
#ifndef BH_HOSTILE_H
#define BH_HOSTILE_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <bulkhead/plugin.h>

#include "../hostile_proto.h"

#ifndef H_NAME
#error "define H_NAME before including hostile.h"
#endif

#define H_CTOR_INPROC 1
#define H_CTOR_NONE 2

#ifdef H_CTOR_DIRECT
#undef H_CTOR
#define H_CTOR H_CTOR_INPROC
#define H_VARIANT "_ctor"
#else
#define H_VARIANT ""
#endif
#ifndef H_CTOR
#error "define H_CTOR before including hostile.h"
#endif

#define H_UNUSED __attribute__((unused))
#define H_DETAIL_MAX 480

struct h_out {
	bool attempted;
	bool ok;        /* the attack succeeded: always a test failure */
	int err;        /* errno of the step that stopped the attack */
	long long count;
	long long extra;
	char detail[H_DETAIL_MAX];
};

struct h_args {
	bool in_ctor;
	long long daemon_pid, sibling_pid;
	long long limit;
	char canary[256];
	char hold[16];
};

static void h_attack(struct h_out *o, const struct h_args *a);
#ifdef H_SHUTDOWN
static void H_SHUTDOWN(void *state);
#endif

/* ---- recording outcomes ---- */

static H_UNUSED const char *h_errname(int e)
{
	const char *n = e ? strerrorname_np(e) : "0";
	return n ? n : "E?";
}

static H_UNUSED __attribute__((format(printf, 2, 3))) void h_note(struct h_out *o,
								    const char *fmt, ...)
{
	size_t len = strlen(o->detail);
	va_list ap;

	if (len >= sizeof(o->detail) - 1)
		return;
	if (len > 0 && len < sizeof(o->detail) - 3) {
		memcpy(o->detail + len, "; ", 3);
		len += 2;
	}
	va_start(ap, fmt);
	vsnprintf(o->detail + len, sizeof(o->detail) - len, fmt, ap);
	va_end(ap);
}

/* A step of the attack failed with errno e: the attack is stopped there. */
static H_UNUSED void h_blocked(struct h_out *o, const char *step, int e)
{
	o->attempted = true;
	o->err = e;
	h_note(o, "%s: %s", step, h_errname(e));
}

/* A step of the attack went through: the sandbox let it happen. */
static H_UNUSED __attribute__((format(printf, 2, 3))) void h_succeeded(struct h_out *o,
									 const char *fmt, ...)
{
	char buf[256];
	va_list ap;

	o->attempted = true;
	o->ok = true;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	h_note(o, "SUCCEEDED: %s", buf);
	/* Said at once on stderr, which the daemon logs: a later step may kill the
	 * process (a seccomp kill) and take the outcome with it. */
	dprintf(2, "%s: %s: %s\n", H_SUCCESS_MARK, H_NAME H_VARIANT, buf);
}

/* List a directory without malloc (getdents64 into a stack buffer): entry names
 * other than "." and "..", comma-separated into names. Entries, or -errno. */
static H_UNUSED int h_list_dir(const char *path, char *names, size_t len)
{
	char buf[4096];
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int count = 0;
	size_t used = 0;

	names[0] = 0;
	if (fd < 0)
		return -errno;
	for (;;) {
		long n = syscall(SYS_getdents64, fd, buf, sizeof(buf));
		if (n < 0) {
			int e = errno;
			close(fd);
			return -e;
		}
		if (n == 0)
			break;
		for (long off = 0; off < n;) {
			/* struct linux_dirent64: ino 8, off 8, reclen 2, type 1, name */
			unsigned short reclen;
			memcpy(&reclen, buf + off + 16, sizeof(reclen));
			const char *name = buf + off + 19;
			off += reclen;
			if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
				continue;
			count++;
			int w = snprintf(names + used, len - used, "%s%s", used ? "," : "", name);
			if (w > 0 && (size_t)w < len - used)
				used += (size_t)w;
		}
	}
	close(fd);
	return count;
}

/* ---- what the process can see of its confinement ---- */

struct h_facts {
	int seccomp, nnp;
	char cap_eff[24], cap_prm[24], cap_inh[24], cap_bnd[24], cap_amb[24];
	long long uid, gid, pid;
	char uid_map[96], gid_map[96];
	int env;                /* environment variables */
	char fds[128];          /* open descriptors, "0,1,2,3" */
	unsigned long long ns_net, ns_pid, ns_mnt, ns_user, ns_ipc, ns_uts, ns_cgroup;
	long long core, nofile; /* soft limits, -1 = unlimited */
	char status_error[64];  /* why /proc/self/status could not be read */
};

/* Read a small file into buf (NUL-terminated). Bytes read, or -errno. */
static H_UNUSED ssize_t h_read_file(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n, total = 0;

	if (fd < 0)
		return -errno;
	while ((size_t)total < len - 1) {
		n = read(fd, buf + total, len - 1 - (size_t)total);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		total += n;
	}
	close(fd);
	buf[total] = 0;
	return total;
}

/* The first mapping of this process whose /proc/self/maps line contains `name`:
 * true with its bounds; false, with a note, when there is none or maps is refused. */
static H_UNUSED bool h_find_mapping(struct h_out *o, const char *name, uintptr_t *start,
				    uintptr_t *end)
{
	static char maps[65536];
	ssize_t n = h_read_file("/proc/self/maps", maps, sizeof(maps));
	if (n < 0) {
		h_blocked(o, "/proc/self/maps", (int)-n);
		return false;
	}
	for (char *line = maps; *line;) {
		char *nl = strchr(line, '\n');
		if (nl)
			*nl = 0;
		unsigned long s, e;
		if (strstr(line, name) && sscanf(line, "%lx-%lx", &s, &e) == 2) {
			*start = s;
			*end = e;
			return true;
		}
		if (!nl)
			break;
		line = nl + 1;
	}
	h_note(o, "no %s mapped", name);
	return false;
}

static void h_status_field(const char *status, const char *key, char *out, size_t len)
{
	const char *p = strstr(status, key);

	out[0] = 0;
	if (!p)
		return;
	p += strlen(key);
	while (*p == ' ' || *p == '\t')
		p++;
	size_t n = strcspn(p, "\n");
	if (n >= len)
		n = len - 1;
	memcpy(out, p, n);
	out[n] = 0;
}

static unsigned long long h_ns_ino(const char *which)
{
	char path[64];
	struct stat st;

	snprintf(path, sizeof(path), "/proc/self/ns/%s", which);
	return stat(path, &st) == 0 ? (unsigned long long)st.st_ino : 0;
}

static void h_first_line(char *s)
{
	/* Keep the maps short: the first line says which host id we are. */
	s[strcspn(s, "\n")] = 0;
}

/* Only calls a plugin loader makes anyway (open, read, fcntl, stat, getrlimit):
 * collecting facts must not itself trip the seccomp filter. */
static void h_facts_collect(struct h_facts *f)
{
	char status[4096], v[32];
	extern char **environ;
	struct rlimit rl;

	memset(f, 0, sizeof(*f));
	f->seccomp = f->nnp = -1;
	ssize_t n = h_read_file("/proc/self/status", status, sizeof(status));
	if (n < 0) {
		snprintf(f->status_error, sizeof(f->status_error), "/proc/self/status: %s",
			 h_errname((int)-n));
	} else {
		h_status_field(status, "\nSeccomp:", v, sizeof(v));
		if (v[0])
			f->seccomp = atoi(v);
		h_status_field(status, "\nNoNewPrivs:", v, sizeof(v));
		if (v[0])
			f->nnp = atoi(v);
		h_status_field(status, "\nCapEff:", f->cap_eff, sizeof(f->cap_eff));
		h_status_field(status, "\nCapPrm:", f->cap_prm, sizeof(f->cap_prm));
		h_status_field(status, "\nCapInh:", f->cap_inh, sizeof(f->cap_inh));
		h_status_field(status, "\nCapBnd:", f->cap_bnd, sizeof(f->cap_bnd));
		h_status_field(status, "\nCapAmb:", f->cap_amb, sizeof(f->cap_amb));
	}
	f->uid = getuid();
	f->gid = getgid();
	f->pid = getpid();
	if (h_read_file("/proc/self/uid_map", f->uid_map, sizeof(f->uid_map)) < 0)
		snprintf(f->uid_map, sizeof(f->uid_map), "?");
	if (h_read_file("/proc/self/gid_map", f->gid_map, sizeof(f->gid_map)) < 0)
		snprintf(f->gid_map, sizeof(f->gid_map), "?");
	h_first_line(f->uid_map);
	h_first_line(f->gid_map);
	for (char **e = environ; e && *e; e++)
		f->env++;
	size_t used = 0;
	for (int fd = 0; fd < 1024; fd++) {
		if (fcntl(fd, F_GETFD) < 0)
			continue;
		int w = snprintf(f->fds + used, sizeof(f->fds) - used, "%s%d", used ? "," : "",
				 fd);
		if (w < 0 || (size_t)w >= sizeof(f->fds) - used)
			break;
		used += (size_t)w;
	}
	f->ns_net = h_ns_ino("net");
	f->ns_pid = h_ns_ino("pid");
	f->ns_mnt = h_ns_ino("mnt");
	f->ns_user = h_ns_ino("user");
	f->ns_ipc = h_ns_ino("ipc");
	f->ns_uts = h_ns_ino("uts");
	f->ns_cgroup = h_ns_ino("cgroup");
	f->core = getrlimit(RLIMIT_CORE, &rl) == 0
			  ? (rl.rlim_cur == RLIM_INFINITY ? -1 : (long long)rl.rlim_cur)
			  : -2;
	f->nofile = getrlimit(RLIMIT_NOFILE, &rl) == 0
			    ? (rl.rlim_cur == RLIM_INFINITY ? -1 : (long long)rl.rlim_cur)
			    : -2;
}

static bool h_caps_zero(const char *c)
{
	if (!c[0])
		return false;
	for (; *c; c++)
		if (*c != '0')
			return false;
	return true;
}

/* The interlock: true when this process is confined enough for an attack to be
 * harmless whatever the sandbox let through. */
static bool h_confined(const struct h_facts *f, char *why, size_t len)
{
	if (f->status_error[0])
		snprintf(why, len, "cannot check confinement: %s", f->status_error);
	else if (f->seccomp != 2)
		snprintf(why, len, "no seccomp filter (Seccomp: %d)", f->seccomp);
	else if (f->nnp != 1)
		snprintf(why, len, "no_new_privs not set");
	else if (!h_caps_zero(f->cap_eff) || !h_caps_zero(f->cap_prm))
		snprintf(why, len, "holds capabilities (CapEff %s, CapPrm %s)", f->cap_eff,
			 f->cap_prm);
	else if (f->uid == 0 && strncmp(f->uid_map, "0 0 ", 4) == 0)
		snprintf(why, len, "runs as host root");
	else
		return true;
	return false;
}

/* ---- holding a call in flight ---- */

static void h_release_handler(int sig)
{
	(void)sig;
}

/* A handler (a pid-1 shim would drop a default-action signal) and the signal
 * blocked: it stays pending until h_hold() takes it. */
static void h_hold_setup(void)
{
	struct sigaction sa;
	sigset_t set;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = h_release_handler;
	sigemptyset(&sa.sa_mask);
	sigaction(H_RELEASE_SIGNAL, &sa, NULL);
	sigemptyset(&set);
	sigaddset(&set, H_RELEASE_SIGNAL);
	sigprocmask(SIG_BLOCK, &set, NULL);
}

static void h_hold(struct h_out *o)
{
	sigset_t set;
	struct timespec ts = { .tv_sec = H_HOLD_MAX_S };
	int r;

	sigemptyset(&set);
	sigaddset(&set, H_RELEASE_SIGNAL);
	do
		r = sigtimedwait(&set, NULL, &ts);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		h_note(o, "hold: not released: %s", h_errname(errno));
}

/* ---- constructor ---- */

static struct h_facts h_ctor_facts;
static struct h_out h_ctor_out;
static char h_refused[200];

static void h_args_default(struct h_args *a)
{
	memset(a, 0, sizeof(*a));
	a->daemon_pid = a->sibling_pid = -1;
}

__attribute__((constructor)) static void h_constructor(void)
{
	struct h_args a;

	h_facts_collect(&h_ctor_facts);
	h_hold_setup();
	if (!h_confined(&h_ctor_facts, h_refused, sizeof(h_refused)))
		return;
	h_args_default(&a);
	a.in_ctor = true;
	switch (H_CTOR) {
	case H_CTOR_INPROC:
		h_attack(&h_ctor_out, &a);
		break;
	default:
		h_note(&h_ctor_out, "no constructor attack: it would kill the instance at load");
		break;
	}
}

/* ---- methods ---- */

static void h_kv_int(bh_writer *w, const char *k, long long v)
{
	bh_write_cstr(w, k);
	bh_write_int(w, v);
}

static void h_kv_str(bh_writer *w, const char *k, const char *v)
{
	bh_write_cstr(w, k);
	bh_write_cstr(w, v);
}

static void h_write_facts(bh_writer *w, const struct h_facts *f)
{
	bh_write_map(w, 24);
	h_kv_int(w, "seccomp", f->seccomp);
	h_kv_int(w, "nnp", f->nnp);
	h_kv_str(w, "cap_eff", f->cap_eff);
	h_kv_str(w, "cap_prm", f->cap_prm);
	h_kv_str(w, "cap_inh", f->cap_inh);
	h_kv_str(w, "cap_bnd", f->cap_bnd);
	h_kv_str(w, "cap_amb", f->cap_amb);
	h_kv_int(w, "uid", f->uid);
	h_kv_int(w, "gid", f->gid);
	h_kv_int(w, "pid", f->pid);
	h_kv_str(w, "uid_map", f->uid_map);
	h_kv_str(w, "gid_map", f->gid_map);
	h_kv_int(w, "env", f->env);
	h_kv_str(w, "fds", f->fds);
	h_kv_int(w, "ns_net", (long long)f->ns_net);
	h_kv_int(w, "ns_pid", (long long)f->ns_pid);
	h_kv_int(w, "ns_mnt", (long long)f->ns_mnt);
	h_kv_int(w, "ns_user", (long long)f->ns_user);
	h_kv_int(w, "ns_ipc", (long long)f->ns_ipc);
	h_kv_int(w, "ns_uts", (long long)f->ns_uts);
	h_kv_int(w, "ns_cgroup", (long long)f->ns_cgroup);
	h_kv_int(w, "core", f->core);
	h_kv_int(w, "nofile", f->nofile);
	h_kv_str(w, "status_error", f->status_error);
}

static int h_write_out(bh_writer *w, const struct h_out *o, const struct h_facts *facts)
{
	bool refused = h_refused[0] != 0;

	bh_write_map(w, 7 + (refused ? 1 : 0) + (facts ? 1 : 0));
	bh_write_cstr(w, "attempted");
	bh_write_bool(w, o->attempted);
	bh_write_cstr(w, "ok");
	bh_write_bool(w, o->ok);
	h_kv_int(w, "errno", o->err);
	h_kv_str(w, "errname", h_errname(o->err));
	h_kv_int(w, "count", o->count);
	h_kv_int(w, "extra", o->extra);
	h_kv_str(w, "detail", o->detail);
	if (refused)
		h_kv_str(w, "refused", h_refused);
	if (facts) {
		bh_write_cstr(w, "facts");
		h_write_facts(w, facts);
	}
	return bh_writer_error(w);
}

static void h_args_parse(const bh_value *args, struct h_args *a)
{
	const bh_value *m = bh_value_at(args, 0);
	const char *s;
	size_t n;
	int64_t v;

	h_args_default(a);
	if (!m || m->type != BH_MAP)
		return;
	if (bh_value_get_int(bh_value_find(m, "daemon_pid"), &v) == 0)
		a->daemon_pid = v;
	if (bh_value_get_int(bh_value_find(m, "sibling_pid"), &v) == 0)
		a->sibling_pid = v;
	if (bh_value_get_int(bh_value_find(m, "limit"), &v) == 0)
		a->limit = v;
	if (bh_value_get_str(bh_value_find(m, "canary"), &s, &n) == 0 && n < sizeof(a->canary))
		memcpy(a->canary, s, n);
	if (bh_value_get_str(bh_value_find(m, "hold"), &s, &n) == 0 && n < sizeof(a->hold))
		memcpy(a->hold, s, n);
}

static int h_m_attack(void *state, const bh_value *args, bh_writer *out, bh_error *err)
{
	struct h_out o;
	struct h_args a;

	(void)state, (void)err;
	memset(&o, 0, sizeof(o));
	h_args_parse(args, &a);
	if (strcmp(a.hold, "before") == 0)
		h_hold(&o);
	if (!h_refused[0])
		h_attack(&o, &a);
	if (strcmp(a.hold, "after") == 0)
		h_hold(&o);
	return h_write_out(out, &o, NULL);
}

static int h_m_ctor_result(void *state, const bh_value *args, bh_writer *out, bh_error *err)
{
	(void)state, (void)args, (void)err;
	return h_write_out(out, &h_ctor_out, &h_ctor_facts);
}

static int h_m_facts(void *state, const bh_value *args, bh_writer *out, bh_error *err)
{
	struct h_facts f;

	(void)state, (void)args, (void)err;
	h_facts_collect(&f);
	h_write_facts(out, &f);
	return bh_writer_error(out);
}

static int h_m_ping(void *state, const bh_value *args, bh_writer *out, bh_error *err)
{
	(void)state, (void)args, (void)err;
	return bh_write_cstr(out, "pong");
}

static const struct bh_method h_methods[] = {
	{ "attack", h_m_attack },
	{ "ctor_result", h_m_ctor_result },
	{ "facts", h_m_facts },
	{ "ping", h_m_ping },
};

#ifndef H_SHUTDOWN
#define H_SHUTDOWN NULL
#endif

BH_PLUGIN_DEFINE = {
	BH_PLUGIN_HEADER,
	.name = H_NAME H_VARIANT,
	.version = "hostile",
	.shutdown = H_SHUTDOWN,
	.methods = h_methods,
	.n_methods = sizeof(h_methods) / sizeof(h_methods[0]),
};

#endif
