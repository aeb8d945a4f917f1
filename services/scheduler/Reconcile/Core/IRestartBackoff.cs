namespace Concord.Scheduler.Reconcile.Core;

/// <summary>
/// Failure history of one instance and the restart delay that follows from it. The seam
/// through which the core uses a back-off policy, so the policy can change (e.g. one shared
/// with jitter) without touching the core: only <see cref="RestartBackoffAdapter"/> knows it.
/// </summary>
internal interface IRestartBackoff
{
    /// <summary>Records a failure at <paramref name="now"/> and returns when to restart.</summary>
    RestartDecision RecordFailure(DateTimeOffset now);

    /// <summary>
    /// Records a kill from outside at <paramref name="now"/> (not the instance's own failure)
    /// and returns when to restart: at once, without growing the back-off. A policy without its
    /// own rule for them counts them as failures.
    /// </summary>
    RestartDecision RecordKillFromOutside(DateTimeOffset now) => RecordFailure(now);
}

/// <summary>Today's policy: <see cref="RestartBackoff"/> (exponential, crash-loop window).</summary>
internal sealed class RestartBackoffAdapter : IRestartBackoff
{
    private readonly RestartBackoff _backoff = new();

    public RestartDecision RecordFailure(DateTimeOffset now) => _backoff.RecordFailure(now);

    public RestartDecision RecordKillFromOutside(DateTimeOffset now) => _backoff.RecordKillFromOutside(now);
}
