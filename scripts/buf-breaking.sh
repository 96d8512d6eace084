#!/usr/bin/env bash
# Wire/JSON breaking-change check of proto/ against the previous state of main: on main,
# the previous commit; on a branch, main itself. Skipped (with a message) until a previous
# commit has protos.
set -euo pipefail
cd "$(dirname "$0")/.."
branch=$(git rev-parse --abbrev-ref HEAD 2>/dev/null || echo HEAD)
if [ "$branch" != "main" ] && git rev-parse -q --verify main >/dev/null; then
  base=main
else
  base=HEAD~1
fi
if ! git rev-parse -q --verify "$base^{commit}" >/dev/null || ! git cat-file -e "$base:proto" 2>/dev/null; then
  echo "buf breaking: skipped, $base has no protos to compare with"
  exit 0
fi
echo "buf breaking against $base"
go tool buf breaking --against ".git#ref=$base"
