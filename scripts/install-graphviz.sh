#!/usr/bin/env bash
# Installs Graphviz from Debian: `concord graph --format svg` pipes DOT through `dot -Tsvg`.
set -euo pipefail
exec bash "$(dirname "${BASH_SOURCE[0]}")/apt-install.sh" install-graphviz graphviz
