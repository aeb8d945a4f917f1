using Concord.Contracts.DataPlane.V1;
using Grpc.Core;

namespace Concord.Conformance.Tests.Harness;

/// <summary>One record as the downstream receiver got it.</summary>
/// <param name="Stream">ChannelOpen.stream.</param>
/// <param name="Sender">ChannelOpen.sender: the producing executor, "operator/index".</param>
/// <param name="Record">The record, as received.</param>
/// <param name="ReceivedUnixMs">Wall-clock time of arrival, ms since the Unix epoch.</param>
public sealed record Received(string Stream, string Sender, ConcordRecord Record, long ReceivedUnixMs);

/// <summary>A checkpoint barrier as the downstream receiver got it.</summary>
/// <param name="Stream">ChannelOpen.stream of the channel it came on.</param>
/// <param name="CheckpointId">Barrier.checkpoint_id.</param>
/// <param name="Position">Records received (on every channel) before it: on its own channel, exactly the records with a smaller index in <see cref="DownstreamReceiver.Snapshot"/> came before it.</param>
public sealed record ReceivedBarrier(string Stream, ulong CheckpointId, int Position);

/// <summary>
/// The downstream neighbour: a DataPlane service that the routing table lists as the reader of
/// the operator's output streams. It grants credit, grants it back as soon as a batch arrives
/// (so it never holds the executor up), and records every record with its stream and sender,
/// and every checkpoint barrier with its position among them. Watermarks are accepted and not kept.
/// </summary>
public sealed class DownstreamReceiver : DataPlane.DataPlaneBase
{
    private readonly object _lock = new();
    private readonly List<Received> _received = [];
    private readonly List<ReceivedBarrier> _barriers = [];
    private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>A copy of everything received so far, in arrival order.</summary>
    public IReadOnlyList<Received> Snapshot()
    {
        lock (_lock)
        {
            return [.. _received];
        }
    }

    /// <summary>A copy of every barrier received so far, in arrival order.</summary>
    public IReadOnlyList<ReceivedBarrier> Barriers()
    {
        lock (_lock)
        {
            return [.. _barriers];
        }
    }

    /// <summary>Waits until barrier <paramref name="checkpointId"/> arrived on <paramref name="stream"/>; returns it.</summary>
    public async Task<ReceivedBarrier> WaitForBarrierAsync(string stream, ulong checkpointId)
    {
        ReceivedBarrier? found = null;
        await WaitUntilAsync(_ => (found = Barriers().FirstOrDefault(b => b.Stream == stream && b.CheckpointId == checkpointId)) is not null,
            $"barrier {checkpointId} on {stream}");
        return found!;
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
            var frame = requestStream.Current;
            if (frame.Barrier is { } barrier)
            {
                lock (_lock)
                {
                    _barriers.Add(new ReceivedBarrier(open.Stream, barrier.CheckpointId, _received.Count));
                    Changed();
                }
                continue;
            }
            if (frame.Watermark is not null)
            {
                continue;
            }
            var records = frame.Batch?.Records
                ?? throw new RpcException(new Status(StatusCode.InvalidArgument, "after ChannelOpen only RecordBatch, Barrier and Watermark frames may follow"));
            var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
            lock (_lock)
            {
                _received.AddRange(records.Select(r => new Received(open.Stream, open.Sender, r, now)));
                Changed();
            }
            await responseStream.WriteAsync(new Credit { Rows = records.Count, Bytes = records.Sum(r => (long)r.CalculateSize()) }, token);
        }
    }

    /// <summary>Wakes the waiters; under the lock.</summary>
    private void Changed()
    {
        _changed.TrySetResult();
        _changed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
    }
}
