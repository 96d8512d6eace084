#!/usr/bin/env bash
# Runs test packages many times over, with -race and at GOMAXPROCS 1 and 2, to find the
# tests that fail only now and then (a race with a server still finishing, a timing
# assumption). One `make test` runs each test once; a test that fails one time in a few
# hundred gets past it for weeks and then fails a landing.
#
#   scripts/stress.sh [MODULE_OR_PACKAGE_DIR...]   default: every module of `make test`
#
#   STRESS_COUNT   runs of each test per GOMAXPROCS value (default 5)
#   STRESS_CPU     GOMAXPROCS values, as -cpu takes them (default 1,2)
#   STRESS_RUN     -run pattern (default: every test)
#   STRESS_LOAD    busy loops run beside the tests (default 1): CI runs two packages at
#                  once, and most of these failures need a machine short of CPU
#   STRESS_TIMEOUT per package binary (default 30m)
#
# Prints a line per package as it goes and, at the end, every failed test with the
# number of times it failed; the logs of failed packages stay in the directory it names.
# Exits 1 when any test failed. The whole suite took 40 min at the defaults on 2 vCPUs
# (2026-11-29, 21:47 to 22:27), and 21 min at STRESS_COUNT=3 without load.
set -euo pipefail
cd "$(dirname "$0")/.."
COUNT=${STRESS_COUNT:-5}
CPU=${STRESS_CPU:-1,2}
RUN=${STRESS_RUN:-.}
TIMEOUT=${STRESS_TIMEOUT:-30m}
LOAD=${STRESS_LOAD:-1}
if [ "$#" -eq 0 ]; then
  set -- gen/go platform services/events services/guarantees services/gateway cmd/guarantor deploy
fi
work=$(mktemp -d "${TMPDIR:-/tmp}/guarantor-stress.XXXXXX")
loaders=()
trap 'for p in "${loaders[@]}"; do kill "$p" 2>/dev/null || true; done' EXIT
for _ in $(seq 1 "$LOAD"); do
  (while :; do :; done) &
  loaders+=($!)
done
failed_pkgs=0
start=$(date +%s)

for target in "$@"; do
  if [ ! -d "$target" ]; then
    echo "stress: $target is not a directory" >&2
    exit 2
  fi
  # deploy is its own module, outside go.work (see the Makefile).
  case "$target" in
  deploy | deploy/*) export GOWORK=off ;;
  *) unset GOWORK ;;
  esac
  # Every package under target that has tests, as "import-path directory".
  pkgs=$(cd "$target" && go list -f '{{if or .TestGoFiles .XTestGoFiles}}{{.ImportPath}} {{.Dir}}{{end}}' ./...)
  while read -r pkg dir; do
    [ -n "$pkg" ] || continue
    name=$(echo "$pkg" | tr '/.' '__')
    bin=$work/$name.test
    log=$work/$name.log
    # Built once, run from its directory as `go test` would (testdata is relative).
    (cd "$dir" && go test -race -c -o "$bin" .)
    t0=$(date +%s)
    if (cd "$dir" && "$bin" -test.run="$RUN" -test.count="$COUNT" -test.cpu="$CPU" -test.timeout="$TIMEOUT") >"$log" 2>&1; then
      echo "ok    $pkg ($(($(date +%s) - t0)) s)"
      rm -f "$log"
    else
      echo "FAIL  $pkg ($(($(date +%s) - t0)) s; log $log)"
      failed_pkgs=$((failed_pkgs + 1))
    fi
    rm -f "$bin"
  done <<<"$pkgs"
done

echo "stress: ${COUNT} runs x GOMAXPROCS ${CPU} in $(($(date +%s) - start)) s"
if [ "$failed_pkgs" -eq 0 ]; then
  rmdir "$work" 2>/dev/null || true
  echo "stress: no test failed"
  exit 0
fi
echo "stress: failures (count, test; subtests and their parents both count):"
cat "$work"/*.log | grep -E '^\s*--- FAIL: ' | sed -E 's/^\s*--- FAIL: ([^ ]+).*/\1/' | sort | uniq -c | sort -rn
grep -l -E '^panic: |test timed out' "$work"/*.log 2>/dev/null | sed 's/^/stress: panic or timeout in /' || true
echo "stress: logs in $work"
exit 1
