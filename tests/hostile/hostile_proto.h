/* What the hostile plugins (plugins/hostile.h) and the driver (test_hostile.c) agree on.
 *
 * Every hostile plugin has these methods:
 *   attack([args])     performs its attack now and returns an outcome map (below)
 *   ctor_result()      the outcome of the same attack made from its ELF constructor,
 *                      plus "facts": what the constructor saw of its confinement
 *   facts()            the same facts, now
 *   ping()             "pong"
 *
 * attack's args[0] is a map; every key is optional:
 *   "daemon_pid", "sibling_pid"  pids as the test sees them (targets of ptrace...)
 *   "canary"                     a host file the plugin must not be able to read
 *   "hold"                       "before" / "after": block (before or after the attack)
 *                                until the test sends H_RELEASE_SIGNAL to the instance,
 *                                so that the call is provably in flight while the test
 *                                calls the sibling
 *   "limit"                      the configured limit the attack measures against
 *                                (bytes of memory or /tmp, pids, fds)
 *
 * The outcome map:
 *   "attempted" bool   the attack was made (false: refused, or nothing to attack)
 *   "ok"        bool   THE ATTACK SUCCEEDED: every test expects false
 *   "errno"     int    errno of the step that stopped it (0: none)
 *   "errname"   str    its name ("EPERM")
 *   "count"     int    attack-specific quantity (bytes written, processes forked...)
 *   "extra"     int    a second quantity
 *   "detail"    str    what happened, step by step
 *   "refused"   str    present when the plugin found itself unconfined and did
 *                      nothing: the interlock that keeps a hostile plugin harmless
 *                      when it is run without a sandbox
 */
#ifndef BH_HOSTILE_PROTO_H
#define BH_HOSTILE_PROTO_H

/* Listeners the test opens on the loopback of its own (outer, contained) network
 * namespace before the daemon starts, so that constructors can aim at them too.
 * Fixed ports are safe there: nothing else lives in that namespace. */
#define H_TCP_PORT 47001
#define H_UDP_PORT 47002

/* A plugin writes a line starting with this to stderr the moment any step of an
 * attack succeeds, before it goes on: a later step may get the process killed and
 * its outcome lost, the daemon's log keeps the line. Any such line fails the case. */
#define H_SUCCESS_MARK "HOSTILE-ATTACK-SUCCEEDED"

/* Releases a held attack call (see "hold"). Blocked from the plugin's constructor on,
 * with a handler installed, so that it stays pending even for a pid-1 shim. */
#define H_RELEASE_SIGNAL SIGUSR1
/* A held call gives up waiting after this long (the test never takes that long). */
#define H_HOLD_MAX_S 10

#endif
