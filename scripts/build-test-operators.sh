#!/usr/bin/env bash
# Builds the conformance suite's Go test operator (tests/operators/go/testoperator) into
# artifacts/go/bin/concord-test-operator. The C# test operator is built with the solution and
# the Python one runs from source (tests/operators/python/run-test-operator.sh).
# Go runs in GOPATH mode (no go.mod, no module proxy): see docs/sdk-go.md.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$ROOT/scripts/install-go.sh" >/dev/null
"$ROOT/scripts/gen-go.sh" >/dev/null

export GO111MODULE=off
export GOPATH="$ROOT/sdk/go/gopath:/usr/share/gocode"
BIN="$ROOT/artifacts/go/bin"
mkdir -p "$BIN"

(cd "$ROOT/tests/operators/go/testoperator" && go build -o "$BIN/concord-test-operator" .)
echo "build-test-operators: built ${BIN#$ROOT/}/concord-test-operator"
