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
