namespace Concord.Conformance.Tests.Harness;

/// <summary>Every bound of the conformance harness, unit last in the name.</summary>
public static class ConformanceLimits
{
    /// <summary>
    /// How long an executor and its operator have to start and register, in ms: 30 s. A dotnet
    /// or python operator takes seconds to start on a loaded 2-core machine (the executor's own
    /// ExecutorLimits.OperatorStartTimeoutMs is the same).
    /// </summary>
    public const int StartTimeoutMs = 30_000;

    /// <summary>
    /// How long one step of a case may take once everything runs (records to arrive, a process
    /// to exit), in ms: 20 s. Cases take well under a second per step when healthy; the margin
    /// is for a machine busy with parallel builds.
    /// </summary>
    public const int StepTimeoutMs = 20_000;

    /// <summary>
    /// How long the upstream sender must have waited for credit before the backpressure case
    /// calls it blocked, in ms: 500. Long against the executor's 1 ms batch linger and the
    /// pipelined batches it sends, so the window has settled.
    /// </summary>
    public const int CreditStallMs = 500;

    /// <summary>Interval between polls where no event can be awaited (a process to vanish, a stall), in ms.</summary>
    public const int PollIntervalMs = 20;

    /// <summary>
    /// Credit the downstream receiver grants per channel at first, in rows and bytes: one
    /// executor-sized window (it grants back whatever arrives, so it never holds records up).
    /// </summary>
    public const int ReceiverCreditRows = Executor.ExecutorLimits.InboundChannelCreditRows;

    /// <inheritdoc cref="ReceiverCreditRows"/>
    public const long ReceiverCreditBytes = Executor.ExecutorLimits.InboundChannelCreditBytes;

    /// <summary>Records per batch the upstream sender writes, at most: the executor's batch size.</summary>
    public const int SenderBatchRowsMax = Executor.ExecutorLimits.BatchRowsMax;

    public static TimeSpan StartTimeout => TimeSpan.FromMilliseconds(StartTimeoutMs);

    public static TimeSpan StepTimeout => TimeSpan.FromMilliseconds(StepTimeoutMs);
}
