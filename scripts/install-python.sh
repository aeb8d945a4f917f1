#!/usr/bin/env bash
# Installs what the Python SDK needs from Debian packages (no PyPI here): gRPC and protobuf
# for /usr/bin/python3, and protoc with the gRPC Python plugin for code generation.
set -euo pipefail
exec bash "$(dirname "${BASH_SOURCE[0]}")/apt-install.sh" install-python \
  python3-grpcio python3-protobuf protobuf-compiler protobuf-compiler-grpc
