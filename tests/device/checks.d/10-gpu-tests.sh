#!/usr/bin/env bash
# The JUnit tests tagged "gpu" in kvq-native's test jar (driver layer: device query, 1 GiB round
# trip and copy bandwidth, vector_add, JIT error log). Without a GPU they all report skipped.
set -uo pipefail
out="$1"
tests_jar="$(ls "$KVQ_BUNDLE"/lib/kvq-native-*-tests.jar | head -n 1)"
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
# --fail-if-no-tests: a discovery problem must not pass as "nothing failed"
"$KVQ_JAVA" $KVQ_JVM_FLAGS -jar "$KVQ_CONSOLE_JAR" execute \
  --disable-banner --disable-ansi-colors --details=tree --fail-if-no-tests \
  --class-path "$KVQ_CLASSPATH" \
  --scan-class-path "$tests_jar" \
  --include-tag gpu \
  --include-engine junit-jupiter \
  --reports-dir "$out/junit" > "$log" 2>&1
rc=$?
cat "$log"
# for summary.txt: the launcher's counts, what the tests measured, and why anything was skipped
echo "summary: $(grep -oE '[0-9]+ tests (found|successful|skipped|aborted|failed)' "$log" | awk '{printf "%s %s, ", $1, $3}' | sed 's/, $//')"
grep -E '^gpu: ' "$log" | sed 's/^/summary: /'
# skipped (↷) and failed (✘) containers or tests, with the reason the launcher gives
grep -E '(↷|✘)' "$log" | sed -E 's/^[│├└─ ]*//' | head -n 8 | sed 's/^/summary:   /'
exit $rc
