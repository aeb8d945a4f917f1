using Concord.Contracts;
using Concord.Contracts.Operator.V1;
using Concord.Contracts.Types.V1;
using Concord.Executor.DataPlane;
using Concord.Executor.Records;
using Concord.Executor.Session;
using Concord.Executor.State;
using Concord.Executor.Timers;
using Google.Protobuf;
using static Concord.Executor.Tests.TestSupport;

namespace Concord.Executor.Tests;

/// <summary>Keyed state on the operator session: what ProcessBatch ships, how BatchDone's mutations apply.</summary>
public class KeyedStateTests
{
    private readonly WaitWatchingTimeProvider _time = new(DateTimeOffset.FromUnixTimeMilliseconds(1_700_000_000_000));
    private readonly InboundQueue _queue = new(channelsMax: 4, channelCreditRows: 1000, channelCreditBytes: 1_000_000);
    private readonly MemoryStateBackend _backend = new(ProtocolLimits.KeyGroupCount, (0, ProtocolLimits.KeyGroupCount), 1 << 26); // room for the batch-bound tests' 12.5 MiB
    private readonly ScriptedSession _session = new("out");

    private static byte[] B(string text) => System.Text.Encoding.UTF8.GetBytes(text);

    private static StateDescriptor[] Declared(params string[] names) => [.. names.Select(n => new StateDescriptor { Name = n, Kind = StateKind.Value })];

    private (BatchPump Pump, TimerQueue Timers) Pump(int rows = 16, int inFlight = 4, params string[] states)
    {
        var timers = new TimerQueue(backend: _backend);
        var state = new KeyedStateSession(_backend, Declared(states.Length == 0 ? ["count"] : states));
        var pump = new BatchPump(_session, _queue, null, timers, _time, TestTelemetry.Metrics(), TestTelemetry.Tracing(),
            new BatchPumpOptions { BatchRowsMax = rows, BatchLinger = TimeSpan.FromMilliseconds(1), MaxBatchesInFlight = inFlight }, state);
        return (pump, timers);
    }

    private static StateMutation Set(string key, string name, string value) => new() { Key = ByteString.CopyFromUtf8(key), Name = name, Value = ByteString.CopyFromUtf8(value) };

    private static StateMutation Clear(string key, string name) => new() { Key = ByteString.CopyFromUtf8(key), Name = name, Clear = true };

    private static Dictionary<string, string> Shipped(ProcessBatch batch) => batch.States
        .SelectMany(s => s.Values.Select(v => ($"{s.Key.ToStringUtf8()}/{v.Name}", v.Value.ToStringUtf8())))
        .ToDictionary(p => p.Item1, p => p.Item2);

    [Fact]
    public async Task A_batch_carries_the_declared_states_of_its_distinct_keys_once_each()
    {
        _backend.Set(B("k1"), "count", B("5"));
        _backend.Set(B("k1"), "sum", B("50"));
        _backend.Set(B("k3"), "count", B("7")); // not in the batch
        _backend.Set(B("k1"), "undeclared", B("x")); // stored, but not declared: not shipped
        var (pump, timers) = Pump(states: ["count", "sum"]);
        timers.Set(B("k4"), "flush", _time.GetUtcNow().ToUnixTimeMilliseconds(), TimeDomain.Processing);
        _backend.Set(B("k4"), "count", B("9"));
        Push(_queue, Record("k1"), Record("k2"), Record("k1"));

        var batch = (await pump.AssembleAsync(CancellationToken.None).WaitAsync(Bound)).ToProcessBatch();

        Assert.Equal(3, batch.Records.Count);
        Assert.Equal("k4", Assert.Single(batch.TimersFired).StateKey.ToStringUtf8());
        // k1 once (it has two records), k2 not at all (no value), k4 for its timer.
        Assert.Equal(["k1", "k4"], batch.States.Select(s => s.Key.ToStringUtf8()));
        Assert.Equal(new Dictionary<string, string> { ["k1/count"] = "5", ["k1/sum"] = "50", ["k4/count"] = "9" }, Shipped(batch));
        Assert.Equal(0UL, batch.StateAsOfSeq);
    }

    [Fact]
    public async Task Mutations_apply_in_order_and_later_batches_see_them_with_their_seq()
    {
        // Two batches in flight at most: batch 3 is cut only once batch 1's answer is applied.
        var (pump, _) = Pump(rows: 1, inFlight: 2);
        using var stop = new CancellationTokenSource();
        var answers = pump.RunAnswerLoopAsync(stop.Token);
        var sends = pump.RunSendLoopAsync(stop.Token, stop.Token);
        await _session.Answers.Writer.WriteAsync(new BatchDone { Seq = 0 });
        Push(_queue, Record("a"), Record("a"), Record("a"), Record("a"));

        // Batch 2 is read before batch 1's mutations exist, so it carries state as of 0 and the
        // SDK overlays batch 1's own changes (the pipelining contract, operator.proto).
        var b1 = await _session.Sent.Reader.ReadAsync().AsTask().WaitAsync(Bound);
        var b2 = await _session.Sent.Reader.ReadAsync().AsTask().WaitAsync(Bound);
        Assert.Equal((1UL, 0UL, 2UL, 0UL), (b1.Seq, b1.StateAsOfSeq, b2.Seq, b2.StateAsOfSeq));
        Assert.Empty(b2.States);

        await _session.Answers.Writer.WriteAsync(new BatchDone
        {
            Seq = 1,
            StateMutations = { Set("a", "count", "1"), Set("a", "count", "2"), Set("b", "count", "x"), Clear("b", "count") },
        });
        var b3 = await _session.Sent.Reader.ReadAsync().AsTask().WaitAsync(Bound);
        // In order: a ends at its last value; b was set, then cleared.
        Assert.Equal((3UL, 1UL), (b3.Seq, b3.StateAsOfSeq));
        Assert.Equal(new Dictionary<string, string> { ["a/count"] = "2" }, Shipped(b3));

        await _session.Answers.Writer.WriteAsync(new BatchDone { Seq = 2, StateMutations = { Set("a", "count", "3") } });
        var b4 = await _session.Sent.Reader.ReadAsync().AsTask().WaitAsync(Bound);
        Assert.Equal((4UL, 2UL), (b4.Seq, b4.StateAsOfSeq));
        Assert.Equal(new Dictionary<string, string> { ["a/count"] = "3" }, Shipped(b4));

        await stop.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => Task.WhenAll(sends, answers).WaitAsync(Bound));
        Assert.False(_backend.TryGet(B("b"), "count", out _));
    }

    [Theory]
    [InlineData("other", "state 'other' in batch 0, which it did not declare (declared: [count])")]
    [InlineData("concord.timers", "state 'concord.timers' in batch 0, which it did not declare")]
    public async Task A_mutation_of_an_undeclared_name_fails_the_instance_naming_it(string name, string expected)
    {
        var (pump, _) = Pump();
        var answers = pump.RunAnswerLoopAsync(CancellationToken.None);
        await _session.Answers.Writer.WriteAsync(new BatchDone { Seq = 0, StateMutations = { Set("a", name, "1") } });

        var e = await Assert.ThrowsAsync<OperatorProtocolException>(() => answers.WaitAsync(Bound));
        Assert.Contains(expected, e.Message);
        Assert.Contains("declare it in metadata() states", e.Message);
        Assert.False(_backend.TryGet(B("a"), name, out _));
    }

    [Fact]
    public async Task A_value_over_the_bound_fails_the_instance_naming_size_and_limit()
    {
        var (pump, _) = Pump();
        var answers = pump.RunAnswerLoopAsync(CancellationToken.None);
        var big = new StateMutation { Key = ByteString.CopyFromUtf8("a"), Name = "count", Value = ByteString.CopyFrom(new byte[ExecutorLimits.OperatorStateValueBytesMax + 1]) };
        await _session.Answers.Writer.WriteAsync(new BatchDone { Seq = 0, StateMutations = { big } });

        var e = await Assert.ThrowsAsync<OperatorProtocolException>(() => answers.WaitAsync(Bound));
        Assert.Contains($"{ExecutorLimits.OperatorStateValueBytesMax + 1} bytes", e.Message);
        Assert.Contains($"limit of {ExecutorLimits.OperatorStateValueBytesMax} bytes", e.Message);
    }

    [Fact]
    public async Task A_batch_of_many_keys_with_small_states_is_not_cut_for_the_worst_case()
    {
        // Budgeting 64 KiB per value would cut at 128 keys; counters of a few bytes fill a whole batch.
        const int Keys = 1000;
        for (var i = 0; i < Keys; i++)
        {
            _backend.Set(B($"k{i}"), "count", B("12345"));
        }
        var (pump, _) = Pump(rows: ExecutorLimits.BatchRowsMax);
        Push(_queue, [.. Enumerable.Range(0, Keys).Select(i => Record($"k{i}"))]);

        var batch = (await pump.AssembleAsync(CancellationToken.None).WaitAsync(Bound)).ToProcessBatch();

        Assert.Equal(Keys, batch.Records.Count);
        Assert.Equal(Keys, batch.States.Count);
        Assert.True(Keys > ExecutorLimits.BatchStateBytesMax / 2 / ExecutorLimits.OperatorStateValueBytesMax);
    }

    [Fact]
    public async Task A_batch_whose_states_would_pass_the_bound_is_cut_and_the_rest_goes_next_in_order()
    {
        // 200 keys with the largest value: 12.5 MiB of states, more than the records' half of the bound.
        const int Keys = 200;
        var value = new byte[ExecutorLimits.OperatorStateValueBytesMax];
        for (var i = 0; i < Keys; i++)
        {
            _backend.Set(B($"k{i:000}"), "count", value);
        }
        var (pump, _) = Pump(rows: ExecutorLimits.BatchRowsMax);
        // The first key twice: its second record brings no second copy of the state.
        Push(_queue, [Record("k000"), .. Enumerable.Range(0, Keys).Select(i => Record($"k{i:000}"))]);

        var first = (await pump.AssembleAsync(CancellationToken.None).WaitAsync(Bound)).ToProcessBatch();
        var second = (await pump.AssembleAsync(CancellationToken.None).WaitAsync(Bound)).ToProcessBatch();

        var shipped = first.States.Sum(s => s.CalculateSize());
        Assert.True(shipped <= KeyedStateSession.RecordStateBytesMax, $"{shipped} bytes of states shipped");
        Assert.True(shipped + first.States[0].CalculateSize() > KeyedStateSession.RecordStateBytesMax, "cut before the batch was full of states");
        Assert.Equal(first.Records.Count - 1, first.States.Count);
        Assert.Equal(Keys + 1, first.Records.Count + second.Records.Count);
        Assert.Equal(second.Records.Count, second.States.Count);
        var keys = first.Records.Concat(second.Records).Select(r => r.Key.ToStringUtf8()).ToList();
        Assert.Equal(["k000", .. Enumerable.Range(0, Keys).Select(i => $"k{i:000}")], keys);
        Assert.Equal(keys.Skip(first.Records.Count), second.States.Select(s => s.Key.ToStringUtf8()));
    }

    [Fact]
    public async Task A_batch_cut_short_for_a_checkpoint_still_carries_its_keys_states()
    {
        // Records taken before a checkpoint became due go at once; the operator must still see their state.
        _backend.Set(B("k1"), "count", B("5"));
        var (pump, _) = Pump();
        // Not attached to the queue, so the begin makes the snapshot due at once (as for a source) and records still flow.
        var participant = Checkpoints.CheckpointTestSupport.Participant(DeliveryGuarantee.DeliveryExactlyOnce,
            System.Threading.Channels.Channel.CreateUnbounded<Contracts.Scheduler.V1.AcknowledgeCheckpointRequest>(), backend: _backend);
        pump.Checkpoints = participant;
        await participant.HandleAsync(Checkpoints.CheckpointTestSupport.Begin(1, Path.Combine(Path.GetTempPath(), "unused-chk-1")));
        Assert.True(participant.WorkDue);
        Push(_queue, Record("k1"));

        var batch = (await pump.AssembleAsync(CancellationToken.None).WaitAsync(Bound)).ToProcessBatch();

        Assert.Equal("k1", Assert.Single(batch.Records).Key.ToStringUtf8());
        Assert.Equal(new Dictionary<string, string> { ["k1/count"] = "5" }, Shipped(batch));
    }

    [Fact]
    public void A_stateless_batch_is_written_exactly_as_before()
    {
        var batch = new RawBatch { Seq = 3 };
        batch.Add(Raw("k"));
        var withStates = new RawBatch { Seq = 3 };
        withStates.Add(Raw("k"));
        withStates.AttachStates([new KeyState { Key = ByteString.CopyFromUtf8("k"), Values = { new StateValue { Name = "count", Value = ByteString.CopyFromUtf8("1") } } }], 2);

        Assert.Null(batch.States);
        var plain = new byte[batch.SerializedSize];
        batch.WriteTo(plain);
        var reference = new ExecutorMessage { ProcessBatch = new ProcessBatch { Seq = 3, Records = { Record("k") } } }.ToByteArray();
        Assert.Equal(reference, plain);

        var bytes = new byte[withStates.SerializedSize];
        withStates.WriteTo(bytes);
        var parsed = ExecutorMessage.Parser.ParseFrom(bytes).ProcessBatch;
        Assert.Equal(withStates.ToProcessBatch(), parsed);
        Assert.Equal(2UL, parsed.StateAsOfSeq);
        Assert.Equal("1", Assert.Single(Assert.Single(parsed.States).Values).Value.ToStringUtf8());
    }

    [Fact]
    public void An_answer_without_mutations_allocates_no_mutation_list_and_one_with_them_keeps_their_order()
    {
        Assert.Null(new BatchDone { Seq = 1 }.ToRaw("out").StateMutations);
        var answer = new BatchDone { Seq = 1, StateMutations = { Set("a", "count", "1"), Clear("a", "count"), Set("b", "count", "2") } }.ToRaw("out");
        Assert.Equal(["a:1", "a:clear", "b:2"], answer.StateMutations!.Select(m => $"{m.Key.ToStringUtf8()}:{(m.Clear ? "clear" : m.Value.ToStringUtf8())}"));
    }

    [Theory]
    [InlineData("count", null)]
    [InlineData("a.b-c_D9", null)]
    [InlineData("", "state name '' is not valid")]
    [InlineData("has space", "state name 'has space' is not valid")]
    [InlineData("concord.timers", "must not start with 'concord.' (reserved)")]
    public void State_names_are_checked(string name, string? problem)
    {
        var problems = MetadataValidator.Problems(new OperatorSpec { Name = "op" }, Reported(Capabilities.All, name));
        if (problem is null)
        {
            Assert.Empty(problems);
        }
        else
        {
            Assert.Contains(problem, Assert.Single(problems));
        }
    }

    [Fact]
    public void Declaring_states_requires_the_keyed_state_capability_and_unique_names()
    {
        var problems = MetadataValidator.Problems(new OperatorSpec { Name = "op" }, Reported([Capabilities.BatchPipelining, Capabilities.Timers], "count", "count"));

        Assert.Contains(problems, p => p.Contains("declares states [count, count] but its SDK lacks the capability 'keyed-state.v1'", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.Contains("declares state 'count' twice", StringComparison.Ordinal));
        Assert.Empty(MetadataValidator.Problems(new OperatorSpec { Name = "op" }, Reported([Capabilities.BatchPipelining])));
    }

    private static Metadata Reported(IEnumerable<string> capabilities, params string[] states)
    {
        var metadata = new OperatorMetadata { Name = "op" };
        metadata.States.AddRange(states.Select(s => new StateDescriptor { Name = s }));
        var reported = new Metadata { ProtocolVersion = ProtocolLimits.ProtocolVersion, Metadata_ = metadata };
        reported.Capabilities.AddRange(capabilities);
        return reported;
    }
}

/// <summary>Keyed, durable timers: (state key, key, domain), stored in the state backend, restored from it.</summary>
public class KeyedTimerTests
{
    private static byte[] B(string text) => System.Text.Encoding.UTF8.GetBytes(text);

    private static MemoryStateBackend Backend() => new(ProtocolLimits.KeyGroupCount, (0, ProtocolLimits.KeyGroupCount), 1 << 20);

    [Fact]
    public void Timers_are_one_per_state_key_key_and_domain_and_fire_with_their_state_key()
    {
        var timers = new TimerQueue();
        timers.Set(B("a"), "flush", 20, TimeDomain.Processing);
        timers.Set(B("b"), "flush", 10, TimeDomain.Processing);
        timers.Set(B("a"), "flush", 30, TimeDomain.Processing); // replaces a's
        timers.Set(B("a"), "flush", 5, TimeDomain.Event);       // another domain: another timer
        Assert.Equal(3, timers.Count);

        var fired = new List<TimerFired>();
        timers.TakeDue(100, fired);
        Assert.Equal(["b@10", "a@30"], fired.Select(f => $"{f.StateKey.ToStringUtf8()}@{f.TimeUnixMs}"));
        Assert.All(fired, f => Assert.Equal(TimeDomain.Unspecified, f.Domain)); // processing stays the default on the wire
        Assert.Equal(1, timers.Count);
    }

    [Fact]
    public void Event_time_timers_fire_only_on_the_watermark()
    {
        var timers = new TimerQueue();
        timers.Set(B("a"), "window", 1_000, TimeDomain.Event);
        timers.Set(B("b"), "window", 2_000, TimeDomain.Event);
        var fired = new List<TimerFired>();

        Assert.Equal(0, timers.TakeDue(long.MaxValue, fired));
        Assert.Null(timers.NextDueMs);
        Assert.Equal(1_000, timers.NextEventTimeDueMs);
        Assert.Equal(1, timers.TakeDueEventTime(1_500, fired));
        var first = Assert.Single(fired);
        Assert.Equal(("a", TimeDomain.Event, 1_000L), (first.StateKey.ToStringUtf8(), first.Domain, first.TimeUnixMs));
        Assert.Equal(2_000, timers.NextEventTimeDueMs);
    }

    [Fact]
    public void Pending_timers_are_stored_in_the_backend_and_a_new_queue_restores_them()
    {
        using var backend = Backend();
        var timers = new TimerQueue(backend: backend);
        timers.Set(B("a"), "flush", 20, TimeDomain.Processing);
        timers.Set(B("a"), "window", 50, TimeDomain.Event);
        timers.Set(B("b"), "flush", 10, TimeDomain.Processing);
        timers.Set([], "report", 15, TimeDomain.Processing); // no state key (init, stateless)
        var fired = new List<TimerFired>();
        timers.TakeDue(10, fired); // b's fired: no longer stored

        Assert.Equal(["", "a"], backend.Entries(IKeyedStateBackend.TimersNamespace).Select(e => System.Text.Encoding.UTF8.GetString(e.Key)).Order());
        Assert.False(backend.TryGet(B("b"), IKeyedStateBackend.TimersNamespace, out _));

        var restored = new TimerQueue();
        restored.RestoreFrom(backend);
        Assert.Equal(3, restored.Count);
        var after = new List<TimerFired>();
        restored.TakeDue(100, after);
        restored.TakeDueEventTime(100, after);
        Assert.Equal(["report@15/", "flush@20/a", "window@50/a"], after.Select(f => $"{f.Key}@{f.TimeUnixMs}/{f.StateKey.ToStringUtf8()}"));
        // The restored queue keeps the backend up to date: everything fired, nothing stored.
        Assert.Empty(backend.Entries(IKeyedStateBackend.TimersNamespace));
    }

    [Fact]
    public void A_damaged_stored_timer_entry_is_refused_naming_the_namespace()
    {
        using var backend = Backend();
        backend.Set(B("a"), IKeyedStateBackend.TimersNamespace, [7, 1, 1]);

        var e = Assert.Throws<InvalidDataException>(() => new TimerQueue().RestoreFrom(backend));
        Assert.Contains("concord.timers", e.Message);
    }
}
