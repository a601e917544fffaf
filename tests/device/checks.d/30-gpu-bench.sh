#!/usr/bin/env bash
# The GPU benchmark (dev.kvq.bench.CudaBench, CUDA events): one LLaMA-7B layer (32 × 128), batch 1,
# at 2K/16K/128K/1M tokens: key scores and value matvec for fp16, nuq4-1%, nuq3-1%, nuq2-1%, speed-up
# over fp16, effective bandwidth as a fraction of the device-to-device copy bandwidth; one full
# decode step over 32 layers at 1M tokens in nuq2-1%; a pool's batched step of 32 sequences × 32K
# tokens against one 1M-token sequence (issue 15); then the goal lines. The table goes to the log and
# to summary.txt.
# Without a GPU it reports why and exits 0 (the cache tests report the skip).
set -uo pipefail
out="$1"
if ! "$KVQ_JAVA" $KVQ_JVM_FLAGS -cp "$KVQ_CLASSPATH" dev.kvq.driver.CudaDriver > /dev/null 2>&1; then
  echo "summary: skipped: no usable CUDA device ($("$KVQ_JAVA" $KVQ_JVM_FLAGS -cp "$KVQ_CLASSPATH" dev.kvq.driver.CudaDriver 2>/dev/null | head -n 1))"
  exit 0
fi
table="$(mktemp)"
trap 'rm -f "$table"' EXIT
"$KVQ_JAVA" $KVQ_JVM_FLAGS -Xmx16g -cp "$KVQ_CLASSPATH" dev.kvq.bench.CudaBench \
  --tokens "${KVQ_BENCH_TOKENS:-2048,16384,131072,1048576}" \
  --kv "${KVQ_BENCH_KV:-fp16,nuq4-1%,nuq3-1%,nuq2-1%}" \
  --decode "${KVQ_BENCH_DECODE:-nuq2-1%@1048576x32}" \
  --batch "${KVQ_BENCH_BATCH:-32x32768}" > "$table"
rc=$?
cat "$table"
sed 's/^/summary: /' "$table"
exit $rc
