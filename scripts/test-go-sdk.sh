#!/usr/bin/env bash
# Installs the Go SDK's Debian packages, generates the proto code, checks formatting, vets,
# builds the examples and runs the Go tests (SDK session, scheduler client, word-count
# counter). Exits non-zero on any failure.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$ROOT/scripts/build-go-examples.sh"

export GO111MODULE=off
export GOPATH="$ROOT/sdk/go/gopath:/usr/share/gocode"
DIRS=("$ROOT/sdk/go/gopath/src/concord/sdk" "$ROOT/sdk/go/gopath/src/concord/client"
      "$ROOT/sdk/go/examples" "$ROOT/examples/wordcount/go")

unformatted="$(gofmt -l "${DIRS[@]}")"
if [ -n "$unformatted" ]; then
  echo "test-go-sdk: these files are not gofmt-formatted; run gofmt -w on them:" >&2
  echo "$unformatted" >&2
  exit 1
fi

(cd "$ROOT/sdk/go/gopath/src/concord" && go vet ./sdk/... ./client/... && go test -count=1 -v ./sdk/... ./client/...)
(cd "$ROOT/examples/wordcount/go/counter" && go vet . && go test -count=1 -v .)
(cd "$ROOT/sdk/go/examples/list-topology" && go vet .)
echo "test-go-sdk: all Go tests passed"
