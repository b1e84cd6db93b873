#!/usr/bin/env bash
# Build a Release tree (no sanitizers) and run the call benchmark: latency, throughput,
# cold start, and hot swap (swap time p50/p99 idle and under load, with the count of
# calls that failed during the swaps, which must be 0).
#   tests/bench/run-bench.sh                the full run (under a minute on 2 vCPUs)
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
exec "$build/bin/bench_calls" "$@"
