#!/usr/bin/env bash
# Compare the call benchmark of two revisions, interleaved on this machine.
#   tests/bench/compare.sh [--rounds N] [--quick] [--all] [--save FILE] REV_A REV_B [-- ARGS]
#
# Checks REV_A and REV_B out into temporary worktrees (removed on exit), builds each as
# Release without sanitizers (-j2; BH_BENCH_JOBS overrides), then runs bench_calls N times
# for each (default 5), alternating A B B A A B ... so that a drift of the machine moves
# both. One bench_calls, this checkout's (built in build-bench/ as run-bench.sh does;
# BH_BENCH_BUILD_DIR overrides), drives both revisions through --daemon and --plugin:
# each revision brings its own bulkheadd, bulkhead-shim (found beside the daemon) and
# echo.so, the client side is the same for both. ARGS go to every bench_calls run
# (--only, --sizes, --pin, --inflight ...).
#
# Prints, for every figure, the median over the runs of each revision and B/A; the raw
# socketpair and epoll relay floors, measured in the same runs, come last: their B/A
# shows how much the machine itself differed between the runs of A and of B. The last
# column says "B better" or "B worse" only when every run of one revision beat every
# run of the other (at least 3 rounds); "~" otherwise. Counts (calls during the swaps,
# failed calls) are totals, not medians. --all adds the client-side and floor CPU rows;
# --save FILE keeps every run's figures (rev, round, name, value, unit).
# Exit status: 0 when every build and run worked, whatever the figures say.
set -euo pipefail

usage() {
	sed -n '2,/^# Exit status/p' "$0" | sed 's/^# \{0,1\}//'
}
die() {
	echo "compare.sh: $*" >&2
	exit 1
}

rounds=5 quick= all=0 save=
while [ $# -gt 0 ]; do
	case $1 in
	--rounds)
		[ $# -ge 2 ] || die "--rounds needs a number"
		rounds=$2
		shift 2
		;;
	--rounds=*) rounds=${1#--rounds=}; shift ;;
	--quick) quick=--quick; shift ;;
	--all) all=1; shift ;;
	--save)
		[ $# -ge 2 ] || die "--save needs a file"
		save=$2
		shift 2
		;;
	-h | --help) usage; exit 0 ;;
	--) die "REV_A and REV_B come before --" ;;
	-*) die "unknown option $1 (--help lists them)" ;;
	*) break ;;
	esac
done
[ $# -ge 2 ] || { usage >&2; exit 2; }
rev_a=$1 rev_b=$2
shift 2
bench_args=()
if [ $# -gt 0 ]; then
	[ "$1" = -- ] || die "unexpected argument $1 (bench_calls arguments go after --)"
	shift
	bench_args=("$@")
fi
case $rounds in '' | *[!0-9]* | 0) die "--rounds takes a number from 1" ;; esac
for arg in "${bench_args[@]}"; do
	case $arg in
	--daemon | --daemon=* | --plugin | --plugin=* | --tsv)
		die "$arg is set by compare.sh for each revision" ;;
	esac
done

here=$(cd "$(dirname "$0")/../.." && pwd)
jobs=${BH_BENCH_JOBS:-2}
commit_a=$(git -C "$here" rev-parse --verify --quiet "$rev_a^{commit}") ||
	die "$rev_a: not a revision of $here"
commit_b=$(git -C "$here" rev-parse --verify --quiet "$rev_b^{commit}") ||
	die "$rev_b: not a revision of $here"
[ -z "$save" ] || : >"$save" || die "cannot write $save"

t_start=$SECONDS
tmp=$(mktemp -d "${TMPDIR:-/tmp}/bh-compare.XXXXXX")
worktrees=()
cleanup() {
	local wt
	for wt in "${worktrees[@]}"; do
		git -C "$here" worktree remove --force "$wt" >/dev/null 2>&1 || true
	done
	rm -rf "$tmp"
	git -C "$here" worktree prune >/dev/null 2>&1 || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# build COMMIT LABEL: a worktree at COMMIT and a Release build of what the bench runs
# (bulkheadd, bulkhead-shim, echo.so) in $tmp/build-LABEL.
build() {
	local commit=$1 label=$2 src=$tmp/src-$2 out=$tmp/build-$2 log=$tmp/build-$2.log
	git -C "$here" worktree add --detach "$src" "$commit" >"$log" 2>&1 ||
		{ cat "$log" >&2; die "git worktree add $commit failed"; }
	worktrees+=("$src")
	echo "compare.sh: building $label (${commit:0:12}) in $out" >&2
	# No -Werror: an older revision must build with whatever compiler is here now.
	if ! { cmake -S "$src" -B "$out" -DCMAKE_BUILD_TYPE=Release -DBH_SANITIZE=OFF \
		-DBH_WERROR=OFF &&
		cmake --build "$out" -j"$jobs" --target bulkheadd bulkhead-shim plugin_echo; } \
		>>"$log" 2>&1; then
		tail -n 30 "$log" >&2
		die "the build of $label ($commit) failed (log above)"
	fi
	local f
	for f in "$out/bin/bulkheadd" "$out/bin/bulkhead-shim" "$out/plugins/echo.so"; do
		[ -e "$f" ] || die "the build of $label has no $f"
	done
}

build "$commit_a" A
if [ "$commit_b" = "$commit_a" ]; then
	echo "compare.sh: A and B are the same commit: the ratios show the noise" >&2
	ln -s "$tmp/build-A" "$tmp/build-B"
else
	build "$commit_b" B
fi

harness_build=${BH_BENCH_BUILD_DIR:-$here/build-bench}
echo "compare.sh: building bench_calls of $here in $harness_build" >&2
if ! { cmake -S "$here" -B "$harness_build" -DCMAKE_BUILD_TYPE=Release -DBH_SANITIZE=OFF \
	-DBH_WERROR=ON && cmake --build "$harness_build" -j"$jobs" --target bench_calls; } \
	>"$tmp/build-harness.log" 2>&1; then
	tail -n 30 "$tmp/build-harness.log" >&2
	die "the build of bench_calls failed (log above)"
fi
bench=$harness_build/bin/bench_calls
t_built=$SECONDS

# run LABEL ROUND: one bench_calls run against LABEL's build; its figures are appended
# to $tmp/all.tsv as LABEL ROUND NAME VALUE UNIT.
run() {
	local label=$1 round=$2 out=$tmp/run-$1-$2
	local t0=$SECONDS
	# --no-variants: an older daemon may not know the settings those paths use.
	if ! "$bench" --tsv $quick --no-variants --daemon "$tmp/build-$label/bin/bulkheadd" \
		--plugin "$tmp/build-$label/plugins/echo.so" ${bench_args[@]+"${bench_args[@]}"} \
		>"$out.tsv" 2>"$out.err"; then
		cat "$out.err" >&2
		die "bench_calls failed for $label in round $round (its messages above)"
	fi
	# A run that printed nothing it was asked for is a failed run too.
	grep -q $'\t' "$out.tsv" || die "bench_calls printed no figures for $label"
	awk -F'\t' -v l="$label" -v r="$round" 'NF == 3 && $1 !~ /^#/ {
		print l "\t" r "\t" $0 }' "$out.tsv" >>"$tmp/all.tsv"
	echo "compare.sh: round $round/$rounds: $label done in $((SECONDS - t0)) s" >&2
}

: >"$tmp/all.tsv"
for ((r = 1; r <= rounds; r++)); do
	if ((r % 2)); then run A "$r"; run B "$r"; else run B "$r"; run A "$r"; fi
done
t_ran=$SECONDS
if [ -n "$save" ]; then
	{ printf 'rev\tround\tname\tvalue\tunit\n'; cat "$tmp/all.tsv"; } >"$save"
fi

# The table. Every figure in the order bench_calls printed it; the floors last.
echo
echo "A = $rev_a (${commit_a:0:12}), B = $rev_b (${commit_b:0:12})"
echo "bench_calls of $here: ${quick:-full run}${bench_args[*]+ ${bench_args[*]}}," \
	"$rounds rounds, order A B B A ..."
grep -m1 '^# machine' "$tmp/run-A-1.tsv" | sed 's/^# //'
echo
awk -F'\t' -v all="$all" -v rounds="$rounds" '
function floor_row(name) { return name ~ /\/(raw|relay)\// }
function shown(name) {
	if (name == "total_time")
		return 0
	if (all)
		return 1
	return name !~ /cpu_client$/ && !(floor_row(name) && name ~ /\/cpu_/)
}
function sorted(key, v, n,    i, j, x) {
	n = cnt[key]
	for (i = 1; i <= n; i++)
		v[i] = val[key, i]
	for (i = 2; i <= n; i++) {
		x = v[i]
		for (j = i - 1; j >= 1 && v[j] > x; j--)
			v[j + 1] = v[j]
		v[j + 1] = x
	}
	return n
}
# The median of a revision'"'"'s runs, or their total for a count; min and max beside.
function stat(key,    v, n, i, s) {
	n = sorted(key, v)
	lo = v[1]
	hi = v[n]
	if (unit[substr(key, 3)] == "calls") {
		for (i = 1; i <= n; i++)
			s += v[i]
		return s
	}
	return n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
}
function num(x) {
	if (x == "")
		return "-"
	if (x >= 1000 || x <= -1000)
		return sprintf("%.0f", x)
	if (x >= 100)
		return sprintf("%.1f", x)
	if (x >= 10)
		return sprintf("%.2f", x)
	return sprintf("%.3f", x)
}
function heading(section) {
	if (section == "latency")
		return "Round trip, one call in flight (routed: bh_call to echo through bulkheadd)"
	if (section == "throughput")
		return "Pipelined throughput, 64 B, per number of clients (c)"
	if (section == "cold")
		return "Cold start: bulkhead.load until ready, first call, unload"
	if (section == "swap")
		return "Hot swap, idle and under load"
	return section
}
function row(name,    a, b, alo, ahi, blo, bhi, ratio, higher, verdict) {
	if (cnt["A", name] == 0 || cnt["B", name] == 0) {
		printf "  %-34s %-7s %10s %10s %7s  %s\n", name, unit[name], "-", "-", "-",
			"missing in " (cnt["A", name] ? "B" : "A")
		return
	}
	a = stat("A" SUBSEP name); alo = lo; ahi = hi
	b = stat("B" SUBSEP name); blo = lo; bhi = hi
	ratio = a != 0 ? sprintf("%.3f", b / a) : "-"
	higher = unit[name] == "calls/s" || unit[name] == "GB/s" ||
		 (unit[name] == "x" && name ~ /^(throughput|bandwidth)/)
	if (unit[name] == "calls")
		verdict = name ~ /failed$/ && (a > 0 || b > 0) ? "FAILED CALLS" : ""
	else if (rounds < 3)
		verdict = ""
	else if (bhi < alo)
		verdict = floor_row(name) ? "differs" : higher ? "B worse" : "B better"
	else if (blo > ahi)
		verdict = floor_row(name) ? "differs" : higher ? "B better" : "B worse"
	else
		verdict = "~"
	if (unit[name] == "calls")
		printf "  %-34s %-7s %10d %10d %7s  %s\n", name, "total", a, b, ratio, verdict
	else
		printf "  %-34s %-7s %10s %10s %7s  %s\n", name, unit[name], num(a), num(b),
			ratio, verdict
}
{
	key = $1 SUBSEP $3
	val[key, ++cnt[key]] = $4
	if (!($3 in unit)) {
		unit[$3] = $5
		order[++n_names] = $3
	}
}
END {
	printf "  %-34s %-7s %10s %10s %7s  %s\n", "figure", "unit", "A median",
		"B median", "B/A", "verdict"
	for (i = 1; i <= n_names; i++) {
		name = order[i]
		if (floor_row(name) || !shown(name))
			continue
		split(name, part, "/")
		if (part[1] != section) {
			section = part[1]
			printf "%s\n", heading(section)
		}
		row(name)
	}
	for (i = 1; i <= n_names; i++) {
		if (!floor_row(order[i]) || !shown(order[i]))
			continue
		if (!floors++) {
			printf "Floors measured in the same runs (raw socketpair, epoll relay): B/A "
			printf "is the\nmachine drifting between the runs of A and of B, not a "
			printf "change of bulkhead\n"
		}
		row(order[i])
	}
	printf "One bench_calls run took %s s (A, median) and %s s (B).\n",
		num(stat("A" SUBSEP "total_time")), num(stat("B" SUBSEP "total_time"))
}' "$tmp/all.tsv"
echo "This comparison took $((SECONDS - t_start)) s: builds $((t_built - t_start)) s," \
	"runs $((t_ran - t_built)) s."
