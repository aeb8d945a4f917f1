# The word count's C# operators (examples/wordcount/dotnet: source, counter, sink) as an operator image.
#   docker build -f deploy/kubernetes/images/wordcount-dotnet.Dockerfile --build-arg REGISTRY=<registry> -t <registry>/concord/wordcount-dotnet:<tag> .
ARG REGISTRY=localhost:5000
FROM mcr.microsoft.com/dotnet/sdk:10.0 AS build
WORKDIR /src
COPY . .
RUN dotnet publish examples/wordcount/dotnet/WordCount.csproj -c Release -o /out

FROM ${REGISTRY}/concord/sdk-dotnet:latest
COPY --from=build /out /app
COPY examples/wordcount/words.txt /app/words.txt
