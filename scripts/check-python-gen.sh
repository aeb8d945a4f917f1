#!/usr/bin/env bash
# Fails (exit 1) when the committed Python code in sdk/python/concord/gen differs from what
# proto/ generates now. Fix: run scripts/gen-python.sh and commit the result.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TMP="$(mktemp -d /tmp/cc-pygen-XXXXXX)"
trap 'rm -rf "$TMP"' EXIT

"$ROOT/scripts/gen-python.sh" "$TMP" >/dev/null
if ! diff -r -x __pycache__ -x __init__.py "$TMP/concord" "$ROOT/sdk/python/concord/gen/concord" >"$TMP.diff" 2>&1; then
  cat "$TMP.diff" | head -40 >&2
  rm -f "$TMP.diff"
  echo "check-python-gen: sdk/python/concord/gen is out of date with proto/." >&2
  echo "check-python-gen: fix: run scripts/gen-python.sh and commit the result." >&2
  exit 1
fi
rm -f "$TMP.diff"
echo "check-python-gen: sdk/python/concord/gen matches proto/"
