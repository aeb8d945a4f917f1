#!/usr/bin/env bash
# Installs the Ruby SDK's Debian packages, checks the committed generated code against proto/,
# and runs the SDK's tests (minitest from Ruby's standard library, Debian's /usr/bin/ruby).
# Exits non-zero on any failure.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$ROOT/scripts/install-ruby.sh"
# The committed generated code must match proto/: regenerate into a temp dir and compare.
gen="$(mktemp -d)"
trap 'rm -rf "$gen"' EXIT
"$ROOT/scripts/gen-ruby.sh" "$gen" >/dev/null
if ! diff -r "$gen/concord" "$ROOT/sdk/ruby/lib/concord/gen/concord" >/dev/null; then
  echo "test-ruby-sdk: sdk/ruby/lib/concord/gen differs from proto/; run scripts/gen-ruby.sh and commit the result" >&2
  exit 1
fi
cd "$ROOT/sdk/ruby"
# One process for every test file, so minitest prints one summary line for the whole suite.
/usr/bin/ruby -I lib -I test -e 'Dir["test/test_*.rb"].sort.each { |f| require File.expand_path(f) }' -- "$@"
