using Concord.Contracts.Operator.V1;
using Concord.Executor.Records;

namespace Concord.Executor.Session;

/// <summary>
/// One operator session, as the batch pump and router see it: a user operator behind gRPC or
/// a built-in running in the executor. Same semantics either way (operator.proto): Init →
/// Metadata → BatchDone{0}; ProcessBatch{seq} → BatchDone{seq} in order; Shutdown → end.
/// </summary>
public interface IOperatorSession : IAsyncDisposable
{
    /// <summary>Operator process id, 0 for built-ins.</summary>
    int OperatorPid { get; }

    /// <summary>
    /// Starts the operator, sends <paramref name="init"/> and returns its Metadata message
    /// (not yet validated). Throws <see cref="ExecutorFailureException"/> when the operator
    /// cannot start or does not answer in time.
    /// </summary>
    Task<Metadata> StartAsync(Init init, CancellationToken cancellationToken);

    /// <summary>
    /// The operator's output streams, in its metadata's order: produced records in answers
    /// name their stream by index into this table. Set by <see cref="StartAsync"/>.
    /// </summary>
    StreamTable Outputs { get; }

    /// <summary>
    /// Sends one batch. Callers never exceed Init.max_batches_in_flight unanswered batches.
    /// The session is done with <paramref name="batch"/> when the returned task completes.
    /// </summary>
    ValueTask SendAsync(RawBatch batch, CancellationToken cancellationToken);

    /// <summary>
    /// The answers, BatchDone{0} first. Completes when the operator ended the session after
    /// Shutdown; throws <see cref="ExecutorFailureException"/> when it broke.
    /// </summary>
    IAsyncEnumerable<RawAnswer> ReadAnswersAsync(CancellationToken cancellationToken);

    /// <summary>Sends Shutdown; the answers then complete once the operator has finished.</summary>
    Task SendShutdownAsync(string reason, CancellationToken cancellationToken);

    /// <summary>
    /// Completes when the operator is gone (process exited, built-in stopped). Faults with the
    /// reason when it ended on its own.
    /// </summary>
    Task Exited { get; }

    /// <summary>
    /// The signal that killed the operator process from outside (SIGKILL or SIGTERM the
    /// executor did not send, not the OOM killer), waiting up to
    /// <see cref="ExecutorLimits.OperatorExitWaitMs"/> for a dying process to be reaped; 0 when
    /// it was not so killed, is still running, or there is no process (built-ins). Reported
    /// with the failure, so the scheduler restarts at once instead of counting it toward
    /// crash-looping (docs/operations.md, "Kills from outside").
    /// </summary>
    Task<int> SignalFromOutsideAsync() => Task.FromResult(0);

    /// <summary>Ends the operator now (kills the process). Safe to call more than once.</summary>
    void Kill();
}
