#!/usr/bin/env bash
# Runs kvq's GPU checks on the GPU machine from the prepared bundle (no JDK, no network needed):
#   tests/device/run-gpu-checks.sh OUTDIR
# Build the bundle first, on a build machine: tests/device/build-bundle.sh (then carry
# tests/device/bundle). Each executable checks.d/NN-name.sh runs in order under one overall
# deadline (KVQ_DEVICE_BUDGET_S, default 340 s, so the whole run ends within 6 minutes); to add
# a check, drop in a new checks.d/NN-name.sh. The checks: 10 driver tests, 20 cache tests (GPU vs
# CPU), 30 benchmark (CUDA events), 40 compute-sanitizer memcheck + racecheck. A check gets:
#   $1 = OUTDIR, and KVQ_JAVA, KVQ_CLASSPATH, KVQ_JVM_FLAGS, KVQ_BUNDLE, KVQ_CONSOLE_JAR
# in its environment; its output goes to OUTDIR/<name>.log, and lines it prints starting with
# "summary: " go into OUTDIR/summary.txt. Exit status: 0 when every check passed.
# Keep what lands in OUTDIR small and shallow: the device tool returns at most 8 files, 2 levels deep.
set -uo pipefail
if [[ $# -ne 1 ]]; then
  echo "usage: $0 OUTDIR" >&2
  exit 2
fi
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
out="$(mkdir -p "$1" && cd "$1" && pwd)"
bundle="${KVQ_BUNDLE:-$here/bundle}"
budget="${KVQ_DEVICE_BUDGET_S:-340}"
summary="$out/summary.txt"
start=$SECONDS

say() { echo "$*" | tee -a "$summary"; }

: > "$summary"
say "kvq GPU checks — $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(hostname)"
if [[ ! -f "$bundle/jre.tar.xz" || ! -d "$bundle/lib" ]]; then
  say "FAILED: no bundle at $bundle; run tests/device/build-bundle.sh on a build machine and carry tests/device/bundle"
  exit 1
fi
say "bundle: $(sed -n 's/^commit: *//p' "$bundle/MANIFEST.txt" 2>/dev/null), built $(sed -n 's/^built: *//p' "$bundle/MANIFEST.txt" 2>/dev/null)"
if command -v nvidia-smi >/dev/null 2>&1; then
  say "gpu: $(nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv,noheader 2>&1 | head -n 4 | paste -sd ';')"
else
  say "gpu: nvidia-smi not found"
fi

work="$(mktemp -d "${TMPDIR:-/tmp}/kvq-device.XXXXXX")"
trap 'rm -rf "$work"' EXIT
if ! tar -C "$work" -xJf "$bundle/jre.tar.xz"; then
  say "FAILED: cannot unpack $bundle/jre.tar.xz"
  exit 1
fi
export KVQ_BUNDLE="$bundle"
export KVQ_JAVA="$work/jre/bin/java"
export KVQ_CLASSPATH="$(ls "$bundle"/lib/*.jar | grep -v junit-platform-console-standalone | paste -sd ':')"
export KVQ_CONSOLE_JAR="$(ls "$bundle"/lib/junit-platform-console-standalone-*.jar | head -n 1)"
# log4j-core is not carried (it needs java.desktop); log4j-api's simple logger prints to stderr
export KVQ_JVM_FLAGS="--enable-native-access=ALL-UNNAMED --add-modules jdk.incubator.vector -Dlog4j2.loggerContextFactory=org.apache.logging.log4j.simple.SimpleLoggerContextFactory -Dlog4j2.simplelogLevel=INFO"
say "java: $("$KVQ_JAVA" -version 2>&1 | head -n 1)"
# the probe's own words, also when the GPU tests end up skipped
say "probe: $(timeout 60 "$KVQ_JAVA" $KVQ_JVM_FLAGS -cp "$KVQ_CLASSPATH" dev.kvq.driver.CudaDriver 2>&1 | grep -v '^WARNING: Using incubator' | head -n 1)"

status=0
results=()
shopt -s nullglob
for check in "$here"/checks.d/*.sh; do
  [[ -x "$check" ]] || continue
  name="$(basename "$check" .sh)"
  left=$(( budget - (SECONDS - start) ))
  if (( left < 15 )); then
    results+=("$(printf '%-24s %-8s %5s' "$name" "NOT RUN" "-") (time budget used up)")
    status=1
    continue
  fi
  t0=$SECONDS
  timeout --kill-after=10 "$left" "$check" "$out" > "$out/$name.log" 2>&1
  rc=$?
  took=$(( SECONDS - t0 ))
  case $rc in
    0) verdict=ok ;;
    124|137) verdict=TIMEOUT; status=1 ;;
    *) verdict="FAIL($rc)"; status=1 ;;
  esac
  results+=("$(printf '%-24s %-8s %4ds' "$name" "$verdict" "$took")")
  sed -n 's/^summary: //p' "$out/$name.log" | sed "s/^/  [$name] /" >> "$summary"
done

say ""
say "$(printf '%-24s %-8s %5s' check result time)"
for r in "${results[@]}"; do say "$r"; done
say ""
say "total $(( SECONDS - start ))s; logs and JUnit XML in $out"
exit $status
