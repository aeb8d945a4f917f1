#!/usr/bin/env bash
# Installs the Go SDK's Debian packages, generates the proto code, checks formatting, vets,
# builds the examples and runs the Go tests (SDK session, scheduler client, limits against
# proto/concord/limits.json, word-count counter). Exits non-zero on any failure.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$ROOT/scripts/build-go-examples.sh"
source "$ROOT/scripts/go-env.sh"

DIRS=("$ROOT/sdk/go/sdk" "$ROOT/sdk/go/client" "$ROOT/sdk/go/examples"
      "$ROOT/examples/wordcount/go" "$ROOT/tests/operators/go")

unformatted="$(gofmt -l "${DIRS[@]}")"
if [ -n "$unformatted" ]; then
  echo "test-go-sdk: these files are not gofmt-formatted; run gofmt -w on them:" >&2
  echo "$unformatted" >&2
  exit 1
fi

(cd "$ROOT/sdk/go" && go vet ./sdk/... ./client/... ./examples/... && go test -count=1 -v ./sdk/... ./client/...)
(cd "$ROOT/examples/wordcount/go/counter" && go vet . && go test -count=1 -v .)
echo "test-go-sdk: all Go tests passed"
