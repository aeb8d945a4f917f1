# Base image for Java operators (sdk/java), in two stages like sdk-go: the build stage compiles
# the SDK and the word-count examples with Debian's javac and grpc-java jars, exactly as
# scripts/build-java.sh does on a development machine; the runtime stage has only the JRE, the
# runtime jars (artifacts/java/runtime.classpath lists them) and the built artifacts, at the
# same paths, so the launchers build-java.sh writes (artifacts/java/bin/*) run unchanged.
# Build from the repository's root:
#   docker build -f deploy/kubernetes/images/sdk-java.Dockerfile -t <registry>/concord/sdk-java:<tag> .
# An operator's image: FROM it and add its jar; or build it in the build stage beside the SDK.
FROM debian:bookworm AS build
COPY scripts /opt/concord/scripts
RUN apt-get update \
 && apt-get install -y --no-install-recommends openjdk-17-jdk-headless libgrpc-java libprotobuf-java protobuf-compiler \
      protobuf-compiler-grpc-java-plugin libnetty-java libguava-java libperfmark-java libgoogle-gson-java \
      libgeronimo-annotation-1.3-spec-java \
 && rm -rf /var/lib/apt/lists/*
COPY proto /opt/concord/proto
COPY sdk/java /opt/concord/sdk/java
COPY examples/wordcount/java /opt/concord/examples/wordcount/java
RUN cd /opt/concord && bash scripts/build-java.sh

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends openjdk-17-jre-headless libgrpc-java libprotobuf-java libnetty-java \
      libguava-java libperfmark-java libgoogle-gson-java \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /opt/concord/artifacts/java /opt/concord/artifacts/java
WORKDIR /app
USER 10001
