#!/usr/bin/env bash
# Installs the Ruby SDK's Debian packages and runs the SDK's tests (minitest from Ruby's
# standard library, Debian's /usr/bin/ruby). Exits non-zero on any failure.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$ROOT/scripts/install-ruby.sh"
cd "$ROOT/sdk/ruby"
# One process for every test file, so minitest prints one summary line for the whole suite.
exec /usr/bin/ruby -I lib -I test -e 'Dir["test/test_*.rb"].sort.each { |f| require File.expand_path(f) }' -- "$@"
