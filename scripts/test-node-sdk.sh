#!/usr/bin/env bash
# Installs the Node SDK's toolchain (scripts/install-node.sh), checks every file parses, and runs
# the Node SDK tests with node's built-in runner (session, server over a unix socket, limits
# against proto/concord/limits.json, scheduler client against a real scheduler). Exits non-zero
# on any failure.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/scripts/install-node.sh"

for f in "$ROOT"/sdk/node/lib/*.js "$ROOT"/tests/operators/node/*.js "$ROOT"/examples/wordcount/node/*.js; do
  if [ -f "$f" ]; then node --check "$f"; fi
done
(cd "$ROOT/sdk/node" && node --test test/*.test.js)
echo "test-node-sdk: all Node tests passed"
