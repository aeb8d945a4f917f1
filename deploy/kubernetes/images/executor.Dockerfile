# The Concord executor (Concord.Executor): the native sidecar of every operator's pod, and the
# whole pod of a built-in operator (docs/kubernetes.md). Build from the repository's root:
#   docker build -f deploy/kubernetes/images/executor.Dockerfile -t <registry>/concord/executor:<tag> .
FROM mcr.microsoft.com/dotnet/sdk:10.0 AS build
WORKDIR /src
COPY . .
RUN dotnet publish services/executor/Concord.Executor.csproj -c Release -o /out

FROM mcr.microsoft.com/dotnet/aspnet:10.0
# util-linux: setsid and setpriv, with which an executor outside attach mode starts operators.
RUN apt-get update && apt-get install -y --no-install-recommends util-linux && rm -rf /var/lib/apt/lists/*
COPY --from=build /out /app
# Files built-ins may read (generator dictionaries, file-source inputs): CONCORD_DATA_ROOTS.
COPY examples/wordcount/words.txt /concord/data/words.txt
ENV CONCORD_DATA_ROOTS=/concord/data
USER 10001
ENTRYPOINT ["dotnet", "/app/Concord.Executor.dll"]
