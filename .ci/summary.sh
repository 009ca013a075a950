#!/usr/bin/env bash
# Prints what `make test` ran: per suite, the tests passed/failed/skipped, read from the
# logs the test steps wrote (cargo's "test result:" lines, Playwright's JSON report,
# schemathesis's JUnit report, the image smoke test's checks).
# Exits non-zero if any log is missing or reports a failure or a skip.
set -euo pipefail
logs=target/test-logs
total_pass=0 total_fail=0 total_skip=0 status=0

cargo_counts() { # log → "passed failed ignored"
  grep -E '^test result:' "$1" | sed -E 's/.* ([0-9]+) passed; ([0-9]+) failed; ([0-9]+) ignored.*/\1 \2 \3/' |
    awk '{p+=$1; f+=$2; i+=$3} END {print p+0, f+0, i+0}'
}

line() { printf '  %-34s %5s passed, %s failed, %s skipped\n' "$1" "$2" "$3" "$4"; }

echo "Test summary"
for suite in sqlite:"Rust tests on SQLite" postgres:"Rust tests on PostgreSQL"; do
  key=${suite%%:*} name=${suite#*:}
  if [ ! -f "$logs/$key.log" ]; then echo "  $name: no log (step did not run)"; status=1; continue; fi
  read -r p f s < <(cargo_counts "$logs/$key.log")
  line "$name" "$p" "$f" "$s"
  total_pass=$((total_pass + p)) total_fail=$((total_fail + f)) total_skip=$((total_skip + s))
done
if [ -f "$logs/e2e.json" ]; then
  read -r p f s < <(node -e '
    const r = require(process.argv[1]).stats;
    console.log(r.expected + r.flaky, r.unexpected, r.skipped);' "$PWD/$logs/e2e.json")
  line "End-to-end in Chromium" "$p" "$f" "$s"
  total_pass=$((total_pass + p)) total_fail=$((total_fail + f)) total_skip=$((total_skip + s))
else
  echo "  End-to-end in Chromium: no report (step did not run)"; status=1
fi
# schemathesis: one line per operation tested, from its JUnit report; the cases it generated
# are printed beside it.
if [ -f "$logs/api-fuzz.xml" ] && [ -f "$logs/api-fuzz.log" ]; then
  read -r p f < <(python3 -c '
import sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
cases = root.iter("testcase")
p = f = 0
for c in cases:
    if c.find("failure") is not None or c.find("error") is not None: f += 1
    else: p += 1
print(p, f)' "$logs/api-fuzz.xml")
  line "API fuzzed (operations)" "$p" "$f" 0
  grep -E '^ *[0-9]+ generated' "$logs/api-fuzz.log" | sed 's/^ */    schemathesis: /' || true
  total_pass=$((total_pass + p)) total_fail=$((total_fail + f))
else
  echo "  API fuzzing: no report (step did not run)"; status=1
fi
if [ -f "$logs/image.log" ] && grep -q '^==> image smoke test passed' "$logs/image.log"; then
  line "Image smoke test (checks)" "$(grep -c '^    ok ' "$logs/image.log")" 0 0
else
  echo "  Image smoke test: did not pass (see $logs/image.log)"; status=1
fi
[ "$total_fail" -eq 0 ] && [ "$total_skip" -eq 0 ] || status=1
echo "make test: $total_pass passed, $total_fail failed, $total_skip skipped"
exit $status
