#!/usr/bin/env bash
# Builds the Go SDK's programs into artifacts/go/bin: the word-count counter
# (wordcount-counter, used by examples/wordcount/counter-go.json) and list-topology.
# Installs the Debian packages, generates the proto code and vendors Debian's Go sources first
# (all fast when done). Go builds in module mode, offline (-mod=vendor, no module proxy): see
# docs/sdk-go.md.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$ROOT/scripts/go-env.sh"
BIN="$ROOT/artifacts/go/bin"
mkdir -p "$BIN"

go_vendor "$ROOT/examples/wordcount/go/counter"
(cd "$ROOT/examples/wordcount/go/counter" && go build -o "$BIN/wordcount-counter" .)
(cd "$ROOT/sdk/go" && go build -o "$BIN/list-topology" ./examples/list-topology)
echo "build-go-examples: built ${BIN#$ROOT/}/wordcount-counter and list-topology"
