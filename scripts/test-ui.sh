#!/usr/bin/env bash
# Builds the dashboard (scripts/build-ui.sh) and runs its unit tests with node's built-in runner on
# the tsc-compiled tests (ui/test/*.test.ts -> ui/test-out/): layout, formatting, snapshot -> view
# model, history ring. Prints node --test's TAP summary ("# pass N", "# fail N", counted by
# scripts/test.sh). Exits non-zero on any failure.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$root/scripts/build-ui.sh"
cd "$root/ui"
rm -rf test-out
node node_modules/typescript/bin/tsc -p tsconfig.test.json || {
  echo "test-ui: tsc failed on ui/test (errors above); fix the tests or ui/src and run scripts/test-ui.sh again" >&2
  exit 1
}
node --test --test-reporter=tap test-out/test/*.test.js
echo "test-ui: all dashboard unit tests passed"
