#!/usr/bin/env bash
# Prints the ptxas resource usage of every kernel (registers, shared memory, stack, spills) for each
# shipped architecture as a Markdown table, from the same sources and flags as the committed PTX
# plus -cubin -Xptxas -v (ptxas compiles to SASS without a GPU). Exits 1 when any kernel spills.
# Usage: kernels-cu/ptxas-report.sh   (docs/KERNELS.md quotes its output)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
src="$here/src/main/cuda"
archs=(${KVQ_PTX_ARCHS:-80 90})
nvcc_bin="${NVCC:-nvcc}"
if ! command -v "$nvcc_bin" >/dev/null 2>&1; then
  echo "ptxas-report: nvcc not found (set NVCC or put CUDA's bin folder on PATH)" >&2
  exit 2
fi
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
echo "| kernel | arch | registers | static smem (B) | stack (B) | spill stores (B) | spill loads (B) |"
echo "|---|---|---|---|---|---|---|"
spills=0
for cu in "$src"/*.cu; do
  name="$(basename "$cu" .cu)"
  for arch in "${archs[@]}"; do
    (cd "$src" && "$nvcc_bin" -cubin -arch="sm_$arch" -Xptxas -v -o "$tmp/$name.cubin" "$name.cu") 2> "$tmp/log"
    # ptxas prints, per entry: "Compiling entry function 'k' for 'sm_90'", then a stack/spill
    # line and a "Used N registers, ..." line
    awk -v arch="$arch" '
      /Compiling entry function/ { match($0, /'"'"'[^'"'"']*'"'"'/); k = substr($0, RSTART + 1, RLENGTH - 2) }
      /bytes stack frame/ && k != "" {
        match($0, /[0-9]+ bytes stack frame/); stack = substr($0, RSTART, RLENGTH) + 0
        match($0, /[0-9]+ bytes spill stores/); st = substr($0, RSTART, RLENGTH) + 0
        match($0, /[0-9]+ bytes spill loads/); ld = substr($0, RSTART, RLENGTH) + 0
      }
      /Used [0-9]+ registers/ && k != "" {
        match($0, /Used [0-9]+ registers/); regs = substr($0, RSTART + 5, RLENGTH - 15) + 0
        smem = 0
        if (match($0, /[0-9]+ bytes smem/)) smem = substr($0, RSTART, RLENGTH) + 0
        printf "| %s | sm_%s | %d | %d | %d | %d | %d |\n", k, arch, regs, smem, stack, st, ld
        k = ""
      }' "$tmp/log" | sort >> "$tmp/rows"
  done
done
sort -t'|' -k2,2 -k3,3 "$tmp/rows"
if awk -F'|' '($7 + 0) > 0 || ($8 + 0) > 0 { bad = 1 } END { exit bad ? 0 : 1 }' "$tmp/rows"; then
  echo "ptxas-report: some kernel spills registers (see the table)" >&2
  exit 1
fi
