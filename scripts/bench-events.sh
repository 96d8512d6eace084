#!/usr/bin/env bash
# Runs the events service benchmarks recorded in docs/benchmarks.md ("Events service").
#
# The List benchmark loads 1,000,000 events into SQLite first (several minutes on 2 cores);
# the populated file is cached in $GUARANTOR_BENCH_CACHE (default below) and reused by later
# runs. Delete the directory to measure the load again.
#
#   scripts/bench-events.sh                      # everything, as recorded
#   BENCH='Create' scripts/bench-events.sh       # one benchmark
#   scripts/bench-events.sh -cpuprofile=cpu.out  # extra go test flags
set -euo pipefail
cd "$(dirname "$0")/../services/events"
export GUARANTOR_BENCH_CACHE="${GUARANTOR_BENCH_CACHE:-${TMPDIR:-/tmp}/guarantor-bench-cache}"
exec go test -run='^$' -bench="${BENCH:-.}" -benchtime="${BENCHTIME:-5s}" -timeout=60m "$@" .
