#!/usr/bin/env bash
# Regenerates the committed PTX from src/main/cuda/*.cu, one file per kernel source and arch:
#   src/main/resources/dev/kvq/kernels/<name>.sm_<arch>.ptx
# Usage: kernels-cu/gen-ptx.sh [OUTDIR]   (default: the resource folder above)
# Flags are fixed on purpose: no -lineinfo/-G (they embed absolute paths), so the output depends
# only on the source and the nvcc release. nvcc 13.0 output was checked byte-identical across runs
# and across working directories, so nothing is normalized afterwards.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
src="$here/src/main/cuda"
out="${1:-$here/src/main/resources/dev/kvq/kernels}"
archs=(${KVQ_PTX_ARCHS:-80 90})
nvcc_bin="${NVCC:-nvcc}"
if ! command -v "$nvcc_bin" >/dev/null 2>&1; then
  echo "gen-ptx: nvcc not found (set NVCC or put CUDA's bin folder on PATH)" >&2
  exit 2
fi
mkdir -p "$out"
shopt -s nullglob
sources=("$src"/*.cu)
if [[ ${#sources[@]} -eq 0 ]]; then
  echo "gen-ptx: no .cu files in $src" >&2
  exit 2
fi
for cu in "${sources[@]}"; do
  name="$(basename "$cu" .cu)"
  for arch in "${archs[@]}"; do
    # run from the source folder with a relative input name, so no path can leak into the PTX
    (cd "$src" && "$nvcc_bin" -ptx -arch="sm_$arch" -o "$out/$name.sm_$arch.ptx" "$name.cu")
  done
done
# index.txt lets the Java catalogue list the PTX resources without scanning a jar
(cd "$out" && ls -1 -- *.ptx | LC_ALL=C sort > index.txt)
echo "gen-ptx: wrote ${#sources[@]} source(s) x ${#archs[@]} arch(es) into $out"
