using System.Threading.Channels;
using Concord.Contracts.Scheduler.V1;
using Concord.Contracts.Types.V1;
using Concord.Executor.DataPlane;
using static Concord.Executor.Tests.Checkpoints.CheckpointTestSupport;
using static Concord.Executor.Tests.TestSupport;

namespace Concord.Executor.Tests.Checkpoints;

/// <summary>
/// Barrier alignment in front of the pump, with two input channels a/0 and b/0 on "words":
/// what the pump may take, in which order, and when the snapshot is due.
/// </summary>
public sealed class AlignmentTests : IDisposable
{
    private static readonly (string, string) A = ("words", "a/0");
    private static readonly (string, string) B = ("words", "b/0");
    private readonly TempDirectory _dir = new();
    private readonly InboundQueue _queue = new(channelsMax: 4, channelCreditRows: 100, channelCreditBytes: 100_000);
    private readonly Channel<AcknowledgeCheckpointRequest> _acks = Channel.CreateUnbounded<AcknowledgeCheckpointRequest>();
    private readonly RecordingOperator _operator = new();
    private readonly RecordingStateBackend _backend = new();

    public void Dispose() => _dir.Dispose();

    private string Chk(ulong id) => Path.Combine(_dir.Path, $"chk-{id}");

    private Executor.Checkpoints.CheckpointParticipant Attached(DeliveryGuarantee delivery)
    {
        var participant = Participant(delivery, _acks, _operator, _backend);
        participant.Attach(_queue);
        return participant;
    }

    [Fact]
    public async Task Exactly_once_blocks_a_channel_after_its_barrier_until_every_input_delivered_it()
    {
        var participant = Attached(DeliveryGuarantee.DeliveryExactlyOnce);
        await participant.HandleAsync(Begin(1, Chk(1), A, B));
        var a = Open(_queue, "words", "a/0");
        var b = Open(_queue, "words", "b/0");
        Send(_queue, a, "a1");
        SendBarrier(_queue, a, 1);
        Send(_queue, a, "a2");
        Send(_queue, b, "b1");

        // a2 follows a's barrier: it waits, and its row stays queued, so a's credit is not renewed.
        Assert.Equal(["a1", "b1"], Take(_queue));
        Assert.Equal([A], participant.BlockedChannels);
        Assert.Equal(1, _queue.QueuedRows);
        Assert.False(participant.WorkDue);

        // b's barrier completes the alignment: nothing more is handed out until the snapshot.
        SendBarrier(_queue, b, 1);
        Send(_queue, b, "b2");
        Assert.Empty(Take(_queue));
        Assert.True(participant.WorkDue);

        await participant.RunDueWorkAsync(CancellationToken.None).WaitAsync(Bound);
        Assert.Equal(["snapshot 1"], _operator.Calls);
        Assert.False(participant.WorkDue);
        Assert.Empty(participant.BlockedChannels);
        // The blocked channel's records come first, then the rest, each channel in order.
        Assert.Equal(["a2", "b2"], Take(_queue));

        var ack = await _acks.Reader.ReadAsync().AsTask().WaitAsync(Bound);
        Assert.Equal(1UL, ack.CheckpointId);
        Assert.Equal("", ack.Error);
        Assert.Equal(("counter", 0, "inc-0"), (ack.OperatorName, ack.InstanceIndex, ack.Incarnation));
        Assert.Equal(100 + "pos-1".Length, ack.WrittenBytes);
        Assert.Equal(200, ack.StateBytes);
        Assert.Equal(["snapshot 1", "write 1 counter/0"], _backend.Calls);
        Assert.Equal("pos-1", File.ReadAllText(Path.Combine(Chk(1), "counter", "0.operator")));
    }

    [Fact]
    public async Task At_least_once_does_not_block_and_snapshots_when_the_last_barrier_arrives()
    {
        var participant = Attached(DeliveryGuarantee.DeliveryAtLeastOnce);
        await participant.HandleAsync(Begin(1, Chk(1), A, B));
        var a = Open(_queue, "words", "a/0");
        var b = Open(_queue, "words", "b/0");
        Send(_queue, a, "a1");
        SendBarrier(_queue, a, 1);
        Send(_queue, a, "a2");
        Send(_queue, b, "b1");

        Assert.Equal(["a1", "a2", "b1"], Take(_queue));
        Assert.Empty(participant.BlockedChannels);
        Assert.False(participant.WorkDue);

        SendBarrier(_queue, b, 1);
        Assert.Empty(Take(_queue));
        Assert.True(participant.WorkDue);
        await participant.RunDueWorkAsync(CancellationToken.None).WaitAsync(Bound);
        var ack = await _acks.Reader.ReadAsync().AsTask().WaitAsync(Bound);
        Assert.Equal(1UL, ack.CheckpointId);
        Assert.Equal(0, ack.AlignmentMs);
    }

    [Fact]
    public async Task Abort_releases_blocked_channels_and_forgets_the_checkpoint()
    {
        var participant = Attached(DeliveryGuarantee.DeliveryExactlyOnce);
        await participant.HandleAsync(Begin(1, Chk(1), A, B));
        var a = Open(_queue, "words", "a/0");
        var b = Open(_queue, "words", "b/0");
        SendBarrier(_queue, a, 1);
        Send(_queue, a, "a2");
        Assert.Empty(Take(_queue));
        Assert.Equal([A], participant.BlockedChannels);

        await participant.HandleAsync(Aborted(1));
        Assert.Empty(participant.BlockedChannels);
        Assert.Equal(["a2"], Take(_queue));

        // A late barrier of the aborted checkpoint blocks nothing and completes nothing.
        SendBarrier(_queue, b, 1);
        Send(_queue, b, "b2");
        Assert.Equal(["b2"], Take(_queue));
        Assert.Empty(participant.BlockedChannels);

        // The operator hears of the abort at the pump's next batch boundary; no snapshot was taken.
        Assert.True(participant.WorkDue);
        await participant.RunDueWorkAsync(CancellationToken.None).WaitAsync(Bound);
        Assert.Equal(["aborted 1"], _operator.Calls);
        Assert.False(participant.WorkDue);
        Assert.False(_acks.Reader.TryRead(out _));
    }

    [Fact]
    public async Task Barriers_before_the_begin_are_held_until_it_arrives()
    {
        var participant = Attached(DeliveryGuarantee.DeliveryExactlyOnce);
        var a = Open(_queue, "words", "a/0");
        var b = Open(_queue, "words", "b/0");
        SendBarrier(_queue, a, 2);
        SendBarrier(_queue, b, 2);
        Send(_queue, b, "b3");
        Assert.Empty(Take(_queue));
        Assert.False(participant.WorkDue);
        Assert.Equal(2, participant.BlockedChannels.Count);

        await participant.HandleAsync(Begin(2, Chk(2), A, B));
        Assert.True(participant.WorkDue);
        await participant.RunDueWorkAsync(CancellationToken.None).WaitAsync(Bound);
        Assert.Equal(["b3"], Take(_queue));
        Assert.Equal(2UL, (await _acks.Reader.ReadAsync().AsTask().WaitAsync(Bound)).CheckpointId);
    }

    [Fact]
    public async Task A_begin_of_a_later_checkpoint_releases_channels_blocked_by_an_earlier_one_that_never_ended()
    {
        // The scheduler died during checkpoint 1 after a/0's source had its begin but before
        // b/0's did: a/0 delivered barrier 1, b/0 never will, and no abort of 1 comes (the
        // restarted scheduler does not know it). Its next checkpoint, 2, must not wait behind it.
        var participant = Attached(DeliveryGuarantee.DeliveryExactlyOnce);
        await participant.HandleAsync(Begin(1, Chk(1), A, B));
        var a = Open(_queue, "words", "a/0");
        var b = Open(_queue, "words", "b/0");
        SendBarrier(_queue, a, 1);
        Send(_queue, a, "a2");
        SendBarrier(_queue, a, 2);
        Send(_queue, a, "a3");
        Send(_queue, b, "b1");
        Assert.Equal(["b1"], Take(_queue));
        Assert.Equal([A], participant.BlockedChannels);

        await participant.HandleAsync(Begin(2, Chk(2), A, B));
        SendBarrier(_queue, b, 2);
        Send(_queue, b, "b3");

        // a/0's records of checkpoint 2 are processed, its barrier 2 blocks it again, and b/0's completes 2.
        Assert.Equal(["a2"], Take(_queue));
        Assert.True(participant.WorkDue);
        await participant.RunDueWorkAsync(CancellationToken.None).WaitAsync(Bound);
        Assert.Equal(["snapshot 2"], _operator.Calls);
        Assert.Equal(2UL, (await _acks.Reader.ReadAsync().AsTask().WaitAsync(Bound)).CheckpointId);
        Assert.Equal(["a3", "b3"], Take(_queue));
        Assert.Empty(participant.BlockedChannels);
    }

    [Fact]
    public async Task Completed_reaches_the_operator_at_a_batch_boundary()
    {
        var participant = Attached(DeliveryGuarantee.DeliveryExactlyOnce);
        await participant.HandleAsync(Completed(4));
        Assert.Empty(_operator.Calls);
        Assert.True(participant.WorkDue);
        await participant.RunDueWorkAsync(CancellationToken.None).WaitAsync(Bound);
        Assert.Equal(["completed 4"], _operator.Calls);
    }

    [Fact]
    public async Task A_failed_operator_snapshot_is_acknowledged_with_the_error_and_releases_the_channels()
    {
        var participant = Attached(DeliveryGuarantee.DeliveryExactlyOnce);
        _operator.OnSnapshot = _ => throw new IOException("disk full");
        await participant.HandleAsync(Begin(3, Chk(3), A));
        var a = Open(_queue, "words", "a/0");
        SendBarrier(_queue, a, 3);
        Send(_queue, a, "a4");
        Assert.Empty(Take(_queue));
        await participant.RunDueWorkAsync(CancellationToken.None).WaitAsync(Bound);

        var ack = await _acks.Reader.ReadAsync().AsTask().WaitAsync(Bound);
        Assert.Equal(3UL, ack.CheckpointId);
        Assert.Contains("disk full", ack.Error, StringComparison.Ordinal);
        // The channel is released: the pipeline goes on, and the coordinator aborts the checkpoint.
        Assert.Equal(["a4"], Take(_queue));
    }
}
