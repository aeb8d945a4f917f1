#!/bin/sh
# Starts the Node word-count counter; the SDK is found from this script's own location (a
# deploy file cannot express a path relative to itself in "environment"). Uses Debian's node
# and the npm packages in sdk/node/node_modules (scripts/install-node.sh).
set -eu
HERE="$(cd "$(dirname "$(readlink -f "$0")")" && pwd)"
NODE="${NODE:-$(command -v node || echo /usr/bin/node)}"
# A young generation of 16 MB semi-spaces from the start: V8 otherwise keeps it near 1 MB here,
# so the few batches in flight (~1,000 records each) outlive two scavenges, get promoted, and the
# old space is mark-compacted every ~35 ms (half the operator's CPU went to GC; see
# docs/sdk-node.md, "Performance"). Costs ~20 MB of RSS.
exec "$NODE" --min-semi-space-size=16 --max-semi-space-size=16 "$HERE/counter.js" "$@"
