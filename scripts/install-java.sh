#!/usr/bin/env bash
# Installs what the Java SDK needs from Debian packages (no Maven Central here): the JDK, gRPC
# Java with netty (named: Debian's libgrpc-java does not pull the netty transport or perfmark),
# protobuf Java, protoc with the gRPC Java plugin for code generation (scripts/build-java.sh), and
# JUnit 4 for the SDK tests (scripts/test-java-sdk.sh).
set -euo pipefail
exec bash "$(dirname "${BASH_SOURCE[0]}")/apt-install.sh" install-java \
  openjdk-17-jdk-headless libgrpc-java libprotobuf-java protobuf-compiler \
  protobuf-compiler-grpc-java-plugin libnetty-java libguava-java libperfmark-java \
  libgoogle-gson-java libgeronimo-annotation-1.3-spec-java junit4
