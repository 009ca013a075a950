#!/usr/bin/env bash
# Runs one step of `make test` (a build or a lint), keeping its output in
# target/test-logs/NAME.log as well as printing it. When the step fails, its output ends with
# what the tail of a CI log needs to show the cause: the step and its exit code, the first
# error lines of its output (a compiler's or cargo-leptos's message comes long before its
# backtrace), and the free disk and memory of the machine at that moment.
#   .ci/step.sh NAME COMMAND [ARG...]
set -uo pipefail
name=$1
shift
logs=target/test-logs
mkdir -p "$logs"
"$@" 2>&1 | tee "$logs/$name.log"
rc=${PIPESTATUS[0]}
if ((rc != 0)); then
  echo "==> step '$name' failed (exit $rc): $*"
  echo "--- its first error lines (all of it in $logs/$name.log):"
  sed -E 's/\x1b\[[0-9;]*m//g' "$logs/$name.log" |
    grep -E -m 40 -i -B1 -A3 '^(error|warning: build failed)|^ *Error:|panicked at|no space left|killed|cannot allocate|out of memory|signal: ' ||
    echo "(none recognised; the last lines above are the step's own)"
  echo "--- free disk and memory:"
  df -h . /tmp 2>/dev/null
  free -m 2>/dev/null
fi
exit "$rc"
