/* Who may do what: clients are identified by SO_PEERCRED (uid and primary gid, taken
 * when they connect) and matched against the config's ACLs. */
#ifndef BH_ACCESS_H
#define BH_ACCESS_H

#include <stdbool.h>

struct bh_daemon;
struct bh_slot;
struct bh_conn;

bool bh_access_is_admin(const struct bh_daemon *d, const struct bh_conn *cn);
bool bh_access_may_call(const struct bh_daemon *d, const struct bh_slot *s,
			const struct bh_conn *cn);

#endif
