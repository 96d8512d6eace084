#!/usr/bin/env bash
# Regenerates the protobuf code into a scratch directory and compares it with the
# committed gen/go: a proto changed without `make generate` fails here.
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
go tool buf generate -o "$tmp"
if ! diff -r "$tmp/gen/go/guarantor" gen/go/guarantor; then
  echo "gen/go is stale: run 'make generate' and commit the result" >&2
  exit 1
fi
echo "gen/go is up to date"
