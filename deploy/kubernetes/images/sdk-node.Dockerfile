# Base image for Node operators (sdk/node): Node 20 or later and the SDK with its two pinned npm
# packages (sdk/node/package-lock.json), installed at build time so the image runs offline.
# The SDK loads the .proto files at run time: they are copied beside it (sdk/node/proto).
# Build from the repository's root:
#   docker build -f deploy/kubernetes/images/sdk-node.Dockerfile -t <registry>/concord/sdk-node:<tag> .
# An operator's image: FROM it, COPY the operator's .js files (they `require('@concord/sdk')`), and name "node" with the script as
# args in the deploy file; keep the flags of examples/wordcount/node/run-counter.sh
# (--min-semi-space-size=16 --max-semi-space-size=16, docs/sdk-node.md "Performance").
FROM node:20-bookworm-slim
COPY sdk/node/package.json sdk/node/package-lock.json /opt/concord/sdk/node/
RUN cd /opt/concord/sdk/node && npm ci --omit=dev --no-audit --no-fund --ignore-scripts
COPY sdk/node/lib /opt/concord/sdk/node/lib
COPY proto /opt/concord/sdk/node/proto
# require('@concord/sdk') from any directory, as the package is named.
RUN mkdir -p /opt/concord/node_modules/@concord && ln -s /opt/concord/sdk/node /opt/concord/node_modules/@concord/sdk
ENV NODE_PATH=/opt/concord/node_modules
WORKDIR /app
USER 10001
