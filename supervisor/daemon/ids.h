/* Host identities of instances. */
#ifndef BH_IDS_H
#define BH_IDS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct bh_config;

enum bh_ids_mode {
	BH_IDS_RANGE,       /* root: sandbox_ids */
	BH_IDS_SUBORDINATE, /* unprivileged: /etc/subuid, /etc/subgid through the helpers */
	BH_IDS_OWN,         /* unprivileged fallback: the daemon's own ids, shared */
};

struct bh_ids {
	enum bh_ids_mode mode;
	uint32_t first, count;  /* uids first .. first + count - 1 */
	uint32_t gid_first;     /* the gid of uid first + i is gid_first + i */
	uint32_t next;          /* where the next search starts */
	uint32_t n_used;
	uint8_t *used;          /* bit i: first + i is held by an instance of ours */
	int lock_fd;            /* OFD lock on byte uid while it is held; -1: none */
	char why[320];          /* the mode and why, for status */
};

#define BH_NEWUIDMAP "/usr/bin/newuidmap"
#define BH_NEWGIDMAP "/usr/bin/newgidmap"

/* From the config and who we are. 0 (errbuf says what is degraded, may be empty:
 * no lock file shared with other daemons), or -ENOMEM. An unprivileged daemon
 * without subordinate ranges or the helpers falls back to BH_IDS_OWN. */
int bh_ids_init(struct bh_ids *ids, const struct bh_config *cfg, char *errbuf, size_t errlen);
void bh_ids_done(struct bh_ids *ids);
/* An id pair for a new instance: 0, or -EAGAIN when every id of the range is held
 * (by our instances or another daemon's). BH_IDS_OWN always gives the daemon's. */
int bh_ids_take(struct bh_ids *ids, uid_t *ret_uid, gid_t *ret_gid);
/* The holder's processes and cgroups are gone: the id may go to a new instance. */
void bh_ids_give_back(struct bh_ids *ids, uid_t uid);
const char *bh_ids_mode_name(enum bh_ids_mode m);

#endif
