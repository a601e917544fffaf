#!/usr/bin/env bash
# The CUDA backend against the CPU backend (kvq-runtime's GpuCacheTest, tagged "gpu"): packed pages
# bit-identical after append, scores and outputs within 1e-4 relative, head dims 8/64/128, GQA,
# 1M tokens, positions to 10M, a batch of 16, no leaks, device OOM; a pool's shared device pages
# (GpuSharedPagesTest), batched decode of 1-64 sequences (PoolBatchTest), device steps and their
# CUDA graphs (GpuDeviceStepTest, GpuDeviceGraphTest). Skipped without a GPU.
set -uo pipefail
out="$1"
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
"$KVQ_JAVA" $KVQ_JVM_FLAGS -Xmx24g -jar "$KVQ_CONSOLE_JAR" execute \
  --disable-banner --disable-ansi-colors --details=tree --fail-if-no-tests \
  --class-path "$KVQ_CLASSPATH" \
  --select-class dev.kvq.cache.GpuCacheTest --select-class dev.kvq.bench.GpuBenchTest \
  --select-class dev.kvq.cache.GpuSharedPagesTest --select-class dev.kvq.cache.PoolBatchTest \
  --select-class dev.kvq.cache.GpuDeviceStepTest --select-class dev.kvq.cache.GpuDeviceGraphTest \
  --include-tag gpu \
  --include-engine junit-jupiter \
  --reports-dir "$out/junit-cache" > "$log" 2>&1
rc=$?
cat "$log"
echo "summary: $(grep -oE '[0-9]+ tests (found|successful|skipped|aborted|failed)' "$log" | awk '{printf "%s %s, ", $1, $3}' | sed 's/, $//')"
grep -E '^gpu: ' "$log" | sed 's/^/summary: /'
grep -E '(↷|✘)' "$log" | sed -E 's/^[│├└─ ]*//' | head -n 10 | sed 's/^/summary:   /'
exit $rc
