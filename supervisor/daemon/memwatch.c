/* The memory watchdog: the daemon's half of a memory limit where no memory cgroup
 * enforces it (an unprivileged daemon without a delegated cgroup).
 *
 * The child's RLIMIT_DATA bounds private writable memory but not shared memory: a
 * plugin can hold any amount of memfd pages, mapped or only open. So every
 * MEMWATCH_MS the daemon adds up what each watched instance holds and kills the one
 * over its limit, with the reason:
 *
 *   RssAnon + RssShmem of every process of the instance (its pid 1 and descendants)
 *   + the allocated size of every memfd open in any of them, each file once.
 *
 * Pages of a memfd that is both mapped and open count twice (resident and
 * allocated): the sum errs towards stopping early. A memfd that is neither mapped
 * nor open in the instance (passed away over a socket the instance holds in flight)
 * is not seen. Between two polls an instance may exceed its limit for up to
 * MEMWATCH_MS.
 *
 * Cost per poll and watched process: a few /proc reads, and with an unprivileged
 * daemon one pidfd_getfd per slot of its fd table (FDSize: 64 for a small process,
 * at most the profile's nofile). */
#define _GNU_SOURCE
#include "memwatch.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "bulkhead/sandbox.h"
#include "daemon.h"
#include "gen.h"
#include "instance.h"
#include "list.h"
#include "loop.h"
#include "slot.h"

#define MEMWATCH_MS BH_MEMWATCH_MS
#define MAX_PROCS 1024  /* pids limits are far below; a tree larger is cut here */
#define MAX_MEMFDS 1024 /* distinct memfds remembered for counting each once */

/* "Key:   N kB" from /proc/PID/status, in bytes (0 when absent). */
static uint64_t status_kb(const char *status, const char *key)
{
	const char *p = strstr(status, key);
	unsigned long long kb;
	if (!p || sscanf(p + strlen(key), " %llu", &kb) != 1)
		return 0;
	return (uint64_t)kb * 1024;
}

static ssize_t read_small(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ssize_t n;
	do
		n = read(fd, buf, len - 1);
	while (n < 0 && errno == EINTR);
	int err = errno;
	close(fd);
	if (n < 0)
		return -err;
	buf[n] = '\0';
	return n;
}

struct tally {
	pid_t procs[MAX_PROCS];
	size_t n_procs;
	struct {
		dev_t dev;
		ino_t ino;
	} memfds[MAX_MEMFDS];
	size_t n_memfds;
	uint64_t bytes;
};

/* The children of every thread of pid, appended to the list. */
static void add_children(struct tally *t, pid_t pid)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	DIR *d = opendir(path);
	if (!d)
		return;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		char cpath[96], buf[4096];
		snprintf(cpath, sizeof(cpath), "/proc/%d/task/%s/children", (int)pid, e->d_name);
		if (read_small(cpath, buf, sizeof(buf)) <= 0)
			continue;
		for (char *p = buf, *end; *p; p = end) {
			long c = strtol(p, &end, 10);
			if (end == p)
				break;
			if (t->n_procs < MAX_PROCS)
				t->procs[t->n_procs++] = (pid_t)c;
		}
	}
	closedir(d);
}

static bool memfd_seen(struct tally *t, const struct stat *st)
{
	for (size_t i = 0; i < t->n_memfds; i++)
		if (t->memfds[i].dev == st->st_dev && t->memfds[i].ino == st->st_ino)
			return true;
	if (t->n_memfds < MAX_MEMFDS) {
		t->memfds[t->n_memfds].dev = st->st_dev;
		t->memfds[t->n_memfds].ino = st->st_ino;
		t->n_memfds++;
	}
	return false;
}

/* An fd of ours that may be a memfd: count its allocated pages once. */
static void count_if_memfd(struct tally *t, int dirfd, const char *name, int fd)
{
	char target[64];
	ssize_t n = readlinkat(dirfd, name, target, sizeof(target) - 1);
	if (n < 7 || memcmp(target, "/memfd:", 7) != 0)
		return;
	struct stat st;
	if ((fd >= 0 ? fstat(fd, &st) : fstatat(dirfd, name, &st, 0)) == 0 && !memfd_seen(t, &st))
		t->bytes += (uint64_t)st.st_blocks * 512;
}

/* Without read access to its /proc/PID/fd (a non-dumpable child of an unprivileged
 * daemon: the directory belongs to root), copy each of its fds, 0 .. FDSize - 1,
 * with pidfd_getfd, which asks for ptrace rights over it: the daemon owns its user
 * namespace and is its ancestor. */
static void add_memfds_by_copy(struct tally *t, pid_t pid, uint64_t fdsize)
{
	int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	int self = open("/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	for (uint64_t i = 0; pidfd >= 0 && self >= 0 && i < fdsize; i++) {
		int fd = (int)syscall(SYS_pidfd_getfd, pidfd, (int)i, 0);
		if (fd < 0) {
			if (errno == EBADF)
				continue;
			break; /* not allowed, or it is gone */
		}
		char name[16];
		snprintf(name, sizeof(name), "%d", fd);
		count_if_memfd(t, self, name, fd);
		close(fd);
	}
	if (self >= 0)
		close(self);
	if (pidfd >= 0)
		close(pidfd);
}

/* The memfds open in pid. Their pages need not be mapped anywhere to exist. */
static void add_memfds(struct tally *t, pid_t pid, uint64_t fdsize)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	int dfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0) {
		if (errno == EACCES)
			add_memfds_by_copy(t, pid, fdsize);
		return;
	}
	DIR *d = fdopendir(dfd);
	if (!d) {
		close(dfd);
		return;
	}
	struct dirent *e;
	while ((e = readdir(d)))
		count_if_memfd(t, dfd, e->d_name, -1);
	closedir(d);
}

int64_t bh_memwatch_measure(pid_t pid)
{
	struct tally *t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->procs[t->n_procs++] = pid;
	for (size_t i = 0; i < t->n_procs; i++) {
		char path[64], status[4096];
		snprintf(path, sizeof(path), "/proc/%d/status", (int)t->procs[i]);
		if (read_small(path, status, sizeof(status)) <= 0)
			continue; /* gone meanwhile */
		t->bytes += status_kb(status, "RssAnon:") + status_kb(status, "RssShmem:");
		unsigned long long fdsize = 0;
		const char *fs = strstr(status, "FDSize:");
		if (fs)
			sscanf(fs + 7, " %llu", &fdsize);
		add_memfds(t, t->procs[i], fdsize);
		add_children(t, t->procs[i]);
	}
	int64_t bytes = (int64_t)t->bytes;
	free(t);
	return bytes;
}

static bool watched(const struct bh_instance *inst)
{
	return inst->state != BH_INST_DEAD && inst->gen->profile.enabled &&
	       inst->gen->profile.memory_bytes &&
	       strcmp(inst->child.enforced.memory, BH_SANDBOX_MEMORY_FALLBACK) == 0;
}

static void check(struct bh_instance *inst)
{
	uint64_t limit = inst->gen->profile.memory_bytes;
	int64_t held = bh_memwatch_measure(inst->child.pid);
	if (held < 0 || (uint64_t)held <= limit || inst->death_reason[0])
		return;
	bh_instance_kill(inst, BH_EXIT_LIMIT,
			 "out of memory (limit %llu MiB): it held %llu MiB (resident and "
			 "memfd pages, measured by the daemon's watchdog)",
			 (unsigned long long)(limit >> 20), (unsigned long long)((uint64_t)held >> 20));
}

void bh_memwatch_fired(struct bh_timer *timer)
{
	struct bh_daemon *d = bh_container_of(timer, struct bh_daemon, mem_timer);
	bool any = false;
	struct bh_list *spos, *stmp, *pos, *tmp;
	bh_list_for_each_safe(spos, stmp, &d->slots)
	{
		struct bh_slot *s = bh_container_of(spos, struct bh_slot, link);
		bh_list_for_each_safe(pos, tmp, &s->instances)
		{
			struct bh_instance *inst = bh_container_of(pos, struct bh_instance, link);
			if (!watched(inst))
				continue;
			any = true;
			check(inst);
		}
	}
	if (any)
		bh_timer_arm(d->loop, timer, bh_now_ns() + bh_ms_to_ns(MEMWATCH_MS));
}

void bh_memwatch_add(struct bh_instance *inst)
{
	struct bh_daemon *d = inst->d;
	if (!watched(inst) || bh_timer_armed(&d->mem_timer))
		return;
	bh_timer_arm(d->loop, &d->mem_timer, bh_now_ns() + bh_ms_to_ns(MEMWATCH_MS));
}
