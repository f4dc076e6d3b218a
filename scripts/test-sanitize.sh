#!/usr/bin/env bash
# Builds the compiler and the runtime with AddressSanitizer and UBSan in
# build-sanitize/ and runs the CPU tests under them: lit (every tool run on
# good and hostile specs and packages) and the unit tests (the runtime
# through a stub driver among them). Every report fails its test. The
# fuzz targets are ASan + UBSan builds already, run over their seeds by
# scripts/test.sh; the GPU and install tests need the real driver or the
# packages, which this build does not compile. CI runs both scripts.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
sanitize="-fsanitize=address,undefined -fno-sanitize-recover=all"
cmake -S . -B build-sanitize -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_C_FLAGS="$sanitize -fno-omit-frame-pointer" \
  -DCMAKE_CXX_FLAGS="$sanitize -fno-omit-frame-pointer" \
  -DCMAKE_EXE_LINKER_FLAGS="$sanitize" -DCMAKE_SHARED_LINKER_FLAGS="$sanitize" \
  -DSKV_BUILD_FUZZERS=OFF -DSKV_BUILD_PACKAGES=OFF >/dev/null
cmake --build build-sanitize -j"$(nproc)"
# Leaks are reports too (LeakSanitizer runs at each process's exit).
export ASAN_OPTIONS=detect_leaks=1:check_initialization_order=1:strict_string_checks=1
export UBSAN_OPTIONS=print_stacktrace=1
# compare_py_abi loads the runtime into Python, where the ASan runtime would
# have to be preloaded: the main build runs it.
ctest --test-dir build-sanitize --output-on-failure -L "lit|unit" -E compare_py_abi
