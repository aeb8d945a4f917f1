#!/usr/bin/env bash
# Installs ZooKeeper from Debian: the server (tests start their own, with a temp dataDir; the
# package starts no service) and the official multi-threaded C client (libzookeeper_mt.so.2)
# that Concord.ZooKeeper binds through P/Invoke for the scheduler's topology store and election.
set -euo pipefail
exec bash "$(dirname "${BASH_SOURCE[0]}")/apt-install.sh" install-zookeeper zookeeper libzookeeper-mt2
