#!/usr/bin/env bash
# The whole test suite: install what is missing, build with AddressSanitizer and
# UBSan (warnings are errors), run every suite with ctest (the fuzz targets' seeds
# and reproducers included), then the chaos soak for BH_SOAK_SECONDS (default 60; 0
# skips it). Then, when clang is there, a second build with libFuzzer
# fuzzes each target for BH_FUZZ_SECONDS (default 25; 0 skips it).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
build=${BH_BUILD_DIR:-$here/build-test}
fuzz_build=${BH_FUZZ_BUILD_DIR:-$here/build-fuzz}
"$here/tests/install-deps.sh"
cmake -S "$here" -B "$build" -DCMAKE_BUILD_TYPE=Debug -DBH_SANITIZE=ON -DBH_WERROR=ON >/dev/null
cmake --build "$build" -j"$(nproc)"
(cd "$build" && ctest --output-on-failure --timeout 600 -LE soak "$@")

# The chaos soak's short mode (README "Chaos soak"), alone: it loads every CPU.
if [ "${BH_SOAK_SECONDS:-60}" = 0 ]; then
  echo "chaos soak skipped: BH_SOAK_SECONDS=0"
else
  (cd "$build" && BH_SOAK_SECONDS=${BH_SOAK_SECONDS:-60} ctest --output-on-failure -L soak)
fi

if [ "${BH_FUZZ_SECONDS:-25}" = 0 ]; then
  echo "fuzzing skipped: BH_FUZZ_SECONDS=0"
elif ! command -v clang >/dev/null 2>&1; then
  echo "fuzzing skipped: no clang (tests/install-deps.sh installs it)"
else
  CC=clang CXX=clang++ cmake -S "$here" -B "$fuzz_build" -DCMAKE_BUILD_TYPE=Debug -DBH_FUZZ=ON \
    >/dev/null
  cmake --build "$fuzz_build" -j"$(nproc)" --target bh_fuzz_all
  (cd "$fuzz_build" && ctest --output-on-failure -L fuzz -j"$(nproc)")
fi
