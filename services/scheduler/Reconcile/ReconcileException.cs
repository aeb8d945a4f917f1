namespace Concord.Scheduler.Reconcile;

/// <summary>
/// Why the reconciler refused a request. The API layer maps each kind to one gRPC status
/// (Api/SchedulerService.cs), so the reconcile code never depends on the transport.
/// </summary>
public enum ReconcileErrorKind
{
    /// <summary>The request is malformed or the spec cannot run (gRPC InvalidArgument).</summary>
    InvalidArgument,

    /// <summary>The operator is not deployed (gRPC NotFound).</summary>
    NotFound,

    /// <summary>The operator is already deployed (gRPC AlreadyExists).</summary>
    AlreadyExists,

    /// <summary>The request does not fit the current state; the caller must change something first (gRPC FailedPrecondition).</summary>
    FailedPrecondition,

    /// <summary>The scheduler cannot act right now (starting, stopping); retrying later works (gRPC Unavailable).</summary>
    Unavailable,

    /// <summary>The request would take the scheduler past one of its limits (gRPC ResourceExhausted).</summary>
    ResourceExhausted,
    /// <summary>The caller is not the one the request claims to be (gRPC PermissionDenied).</summary>
    PermissionDenied,
}

/// <summary>A request the reconciler refused; the message names the problem and the fix.</summary>
public sealed class ReconcileException(ReconcileErrorKind kind, string message) : Exception(message)
{
    public ReconcileErrorKind Kind { get; } = kind;
}
