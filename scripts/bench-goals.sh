#!/usr/bin/env bash
# Measures every performance goal of the events service and the gateway in one go and
# prints a Markdown table for docs/benchmarks.md: each figure, the baseline measured in the
# same run, and whether the goal is met. The benchmarks' own output goes to stderr as they
# run. Each test binary is built once; nothing here is part of `make test`.
#
# The List goal reads 1,000,000 events, which are loaded into SQLite the first time
# (20 minutes or more on 2 cores) and cached in $GUARANTOR_BENCH_CACHE afterwards (see
# scripts/bench-events.sh). GOALS_LIST=off leaves it out.
#
#   scripts/bench-goals.sh > goals.md
#   GOALS_LIST=off scripts/bench-goals.sh
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export GUARANTOR_BENCH_CACHE="${GUARANTOR_BENCH_CACHE:-${TMPDIR:-/tmp}/guarantor-bench-cache}"

echo "building the benchmarks" >&2
(cd "$root/services/events" && go test -c -o "$work/events.test" .)
(cd "$root/services/gateway" && go test -c -o "$work/gateway.test" .)

# bench BINARY PATTERN BENCHTIME [VAR=VALUE...]: runs benchmarks (with the environment
# given), keeping their result lines.
bench() {
	echo "running $2 (load average $(cut -d' ' -f1-3 /proc/loadavg))" >&2
	(cd "$work" && env "${@:4}" "./$1" -test.run '^$' -test.bench "$2" -test.benchtime "$3" -test.timeout 90m) 2>&1 |
		tee /dev/stderr | grep '^Benchmark' >>"$work/results" || {
		echo "bench-goals: $2 failed" >&2
		exit 1
	}
}

# m NAME UNIT: the value a benchmark (its name without "Benchmark" and the -GOMAXPROCS
# suffix) reported in UNIT; empty when it did not.
m() {
	awk -v n="Benchmark$1-" -v u="$2" 'index($1, n) == 1 {
		for (i = 3; i <= NF; i++) if ($i == u) { print $(i - 1); exit }
	}' "$work/results"
}

# met VALUE OP BOUND: yes, no, or ? when the value is missing.
met() {
	awk -v a="$1" -v op="$2" -v b="$3" 'BEGIN {
		if (a == "") { print "?"; exit }
		ok = (op == ">=") ? (a + 0 >= b + 0) : (a + 0 < b + 0)
		print ok ? "yes" : "no"
	}'
}

bench events.test 'Create' 5s
bench events.test 'CommitToJetStream/rate=1000' 1x
if [ "${GOALS_LIST:-on}" != off ]; then
	bench events.test 'ListFiltered/^(type=MILITARY|country=UKR|type=MILITARY_AND_before_2020)$' 5s
fi
bench gateway.test 'GatewayUnary' 1x
bench gateway.test 'WatchDelivery' 1x GUARANTOR_BENCH_WATCHERS=1000

cat <<EOF
$(date -u '+%Y-%m-%d %H:%M UTC'), commit $(git -C "$root" rev-parse --short HEAD)$(git -C "$root" diff --quiet HEAD -- . || echo ' with uncommitted changes'), $(nproc) CPUs ($(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)), load average at the end $(cut -d' ' -f1-3 /proc/loadavg)

| Goal | Measured | Baseline, same run | Ratio | Met? |
| --- | --- | --- | --- | --- |
EOF
for c in 1 64; do
	r=$(m "Create/clients=$c" ratio)
	echo "| Create at $c client(s) ≥ 0.5 of a no-op handler | $(m "Create/clients=$c" service-ops/s) ops/s (p99 $(m "Create/clients=$c" service-p99-ms) ms) | no-op $(m "Create/clients=$c" noop-ops/s) ops/s | $r | $(met "$r" '>=' 0.5) |"
done
if [ "${GOALS_LIST:-on}" != off ]; then
	for f in type=MILITARY country=UKR type=MILITARY_AND_before_2020 type=MILITARY/page2; do
		p=$(m "ListFiltered/$f" p99-ms)
		echo "| List \`$f\`, ${GUARANTOR_BENCH_LIST_EVENTS:-1000000} events, p99 < 20 ms | p50 $(m "ListFiltered/$f" p50-ms) ms, p99 $p ms | raw SQL p99 $(m "ListFiltered/$f" sql-p99-ms) ms | p99 ×$(m "ListFiltered/$f" p99-ratio) | $(met "$p" '<' 20) |"
	done
fi
j=CommitToJetStream/rate=1000
p=$(m $j from-commit-p99-ms)
echo "| Commit → JetStream p99 < 10 ms at 1,000 writes/s | $(m $j writes/s) writes/s; from the commit p50 $(m $j from-commit-p50-ms) ms, p99 $p ms | raw publish p99 $(m $j raw-p99-ms) ms | | $(met "$p" '<' 10) |"
for g in GetEvent ListGuarantees; do
	r=$(m "GatewayUnary/$g" qps-ratio)
	echo "| Gateway \`$g\` QPS ≥ 0.6 of direct, c50 | $(m "GatewayUnary/$g" gateway-qps) QPS | $(m "GatewayUnary/$g" direct-qps) QPS | $r | $(met "$r" '>=' 0.6) |"
	a=$(m "GatewayUnary/$g" added-p99-ms)
	echo "| Gateway \`$g\` added p99 < 1 ms at half load ($(m "GatewayUnary/$g" half-gateway-rps)/s) | p99 $(m "GatewayUnary/$g" half-gateway-p99-ms) ms, added $a ms | direct p99 $(m "GatewayUnary/$g" half-direct-p99-ms) ms | | $(met "$a" '<' 1) |"
done
w=WatchDelivery/watchers=1000
p=$(m $w gw-p99-ms)
echo "| Watch p99 < 50 ms, 1,000 watchers at 500 changes/s | $(m $w gw-writes/s) writes/s; p50 $(m $w gw-p50-ms) ms, p99 $p ms | 1,000 JetStream ordered consumers: p99 $(m $w js-p99-ms) ms | $(m $w p99-ratio) | $(met "$p" '<' 50) |"
