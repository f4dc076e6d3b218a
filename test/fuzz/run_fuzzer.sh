#!/usr/bin/env bash
# Runs one libFuzzer target for a bounded time from its seed corpora (the
# ctest `fuzz` tests):
#   run_fuzzer.sh FUZZER SECONDS WORK_DIR [FLAGS...] -- CORPUS_DIR...
# New inputs go to WORK_DIR/corpus, emptied first so every run starts from
# the seeds alone; a crash, leak or timeout leaves its input in WORK_DIR as
# crash-*, leak-* or timeout-*, which `FUZZER FILE` replays.
set -euo pipefail
fuzzer=$1 seconds=$2 work=$3
shift 3
flags=()
while [ $# -gt 0 ] && [ "$1" != -- ]; do flags+=("$1"); shift; done
shift
rm -rf "$work/corpus"
mkdir -p "$work/corpus"
for dir in "$@"; do
  [ -d "$dir" ] || { echo "run_fuzzer: no corpus directory $dir" >&2; exit 1; }
done
if ! "$fuzzer" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="$work/" "${flags[@]}" \
    "$work/corpus" "$@"; then
  echo "FAIL: $(basename "$fuzzer") found a bug; reproduce with:" >&2
  ls "$work"/crash-* "$work"/leak-* "$work"/timeout-* "$work"/oom-* 2>/dev/null |
    sed "s|^|  $fuzzer |" >&2
  exit 1
fi
