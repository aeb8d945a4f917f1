#!/usr/bin/env bash
# Builds the conformance suite's Go test operator (tests/operators/go/testoperator) into
# artifacts/go/bin/concord-test-operator. The C# test operator is built with the solution and
# the Python one runs from source (tests/operators/python/run-test-operator.sh).
# Go builds in module mode, offline (-mod=vendor, no module proxy): see docs/sdk-go.md.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$ROOT/scripts/go-env.sh"
BIN="$ROOT/artifacts/go/bin"
mkdir -p "$BIN"

go_vendor "$ROOT/tests/operators/go/testoperator"
(cd "$ROOT/tests/operators/go/testoperator" && go build -o "$BIN/concord-test-operator" .)
echo "build-test-operators: built ${BIN#$ROOT/}/concord-test-operator"
bash "$ROOT/scripts/build-java.sh" # the Java SDK and its test operator (artifacts/java/bin)
