namespace Concord.Testing;

/// <summary>
/// Polls a condition until it holds or a deadline passes. Only for state that lives in another
/// process and sends no event we could await (a file filling, a pid dying, a port answering);
/// in-process code is awaited (a task, a channel, a <see cref="SyncPoint"/>, fake time).
/// </summary>
public static class Eventually
{
    /// <summary>Interval between polls, in ms: short against the seconds the tests wait.</summary>
    public const int PollIntervalMs = 50;

    /// <summary>The first non-null value of <paramref name="probe"/>; a probe that throws is retried (the last error is reported).</summary>
    public static async Task<T> UntilAsync<T>(Func<Task<T?>> probe, TimeSpan timeout, Func<string> describe)
        where T : class
    {
        var deadline = DateTime.UtcNow + timeout;
        Exception? last = null;
        while (true)
        {
            try
            {
                var value = await probe().WaitAsync(timeout);
                if (value is not null)
                {
                    return value;
                }
            }
            catch (Exception e) when (e is not TimeoutException)
            {
                last = e;
            }
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"timed out after {timeout.TotalSeconds:0.#} s waiting for {describe()}" + (last is null ? "" : $" (last error: {last.Message})"));
            }
            await Task.Delay(PollIntervalMs);
        }
    }

    public static Task UntilAsync(Func<bool> condition, TimeSpan timeout, Func<string> describe) =>
        UntilAsync<string>(() => Task.FromResult(condition() ? "" : null), timeout, describe);

    public static Task UntilAsync(Func<Task<bool>> condition, TimeSpan timeout, Func<string> describe) =>
        UntilAsync<string>(async () => await condition() ? "" : null, timeout, describe);
}
