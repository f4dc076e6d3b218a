#!/usr/bin/env bash
# Sets up, builds the compiler, and compiles the default spec into a kernel
# package: llama3_8b.skvpkg (or the spec files and options given, passed to
# splitkv-compile). Ends with one line saying what it wrote; the build's
# own output goes to build/compile-build.log (shown if the build fails).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
mkdir -p build
log=build/compile-build.log
if ! { cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo &&
       cmake --build build -j"$(nproc)" --target splitkv-compile splitkv-inspect; } >"$log" 2>&1; then
  tail -n 40 "$log" >&2
  echo "compile.sh: the build failed; the whole log is $log" >&2
  exit 1
fi
if [ $# -eq 0 ]; then
  set -- specs/llama3_8b.yaml -o llama3_8b.skvpkg
fi

# Where the output goes: -o's path, else stdout for a text stage and C, or
# <first spec>.skvpkg in this directory for a package (found as the newest
# one after the compile).
out="" emit=package prev=""
for a in "$@"; do
  case "$prev" in -o) out=$a ;; --emit) emit=$a ;; esac
  case "$a" in -o?*) out=${a#-o} ;; --emit=*) emit=${a#--emit=} ;; esac
  prev=$a
done
stamp=$(mktemp)
trap 'rm -f "$stamp"' EXIT
build/bin/splitkv-compile "$@"
if [ -z "$out" ] && [ "$emit" = package ]; then
  out=$(find . -maxdepth 1 -name '*.skvpkg' -newer "$stamp" | head -n 1)
  out=${out#./}
fi
[ -n "$out" ] || exit 0 # written to stdout: nothing more to say

bytes() { stat -c %s "$1"; }
if [ "$emit" = package ]; then
  # splitkv-inspect's first lines: "PATH: ..., N bytes", "N specs, ...;
  # targets: sm_80 (cubin, ptx), ...", then a "spec NAME: ..." per spec.
  build/bin/splitkv-inspect "$out" | awk -v out="$out" '
    NR == 3 { count = $1; sub(/.*targets: /, ""); targets = $0 }
    /^spec / { name = $2; sub(/:$/, "", name); names = names (names ? ", " : "") name }
    END { printf "compile.sh: wrote %s: %d spec%s (%s) for %s, ", out, count,
                 count == 1 ? "" : "s", names, targets }'
  echo "$(bytes "$out") bytes"
elif [ -d "$out" ]; then
  files=$(find "$out" -maxdepth 1 -type f -name "*.${emit/llvm/ll}" | sort)
  n=$(printf '%s\n' "$files" | grep -c .)
  modules=$(printf '%s\n' "$files" | sed 's#.*/##; s#\.[a-z]*$##' | paste -sd, - | sed 's/,/, /g')
  echo "compile.sh: wrote $n $emit module(s) into $out/ ($modules), $(du -cb $files | tail -n 1 | cut -f1) bytes"
else
  what="$emit module"
  [ "$emit" = c ] && what="C source embedding a package"
  echo "compile.sh: wrote $out: $what, $(bytes "$out") bytes"
fi
