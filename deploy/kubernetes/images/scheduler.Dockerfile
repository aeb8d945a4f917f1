# The Concord scheduler (Concord.Scheduler) for `--runtime kubernetes` (docs/kubernetes.md).
# Build from the repository's root:
#   docker build -f deploy/kubernetes/images/scheduler.Dockerfile -t <registry>/concord/scheduler:<tag> .
# Not built on the project's machines (no container engine there): see docs/kubernetes.md,
# "What was tested how".
FROM mcr.microsoft.com/dotnet/sdk:10.0 AS build
WORKDIR /src
COPY . .
RUN dotnet publish services/scheduler/Concord.Scheduler.csproj -c Release -o /out \
 && dotnet publish cli/Concord.Cli.csproj -c Release -o /out/cli

FROM mcr.microsoft.com/dotnet/aspnet:10.0
# libzookeeper-mt2: only for --store zookeeper (docs/cluster.md); the file store needs nothing.
RUN apt-get update \
 && (apt-get install -y --no-install-recommends libzookeeper-mt2 || true) \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /out /app
# The CLI beside it, for `kubectl exec deploy/concord-scheduler -- concord list`.
RUN ln -s /app/cli/concord /usr/local/bin/concord
USER 10001
ENV CONCORD_HOME=/var/lib/concord
EXPOSE 7400 7401
ENTRYPOINT ["dotnet", "/app/Concord.Scheduler.dll"]
