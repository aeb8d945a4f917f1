# Base image for building Go operators (sdk/go): Debian's Go toolchain and gRPC/protobuf Go
# sources (offline, -mod=vendor, as docs/sdk-go.md), with the SDK at /opt/concord/sdk/go.
# A Go operator's image is two stages: build FROM this one, then copy the static binary into a
# small runtime image (see deploy/kubernetes/images/wordcount-go.Dockerfile).
FROM debian:bookworm
RUN apt-get update \
 && apt-get install -y --no-install-recommends golang-go protobuf-compiler protoc-gen-go protoc-gen-go-grpc \
      golang-google-grpc-dev golang-google-protobuf-dev golang-github-golang-protobuf-1-5-dev ca-certificates \
 && rm -rf /var/lib/apt/lists/*
COPY proto /opt/concord/proto
COPY sdk/go /opt/concord/sdk/go
COPY scripts /opt/concord/scripts
# Generated code and vendor links, as scripts/build-go-examples.sh makes them.
RUN cd /opt/concord && bash scripts/gen-go.sh && bash scripts/go-vendor.sh sdk/go
ENV GOFLAGS=-mod=vendor GOPROXY=off CGO_ENABLED=0
