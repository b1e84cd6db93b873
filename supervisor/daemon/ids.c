/* Host identities of confined instances: one uid/gid per instance, so that the
 * kernel's same-uid rules and per-user counters (signals, ptrace, RLIMIT_NPROC, pipe
 * buffers, epoll watches) never join two plugins, or a plugin and anyone else.
 *
 *   root daemon          ids from sandbox_ids { first; count; } (it may map any id)
 *   unprivileged daemon  ids from its user's subordinate ranges (/etc/subuid and
 *                        /etc/subgid), mapped by the setuid helpers newuidmap and
 *                        newgidmap; without them, its own uid for every instance
 *
 * An id is taken at spawn and given back once the instance's pidfd reported its exit
 * and its cgroups were removed: the pid namespace is gone by then (its init exits
 * last), so no process of the previous holder is left to share it with. Daemons on
 * one host share ranges safely: an id in use holds an OFD lock on byte `uid` of a
 * lock file every daemon of the same user opens. */
#define _GNU_SOURCE
#include "ids.h"

#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"

#define ROOT_LOCK_FILE "/run/bulkhead-ids.lock"

/* First range of `user` (by name or numeric uid) in a subordinate id file. */
static bool sub_range(const char *file, const char *user, uid_t uid, uint32_t *ret_first,
		      uint32_t *ret_count)
{
	FILE *f = fopen(file, "re");
	if (!f)
		return false;
	char line[512], num[16];
	snprintf(num, sizeof(num), "%u", (unsigned)uid);
	bool found = false;
	while (!found && fgets(line, sizeof(line), f)) {
		char *colon = strchr(line, ':');
		unsigned long long first, count;
		if (!colon)
			continue;
		*colon = '\0';
		if ((strcmp(line, user) != 0 && strcmp(line, num) != 0) ||
		    sscanf(colon + 1, "%llu:%llu", &first, &count) != 2 || count == 0 ||
		    first + count > UINT32_MAX)
			continue;
		*ret_first = (uint32_t)first;
		*ret_count = (uint32_t)count;
		found = true;
	}
	fclose(f);
	return found;
}

static bool setuid_root(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 && st.st_uid == 0 && (st.st_mode & S_ISUID) &&
	       (st.st_mode & S_IXOTH);
}

/* The lock file shared by the daemons of one user. A user's lives in its runtime
 * directory (or /tmp), created without following links and checked to be its own. */
static int open_lock(char *errbuf, size_t errlen)
{
	char path[4096];
	uid_t me = geteuid();
	const char *rt = getenv("XDG_RUNTIME_DIR");
	if (me == 0)
		snprintf(path, sizeof(path), "%s", ROOT_LOCK_FILE);
	else if (rt && rt[0] == '/')
		snprintf(path, sizeof(path), "%s/bulkhead-ids.lock", rt);
	else
		snprintf(path, sizeof(path), "/tmp/bulkhead-ids-%u.lock", (unsigned)me);
	int fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0 || st.st_uid != me || !S_ISREG(st.st_mode)) {
		int err = fd < 0 ? errno : EPERM;
		snprintf(errbuf, errlen, "sandbox_ids lock file %s: %s", path,
			 fd < 0 ? strerror(err) : "not a regular file of ours");
		if (fd >= 0)
			close(fd);
		return -err;
	}
	return fd;
}

static void own_ids(struct bh_ids *ids, const char *why)
{
	ids->mode = BH_IDS_OWN;
	ids->count = 0;
	snprintf(ids->why, sizeof(ids->why),
		 "every instance runs as the daemon's own uid %u: %s; plugins share one host "
		 "identity", (unsigned)geteuid(), why);
}

/* Which ranges an unprivileged daemon may use; falls back to its own ids with the
 * reason. */
static void subordinate(struct bh_ids *ids, const struct bh_config *cfg)
{
	char why[200];
	uid_t me = geteuid();
	struct passwd *pw = getpwuid(me);
	const char *user = pw ? pw->pw_name : "";
	uint32_t gfirst = 0, gcount = 0;
	if (!cfg->sandbox_ids.subordinate) {
		own_ids(ids, "sandbox_ids.subordinate = false");
		return;
	}
	if (!sub_range("/etc/subuid", user, me, &ids->first, &ids->count) ||
	    !sub_range("/etc/subgid", user, me, &gfirst, &gcount)) {
		snprintf(why, sizeof(why), "no subordinate uid and gid range for %s (uid %u) in "
			 "/etc/subuid and /etc/subgid", user[0] ? user : "this user", (unsigned)me);
		own_ids(ids, why);
		return;
	}
	if (!setuid_root(BH_NEWUIDMAP) || !setuid_root(BH_NEWGIDMAP)) {
		own_ids(ids, BH_NEWUIDMAP " and " BH_NEWGIDMAP " (Debian package uidmap) are not "
			"installed setuid root");
		return;
	}
	ids->mode = BH_IDS_SUBORDINATE;
	ids->gid_first = gfirst;
	if (gcount < ids->count)
		ids->count = gcount;
	if (ids->count > cfg->sandbox_ids.count) /* the same cap as a root daemon's range */
		ids->count = cfg->sandbox_ids.count;
	snprintf(ids->why, sizeof(ids->why),
		 "one host uid/gid per instance from %s's subordinate ranges (uids %u-%u, gids "
		 "%u-%u), mapped by newuidmap/newgidmap", user, ids->first,
		 ids->first + ids->count - 1, gfirst, gfirst + ids->count - 1);
}

int bh_ids_init(struct bh_ids *ids, const struct bh_config *cfg, char *errbuf, size_t errlen)
{
	memset(ids, 0, sizeof(*ids));
	ids->lock_fd = -1;
	if (errlen)
		errbuf[0] = '\0';
	if (geteuid() == 0) {
		ids->mode = BH_IDS_RANGE;
		ids->first = ids->gid_first = cfg->sandbox_ids.first;
		ids->count = cfg->sandbox_ids.count;
		snprintf(ids->why, sizeof(ids->why),
			 "one host uid/gid per instance from sandbox_ids (%u-%u)", ids->first,
			 ids->first + ids->count - 1);
	} else {
		subordinate(ids, cfg);
		if (ids->mode == BH_IDS_OWN)
			return 0;
	}
	ids->used = calloc((ids->count + 7) / 8, 1);
	if (!ids->used)
		return -ENOMEM;
	/* Without the lock file the ids stay unique among our own instances only: said
	 * in status, and in the log by the caller. */
	char why[256];
	ids->lock_fd = open_lock(why, sizeof(why));
	if (ids->lock_fd < 0) {
		size_t n = strlen(ids->why);
		snprintf(ids->why + n, sizeof(ids->why) - n, "; not shared safely with other "
			 "daemons (%s)", why);
		snprintf(errbuf, errlen, "%s", why);
	}
	return 0;
}

void bh_ids_done(struct bh_ids *ids)
{
	if (ids->lock_fd >= 0)
		close(ids->lock_fd); /* drops every lock */
	ids->lock_fd = -1;
	free(ids->used);
	ids->used = NULL;
}

static int lock_byte(int fd, uint32_t uid, short type)
{
	struct flock fl = {.l_type = type, .l_whence = SEEK_SET, .l_start = (off_t)uid,
			   .l_len = 1};
	return fcntl(fd, F_OFD_SETLK, &fl) < 0 ? -errno : 0;
}

int bh_ids_take(struct bh_ids *ids, uid_t *ret_uid, gid_t *ret_gid)
{
	if (ids->mode == BH_IDS_OWN) {
		*ret_uid = geteuid();
		*ret_gid = getegid();
		return 0;
	}
	/* Round robin from the last one handed out: a freed id is reused last. */
	for (uint32_t k = 0; k < ids->count; k++) {
		uint32_t i = (ids->next + k) % ids->count;
		if (ids->used[i / 8] & (1u << (i % 8)))
			continue;
		int r = ids->lock_fd < 0 ? 0 : lock_byte(ids->lock_fd, ids->first + i, F_WRLCK);
		if (r == -EAGAIN || r == -EACCES)
			continue; /* another daemon's instance has it */
		if (r < 0)
			return r;
		ids->used[i / 8] |= (uint8_t)(1u << (i % 8));
		ids->n_used++;
		ids->next = (i + 1) % ids->count;
		*ret_uid = ids->first + i;
		*ret_gid = ids->gid_first + i;
		return 0;
	}
	return -EAGAIN;
}

void bh_ids_give_back(struct bh_ids *ids, uid_t uid)
{
	if (ids->mode == BH_IDS_OWN || uid < ids->first || uid - ids->first >= ids->count)
		return;
	uint32_t i = uid - ids->first;
	if (!(ids->used[i / 8] & (1u << (i % 8))))
		return;
	if (ids->lock_fd >= 0)
		lock_byte(ids->lock_fd, uid, F_UNLCK);
	ids->used[i / 8] &= (uint8_t)~(1u << (i % 8));
	ids->n_used--;
}

const char *bh_ids_mode_name(enum bh_ids_mode m)
{
	static const char *const names[] = {"range", "subordinate", "own"};
	return names[m];
}
