#!/bin/sh
# Starts the Node word-count counter; the SDK is found from this script's own location (a
# deploy file cannot express a path relative to itself in "environment"). Uses Debian's node
# and the npm packages in sdk/node/node_modules (scripts/install-node.sh).
set -eu
HERE="$(cd "$(dirname "$(readlink -f "$0")")" && pwd)"
NODE="${NODE:-$(command -v node || echo /usr/bin/node)}"
exec "$NODE" "$HERE/counter.js" "$@"
