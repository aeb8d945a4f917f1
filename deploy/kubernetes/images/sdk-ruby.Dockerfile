# Base image for Ruby operators (sdk/ruby): Debian's ruby with ruby-grpc and
# ruby-google-protobuf (as scripts/install-ruby.sh installs them) and the SDK on RUBYLIB, with
# its generated code (committed under sdk/ruby/lib, scripts/gen-ruby.sh).
# Build from the repository's root:
#   docker build -f deploy/kubernetes/images/sdk-ruby.Dockerfile -t <registry>/concord/sdk-ruby:<tag> .
# An operator's image: FROM it, COPY the operator's .rb files, and name "ruby" with the script
# as args in the deploy file.
FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ruby ruby-grpc ruby-google-protobuf \
 && rm -rf /var/lib/apt/lists/*
COPY sdk/ruby/lib /opt/concord/sdk/ruby/lib
ENV RUBYLIB=/opt/concord/sdk/ruby/lib
WORKDIR /app
USER 10001
