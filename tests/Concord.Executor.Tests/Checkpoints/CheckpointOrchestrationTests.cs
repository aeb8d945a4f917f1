using System.Collections.Concurrent;
using System.Threading.Channels;
using Concord.Contracts.Operator.V1;
using Concord.Contracts.Scheduler.V1;
using Concord.Contracts.Types.V1;
using Concord.Executor.Checkpoints;
using Concord.Executor.DataPlane;
using Concord.Executor.Records;
using Concord.Executor.Routing;
using Concord.Executor.Scheduler;
using Concord.Executor.Session;
using Concord.Executor.Timers;
using Concord.Hosting;
using Grpc.Core;
using Microsoft.Extensions.Logging.Abstractions;
using static Concord.Executor.Tests.Checkpoints.CheckpointTestSupport;
using static Concord.Executor.Tests.TestSupport;

namespace Concord.Executor.Tests.Checkpoints;

/// <summary>A source's checkpoint through the real pump and router to a real downstream data plane; restore at start; the scheduler link.</summary>
public sealed class CheckpointOrchestrationTests : IAsyncDisposable
{
    private readonly DataPlaneClients _clients = new();
    private readonly TempDirectory _dir = new();

    public ValueTask DisposeAsync()
    {
        _clients.Dispose();
        _dir.Dispose();
        return ValueTask.CompletedTask;
    }

    [Fact]
    public async Task A_source_snapshots_after_its_batches_in_flight_are_answered_and_routed_then_sends_the_barrier()
    {
        // Downstream: a real data plane whose queue lets barriers in.
        var downstream = new InboundQueue(channelsMax: 2, channelCreditRows: 100, channelCreditBytes: 1_000_000);
        downstream.UseGate(reader => reader);
        await using var server = await TestTelemetry.StartServerAsync(new DataPlaneIdentity("counter", 0, "inc-0", new HashSet<string> { "out" }), downstream).WaitAsync(Bound);
        var metrics = TestTelemetry.Metrics();
        await using var router = new Router(new StreamTable(["out"]),
            (stream, reader, index) => new OutboundChannel(stream, reader, index, "source/0", _clients, NullLogger.Instance, TimeProvider.System, metrics, TestTelemetry.Tracing(metrics)),
            NullLogger.Instance, TimeProvider.System, metrics);
        var table = RoutingTests.Table("out", Grouping.Shuffle, 1);
        table.Streams[0].Readers[0].Instances[0].DataAddress = server.Address;
        table.Streams[0].Readers[0].Instances[0].Incarnation = "inc-0";
        await router.ApplyAsync(table).WaitAsync(Bound);

        // The source: its batches are driven by records put into its (otherwise unused) inbound queue.
        var scripted = new ScriptedSession("out");
        var checkpointed = new RecordingOperator();
        var events = new ConcurrentQueue<string>();
        scripted.BeforeSend = batch =>
        {
            events.Enqueue($"send {batch.Seq}");
            return Task.CompletedTask;
        };
        var input = new InboundQueue(channelsMax: 2, channelCreditRows: 100, channelCreditBytes: 100_000);
        var pump = new BatchPump(new CheckpointedSession(scripted, checkpointed), input, router, new TimerQueue(), TimeProvider.System, metrics, TestTelemetry.Tracing(metrics));
        var acks = Channel.CreateUnbounded<AcknowledgeCheckpointRequest>();
        var participant = Participant(DeliveryGuarantee.DeliveryExactlyOnce, acks, checkpointed, router: router, operatorName: "source");
        participant.Attach(input);
        pump.Checkpoints = participant;
        var inFlightAtSnapshot = -1;
        checkpointed.OnSnapshot = id =>
        {
            inFlightAtSnapshot = pump.InFlight;
            events.Enqueue($"snapshot {id}");
        };

        using var stop = new CancellationTokenSource();
        var answers = pump.RunAnswerLoopAsync(stop.Token);
        var sends = pump.RunSendLoopAsync(stop.Token, stop.Token);
        await scripted.Answers.Writer.WriteAsync(new BatchDone { Seq = 0 });
        Push(input, Record("in1"));
        Assert.Equal(1UL, (await scripted.Sent.Reader.ReadAsync().AsTask().WaitAsync(Bound)).Seq);

        // Begin while batch 1 is unanswered: no snapshot, no barrier, no new batch yet.
        await participant.HandleAsync(Begin(1, Path.Combine(_dir.Path, "chk-1")));
        Assert.True(participant.WorkDue);
        Push(input, Record("in2"));
        Assert.Empty(checkpointed.Calls);

        // Batch 1's answer produces p1: it is routed before the barrier goes out.
        events.Enqueue("answer 1");
        var done = new BatchDone { Seq = 1 };
        done.Produced.Add(new ProducedRecord { Stream = "out", Record = Record("p1") });
        await scripted.Answers.Writer.WriteAsync(done);

        Assert.Equal(2UL, (await scripted.Sent.Reader.ReadAsync().AsTask().WaitAsync(Bound)).Seq);
        Assert.Equal(["send 1", "answer 1", "snapshot 1", "send 2"], events);
        Assert.Equal(0, inFlightAtSnapshot);
        Assert.Equal(["p1", "barrier 1"], await ReadThroughBarrierAsync(downstream));
        var ack = await acks.Reader.ReadAsync().AsTask().WaitAsync(Bound);
        Assert.Equal((1UL, "source", 0L, ""), (ack.CheckpointId, ack.OperatorName, ack.AlignmentMs, ack.Error));

        await stop.CancelAsync();
        await Task.WhenAll(answers, sends).WaitAsync(Bound).ContinueWith(_ => { }, TaskScheduler.Default);
    }

    [Fact]
    public async Task An_exactly_once_reader_holds_the_early_channel_until_both_barriers_then_forwards_its_own_after_the_records_before_them()
    {
        var downstream = new InboundQueue(channelsMax: 2, channelCreditRows: 100, channelCreditBytes: 1_000_000);
        downstream.UseGate(reader => reader);
        await using var sink = await TestTelemetry.StartServerAsync(new DataPlaneIdentity("sink", 0, "inc-sink", new HashSet<string> { "out" }), downstream).WaitAsync(Bound);
        var metrics = TestTelemetry.Metrics();
        OutboundChannel Channel(string stream, string reader, int index, string sender) =>
            new(stream, reader, index, sender, _clients, NullLogger.Instance, TimeProvider.System, metrics, TestTelemetry.Tracing(metrics));
        await using var router = new Router(new StreamTable(["out"]), (stream, reader, index) => Channel(stream, reader, index, "counter/0"),
            NullLogger.Instance, TimeProvider.System, metrics);
        var table = RoutingTests.Table("out", Grouping.Shuffle, 1, reader: "sink");
        table.Streams[0].Readers[0].Instances[0].DataAddress = sink.Address;
        table.Streams[0].Readers[0].Instances[0].Incarnation = "inc-sink";
        await router.ApplyAsync(table).WaitAsync(Bound);

        // The reader: its own data plane, alignment, pump and an operator that echoes every record to "out".
        var input = new InboundQueue(channelsMax: 4, channelCreditRows: 100, channelCreditBytes: 1_000_000);
        var checkpointed = new RecordingOperator();
        var scripted = new ScriptedSession("out");
        var pump = new BatchPump(new CheckpointedSession(scripted, checkpointed), input, router, new TimerQueue(), TimeProvider.System, metrics, TestTelemetry.Tracing(metrics));
        var acks = System.Threading.Channels.Channel.CreateUnbounded<AcknowledgeCheckpointRequest>();
        var participant = Participant(DeliveryGuarantee.DeliveryExactlyOnce, acks, checkpointed, router: router);
        participant.Attach(input);
        pump.Checkpoints = participant;
        await using var server = await TestTelemetry.StartServerAsync(new DataPlaneIdentity("counter", 0, "inc-0", new HashSet<string> { "words" }), input).WaitAsync(Bound);

        using var stop = new CancellationTokenSource();
        var answers = pump.RunAnswerLoopAsync(stop.Token);
        var sends = pump.RunSendLoopAsync(stop.Token, stop.Token);
        var echo = Task.Run(async () =>
        {
            await scripted.Answers.Writer.WriteAsync(new BatchDone { Seq = 0 });
            await foreach (var batch in scripted.Sent.Reader.ReadAllAsync(stop.Token))
            {
                var done = new BatchDone { Seq = batch.Seq };
                done.Produced.AddRange(batch.Records.Select(r => new ProducedRecord { Stream = "out", Record = r }));
                await scripted.Answers.Writer.WriteAsync(done);
            }
        });

        await participant.HandleAsync(Begin(1, Path.Combine(_dir.Path, "chk-1"), ("words", "a/0"), ("words", "b/0")));
        await using var a = Channel("words", "counter", 0, "a/0");
        await using var b = Channel("words", "counter", 0, "b/0");
        a.SetTarget(new OutboundTarget(server.Address, "inc-0"));
        b.SetTarget(new OutboundTarget(server.Address, "inc-0"));
        await a.EnqueueAsync(Raw("a1"), CancellationToken.None).AsTask().WaitAsync(Bound);
        a.EnqueueBarrier(new Contracts.DataPlane.V1.Barrier { CheckpointId = 1 });
        await a.EnqueueAsync(Raw("a2"), CancellationToken.None).AsTask().WaitAsync(Bound);
        await b.EnqueueAsync(Raw("b1"), CancellationToken.None).AsTask().WaitAsync(Bound);

        // a1 and b1 go through; a2 waits behind a's barrier.
        var before = new List<string>();
        while (before.Count < 2)
        {
            var item = await downstream.Reader.ReadAsync().AsTask().WaitAsync(Bound);
            Assert.Null(item.Barrier);
            before.AddRange(item.Records.Select(r => r.KeyString()));
            downstream.Release(item.Source, item.Records.Length, item.Records.Sum(r => (long)r.Length));
        }
        Assert.Equal(["a1", "b1"], before.Order());
        Assert.Empty(checkpointed.Calls);

        b.EnqueueBarrier(new Contracts.DataPlane.V1.Barrier { CheckpointId = 1 });
        await b.EnqueueAsync(Raw("b2"), CancellationToken.None).AsTask().WaitAsync(Bound);
        // Nothing between b1 and the barrier: a2, sent before b's barrier, was held back.
        Assert.Equal(["barrier 1"], await ReadThroughBarrierAsync(downstream));
        var after = new List<string>();
        while (after.Count < 2)
        {
            var item = await downstream.Reader.ReadAsync().AsTask().WaitAsync(Bound);
            after.AddRange(item.Records.Select(r => r.KeyString()));
            downstream.Release(item.Source, item.Records.Length, item.Records.Sum(r => (long)r.Length));
        }
        Assert.Equal(["a2", "b2"], after.Order());
        Assert.Equal(["snapshot 1"], checkpointed.Calls);
        var ack = await acks.Reader.ReadAsync().AsTask().WaitAsync(Bound);
        Assert.Equal((1UL, ""), (ack.CheckpointId, ack.Error));

        await stop.CancelAsync();
        await Task.WhenAll(answers, sends, echo).WaitAsync(Bound).ContinueWith(_ => { }, TaskScheduler.Default);
    }

    [Fact]
    public void Restore_loads_state_timers_and_every_instances_operator_snapshot_and_returns_the_id()
    {
        var chk = Path.Combine(_dir.Path, "chk-7");
        _dir.Write("chk-7/counter/0.operator", "pos-a");
        _dir.Write("chk-7/counter/1.operator", "pos-b");
        _dir.Write("chk-7/other/0.operator", "not ours");
        var backend = new RecordingStateBackend();
        var checkpointed = new RecordingOperator();
        Executor.State.IKeyedStateBackend? timersFrom = null;

        var id = RestoreAtStart.Restore(chk, "counter", backend, checkpointed, b => timersFrom = b, NullLogger.Instance);

        Assert.Equal(7UL, id);
        Assert.Equal(["restore chk-7 counter"], backend.Calls);
        Assert.Same(backend, timersFrom);
        Assert.Equal(["restore 7"], checkpointed.Calls);
        Assert.Equal(["pos-a", "pos-b"], checkpointed.Restored!.OrderBy(s => s.Key).Select(s => System.Text.Encoding.UTF8.GetString(s.Value)));
        Assert.Equal([0, 1], checkpointed.Restored!.Keys.Order());
    }

    [Fact]
    public void Restore_accepts_a_version_that_declares_every_state_name_the_checkpoint_holds_and_may_add_names()
    {
        var chk = Path.Combine(_dir.Path, "chk-7");
        Directory.CreateDirectory(chk);
        var backend = new RecordingStateBackend { RestoredStateNames = ["concord.timers", "count"] };
        var checkpointed = new RecordingOperator();

        var id = RestoreAtStart.Restore(chk, "counter", backend, checkpointed, null, declaredStates: ["count", "total"], NullLogger.Instance);

        Assert.Equal(7UL, id);
        Assert.Equal(["restore 7"], checkpointed.Calls);
    }

    [Fact]
    public void Restore_into_a_version_that_does_not_declare_a_state_name_of_the_checkpoint_fails_naming_both_and_the_fix_before_the_operator_sees_it()
    {
        var chk = Path.Combine(_dir.Path, "chk-12");
        Directory.CreateDirectory(chk);
        var backend = new RecordingStateBackend { RestoredStateNames = ["concord.timers", "count"] };
        var checkpointed = new RecordingOperator();
        var timersRestored = false;

        var e = Assert.Throws<StateIncompatibleException>(() =>
            RestoreAtStart.Restore(chk, "counter", backend, checkpointed, _ => timersRestored = true, declaredStates: ["total"], NullLogger.Instance));

        Assert.Equal(
            "checkpoint 12 holds state 'count' of 'counter' that this version does not declare (it declares 'total'); declare it in metadata() states " +
            "(a new version may add state names, not drop or rename one), or replace with --drop-state to start it with empty state (docs/live-changes.md)",
            e.Message);
        Assert.IsAssignableFrom<ExecutorFailureException>(e); // Reported to the scheduler with this message.
        Assert.Empty(checkpointed.Calls);
        Assert.False(timersRestored);

        var none = Assert.Throws<StateIncompatibleException>(() =>
            RestoreAtStart.Restore(chk, "counter", backend, null, null, declaredStates: [], NullLogger.Instance));
        Assert.Contains("(it declares none)", none.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Restore_of_a_directory_that_is_not_a_checkpoint_names_the_variable()
    {
        var notCheckpoint = _dir.Combine("somewhere");
        Directory.CreateDirectory(notCheckpoint);
        var e = Assert.Throws<ExecutorConfigException>(() => RestoreAtStart.Restore(notCheckpoint, "counter", null, null, null, NullLogger.Instance));
        Assert.Contains(ExecutorOptions.RestoreCheckpointVariable, e.Message, StringComparison.Ordinal);
        Assert.Contains("chk-<id>", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void The_restore_checkpoint_comes_from_the_environment()
    {
        var env = new Dictionary<string, string>
        {
            [ExecutorOptions.SchedulerAddressVariable] = "http://127.0.0.1:7400",
            [ExecutorOptions.OperatorNameVariable] = "counter",
            [ExecutorOptions.InstanceIndexVariable] = "0",
            [ExecutorOptions.IncarnationVariable] = "inc-0",
            [ExecutorOptions.WorkDirVariable] = _dir.Path,
            [ExecutorOptions.SpecFileVariable] = _dir.Write("spec.json", "{\"name\": \"counter\", \"executable\": \"x\", \"instances\": 1}"),
        };
        Assert.Null(ExecutorOptions.FromEnvironment(k => env.GetValueOrDefault(k)).RestoreCheckpoint);
        env[ExecutorOptions.RestoreCheckpointVariable] = " /ckpt/chk-3 ";
        Assert.Equal("/ckpt/chk-3", ExecutorOptions.FromEnvironment(k => env.GetValueOrDefault(k)).RestoreCheckpoint);
    }

    [Fact]
    public async Task The_scheduler_link_watches_checkpoint_commands_and_acknowledges_with_the_launch_secret()
    {
        await using var host = await FakeSchedulerHost.StartAsync();
        using var link = new SchedulerLink(new Uri(host.Address), NullLogger<SchedulerLink>.Instance, TimeProvider.System, launchSecret: "launch-s3cret");
        var received = Channel.CreateUnbounded<CheckpointCommand>();
        using var stop = new CancellationTokenSource();
        var watch = link.WatchCheckpointsAsync(new WatchCheckpointsRequest { OperatorName = "counter", InstanceIndex = 0, Incarnation = "inc-0" },
            command => received.Writer.WriteAsync(command).AsTask(), stop.Token);

        await host.Scheduler.CheckpointCommands.Writer.WriteAsync(Begin(5, "/ckpt/chk-5", ("words", "a/0")));
        var begin = (await received.Reader.ReadAsync().AsTask().WaitAsync(Bound)).Begin;
        Assert.Equal(5UL, begin.CheckpointId);
        Assert.Equal("a/0", begin.Inputs.Single().Sender);

        await link.AcknowledgeCheckpointAsync(new AcknowledgeCheckpointRequest { OperatorName = "counter", CheckpointId = 5, DurationMs = 3 }, CancellationToken.None).WaitAsync(Bound);
        var (ack, secret) = await host.Scheduler.Acknowledgements.Reader.ReadAsync().AsTask().WaitAsync(Bound);
        Assert.Equal((5UL, 3L), (ack.CheckpointId, ack.DurationMs));
        Assert.Equal("launch-s3cret", secret);

        await stop.CancelAsync();
        await Assert.ThrowsAnyAsync<Exception>(() => watch.WaitAsync(Bound));
    }

    [Fact]
    public async Task The_scheduler_link_follows_a_standbys_refusal_to_the_leader_it_names()
    {
        await using var leader = await FakeSchedulerHost.StartAsync(new FakeScheduler(new RoutingTable { Version = 1 }));
        await using var standby = await FakeSchedulerHost.StartAsync();
        standby.Scheduler.RefuseRegistrationWith = new Status(StatusCode.Unavailable, $"this scheduler is a standby; {LeaderRedirect.Marker}{leader.Address}");
        using var link = new SchedulerLink(new Uri(standby.Address), NullLogger<SchedulerLink>.Instance, TimeProvider.System);
        var tables = Channel.CreateUnbounded<RoutingTable>();
        using var stop = new CancellationTokenSource();

        var watch = link.RegisterAndWatchAsync(new RegisterExecutorRequest { OperatorName = "counter", InstanceIndex = 0, Incarnation = "inc-0" },
            table => tables.Writer.WriteAsync(table).AsTask(), stop.Token);

        Assert.Equal("inc-0", (await leader.Scheduler.Registrations.Reader.ReadAsync().AsTask().WaitAsync(Bound)).Incarnation);
        Assert.Equal(1L, (await tables.Reader.ReadAsync().AsTask().WaitAsync(Bound)).Version);
        Assert.Equal(leader.Address.TrimEnd('/'), link.Current);
        await stop.CancelAsync();
        await Assert.ThrowsAnyAsync<Exception>(() => watch.WaitAsync(Bound));
    }
}
