# The word count's Go counter (examples/wordcount/go/counter) as an operator image.
#   docker build -f deploy/kubernetes/images/wordcount-go.Dockerfile --build-arg REGISTRY=<registry> -t <registry>/concord/wordcount-go:<tag> .
ARG REGISTRY=localhost:5000
FROM ${REGISTRY}/concord/sdk-go:latest AS build
COPY examples/wordcount/go/counter /opt/concord/examples/wordcount/go/counter
RUN cd /opt/concord && . scripts/go-env.sh && go_vendor examples/wordcount/go/counter \
 && cd examples/wordcount/go/counter && go build -o /out/wordcount-counter .

FROM debian:bookworm-slim
COPY --from=build /out/wordcount-counter /usr/local/bin/wordcount-counter
USER 10001
