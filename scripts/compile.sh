#!/usr/bin/env bash
# Sets up, builds, and compiles the default spec into a kernel package:
# llama3_8b.skvpkg (or the spec files and options given).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh
if [ $# -eq 0 ]; then
  set -- specs/llama3_8b.yaml -o llama3_8b.skvpkg
fi
build/bin/splitkv-compile "$@"
