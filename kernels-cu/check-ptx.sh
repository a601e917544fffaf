#!/usr/bin/env bash
# Fails (exit 1) when the committed PTX differs from what nvcc makes of the .cu sources now, or when
# a kernel spills registers for a shipped architecture (ptxas-report.sh; the kernels must not spill).
# Skips (exit 0) where there is no nvcc. Called by .ci/run.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
committed="$here/src/main/resources/dev/kvq/kernels"
nvcc_bin="${NVCC:-nvcc}"
if ! command -v "$nvcc_bin" >/dev/null 2>&1; then
  echo "check-ptx: nvcc not found, skipping PTX staleness check"
  exit 0
fi
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
"$here/gen-ptx.sh" "$tmp" >/dev/null
status=0
shopt -s nullglob
for fresh in "$tmp"/*.ptx "$tmp"/index.txt; do
  f="$(basename "$fresh")"
  if [[ ! -f "$committed/$f" ]]; then
    echo "check-ptx: kernels-cu/src/main/resources/dev/kvq/kernels/$f is missing; run kernels-cu/gen-ptx.sh (or mvn -Pptx -pl kernels-cu generate-resources) and commit it" >&2
    status=1
  elif ! cmp -s "$fresh" "$committed/$f"; then
    echo "check-ptx: kernels-cu/src/main/resources/dev/kvq/kernels/$f is stale (differs from $("$nvcc_bin" --version | grep -o "release [0-9.]*, V[0-9.]*") output); run kernels-cu/gen-ptx.sh and commit it" >&2
    diff -u "$committed/$f" "$fresh" | head -n 20 >&2 || true
    status=1
  fi
done
for old in "$committed"/*.ptx; do
  f="$(basename "$old")"
  if [[ ! -f "$tmp/$f" ]]; then
    echo "check-ptx: kernels-cu/src/main/resources/dev/kvq/kernels/$f has no .cu source (or arch) any more; delete it" >&2
    status=1
  fi
done
if [[ $status -eq 0 ]]; then
  echo "check-ptx: committed PTX is up to date ($(ls "$tmp"/*.ptx | wc -l) files)"
fi
if ! "$here/ptxas-report.sh" > "$tmp/ptxas.md"; then
  cat "$tmp/ptxas.md" >&2
  echo "check-ptx: a kernel spills registers (table above); fix it before committing" >&2
  status=1
else
  echo "check-ptx: no kernel spills registers ($(grep -c '^| kvq_\|^| vector_add' "$tmp/ptxas.md") kernel builds)"
fi
exit $status
