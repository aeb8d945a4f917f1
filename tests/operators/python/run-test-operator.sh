#!/bin/sh
# Starts the Python test operator with sdk/python on PYTHONPATH, found from this script's own
# location. Uses Debian's /usr/bin/python3, which has python3-grpcio (scripts/install-python.sh).
set -eu
HERE="$(cd "$(dirname "$(readlink -f "$0")")" && pwd)"
PYTHONPATH="$HERE/../../../sdk/python${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONPATH
exec /usr/bin/python3 "$HERE/test_operator.py" "$@"
