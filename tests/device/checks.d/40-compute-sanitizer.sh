#!/usr/bin/env bash
# compute-sanitizer memcheck and racecheck over three GPU cache tests in quick mode
# (-Dkvq.gpu.quick=true), which between them launch every kernel the backend uses: a batch of 16
# nuq3-1% sequences (pack, scores, softmax, value partials/reduce), positions near 10^7 in nuq3-1%
# and fp16 (the fp16 kernels, GQA 4:1, d = 128), and a cache extended by page copies. The tools slow
# every kernel down many times and need device memory of their own, hence the small selection.
# Reports the tools' error summaries; fails when a tool reports errors or a test fails under it.
set -uo pipefail
out="$1"
sanitizer="$(command -v compute-sanitizer || true)"
for d in /usr/local/cuda/bin /usr/local/cuda-*/bin /opt/nvidia/*/compute-sanitizer; do
  [[ -z "$sanitizer" && -x "$d/compute-sanitizer" ]] && sanitizer="$d/compute-sanitizer"
done
if [[ -z "$sanitizer" ]]; then
  echo "summary: NOT RUN: compute-sanitizer not found (PATH, /usr/local/cuda*/bin)"
  exit 0
fi
if ! "$KVQ_JAVA" $KVQ_JVM_FLAGS -cp "$KVQ_CLASSPATH" dev.kvq.driver.CudaDriver > /dev/null 2>&1; then
  echo "summary: skipped: no usable CUDA device"
  exit 0
fi
status=0
for tool in memcheck racecheck; do
  log="$(mktemp)"
  # the JVM's own signals are not CUDA errors; only CUDA API and kernel checks are reported
  timeout 120 "$sanitizer" --tool "$tool" --error-exitcode 86 --print-limit 20 \
    "$KVQ_JAVA" $KVQ_JVM_FLAGS -Dkvq.gpu.quick=true -jar "$KVQ_CONSOLE_JAR" execute \
    --disable-banner --disable-ansi-colors --details=summary --fail-if-no-tests \
    --class-path "$KVQ_CLASSPATH" \
    --select-method dev.kvq.cache.GpuCacheTest#aBatchOfSixteenSequencesOfDifferentLengths \
    --select-method dev.kvq.cache.GpuCacheTest#positionsUpToTenMillion \
    --select-method dev.kvq.bench.GpuBenchTest#repeatedPagesAttendLikeTheirOriginals \
    --include-tag gpu --include-engine junit-jupiter > "$log" 2>&1
  rc=$?
  echo "===== $tool (exit $rc)"
  cat "$log"
  tests="$(grep -oE '[0-9]+ tests (successful|failed)' "$log" | awk '{printf "%s %s, ", $1, $3}' | sed 's/, $//')"
  verdict="$(grep -E '^========= (ERROR SUMMARY|RACECHECK SUMMARY)' "$log" | tail -n 1 | sed 's/^========= //')"
  echo "summary: $tool: ${verdict:-no summary line} (exit $rc); tests: ${tests:-none}"
  grep -E '^========= (Invalid|Race|Error|Program hit)' "$log" | sort | uniq -c | sort -rn | head -n 5 | sed 's/^/summary:   /'
  [[ $rc -ne 0 ]] && status=1
  rm -f "$log"
done
exit $status
