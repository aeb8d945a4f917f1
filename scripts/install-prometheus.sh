#!/usr/bin/env bash
# Installs Prometheus from Debian (2.42 on bookworm) for the observability tests, which start
# their own server on loopback with a temporary config and storage. The Debian package does
# not start a service here, and the tests never use one.
set -euo pipefail
exec bash "$(dirname "${BASH_SOURCE[0]}")/apt-install.sh" install-prometheus prometheus
