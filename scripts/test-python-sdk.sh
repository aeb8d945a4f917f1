#!/usr/bin/env bash
# Installs the Python SDK's Debian packages, checks the committed generated code against
# proto/, and runs the SDK's tests (unittest, Debian's /usr/bin/python3). Exits non-zero on
# any failure.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$ROOT/scripts/install-python.sh"
"$ROOT/scripts/check-python-gen.sh"
cd "$ROOT/sdk/python"
PYTHONDONTWRITEBYTECODE=1 /usr/bin/python3 -m unittest discover -s tests -t . -v
