#!/usr/bin/env bash
# The demo: install what is missing, build, start bulkheadd with the example plugins,
# call them from the CLI, the C client and a plain Python msgpack-rpc client, crash
# one, load one at runtime and hot-swap it while a client calls it, then stop.
#
#   bash examples/demo.sh [BUILD_DIR]     from any directory; BUILD_DIR defaults to
#                                         build/ in the repository (made if missing)
# Each run has a socket of its own (in a mktemp -d directory), so two demos or a
# daemon already running do not collide.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build}
mkdir -p "$build"
build=$(cd "$build" && pwd)

"$root/tests/install-deps.sh"
echo "building bulkhead in $build (a minute or two)..."
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DBH_BUILD_TESTS=OFF >/dev/null
cmake --build "$build" -j"$(nproc)" >/dev/null

bh="$build/bin/bulkhead"
work=$(mktemp -d /tmp/bulkhead-demo.XXXXXX)
daemon=
trap 'if [ -n "$daemon" ]; then kill "$daemon" 2>/dev/null || true; fi; rm -rf "$work"' EXIT
export BULKHEAD_SOCKET=$work/bulkhead.sock

if [ -t 1 ]; then bold=$'\033[1m' plain=$'\033[0m'; else bold= plain=; fi
step() { printf '\n%s== %s%s\n' "$bold" "$*" "$plain"; }
# Each command as it can be pasted into a shell: words with shell characters quoted.
quote() {
	case $1 in
	*[!A-Za-z0-9_./:=,+-]*) local q="'\\''"; printf "'%s'" "${1//\'/$q}" ;;
	*) printf '%s' "$1" ;;
	esac
}
show() {
	printf '$'
	for a in "$@"; do printf ' '; quote "$a"; done
	printf '\n'
	"$@" || printf '(exit status %d)\n' "$?"
}

# examples/demo.conf with this run's build directory and socket.
conf=$work/demo.conf
if ! unshare --user true 2>/dev/null; then
	# Every sandbox starts in a user namespace; the kernel refuses them in a chroot,
	# and some hosts turn them off. Rather than no demo, an unconfined one, said so.
	echo "NOTE: user namespaces are not available here (a chroot? user.max_user_namespaces?):"
	echo "      this demo runs its plugins UNCONFINED (plugin_defaults = { sandbox = false; })."
	echo 'plugin_defaults = { sandbox = false; };' >"$conf"
fi
sed -e "s|\"\\.\\./build/|\"$build/|" -e "s|\"/tmp/bulkhead-demo.sock\"|\"$BULKHEAD_SOCKET\"|" \
	"$root/examples/demo.conf" >>"$conf"

step "Start bulkheadd with examples/demo.conf (its log: $work/bulkheadd.log)"
echo "(with the plugin paths of $build and the socket $BULKHEAD_SOCKET)"
mkfifo "$work/ready"
"$build/bin/bulkheadd" -c "$conf" --ready-fd 3 \
	3>"$work/ready" 2>"$work/bulkheadd.log" &
daemon=$!
read -r _ <"$work/ready"   # the daemon writes READY once it listens
echo "bulkheadd (pid $daemon) is listening on $BULKHEAD_SOCKET; to try the commands below"
echo "in another shell while it runs:"
printf '$ export BULKHEAD_SOCKET=%s\n' "$(quote "$BULKHEAD_SOCKET")"

step "Call plugins from the CLI (arguments and results are JSON)"
show "$bh" call echo.echo '["hello, bulkhead"]'
show "$bh" call echo.echo '[{"nested": [1, 2.5, true, null]}, "ignored"]'
show "$bh" call echo.echo '[{"$bin": "3q2+7w=="}]'
show "$bh" call kv.set '["visits", 41]'
show "$bh" call kv.incr '["visits"]'
show "$bh" call bytes.sha256 '["abc"]'
show "$bh" call greeter.greet '["newcomer"]'
show "$bh" call stats.describe '[[3, 1, 4, 1, 5, 9, 2, 6]]'

step "A plugin calls other plugins through the daemon, under its grants"
show "$bh" call callout.relay '["kv.incr", "visits"]'
show "$bh" call callout.chain '[3, "callout.chain"]'     # callout -> callout -> ... (re-entry)
show "$bh" call callout.relay '["echo.ping"]'            # not granted: permission_denied

step "Errors are typed: name (code): message"
show "$bh" call echo.nope
show "$bh" call nope.echo
show "$bh" call echo.fail '[1001, "the plugin said no"]'

step "A plugin crashes mid-call: the caller is told, the instance is replaced"
show "$bh" call echo.crash
show "$bh" call echo.echo '["still here"]'

step "The C client (examples/clients/client.c)"
show "$build/bin/example-client"

step "A plain msgpack-rpc client in Python (examples/clients/client.py)"
show /usr/bin/python3 "$root/examples/clients/client.py"

step "Load a plugin at runtime"
show "$bh" load counter "$build/plugins/counter_v1.so"
show "$bh" call counter.incr
show "$bh" call counter.version

step "Hot swap counter v1 -> v2 while a client keeps calling it"
# A client calls counter.incr in a loop; every failed call is counted.
( fails=0
  for _ in $(seq 300); do "$bh" call counter.incr >/dev/null 2>&1 || fails=$((fails + 1)); done
  echo "$fails" >"$work/fails" ) &
caller=$!
show "$bh" swap counter "$build/plugins/counter_v2.so"
wait "$caller"
echo "calls that failed during the swap: $(cat "$work/fails")"
show "$bh" call counter.version
echo "the count survived the swap (1 before + 300 during):"
show "$bh" call counter.get

step "Unload it"
show "$bh" unload counter

step "Status"
show "$bh" status

step "Stop: SIGTERM drains calls, stops the children, removes the socket"
kill -TERM "$daemon"
wait "$daemon" && echo "bulkheadd exited with status 0"
daemon=
echo
echo "The daemon's log:"
sed 's/^/  /' "$work/bulkheadd.log"
