#!/usr/bin/env bash
# Builds the emulated CUDA driver (emulated_cuda.cu) into OUTDIR/libcuda.so.1 with nvcc's host
# compilation; without nvcc it says so and builds nothing (the emulated GPU tests then skip).
set -euo pipefail
out="$1"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../../../.." && pwd)"
nvcc="${NVCC:-nvcc}"
mkdir -p "$out"
if ! command -v "$nvcc" > /dev/null 2>&1; then
  echo "emulated CUDA driver: $nvcc not found; the emulated GPU tests will skip"
  rm -f "$out/libcuda.so.1"
  exit 0
fi
lib="$out/libcuda.so.1"
src="$here/emulated_cuda.cu"
# rebuild only when a source is newer than the library
if [[ -f "$lib" ]] && [[ -z "$(find "$src" "$root/kernels-cu/src/main/cuda" "$root/kernels-cu/src/test/cuda/kvq_fiber_team.h" -newer "$lib" -type f | head -n 1)" ]]; then
  exit 0
fi
# -ffp-contract=off: the host compiler must not fuse a*b+c, like the kernels' __fmul_rn/__fadd_rn
"$nvcc" -O2 -std=c++17 -shared -Xcompiler -fPIC,-ffp-contract=off -I "$root/kernels-cu/src/main/cuda" -I "$root/kernels-cu/src/test/cuda" \
  -o "$lib.tmp" "$src"
mv "$lib.tmp" "$lib"
echo "emulated CUDA driver: built $lib"
