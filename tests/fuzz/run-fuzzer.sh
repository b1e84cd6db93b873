#!/usr/bin/env bash
# run-fuzzer.sh FUZZER WORKDIR INPUTDIR...
# Fuzz for $BH_FUZZ_SECONDS (default 25) starting from the inputs; new inputs go to
# WORKDIR, a crash's reproducer to WORKDIR/crash-*. The exit status is the fuzzer's.
set -euo pipefail
fuzzer=$1 work=$2
shift 2
mkdir -p "$work"
exec "$fuzzer" -max_total_time="${BH_FUZZ_SECONDS:-25}" -timeout=10 -rss_limit_mb=2048 \
  -max_len=65536 -print_final_stats=1 -artifact_prefix="$work/" "$work" "$@"
