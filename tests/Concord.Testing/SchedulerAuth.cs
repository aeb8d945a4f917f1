using Concord.Contracts;
using Grpc.Core;
using Grpc.Core.Interceptors;

namespace Concord.Testing;

/// <summary>
/// What a test needs to call a real scheduler's API: the operator token the scheduler keeps in
/// its home (docs/security.md), sent as <c>authorization: Bearer</c> on every call.
/// </summary>
public static class SchedulerAuth
{
    /// <summary>The operator token in <paramref name="home"/>'s token file.</summary>
    public static string ReadToken(string home) =>
        File.ReadAllText(Path.Combine(home, Credentials.TokenFileName)).Trim();

    /// <summary><paramref name="invoker"/> with the token of <paramref name="home"/> on every call (read now).</summary>
    public static CallInvoker WithToken(this CallInvoker invoker, string home) => invoker.WithBearer(ReadToken(home));

    /// <summary><paramref name="invoker"/> with <paramref name="token"/> as the bearer token on every call.</summary>
    public static CallInvoker WithBearer(this CallInvoker invoker, string token) =>
        invoker.Intercept(metadata =>
        {
            metadata.Add(Credentials.AuthorizationHeader, Credentials.BearerPrefix + token);
            return metadata;
        });
}
