#!/usr/bin/env bash
# Configures and builds splitkv in build/ (after scripts/setup.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
# SKV_FUZZ_SECONDS in the environment: how long each fuzz test runs.
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  ${SKV_FUZZ_SECONDS:+-DSKV_FUZZ_SECONDS="$SKV_FUZZ_SECONDS"} >/dev/null
cmake --build build -j"$(nproc)"
