#!/bin/sh
# Starts the Ruby word-count counter with sdk/ruby/lib on the load path, found from this script's
# own location (a deploy file cannot express a path relative to itself in "environment").
# Uses Debian's /usr/bin/ruby, which has ruby-grpc (scripts/install-ruby.sh).
set -eu
HERE="$(cd "$(dirname "$(readlink -f "$0")")" && pwd)"
exec /usr/bin/ruby -I "$HERE/../../../sdk/ruby/lib" "$HERE/counter.rb" "$@"
