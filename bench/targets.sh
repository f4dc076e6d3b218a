#!/usr/bin/env bash
# The target shapes of bench/RESULTS.md's tables, through splitkv-bench:
#   bench/targets.sh BENCH PACKAGE_DIR
# PACKAGE_DIR holds llama3_8b.skvpkg, codellama_34b.skvpkg and
# peer_layouts.skvpkg (bench/specs/peer_layouts.yaml). Prints one table.
set -uo pipefail
bench=$1; pkgs=$2; rc=0
run() { # package spec batch seqlens
  "$bench" "$pkgs/$1.skvpkg" "$2" --batch "$3" --seqlen "$4" 2>&1 | grep -E "^\| [a-z]" | grep -v "^| spec" || rc=1
}
echo "| spec | dtype | batch | seqlen | splits | KV MB | floor us | us | GB/s | % of copy | rel err |"
echo "|---|---|---|---|---|---|---|---|---|---|---|"
run llama3_8b llama3_8b 1 1024,8192,32768,131072
run codellama_34b codellama_34b 1 16384,65536
run llama3_8b llama3_8b 8 8192
run llama3_8b llama3_8b 64 4096
run peer_layouts mha16_d128 1 4096
run peer_layouts mqa8_d128 1 65536
run peer_layouts gqa8_d256 1 32768
"$bench" "$pkgs/llama3_8b.skvpkg" llama3_8b --batch 1 --seqlen 1024 2>&1 | grep -E "copy bandwidth"
exit $rc
