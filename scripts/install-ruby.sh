#!/usr/bin/env bash
# Installs what the Ruby SDK needs from Debian packages (no rubygems.org here): Ruby 3.1 with
# its gRPC and protobuf gems, and grpc_tools_ruby_protoc for regenerating sdk/ruby/lib/concord/gen.
set -euo pipefail
exec bash "$(dirname "${BASH_SOURCE[0]}")/apt-install.sh" install-ruby \
  ruby ruby-grpc ruby-grpc-tools ruby-google-protobuf
