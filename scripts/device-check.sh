#!/usr/bin/env bash
# On a GPU machine without MLIR: build the serving side against packages
# compiled elsewhere, run the GPU tests, then the benchmark.
#   scripts/device-check.sh PACKAGE_DIR [tests|bench|all] [BENCH ARGS...]
# Logs go to $OUT (or /tmp/skv-out) as ctest.log and bench.log. The GPU
# tests run with SKV_REQUIRE_GPU=1: on this machine a skip is a failure.
set -uo pipefail
export SKV_REQUIRE_GPU=1
pkgs=$(realpath "$1"); what=${2:-all}; shift $(( $# >= 2 ? 2 : $# ))
out=${OUT:-/tmp/skv-out}; mkdir -p "$out"
cd "$(dirname "$0")/.."
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv,noheader
cmake -S . -B /tmp/skv-build -DSKV_BUILD_COMPILER=OFF -DSKV_PACKAGE_DIR="$pkgs" >/dev/null &&
  cmake --build /tmp/skv-build -j"$(nproc)" 2>&1 | grep -E "error|warning" ; rc=0
if [ "$what" = tests ] || [ "$what" = all ]; then
  ctest --test-dir /tmp/skv-build -L gpu --output-on-failure >"$out/ctest.log" 2>&1 || rc=1
  grep -E "^(PASS|FAIL|SKIPPED)|tests passed|Failed|\*\*\*" "$out/ctest.log" | tail -40
fi
if [ "$what" = bench ] || [ "$what" = all ]; then
  [ $# -gt 0 ] || set -- "$pkgs/llama3_8b.skvpkg" llama3_8b --batch 1 --seqlen 1024,8192,32768,131072
  /tmp/skv-build/bin/splitkv-bench "$@" 2>&1 | tee "$out/bench.log" | tail -25 || rc=1
fi
exit $rc
