using System.Net.Sockets;

namespace Concord.Executor.Session.Internal;

/// <summary>Waiting for an operator that someone else starts (attach mode) to serve its unix socket.</summary>
internal static class OperatorSocket
{
    /// <summary>
    /// Completes once <paramref name="socketPath"/> accepts a connection; throws
    /// <see cref="OperatorFailedException"/> naming the socket and the fix after <paramref name="timeout"/>.
    /// </summary>
    public static async Task WaitAsync(string socketPath, TimeSpan timeout, TimeProvider time, CancellationToken cancellationToken)
    {
        var deadline = time.GetUtcNow() + timeout;
        while (true)
        {
            if (File.Exists(socketPath))
            {
                using var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
                try
                {
                    await socket.ConnectAsync(new UnixDomainSocketEndPoint(socketPath), cancellationToken).ConfigureAwait(false);
                    return;
                }
                catch (SocketException)
                {
                    // A socket file nobody listens on yet (or a stale one): keep polling.
                }
            }
            if (time.GetUtcNow() >= deadline)
            {
                throw new OperatorFailedException(
                    $"no operator served {socketPath} within {timeout.TotalMilliseconds:0} ms (attach mode, {ExecutorOptions.OperatorAttachVariable}; bound {ExecutorLimits.OperatorAttachTimeoutVariable}); " +
                    $"start the operator with CONCORD_OPERATOR_ADDRESS={socketPath} in a directory it shares with the executor, and check why it did not start (on Kubernetes: `kubectl describe pod` and the operator container's log)");
            }
            // No event tells us another process's socket is ready: poll on a short period with the deadline above.
            await Task.Delay(TimeSpan.FromMilliseconds(ExecutorLimits.OperatorSocketPollMs), time, cancellationToken).ConfigureAwait(false);
        }
    }
}
