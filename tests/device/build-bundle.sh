#!/usr/bin/env bash
# Builds, on a build machine, everything the GPU machine needs to run kvq's GPU checks there
# (it has a GPU and a CUDA driver, but no JDK and no network), into tests/device/bundle/:
#   jre.tar.xz   a jlinked JDK 25 runtime (java.base, java.logging, java.xml, java.management,
#                jdk.unsupported, jdk.incubator.vector, and jdk.zipfs: without it the JUnit
#                launcher cannot scan a test jar — "Provider \"jar\" not found", 0 tests found)
#   lib/         kvq-bindings, kvq-native (+ its test classes), kvq-kernels-cu, kvq-runtime (+ its
#                test classes: the GPU cache tests), kvq-bench (+ its test classes: the GPU
#                benchmark and its harness test), their runtime dependencies, and the JUnit
#                console launcher
#   MANIFEST.txt what went in, from which commit
# Then carry tests/device/bundle to the GPU machine and run tests/device/run-gpu-checks.sh OUTDIR.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
bundle="$here/bundle"
max_mib=40
console_version="${KVQ_CONSOLE_VERSION:-1.14.4}" # junit-platform version of the junit-bom (5.14.4)

# a JDK with jlink and release >= 25 (the jars are compiled for 25)
find_jdk() {
  local d v
  for d in "${JAVA_HOME:-}" /usr/lib/jvm/*; do
    [[ -n "$d" && -x "$d/bin/jlink" && -x "$d/bin/java" ]] || continue
    v="$("$d/bin/java" -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -n 1)"
    if [[ -n "$v" && "$v" -ge 25 ]]; then printf '%s' "$d"; return; fi
  done
}
jdk="$(find_jdk)"
if [[ -z "$jdk" ]]; then
  echo "build-bundle: no JDK 25+ with jlink found (JAVA_HOME or /usr/lib/jvm); install Temurin 25" >&2
  exit 1
fi
export JAVA_HOME="$jdk"
echo "build-bundle: JDK $JAVA_HOME"

rm -rf "$bundle"
mkdir -p "$bundle/lib"
cd "$root"
mvn_flags=(-B -ntp -q)
# package the five modules (tests ran in CI already) and copy their runtime dependencies
mvn "${mvn_flags[@]}" -pl bindings,native,kernels-cu,runtime,bench -am -DskipTests package \
  dependency:copy-dependencies -DincludeScope=runtime -DexcludeGroupIds=dev.kvq \
  -DoutputDirectory="$bundle/lib"
mvn "${mvn_flags[@]}" -N dependency:copy \
  -Dartifact="org.junit.platform:junit-platform-console-standalone:$console_version" \
  -DoutputDirectory="$bundle/lib"
cp bindings/target/kvq-bindings-*[0-9T].jar native/target/kvq-native-*[0-9T].jar \
   native/target/kvq-native-*-tests.jar kernels-cu/target/kvq-kernels-cu-*[0-9T].jar \
   runtime/target/kvq-runtime-*[0-9T].jar runtime/target/kvq-runtime-*-tests.jar \
   bench/target/kvq-bench-*[0-9T].jar bench/target/kvq-bench-*-tests.jar "$bundle/lib/"

# the runtime: no debug info, man pages or headers (the GPU machine only runs tests)
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
"$JAVA_HOME/bin/jlink" --add-modules java.base,java.logging,java.xml,java.management,jdk.unsupported,jdk.incubator.vector,jdk.zipfs \
  --strip-debug --no-man-pages --no-header-files --output "$tmp/jre"
tar -C "$tmp" -cJf "$bundle/jre.tar.xz" jre

{
  echo "kvq GPU check bundle"
  echo "built:   $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(hostname)"
  echo "commit:  $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)$(git -C "$root" diff --quiet HEAD 2>/dev/null || echo ' (+ uncommitted changes)')"
  echo "jdk:     $("$JAVA_HOME/bin/java" -version 2>&1 | head -n 1)"
  echo "files:"
  (cd "$bundle" && find . -type f ! -name MANIFEST.txt -printf '  %P %s\n' | LC_ALL=C sort)
} > "$bundle/MANIFEST.txt"

bytes="$(du -sb "$bundle" | cut -f1)"
mib="$(awk -v b="$bytes" 'BEGIN { printf "%.1f", b / 1048576 }')"
echo "build-bundle: $bundle is $mib MiB ($bytes bytes)"
if (( bytes > max_mib * 1048576 )); then
  echo "build-bundle: the bundle exceeds $max_mib MiB; the device machine takes at most 64 MiB with the working tree" >&2
  exit 1
fi
