#!/usr/bin/env bash
# The runtime as an engine consumes it: install it (from the whole project's
# build and from a standalone `cmake -S runtime` build), build
# examples/engine against each installed copy with find_package(splitkv),
# compile it once more with `pkg-config --cflags --libs splitkv-runtime`,
# and run every binary on a real package, expecting its spec list.
#   test_install.sh CMAKE CC SOURCE_DIR BUILD_DIR WORK_DIR PACKAGE SPEC \
#                   [PACKAGE SPEC...]
# Each package is listed, and its spec decoded where a GPU is (a paged spec
# through a block table). Exit 77 (skipped) when a PACKAGE does not exist,
# after building everything.
set -euo pipefail
cmake=$1 cc=$2 src=$3 build=$4 work=$5
shift 5
runs=("$@")

rm -rf "$work"
mkdir -p "$work"
step() { echo "== $*"; }
# Runs a command quietly, showing its output only when it fails.
quiet() {
  "$@" >"$work/log.txt" 2>&1 || { cat "$work/log.txt"; return 1; }
}

step "install the project's build"
quiet "$cmake" --install "$build" --prefix "$work/prefix"

step "standalone runtime build, installed"
quiet "$cmake" -S "$src/runtime" -B "$work/runtime" -DCMAKE_C_COMPILER="$cc"
quiet "$cmake" --build "$work/runtime" -j2
quiet "$cmake" --install "$work/runtime" --prefix "$work/prefix-runtime"

binaries=()
for prefix in prefix prefix-runtime; do
  step "examples/engine with find_package(splitkv) from $prefix"
  quiet "$cmake" -S "$src/examples/engine" -B "$work/engine-$prefix" \
    -DCMAKE_C_COMPILER="$cc" -DCMAKE_C_FLAGS=-Werror -DCMAKE_PREFIX_PATH="$work/$prefix"
  quiet "$cmake" --build "$work/engine-$prefix"
  binaries+=("$work/engine-$prefix/skv_engine" "$work/engine-$prefix/skv_engine_shared")
done

step "examples/engine/main.c with pkg-config"
# pkg-config gives the shared library; the rpath lets it run from here.
export PKG_CONFIG_PATH="$work/prefix/lib/pkgconfig"
# shellcheck disable=SC2046 # pkg-config's output is meant to be split
"$cc" -std=c11 -Wall -Wextra -Werror -o "$work/engine-pkgconfig" \
  "$src/examples/engine/main.c" $(pkg-config --cflags --libs splitkv-runtime) \
  -lm -Wl,-rpath,"$(pkg-config --variable=libdir splitkv-runtime)"
binaries+=("$work/engine-pkgconfig")

# SKV_REQUIRE_GPU=1 (the GPU machines' runs): a skipped step is a failure.
skip() {
  if [ "${SKV_REQUIRE_GPU:-}" = 1 ]; then
    echo "FAIL: SKV_REQUIRE_GPU=1, and this cannot run: $*"
    exit 1
  fi
  echo "SKIPPED: $*"
  exit 77
}

for ((r = 0; r < ${#runs[@]}; r += 2)); do
  package=${runs[r]} spec=${runs[r + 1]}
  if [ ! -f "$package" ]; then
    skip "no package at $package to run the engine on (build the compiler)"
  fi
  for binary in "${binaries[@]}"; do
    step "$binary $package $spec"
    "$binary" "$package" "$spec" | tee "$work/out.txt"
    grep -q "^  $spec: head_dim " "$work/out.txt" || {
      echo "FAIL: $binary did not list spec $spec" >&2
      exit 1
    }
    if grep -q "^no GPU, decode skipped" "$work/out.txt"; then
      [ "${SKV_REQUIRE_GPU:-}" = 1 ] && skip "$binary found no GPU"
    elif ! grep -q "^decode $spec: .*outputs finite" "$work/out.txt"; then
      echo "FAIL: $binary did not decode $spec" >&2
      exit 1
    fi
  done
done
echo "PASS: installed runtime used through find_package and pkg-config"
