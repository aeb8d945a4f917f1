using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using System.Threading.Channels;
using Concord.Contracts.Operator.V1;
using Concord.Contracts.Scheduler.V1;
using Concord.Contracts.Types.V1;
using Concord.Executor.Checkpoints;
using Concord.Executor.DataPlane;
using Concord.Executor.DataPlane.Internal;
using Concord.Executor.Records;
using Concord.Executor.Routing;
using Concord.Executor.Session;
using Concord.Executor.State;
using Microsoft.Extensions.Logging.Abstractions;
using static Concord.Executor.Tests.TestSupport;

namespace Concord.Executor.Tests.Checkpoints;

/// <summary>Test double of a built-in with state of its own: records every call, snapshots to "pos-&lt;id&gt;".</summary>
internal sealed class RecordingOperator : ICheckpointedOperator
{
    public ConcurrentQueue<string> Calls { get; } = new();

    /// <summary>Called inside SnapshotOperator (a test captures the pump's state there).</summary>
    public Action<ulong>? OnSnapshot { get; set; }

    public IReadOnlyDictionary<int, byte[]>? Restored { get; private set; }

    public byte[] SnapshotOperator(ulong checkpointId)
    {
        OnSnapshot?.Invoke(checkpointId);
        Calls.Enqueue($"snapshot {checkpointId}");
        return System.Text.Encoding.UTF8.GetBytes($"pos-{checkpointId}");
    }

    public void RestoreOperator(ulong checkpointId, IReadOnlyDictionary<int, byte[]> snapshots)
    {
        Restored = snapshots;
        Calls.Enqueue($"restore {checkpointId}");
    }

    public void CheckpointCompleted(ulong checkpointId) => Calls.Enqueue($"completed {checkpointId}");

    public void CheckpointAborted(ulong checkpointId) => Calls.Enqueue($"aborted {checkpointId}");
}

/// <summary>Test double of a state backend: records Restore and Snapshot; a snapshot "writes" 100 bytes of 200.</summary>
internal sealed class RecordingStateBackend : IKeyedStateBackend
{
    public ConcurrentQueue<string> Calls { get; } = new();

    public int KeyGroupCount => Contracts.ProtocolLimits.KeyGroupCount;

    public (int Start, int End) Range => (0, KeyGroupCount);

    public long StateBytes => 200;

    public bool TryGet(ReadOnlySpan<byte> key, string name, out ReadOnlyMemory<byte> value)
    {
        value = default;
        return false;
    }

    public void Set(ReadOnlySpan<byte> key, string name, ReadOnlySpan<byte> value) => throw new NotSupportedException("test double");

    public void Clear(ReadOnlySpan<byte> key, string name) => throw new NotSupportedException("test double");

    public IEnumerable<(byte[] Key, byte[] Value)> Entries(string name) => [];

    public IStateSnapshot Snapshot(ulong checkpointId)
    {
        Calls.Enqueue($"snapshot {checkpointId}");
        return new Written(this, checkpointId);
    }

    public void Restore(string checkpointDirectory, string operatorName) => Calls.Enqueue($"restore {Path.GetFileName(checkpointDirectory)} {operatorName}");

    /// <summary>What the next Restore "found" (set by a test).</summary>
    public IReadOnlyList<string> RestoredStateNames { get; set; } = [];

    public void Dispose()
    {
    }

    private sealed class Written(RecordingStateBackend backend, ulong checkpointId) : IStateSnapshot
    {
        public Task<SnapshotResult> WriteAsync(string checkpointDirectory, string operatorName, int instanceIndex, CancellationToken cancellationToken)
        {
            backend.Calls.Enqueue($"write {checkpointId} {operatorName}/{instanceIndex}");
            return Task.FromResult(new SnapshotResult(100, 200));
        }

        public void Dispose()
        {
        }
    }
}

/// <summary>A <see cref="ScriptedSession"/> that is also a checkpointed operator (as a built-in session is).</summary>
internal sealed class CheckpointedSession(ScriptedSession inner, RecordingOperator checkpointed) : IOperatorSession, ICheckpointedOperator
{
    public StreamTable Outputs => inner.Outputs;

    public int OperatorPid => 0;

    public Task Exited => inner.Exited;

    public Task<Metadata> StartAsync(Init init, CancellationToken cancellationToken) => inner.StartAsync(init, cancellationToken);

    public ValueTask SendAsync(RawBatch batch, CancellationToken cancellationToken) => inner.SendAsync(batch, cancellationToken);

    public IAsyncEnumerable<RawAnswer> ReadAnswersAsync(CancellationToken cancellationToken) => inner.ReadAnswersAsync(cancellationToken);

    public Task SendShutdownAsync(string reason, CancellationToken cancellationToken) => inner.SendShutdownAsync(reason, cancellationToken);

    public void Kill() => inner.Kill();

    public ValueTask DisposeAsync() => inner.DisposeAsync();

    public byte[] SnapshotOperator(ulong checkpointId) => checkpointed.SnapshotOperator(checkpointId);

    public void RestoreOperator(ulong checkpointId, IReadOnlyDictionary<int, byte[]> snapshots) => checkpointed.RestoreOperator(checkpointId, snapshots);

    public void CheckpointCompleted(ulong checkpointId) => checkpointed.CheckpointCompleted(checkpointId);

    public void CheckpointAborted(ulong checkpointId) => checkpointed.CheckpointAborted(checkpointId);
}

internal static class CheckpointTestSupport
{
    public static CheckpointParticipant Participant(DeliveryGuarantee delivery, Channel<AcknowledgeCheckpointRequest> acks,
        ICheckpointedOperator? checkpointed = null, IKeyedStateBackend? backend = null, Router? router = null, string operatorName = "counter") =>
        new(new CheckpointParticipantOptions(operatorName, 0, "inc-0", delivery, backend, checkpointed, router,
                (request, _) => acks.Writer.WriteAsync(request).AsTask()),
            new CheckpointMetrics(TestTelemetry.Metrics()), NullLogger.Instance, TimeProvider.System);

    public static CheckpointCommand Begin(ulong id, string directory, params (string Stream, string Sender)[] inputs)
    {
        var begin = new BeginCheckpoint { CheckpointId = id, TriggerUnixMs = 1_700_000_000_000, Directory = directory };
        begin.Inputs.AddRange(inputs.Select(i => new BarrierChannel { Stream = i.Stream, Sender = i.Sender }));
        return new CheckpointCommand { Begin = begin };
    }

    public static CheckpointCommand Aborted(ulong id) => new() { Aborted = new CheckpointAborted { CheckpointId = id, Reason = "test" } };

    public static CheckpointCommand Completed(ulong id) => new() { Completed = new CheckpointCompleted { CheckpointId = id } };

    /// <summary>An inbound channel as the data plane opens it for (stream, sender), with its first grant taken.</summary>
    public static InboundChannel Open(InboundQueue queue, string stream, string sender)
    {
        Assert.True(queue.TryOpenChannel("test", out var channel));
        channel.Stream = stream;
        channel.Sender = sender;
        Assert.True(channel.NextGrantAsync(CancellationToken.None).IsCompletedSuccessfully);
        return channel;
    }

    /// <summary>Queues records as the data plane does for a batch received on <paramref name="channel"/>.</summary>
    public static void Send(InboundQueue queue, InboundChannel channel, params string[] keys)
    {
        var raw = keys.Select(k => Raw(k)).ToArray();
        long bytes = raw.Sum(r => (long)r.Length);
        Assert.Null(channel.TryConsume(raw.Length, bytes));
        queue.Enqueue(raw, bytes, channel);
    }

    public static void SendBarrier(InboundQueue queue, InboundChannel channel, ulong id) =>
        Assert.True(queue.EnqueueBarrier(new Contracts.DataPlane.V1.Barrier { CheckpointId = id }, channel));

    /// <summary>Takes what the pump would take now (keys, in order), returning the records' credit as the pump does.</summary>
    public static List<string> Take(InboundQueue queue)
    {
        var keys = new List<string>();
        while (queue.Reader.TryRead(out var item))
        {
            keys.AddRange(item.Records.Select(r => r.KeyString()));
            queue.Release(item.Source, item.Records.Length, item.Records.Sum(r => (long)r.Length));
        }
        return keys;
    }

    /// <summary>Reads items from a receiving queue (without a checkpoint gate) until a barrier: keys, then "barrier n".</summary>
    public static async Task<List<string>> ReadThroughBarrierAsync(InboundQueue queue)
    {
        var seen = new List<string>();
        while (true)
        {
            var item = await queue.Reader.ReadAsync().AsTask().WaitAsync(Bound);
            if (item.Barrier is { } barrier)
            {
                item.Source.BarrierTaken();
                seen.Add($"barrier {barrier.CheckpointId}");
                return seen;
            }
            seen.AddRange(item.Records.Select(r => r.KeyString()));
            queue.Release(item.Source, item.Records.Length, item.Records.Sum(r => (long)r.Length));
        }
    }
}
