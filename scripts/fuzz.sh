#!/usr/bin/env bash
# Runs every Fuzz* target of the given modules for $FUZZTIME each (seed corpus included).
set -euo pipefail
cd "$(dirname "$0")/.."
FUZZTIME=${FUZZTIME:-5s}
count=0
for m in "$@"; do
  while IFS= read -r file; do
    dir=$(dirname "$file")
    for fn in $(grep -oE '^func (Fuzz[A-Za-z0-9_]+)\(' "$file" | sed -E 's/^func (Fuzz[A-Za-z0-9_]+)\(/\1/'); do
      echo "fuzz $dir $fn ($FUZZTIME)"
      (cd "$dir" && go test -run='^$' -fuzz="^${fn}\$" -fuzztime="$FUZZTIME" .)
      count=$((count + 1))
    done
  done < <(grep -rlE '^func Fuzz' --include='*_test.go' "$m" || true)
done
echo "fuzz: $count targets run"
