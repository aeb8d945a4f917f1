#!/bin/sh
# Starts the Python word-count counter with sdk/python on PYTHONPATH, found from this script's
# own location (a deploy file cannot express a path relative to itself in "environment").
# Uses Debian's /usr/bin/python3, which has python3-grpcio (scripts/install-python.sh).
set -eu
HERE="$(cd "$(dirname "$(readlink -f "$0")")" && pwd)"
PYTHONPATH="$HERE/../../../sdk/python${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONPATH
exec /usr/bin/python3 "$HERE/counter.py" "$@"
