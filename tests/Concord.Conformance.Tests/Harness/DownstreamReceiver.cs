using Concord.Contracts.DataPlane.V1;
using Grpc.Core;

namespace Concord.Conformance.Tests.Harness;

/// <summary>One record as the downstream receiver got it.</summary>
/// <param name="Stream">ChannelOpen.stream.</param>
/// <param name="Sender">ChannelOpen.sender: the producing executor, "operator/index".</param>
/// <param name="Record">The record, as received.</param>
/// <param name="ReceivedUnixMs">Wall-clock time of arrival, ms since the Unix epoch.</param>
public sealed record Received(string Stream, string Sender, ConcordRecord Record, long ReceivedUnixMs);

/// <summary>
/// The downstream neighbour: a DataPlane service that the routing table lists as the reader of
/// the operator's output streams. It grants credit, grants it back as soon as a batch arrives
/// (so it never holds the executor up), and records every record with its stream and sender.
/// </summary>
public sealed class DownstreamReceiver : DataPlane.DataPlaneBase
{
    private readonly object _lock = new();
    private readonly List<Received> _received = [];
    private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>A copy of everything received so far, in arrival order.</summary>
    public IReadOnlyList<Received> Snapshot()
    {
        lock (_lock)
        {
            return [.. _received];
        }
    }

    /// <summary>Waits until <paramref name="condition"/> holds for what was received; returns that snapshot.</summary>
    public async Task<IReadOnlyList<Received>> WaitUntilAsync(Func<IReadOnlyList<Received>, bool> condition, string what, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? ConformanceLimits.StepTimeout);
        while (true)
        {
            Task changed;
            IReadOnlyList<Received> snapshot;
            lock (_lock)
            {
                snapshot = [.. _received];
                changed = _changed.Task;
            }
            if (condition(snapshot))
            {
                return snapshot;
            }
            var left = deadline - DateTime.UtcNow;
            if (left <= TimeSpan.Zero)
            {
                throw new TimeoutException($"timed out waiting for {what}; received {snapshot.Count} record(s): " +
                    string.Join(", ", snapshot.Take(10).Select(r => $"{r.Stream}/{Convert.ToHexString(r.Record.Key.Span)}")));
            }
            await changed.WaitAsync(left).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }
    }

    public override async Task Push(IAsyncStreamReader<DataFrame> requestStream, IServerStreamWriter<Credit> responseStream, ServerCallContext context)
    {
        var token = context.CancellationToken;
        if (!await requestStream.MoveNext(token))
        {
            return;
        }
        var open = requestStream.Current.Open ?? throw new RpcException(new Status(StatusCode.InvalidArgument, "first frame must be ChannelOpen"));
        await responseStream.WriteAsync(new Credit { Rows = ConformanceLimits.ReceiverCreditRows, Bytes = ConformanceLimits.ReceiverCreditBytes }, token);
        while (await requestStream.MoveNext(token))
        {
            var records = requestStream.Current.Batch?.Records
                ?? throw new RpcException(new Status(StatusCode.InvalidArgument, "after ChannelOpen only RecordBatch frames may follow"));
            var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
            lock (_lock)
            {
                _received.AddRange(records.Select(r => new Received(open.Stream, open.Sender, r, now)));
                _changed.TrySetResult();
                _changed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            }
            await responseStream.WriteAsync(new Credit { Rows = records.Count, Bytes = records.Sum(r => (long)r.CalculateSize()) }, token);
        }
    }
}
