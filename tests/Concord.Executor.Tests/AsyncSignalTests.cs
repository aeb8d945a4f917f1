using Concord.Executor.Internal;

namespace Concord.Executor.Tests;

/// <summary>
/// The wake-up the pump and the outbound channels wait on. A Set must never be lost to a wait
/// that was cancelled (the pump and the channels cancel their pending waits whenever they move
/// on); losing it stalled a generator for a minute after a routing change and an outbound
/// channel for good after its reader restarted.
/// </summary>
public sealed class AsyncSignalTests
{
    private static readonly TimeSpan TestTimeout = TestTimeouts.Step;

    [Fact]
    public async Task A_Set_after_a_cancelled_wait_wakes_the_next_wait()
    {
        for (var i = 0; i < 1_000; i++)
        {
            var signal = new AsyncSignal();
            using var stale = new CancellationTokenSource();
            var abandoned = signal.WaitAsync(stale.Token);
            await stale.CancelAsync();

            signal.Set();

            await signal.WaitAsync(CancellationToken.None).WaitAsync(TestTimeout);
            Assert.True(abandoned.IsCanceled, $"iteration {i}: the abandoned wait should have been cancelled");
        }
    }

    [Fact]
    public async Task Sets_before_a_wait_collapse_into_one_and_a_pending_wait_is_woken()
    {
        var signal = new AsyncSignal();
        signal.Set();
        signal.Set();
        await signal.WaitAsync(CancellationToken.None).WaitAsync(TestTimeout);
        var pending = signal.WaitAsync(CancellationToken.None);
        Assert.False(pending.IsCompleted, "two Sets before one wait wake it once");

        signal.Set();

        await pending.WaitAsync(TestTimeout);
    }

    [Fact]
    public async Task A_Set_racing_a_cancellation_is_never_lost()
    {
        var signal = new AsyncSignal();
        for (var i = 0; i < 2_000; i++)
        {
            using var stop = new CancellationTokenSource();
            var wait = signal.WaitAsync(stop.Token);
            var set = Task.Run(signal.Set);
            await stop.CancelAsync();
            await set.WaitAsync(TestTimeout);
            // Either the wait got the Set before its cancellation, or the next wait gets it.
            if (!wait.IsCompletedSuccessfully)
            {
                await signal.WaitAsync(CancellationToken.None).WaitAsync(TestTimeout);
            }
        }
    }
}
