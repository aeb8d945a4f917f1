namespace Concord.Executor.Internal;

/// <summary>An auto-reset wake-up: many Set calls before a wait collapse into one.</summary>
internal sealed class AsyncSignal
{
    private readonly SemaphoreSlim _semaphore = new(0, 1);

    public void Set()
    {
        if (_semaphore.CurrentCount == 0)
        {
            try
            {
                _semaphore.Release();
            }
            catch (SemaphoreFullException)
            {
                // Set concurrently by someone else: one wake-up is enough.
            }
        }
    }

    public Task WaitAsync(CancellationToken cancellationToken) => _semaphore.WaitAsync(cancellationToken);
}
