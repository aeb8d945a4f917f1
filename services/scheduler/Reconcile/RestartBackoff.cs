using Concord.Hosting;
namespace Concord.Scheduler.Reconcile;

/// <summary>What to do after a failure.</summary>
/// <param name="Delay">How long to wait before restarting.</param>
/// <param name="CrashLooping">Whether the instance now counts as crash-looping.</param>
/// <param name="FailuresInWindow">Failures within the crash-loop window, this one included.</param>
public readonly record struct RestartDecision(TimeSpan Delay, bool CrashLooping, int FailuresInWindow);

/// <summary>
/// Failure history of one instance, and the restart back-off that follows from it: the n-th
/// failure within <see cref="SchedulerLimits.CrashLoopWindowMs"/> waits
/// <see cref="SchedulerLimits.RestartBackoffInitialMs"/> × 2^(n-1), at most
/// <see cref="SchedulerLimits.RestartBackoffMsMax"/>; from the
/// <see cref="SchedulerLimits.CrashLoopFailuresMin"/>-th on the instance is crash-looping and
/// waits the longest back-off. Failures older than the window are forgotten, so an instance
/// that ran fine for a while starts again at the shortest back-off.
/// </summary>
public sealed class RestartBackoff
{
    /// <summary>
    /// Failure times kept: 32. More than <see cref="SchedulerLimits.CrashLoopFailuresMin"/> and
    /// more than the doublings to reach the longest back-off, so keeping more changes nothing.
    /// </summary>
    public const int FailureHistoryEntriesMax = 32;

    private readonly Queue<DateTimeOffset> _failures = new();

    // Kills from outside within the window; at most ExternalKillsInWindowMax are kept.
    private readonly Queue<DateTimeOffset> _kills = new();

    /// <summary>Failures currently counted (within the window as of the last call).</summary>
    public int FailuresInWindow => _failures.Count;

    /// <summary>Records a failure at <paramref name="now"/> and returns when to restart.</summary>
    public RestartDecision RecordFailure(DateTimeOffset now)
    {
        Prune(now);
        _failures.Enqueue(now);
        if (_failures.Count > FailureHistoryEntriesMax)
        {
            _failures.Dequeue();
        }
        var count = _failures.Count;
        var crashLooping = count >= SchedulerLimits.CrashLoopFailuresMin;
        return new RestartDecision(crashLooping ? TimeSpan.FromMilliseconds(SchedulerLimits.RestartBackoffMsMax) : DelayFor(count), crashLooping, count);
    }

    /// <summary>
    /// Records a kill from outside at <paramref name="now"/>: restart after
    /// <see cref="SchedulerLimits.ExternalKillRestartDelayMs"/>, not counted as a failure (the
    /// back-off does not grow, the instance does not become crash-looping). Past
    /// <see cref="SchedulerLimits.ExternalKillsInWindowMax"/> such kills within the window they
    /// count as failures: something keeps killing the instance, and the back-off bounds restarts.
    /// </summary>
    public RestartDecision RecordKillFromOutside(DateTimeOffset now)
    {
        var windowStart = now - TimeSpan.FromMilliseconds(SchedulerLimits.CrashLoopWindowMs);
        while (_kills.Count > 0 && _kills.Peek() <= windowStart)
        {
            _kills.Dequeue();
        }
        if (_kills.Count >= SchedulerLimits.ExternalKillsInWindowMax)
        {
            return RecordFailure(now);
        }
        _kills.Enqueue(now);
        Prune(now);
        return new RestartDecision(TimeSpan.FromMilliseconds(SchedulerLimits.ExternalKillRestartDelayMs), false, _failures.Count);
    }

    /// <summary>The back-off after the <paramref name="failures"/>-th failure in the window (1-based).</summary>
    /// <remarks>
    /// The shared <see cref="Backoff"/> ceiling without jitter: restarts are per instance and
    /// already spread by when each instance failed, and an exact delay keeps the schedule
    /// readable in `concord list` and testable.
    /// </remarks>
    public static TimeSpan DelayFor(int failures) =>
        Backoff.Ceiling(failures, TimeSpan.FromMilliseconds(SchedulerLimits.RestartBackoffInitialMs), TimeSpan.FromMilliseconds(SchedulerLimits.RestartBackoffMsMax));

    private void Prune(DateTimeOffset now)
    {
        var windowStart = now - TimeSpan.FromMilliseconds(SchedulerLimits.CrashLoopWindowMs);
        while (_failures.Count > 0 && _failures.Peek() <= windowStart)
        {
            _failures.Dequeue();
        }
    }
}
