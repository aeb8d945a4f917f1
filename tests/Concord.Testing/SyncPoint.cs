namespace Concord.Testing;

/// <summary>
/// A rendezvous between a test and the code under test (after grpc-dotnet's SyncPoint): the
/// code under test calls <see cref="WaitToContinue"/> (through a hook the test installs) and
/// stops there; the test awaits <see cref="WaitForSyncPointAsync"/>, looks at the state the
/// code is frozen in, then lets it go with <see cref="Continue"/>. Replaces "wait a little and
/// check nothing happened": the test knows where the code is instead of guessing.
/// </summary>
/// <remarks>
/// <see cref="Continue"/> runs the released code inline, on the caller's thread, up to its next
/// real wait, so when it returns the code has moved on as far as it can by itself (the code's
/// awaits use ConfigureAwait(false) or none, as the services' do).
/// </remarks>
public sealed class SyncPoint
{
    private readonly TaskCompletionSource _reached = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _continue = new(); // inline continuations: see the remarks

    /// <summary>Called by the code under test: signals the test and waits until it says <see cref="Continue"/>.</summary>
    public Task WaitToContinue()
    {
        _reached.TrySetResult();
        return _continue.Task;
    }

    /// <summary>Completes once the code under test has reached the point; fails after <paramref name="timeout"/>.</summary>
    public Task WaitForSyncPointAsync(TimeSpan timeout) => _reached.Task.WaitAsync(timeout);

    /// <summary>Lets the code under test go on (see the remarks: it runs on this thread up to its next wait).</summary>
    public void Continue() => _continue.TrySetResult();
}
