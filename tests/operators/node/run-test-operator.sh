#!/bin/sh
# Starts the Node test operator with Debian's node (scripts/install-node.sh); the SDK is found
# from this script's own location (sdk/node, with its npm packages in sdk/node/node_modules).
set -eu
HERE="$(cd "$(dirname "$(readlink -f "$0")")" && pwd)"
NODE="${NODE:-$(command -v node || echo /usr/bin/node)}"
exec "$NODE" "$HERE/test_operator.js" "$@"
