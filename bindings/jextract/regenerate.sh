#!/usr/bin/env bash
# Regenerates the CUDA driver bindings with an installed jextract (https://jdk.java.net/jextract/).
#   bindings/jextract/regenerate.sh [--install]
# jextract comes from $JEXTRACT or PATH; the headers from $CUDA_HOME/include or nvcc's toolkit.
# Output goes to bindings/target/jextract/ for review; --install then copies cuda_h.java over the
# hand-written one. jextract hard-codes the library it opens, so the generated SYMBOL_LOOKUP is
# rewritten to go through CudaLibrary (the kvq.cuda.driver / KVQ_CUDA_DRIVER override).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
module="$(dirname "$here")"
jextract_bin="${JEXTRACT:-$(command -v jextract || true)}"
if [[ -z "$jextract_bin" || ! -x "$jextract_bin" ]]; then
  echo "regenerate.sh: jextract not found: set JEXTRACT=/path/to/jextract or put it on PATH" >&2
  echo "  (jextract is not in Maven Central or Debian; download it from https://jdk.java.net/jextract/)" >&2
  exit 2
fi
inc=""
if [[ -n "${CUDA_HOME:-}" && -f "$CUDA_HOME/include/cuda.h" ]]; then
  inc="$CUDA_HOME/include"
elif command -v nvcc >/dev/null 2>&1; then
  tmp_cu="$(mktemp --suffix=.cu)"
  top="$(nvcc --dryrun -E "$tmp_cu" 2>&1 | sed -n 's/^#\$ TOP=//p' | head -n 1)"
  rm -f "$tmp_cu"
  [[ -n "$top" && -f "$top/include/cuda.h" ]] && inc="$(cd "$top/include" && pwd)"
fi
[[ -z "$inc" && -f /usr/local/cuda/include/cuda.h ]] && inc=/usr/local/cuda/include
if [[ -z "$inc" ]]; then
  echo "regenerate.sh: cuda.h not found: set CUDA_HOME to the CUDA toolkit" >&2
  exit 2
fi
out="$module/target/jextract"
rm -rf "$out"
mkdir -p "$out"
"$jextract_bin" \
  --target-package dev.kvq.bindings.cuda \
  --header-class-name cuda_h \
  --library :libcuda.so.1 \
  -I "$inc" \
  --output "$out" \
  @"$here/cuda-driver.includes" \
  "$here/cuda_driver.h"
gen="$(find "$out" -name cuda_h.java | head -n 1)"
if [[ -z "$gen" ]]; then
  echo "regenerate.sh: jextract produced no cuda_h.java under $out" >&2
  exit 1
fi
# route library loading through CudaLibrary (the override path); fail loudly if the pattern moved
perl -0pi -e 's/static final SymbolLookup SYMBOL_LOOKUP\s*=.*?;/static final SymbolLookup SYMBOL_LOOKUP = CudaLibrary.open(CudaLibrary.bind(), LIBRARY_ARENA);/s and $n++; END { exit($n ? 0 : 3) }' "$gen" \
  || { echo "regenerate.sh: could not find SYMBOL_LOOKUP in $gen; patch library loading by hand" >&2; exit 1; }
echo "regenerate.sh: generated $(find "$out" -name '*.java' | wc -l) file(s) under $out"
if [[ "${1:-}" == "--install" ]]; then
  dest="$module/src/main/java/dev/kvq/bindings/cuda"
  find "$out" -name '*.java' -exec cp {} "$dest"/ \;
  echo "regenerate.sh: installed into $dest; run the bindings tests (CudaHeaderTest) and update PROVENANCE.md"
else
  echo "regenerate.sh: review with: diff -r $module/src/main/java/dev/kvq/bindings/cuda $(dirname "$gen")"
fi
