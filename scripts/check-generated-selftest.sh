#!/usr/bin/env bash
# Shows that the generated-code check can fail. In a scratch copy of the contracts it runs
# scripts/check-generated.sh twice: untouched, where it must pass (so the copy is faithful),
# and after a proto comment changed without `make generate`, where it must fail.
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

mkdir -p "$tmp/scripts" "$tmp/gen" "$tmp/tools"
cp -r proto third_party buf.yaml buf.gen.yaml "$tmp/"
cp -r gen/go "$tmp/gen/go"
cp scripts/check-generated.sh "$tmp/scripts/"
# buf and the protoc plugins run through `go tool`, pinned by the tools module.
cp tools/go.mod tools/go.sum "$tmp/tools/"
printf '%s\n\nuse ./tools\n' "$(grep -m1 '^go ' go.work)" >"$tmp/go.work"

if ! out=$("$tmp/scripts/check-generated.sh" 2>&1); then
  echo "selftest: check-generated.sh fails on an untouched copy:" >&2
  echo "$out" >&2
  exit 1
fi

proto=proto/guarantor/events/v1/event.proto
sed -i '0,/^  \/\/ /s//  \/\/ Edited without regenerating. /' "$tmp/$proto"
if cmp -s "$proto" "$tmp/$proto"; then
  echo "selftest: found no comment to edit in $proto" >&2
  exit 1
fi
if out=$("$tmp/scripts/check-generated.sh" 2>&1); then
  echo "selftest: check-generated.sh passed although $proto changed without regenerating" >&2
  exit 1
fi
if ! grep -q 'gen/go is stale' <<<"$out"; then
  echo "selftest: check-generated.sh failed for another reason:" >&2
  echo "$out" >&2
  exit 1
fi
echo "selftest: a proto changed without regenerating fails the check"
