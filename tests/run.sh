#!/usr/bin/env bash
# The whole test suite: install what is missing, build with AddressSanitizer and
# UBSan (warnings are errors), run every suite with ctest.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
build=${BH_BUILD_DIR:-$here/build-test}
"$here/tests/install-deps.sh"
cmake -S "$here" -B "$build" -DCMAKE_BUILD_TYPE=Debug -DBH_SANITIZE=ON -DBH_WERROR=ON >/dev/null
cmake --build "$build" -j"$(nproc)"
cd "$build"
ctest --output-on-failure --timeout 600 "$@"
