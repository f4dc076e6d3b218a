#!/usr/bin/env bash
# Profile one decode call with Nsight Compute (cold L2, every section, the
# SASS with its stall samples), on a GPU:
#   bench/profile.sh BENCH PACKAGE SPEC BATCH SEQLEN NAME [BENCH ARGS...]
# Writes $OUT/NAME.ncu-rep, NAME.details.txt (every section) and
# NAME.sass.csv (per-instruction SASS with warp-stall samples).
set -uo pipefail
bench=$1 pkg=$2 spec=$3 batch=$4 seqlen=$5 name=$6; shift 6
out=${OUT:-/tmp/skv-out}; mkdir -p "$out"
# Launch 0 is the checked call; launch 2 is inside the timed loop.
ncu --set full --import-source no --cache-control all --clock-control none \
    --launch-skip 2 --launch-count 1 -o "$out/$name" -f \
    "$bench" "$pkg" "$spec" --batch "$batch" --seqlen "$seqlen" \
    --iters 4 --repeats 1 "$@" >"$out/$name.ncu.log" 2>&1 || { tail -20 "$out/$name.ncu.log"; exit 1; }
ncu -i "$out/$name.ncu-rep" --print-details all >"$out/$name.details.txt" 2>&1
ncu -i "$out/$name.ncu-rep" --page source --csv --print-source sass >"$out/$name.sass.csv" 2>&1
grep -E "Duration|DRAM Throughput|Memory Throughput|Achieved Occupancy|Registers Per|Waves Per SM|Theoretical Occupancy" \
  "$out/$name.details.txt" | head -12
