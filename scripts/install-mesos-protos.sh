#!/usr/bin/env bash
# Installs the Mesos v1 API's .proto files from Debian (golang-github-mesos-mesos-go-dev ships
# them under /usr/share/gocode/src/github.com/mesos/mesos-go/api/v1/lib/), and protoc (with descriptor.proto) and
# Python's protobuf: the Mesos runtime's tests parse every call it sends strictly against them
# (tests/Concord.Scheduler.Tests/Mesos/MesosWireFormatTests.cs, docs/mesos.md).
set -euo pipefail
exec bash "$(dirname "${BASH_SOURCE[0]}")/apt-install.sh" install-mesos-protos golang-github-mesos-mesos-go-dev protobuf-compiler libprotobuf-dev python3-protobuf
