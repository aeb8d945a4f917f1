# Base image for Python operators (sdk/python): Debian's python3 with python3-grpcio and
# python3-protobuf (as scripts/install-python.sh installs them) and the SDK on PYTHONPATH.
# Build from the repository's root:
#   docker build -f deploy/kubernetes/images/sdk-python.Dockerfile -t <registry>/concord/sdk-python:<tag> .
# An operator's image: FROM it, COPY the operator's .py files, and name "python3" with the
# script as args in the deploy file (deploy/kubernetes/wordcount/counter-python.json).
FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 python3-grpcio python3-protobuf \
 && rm -rf /var/lib/apt/lists/*
COPY sdk/python /opt/concord/sdk/python
ENV PYTHONPATH=/opt/concord/sdk/python PYTHONUNBUFFERED=1
WORKDIR /app
USER 10001
