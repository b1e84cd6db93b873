#!/usr/bin/env bash
# Build a Release tree (no sanitizers) and run the call benchmark: latency, throughput,
# cold start, and hot swap (swap time p50/p99 idle and under load, with the count of
# calls that failed during the swaps, which must be 0).
#   tests/bench/run-bench.sh                the full run (about two minutes on 2 vCPUs),
#                                           then the latency section pinned to CPU 0,
#                                           then latency and throughput placed apart
#   tests/bench/run-bench.sh --quick        about 10 s
#   tests/bench/run-bench.sh --only swap    the hot-swap section alone (a few seconds)
# Other arguments go to bench_calls (--help lists them). BH_BENCH_BUILD_DIR overrides
# the build directory (default: build-bench/ at the top of the source tree).
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
build=${BH_BENCH_BUILD_DIR:-$here/build-bench}
cmake -S "$here" -B "$build" -DCMAKE_BUILD_TYPE=Release -DBH_SANITIZE=OFF -DBH_WERROR=ON \
  >/dev/null
cmake --build "$build" -j"$(nproc)" --target bench_calls >/dev/null
if [ $# -gt 0 ]; then
	exec "$build/bin/bench_calls" "$@"
fi
# The full run: everything where the scheduler puts it, then the latency section with
# the daemon, this program and the plugin instances on CPU 0 (the ratio the kernel's
# context switches alone allow), then latency and throughput with cpu_placement =
# "apart" (the daemon on a CPU of its own, the instances on the others).
"$build/bin/bench_calls"
"$build/bin/bench_calls" --pin 0,0,0 --only raw,relay,routed --sizes 64,4K
exec "$build/bin/bench_calls" --placement apart --only raw,relay,routed,tput --sizes 64,4K
