#!/bin/sh
# contain.sh COMMAND [ARG...]: run COMMAND inside the hostile suite's outer containment,
# so that a sandbox bug fails a test instead of hurting the machine:
#   - a cgroup of its own below the one it runs in, in every v1 hierarchy of pids
#     (pids.max = 512), memory (a 4 GiB ceiling) and cpu, and in the cgroup2 tree
#     (bulkhead-hostile-$$). On a host without a pids cgroup: RLIMIT_NPROC (weaker:
#     not enforced for root, said so). COMMAND learns the directories from
#     BH_HOSTILE_CGROUPS and checks that the daemon leaves nothing below them;
#   - its own pid namespace (COMMAND is pid 1; everything in it dies with it), network
#     namespace (only lo, brought up here) and mount namespace with a fresh /proc;
#   - a private tmpfs as TMPDIR (capped at 256 MiB, gone with the namespace).
# Everything created here is removed on exit (trap). Exit status: COMMAND's, or 1 when
# COMMAND passed but cgroups were left behind. Needs root and util-linux unshare.
set -eu

name="bulkhead-hostile-$$"
cgdirs=""     # cgroups we created (colon-separated), deepest last
parents=""    # where to move back to before removing them
tmp=""

log() { printf 'contain.sh: %s\n' "$*" >&2; }

cleanup() {
	status=$?
	trap - EXIT INT TERM HUP
	leftover=0
	# Back to the parent cgroups, so that ours can be removed.
	old_ifs=$IFS
	IFS=:
	for p in $parents; do
		[ -n "$p" ] && echo $$ > "$p/cgroup.procs" 2>/dev/null || true
	done
	for d in $cgdirs; do
		[ -n "$d" ] && [ -d "$d" ] || continue
		# Anything still below ours was left by the code under test.
		subs=$(find "$d" -mindepth 1 -type d 2>/dev/null | sort -r)
		if [ -n "$subs" ]; then
			leftover=1
			IFS=$old_ifs
			for s in $subs; do
				log "removing leftover cgroup $s"
				rmdir "$s" 2>/dev/null || log "cannot remove $s"
			done
			IFS=:
		fi
		rmdir "$d" 2>/dev/null || log "cannot remove $d"
	done
	IFS=$old_ifs
	[ -n "$tmp" ] && rmdir "$tmp" 2>/dev/null || true
	if [ "$status" -eq 0 ] && [ "$leftover" -ne 0 ]; then
		status=1
	fi
	exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

[ "$#" -ge 1 ] || { log "usage: contain.sh COMMAND [ARG...]"; exit 2; }
[ "$(id -u)" -eq 0 ] || { log "needs root (cgroups, namespaces)"; exit 77; }
command -v unshare >/dev/null || { log "needs util-linux unshare"; exit 77; }
# The daemon under test sandboxes every plugin, and every sandbox starts in a user
# namespace (refused, for one, to a process in a chroot).
unshare --user true 2>/dev/null || {
	echo "SKIP: user namespaces are not available here (a chroot? user.max_user_namespaces?): no sandboxed plugin can start"
	exit 77
}

# The mount point of the v1 hierarchy that has controller $1, or nothing.
v1_mount() {
	awk -v c="$1" '{
		for (i = 1; i <= NF; i++) if ($i == "-") break
		if ($(i + 1) != "cgroup") next
		n = split($(i + 3), o, ",")
		for (j = 1; j <= n; j++) if (o[j] == c) { print $5; exit }
	}' /proc/self/mountinfo
}

# Our path in the v1 hierarchy that has controller $1 ("" for v2 with $1 = "").
own_path() {
	awk -F: -v c="$1" '{
		if (c == "" && $1 == "0") { print $3; exit }
		n = split($2, o, ",")
		for (j = 1; j <= n; j++) if (c != "" && o[j] == c) { print $3; exit }
	}' /proc/self/cgroup
}

join() { # join DIR PATH: DIR/PATH without a double slash
	case "$2" in
	/) printf '%s' "$1" ;;
	*) printf '%s%s' "$1" "$2" ;;
	esac
}

enter() { # enter PARENT_DIR: create our cgroup below it and move in
	dir="$1/$name"
	mkdir "$dir"
	cgdirs="$cgdirs:$dir"
	parents="$parents:$1"
	[ -n "${2:-}" ] && [ -e "$dir/$2" ] && echo "$3" > "$dir/$2"
	echo $$ > "$dir/cgroup.procs"
}

pids_capped=no
for ctl in pids memory cpu; do
	mnt=$(v1_mount "$ctl")
	[ -n "$mnt" ] || continue
	own=$(own_path "$ctl")
	parent=$(join "$mnt" "$own")
	[ -d "$parent" ] || continue
	case $ctl in
	pids) enter "$parent" pids.max 512 && pids_capped="cgroup v1" ;;
	memory) enter "$parent" memory.limit_in_bytes 4G ;;
	cpu) enter "$parent" ;;
	esac
done

# The cgroup2 tree: hybrid hosts mount it at /sys/fs/cgroup/unified, pure v2 hosts at
# /sys/fs/cgroup. The daemon puts its per-instance leaves (cgroup.kill) below ours.
v2mnt=$(awk '{ for (i = 1; i <= NF; i++) if ($i == "-") break; if ($(i + 1) == "cgroup2") { print $5; exit } }' /proc/self/mountinfo)
if [ -n "$v2mnt" ]; then
	v2parent=$(join "$v2mnt" "$(own_path "")")
	if [ -d "$v2parent" ]; then
		if [ "$pids_capped" = no ] && grep -qw pids "$v2parent/cgroup.controllers" 2>/dev/null; then
			# Enabling pids for our child works unless the parent holds processes
			# and is not the root (the "no internal processes" rule).
			echo +pids > "$v2parent/cgroup.subtree_control" 2>/dev/null || true
		fi
		enter "$v2parent" pids.max 512
		[ -e "$v2parent/$name/pids.max" ] && [ "$pids_capped" = no ] && pids_capped="cgroup v2"
	fi
fi

nproc_prefix=""
if [ "$pids_capped" = no ]; then
	log "no pids cgroup available: falling back to RLIMIT_NPROC 512 (not enforced for root)"
	nproc_prefix="prlimit --nproc=512:512 --"
fi

tmp=$(mktemp -d /tmp/bulkhead-hostile.XXXXXX)
export BH_HOSTILE_CONTAINED=1
export BH_HOSTILE_CGROUPS="${cgdirs#:}"
export BH_HOSTILE_PIDS_CAP="$pids_capped"

rc=0
# shellcheck disable=SC2086 # nproc_prefix is a word list on purpose
$nproc_prefix unshare --pid --net --mount --fork --kill-child --mount-proc -- \
	/bin/sh -c 'set -e
		tmp=$1; shift
		ip link set lo up
		mount -t tmpfs -o size=256m,mode=0755 bulkhead-hostile "$tmp"
		export TMPDIR="$tmp"
		exec "$@"' contain "$tmp" "$@" || rc=$?
exit "$rc"
