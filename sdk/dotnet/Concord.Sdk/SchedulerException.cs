using Grpc.Core;

namespace Concord.Sdk;

/// <summary>
/// A scheduler call failed. <see cref="Exception.Message"/> is the scheduler's own message
/// (which names the problem and the fix) or, when the scheduler could not be reached, what
/// to check.
/// </summary>
public sealed class SchedulerException(StatusCode statusCode, string message, Exception? inner = null)
    : Exception(message, inner)
{
    /// <summary>The gRPC status: InvalidArgument, AlreadyExists, NotFound, FailedPrecondition, Unavailable, …</summary>
    public StatusCode StatusCode { get; } = statusCode;
}
