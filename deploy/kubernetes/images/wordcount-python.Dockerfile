# The word count's Python counter (examples/wordcount/python/counter.py) as an operator image.
#   docker build -f deploy/kubernetes/images/wordcount-python.Dockerfile --build-arg REGISTRY=<registry> -t <registry>/concord/wordcount-python:<tag> .
ARG REGISTRY=localhost:5000
FROM ${REGISTRY}/concord/sdk-python:latest
COPY examples/wordcount/python/counter.py /app/counter.py
