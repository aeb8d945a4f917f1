# Base image for C# operators (sdk/dotnet, Concord.Sdk): the ASP.NET Core runtime the SDK's
# gRPC server needs. An operator's image builds on it:
#   FROM <registry>/concord/sdk-dotnet:<tag>
#   COPY --from=build /out /app        # dotnet publish of the operator
# and its deploy file names the command inside the image ("executable": a bare name on PATH).
# The word count's C# operators are built into <registry>/concord/wordcount-dotnet by
# deploy/kubernetes/images/wordcount-dotnet.Dockerfile.
FROM mcr.microsoft.com/dotnet/aspnet:10.0
ENV PATH="/app:${PATH}" \
    DOTNET_ThreadPool_UnfairSemaphoreSpinLimit=0
WORKDIR /app
USER 10001
