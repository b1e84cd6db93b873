/* The chaos soak's ledger record: what the chaos plugin (chaos.c) tells the load
 * generator (soak.c) about every execution, from inside its sandbox.
 *
 * One datagram per event on an abstract AF_UNIX socket that the load generator
 * bound (the plugin's `config = { ledger = "NAME"; }` names it, without the leading
 * NUL). The plugin sends START before it does what the call asks and END after, so
 * that a call that ran has a START whatever happened next, and a call that finished
 * has an END. The receiver gets the sender's pid (SCM_CREDENTIALS, translated into
 * its own pid namespace), so records name the instance the way the daemon's log does.
 *
 * Layout: host byte order (sender and receiver are on one machine), fixed size. */
#ifndef BH_SOAK_LEDGER_H
#define BH_SOAK_LEDGER_H

#include <stdint.h>

#define SOAK_LEDGER_MAGIC 0x4b414f53u /* "SOAK" */

enum soak_ledger_kind {
	SOAK_START = 1, /* before the action */
	SOAK_END = 2,   /* after it, before the result is handed to the shim */
};

struct soak_ledger_rec {
	uint32_t magic; /* SOAK_LEDGER_MAGIC */
	uint32_t kind;  /* enum soak_ledger_kind */
	uint64_t token; /* the call's params[0] */
	uint64_t nonce; /* random per instance: tells instances apart */
	uint64_t seq;   /* per instance, from 0, +1 per record: a gap is a lost record */
	int64_t t_ns;   /* CLOCK_MONOTONIC when the record was made */
};

#endif
