#!/usr/bin/env bash
# Installs what splitkv needs on Debian 12, only what is missing (idempotent):
# LLVM/MLIR 22 (C API, lit, FileCheck), libyaml, cmake, a C/C++ toolchain,
# clang 22 with its libFuzzer runtime (the fuzz tests) and pkg-config (the
# install test builds an engine with it).
# The CUDA toolkit (/usr/local/cuda: ptxas, cuda.h, libdevice) is expected to
# be installed already; the script says so if it is not.
set -euo pipefail

packages=(build-essential cmake libyaml-dev pkgconf
          llvm-22-dev llvm-22-tools libmlir-22-dev mlir-22-tools
          clang-22 libclang-rt-22-dev)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
    missing+=("$p")
done
if ((${#missing[@]})); then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo=sudo
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}"
fi

cuda=${SKV_CUDA_ROOT:-/usr/local/cuda}
for f in "$cuda/include/cuda.h" "$cuda/bin/ptxas" "$cuda/nvvm/libdevice/libdevice.10.bc"; do
  if [ ! -e "$f" ]; then
    echo "setup: $f not found: install the CUDA 13 toolkit (or set SKV_CUDA_ROOT)" >&2
    exit 1
  fi
done
