/* bulkhead: the supervisor <-> shim channel.
 *
 * The supervisor starts `bulkhead-shim [options] PLUGIN.so` with one end of an
 * AF_UNIX SOCK_STREAM socketpair on fd BH_CHANNEL_FD, the claim table on fd 4,
 * /dev/null on stdin, pipes on stdout/stderr (captured as logs), every other fd
 * closed and an empty environment.
 * The channel carries the same MessagePack-RPC stream as the client socket (see
 * proto.h). Internal method names start with '$', which no plugin method can. With
 * --ring (always, from bulkheadd), what the shim sends after its $init answer goes
 * through the answer ring in the claims memfd when it fits, and the socket then
 * carries only what does not fit and one-byte wake-ups (bulkhead/ring.h).
 *
 *  1. shim -> supervisor, once, first message:
 *       [2, "$hello", [protocol_version, abi_version, plugin_name, plugin_version,
 *                      [method_name, ...], state_version, has_state]]
 *     or, when the plugin cannot be loaded (dlopen error, missing symbol, ABI
 *     mismatch naming both versions):
 *       [2, "$fatal", [code, message]]       then the shim exits with status 2
 *  2. supervisor -> shim:  [0, id, "$init", [config_map]]
 *     shim -> supervisor:  [1, id, nil, nil] or [1, id, error, nil]; the instance is
 *     ready only after a successful $init.
 *  3. calls:               [0, id, method, params] -> [1, id, error, result]
 *     Calls are run in order, one at a time; ids are the supervisor's own. With
 *     --claims (always, from bulkheadd) a call runs only after the shim claimed it in
 *     the claim table on fd BH_CLAIMS_FD (bulkhead/claims.h); a call it cannot claim
 *     (taken back, or past its deadline) is skipped without an answer.
 *  4. hot swap:            [0, id, "$snapshot", []] -> [1, id, nil, [state_version, blob]]
 *                          [0, id, "$restore", [state_version, blob]] -> [1, id, nil|error, nil]
 *  4b. health probe:      [0, id, "$health", []] -> [1, id, nil|error, nil]
 *     Claimed like any call; the shim answers it from its loop, calling the plugin's
 *     health callback when there is one (plugin.h), else at once.
 *  5. supervisor -> shim:  [2, "$stop", []]: the shim calls the plugin's shutdown and
 *     exits 0. End of file on the channel means the supervisor is gone: the shim
 *     exits at once (status 0) without calling into the plugin again.
 *  6. calls out (plugin.h, bh_callout), made from inside a call the shim runs, $init
 *     or $restore included:
 *       shim -> supervisor:  [0, oid, target, params, {"in": iid}]
 *                            [0, oid, target, params, {"in": iid, "notify": true}]
 *     target is "plugin.method", "ns.method" (a host service) or "$caller.method"
 *     (the client at the root of the call chain; "notify" only there); iid is the id
 *     of the call it is made from, which the shim started and has not answered; oid
 *     is the shim's own id, unique among its requests not yet answered.
 *       supervisor -> shim:  [1, oid, error, result], exactly once per request; for
 *     "notify" the result is nil once the notification is queued for the caller.
 *     While a call waits for that answer, the supervisor writes to the shim only
 *     answers and the calls of the same chain that come back to this instance,
 *     marked with the options map BH_CH_REENTER_OPTS:
 *       supervisor -> shim:  [0, id, method, params, {"reenter": true}]
 *     which the shim claims and runs at once, nested on the waiting call (and which
 *     may call out in turn). Whatever else it reads meanwhile (calls written before
 *     the wait began, $stop) it keeps, in order, and handles only once the waiting
 *     call has returned: a kept call is claimed then, so the supervisor may still
 *     take it back and give it to another instance. Answers need not come in the
 *     order of the waits: the supervisor answers a request early when the call it was
 *     made from ends (its deadline, its client gone, its callee crashed), also while
 *     a call nested on it waits, and a call marked re-entering may come after the
 *     answer that ended the wait it was meant for (it then runs like any other).
 */
#ifndef BULKHEAD_CHANNEL_H
#define BULKHEAD_CHANNEL_H

#define BH_CHANNEL_FD 3

#define BH_CH_HELLO "$hello"
#define BH_CH_FATAL "$fatal"
#define BH_CH_INIT "$init"
#define BH_CH_SNAPSHOT "$snapshot"
#define BH_CH_RESTORE "$restore"
#define BH_CH_STOP "$stop"
#define BH_CH_HEALTH "$health"
/* Step 6: the target prefix of a call to the caller, and the options the supervisor
 * puts on a re-entering call: {"reenter": b} with b at the last byte (0xc3 true,
 * 0xc2 false), fixed so that it can be flipped in place. */
#define BH_CH_CALLER "$caller"
#define BH_CH_REENTER_OPTS "\x81\xa7reenter\xc3"
#define BH_CH_REENTER_OPTS_LEN 10

/* Exit status of a shim that could not load its plugin (after sending $fatal). */
#define BH_SHIM_EXIT_LOAD_FAILED 2

/* A confined shim is pid 1 of its pid namespace, and the kernel drops every signal
 * such a process sends itself while its action is the default: abort()'s SIGABRT
 * (glibc then ends the process with an illegal instruction, a SIGSEGV), a raise()d
 * SIGSEGV. So a shim that is pid 1 catches these, records the signal in the claim
 * table (bh_claims_bell.died_of) and exits with BH_SHIM_EXIT_SIGNALED(sig); the
 * supervisor reports an exit that has both as death by that signal. */
#define BH_SHIM_DEATH_SIGNALS SIGQUIT, SIGILL, SIGTRAP, SIGABRT, SIGBUS, SIGFPE, SIGSEGV, SIGSYS
#define BH_SHIM_EXIT_SIGNALED(sig) (128 + (sig))

#endif
