namespace Concord.Executor.Internal;

/// <summary>
/// An auto-reset wake-up: many Set calls before a wait collapse into one, and a Set is never
/// lost. Waits are cancellable, and a cancelled wait never swallows a Set.
/// </summary>
/// <remarks>
/// Not a <see cref="SemaphoreSlim"/>: its WaitAsync removes a cancelled waiter only in a
/// continuation that runs after the token's cancellation has returned, and a Release in that
/// window hands the count to the abandoned waiter. The pump and the outbound channels cancel
/// their pending waits every time they move on, so that lost wake-up stalled them until their
/// longest wait (a generator source for a minute after a routing change; an outbound channel
/// for good after its reader restarted). Here a cancelled waiter is removed synchronously, and
/// a Set that raced its cancellation is kept for the next wait: at worst one spurious wake-up,
/// which every caller tolerates (each re-checks its state after waking).
/// </remarks>
internal sealed class AsyncSignal
{
    private readonly Lock _lock = new();
    private readonly LinkedList<TaskCompletionSource> _waiters = new();
    private bool _set;

    /// <summary>
    /// Wakes every wait pending now (a waiter whose owner has moved on but not cancelled yet
    /// must not take the wake-up from the one that matters), or the next wait if none is.
    /// </summary>
    public void Set()
    {
        List<TaskCompletionSource>? woken = null;
        lock (_lock)
        {
            if (_waiters.Count == 0)
            {
                _set = true;
                return;
            }
            woken = [.. _waiters];
            _waiters.Clear();
        }
        foreach (var waiter in woken)
        {
            waiter.TrySetResult();
        }
    }

    public Task WaitAsync(CancellationToken cancellationToken)
    {
        if (cancellationToken.IsCancellationRequested)
        {
            return Task.FromCanceled(cancellationToken);
        }
        var waiter = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        LinkedListNode<TaskCompletionSource> node;
        lock (_lock)
        {
            if (_set)
            {
                _set = false;
                return Task.CompletedTask;
            }
            node = _waiters.AddLast(waiter);
        }
        if (!cancellationToken.CanBeCanceled)
        {
            return waiter.Task;
        }
        var registration = cancellationToken.Register(() =>
        {
            bool removed;
            lock (_lock)
            {
                removed = node.List is not null;
                if (removed)
                {
                    _waiters.Remove(node);
                }
                else
                {
                    // A Set took this waiter while it was being cancelled: its owner has moved
                    // on and may never look, so keep the wake-up for the next wait.
                    _set = true;
                }
            }
            if (removed)
            {
                waiter.TrySetCanceled(cancellationToken);
            }
        });
        _ = waiter.Task.ContinueWith(static (_, state) => ((CancellationTokenRegistration)state!).Dispose(), registration,
            CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        return waiter.Task;
    }
}
