#!/usr/bin/env bash
# Builds the Go SDK's programs into artifacts/go/bin: the word-count counter
# (wordcount-counter, used by examples/wordcount/counter-go.json) and list-topology.
# Installs the Debian packages and generates the proto code first (both fast when done).
# Go runs in GOPATH mode (no go.mod, no module proxy): see docs/sdk-go.md.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$ROOT/scripts/install-go.sh" >/dev/null
"$ROOT/scripts/gen-go.sh" >/dev/null

export GO111MODULE=off
export GOPATH="$ROOT/sdk/go/gopath:/usr/share/gocode"
export GOFLAGS="${GOFLAGS:-}"
BIN="$ROOT/artifacts/go/bin"
mkdir -p "$BIN"

(cd "$ROOT/examples/wordcount/go/counter" && go build -o "$BIN/wordcount-counter" .)
(cd "$ROOT/sdk/go/examples/list-topology" && go build -o "$BIN/list-topology" .)
echo "build-go-examples: built ${BIN#$ROOT/}/wordcount-counter and list-topology"
