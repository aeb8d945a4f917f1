using Microsoft.Extensions.Time.Testing;

namespace Concord.Testing;

/// <summary>
/// Fake time that also tells the test when the code under test starts waiting for it: every
/// timer the code creates (Task.Delay, CancelAfter, CreateTimer) is seen. A test that must show
/// "nothing happens until the linger ends" awaits <see cref="TimerArmedAsync"/>: once the
/// code has armed that timer it is parked on fake time, which moves only when the test says.
/// </summary>
public sealed class WaitWatchingTimeProvider(DateTimeOffset start) : FakeTimeProvider(start)
{
    private readonly List<(TimeSpan DueTime, TaskCompletionSource Armed)> _watches = [];

    /// <summary>
    /// Completes when the code under test next creates a timer due in <paramref name="dueTime"/>
    /// (call it before the action that makes the code wait, so the timer is not missed).
    /// </summary>
    public Task TimerArmedAsync(TimeSpan dueTime)
    {
        var armed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (_watches)
        {
            _watches.Add((dueTime, armed));
        }
        return armed.Task;
    }

    public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
    {
        var timer = base.CreateTimer(callback, state, dueTime, period);
        lock (_watches)
        {
            for (var i = _watches.Count - 1; i >= 0; i--)
            {
                if (_watches[i].DueTime == dueTime)
                {
                    _watches[i].Armed.TrySetResult();
                    _watches.RemoveAt(i);
                }
            }
        }
        return timer;
    }
}
