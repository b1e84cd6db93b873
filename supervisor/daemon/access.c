/* Who may do what: clients are identified by SO_PEERCRED (uid and primary gid, taken
 * when they connect) and matched against the config's ACLs. Supplementary groups are
 * not consulted: the kernel does not report them for a socket peer, and reading them
 * from /proc/PID would race with the peer. */
#include "access.h"

#include <unistd.h>

#include "config.h"
#include "conn.h"
#include "daemon.h"
#include "slot.h"

static bool acl_empty(const struct bh_acl *acl)
{
	return !acl->anyone && acl->n_uids == 0 && acl->n_gids == 0;
}

static bool acl_allows(const struct bh_acl *acl, uid_t uid, gid_t gid)
{
	if (acl->anyone)
		return true;
	for (size_t i = 0; i < acl->n_uids; i++)
		if (acl->uids[i] == uid)
			return true;
	for (size_t i = 0; i < acl->n_gids; i++)
		if (acl->gids[i] == gid)
			return true;
	return false;
}

bool bh_access_is_admin(const struct bh_daemon *d, const struct bh_conn *cn)
{
	const struct bh_acl *acl = &d->cfg->admin_acl;
	if (acl_empty(acl)) /* default: root and the daemon's own user */
		return cn->uid == 0 || cn->uid == geteuid();
	return acl_allows(acl, cn->uid, cn->gid);
}

bool bh_access_may_call(const struct bh_daemon *d, const struct bh_slot *s,
			const struct bh_conn *cn)
{
	/* The plugin's own list replaces the daemon's; empty everywhere = anyone. */
	const struct bh_acl *acl = &s->conf->call_acl;
	if (acl_empty(acl))
		acl = &d->cfg->call_acl;
	if (acl_empty(acl))
		return true;
	/* Admins may always call: they could load the plugin themselves anyway. */
	return acl_allows(acl, cn->uid, cn->gid) || bh_access_is_admin(d, cn);
}
