using System.Globalization;
using Concord.Conformance.Tests.Harness;
using Concord.Contracts;
using Concord.Contracts.Types.V1;
using Concord.Executor;
using Google.Protobuf;
using static Concord.Conformance.Tests.Harness.ConformanceRig;

namespace Concord.Conformance.Tests;

/// <summary>
/// The conformance suite: every case runs against every language's test operator
/// (tests/operators), inside the real executor process, so the output is a case × language
/// table. The cases and the test operator's behaviour per case are in docs/conformance.md.
/// </summary>
public sealed class ConformanceTests
{
    public static TheoryData<string> Languages => Harness.Languages.All;

    private static ConcordRecord Record(string key, string value) => Record(ByteString.CopyFromUtf8(key), ByteString.CopyFromUtf8(value));

    private static ConcordRecord Record(ByteString key, ByteString value) => new() { Key = key, Value = value };

    /// <summary>"key=value" of each record, in arrival order.</summary>
    private static List<string> Pairs(IEnumerable<Received> received) =>
        [.. received.Select(r => $"{r.Record.Key.ToStringUtf8()}={r.Record.Value.ToStringUtf8()}")];

    [Theory, MemberData(nameof(Languages))]
    public async Task Produce_to_several_streams(string language)
    {
        await using var rig = await ConformanceRig.StartAsync();
        using var executor = rig.StartExecutor(language, "produce");
        var registration = await rig.RegistrationAsync(executor);
        Assert.Equal([OutputA, OutputB], registration.Metadata.Outputs);

        await using var sender = await UpstreamSender.OpenAsync(registration);
        await sender.SendAllAsync(Record("k1", "one"), Record("k2", "two"), Record("k3", "three"));

        var received = await rig.Receiver.WaitUntilAsync(r => r.Count >= 6, "3 records on out-a and 3 on out-b");
        string Values(string stream) => string.Join(",", received.Where(r => r.Stream == stream).Select(r => $"{r.Record.Key.ToStringUtf8()}={r.Record.Value.ToStringUtf8()}"));
        Assert.Equal("k1=a:one,k2=a:two,k3=a:three", Values(OutputA));
        Assert.Equal("k1=b:one,k2=b:two,k3=b:three", Values(OutputB));
        Assert.All(received, r => Assert.Equal($"{OperatorName}/0", r.Sender));
    }

    [Theory, MemberData(nameof(Languages))]
    public async Task Timers_fire_in_time_order_and_can_rearm(string language)
    {
        await using var rig = await ConformanceRig.StartAsync();
        using var executor = rig.StartExecutor(language, "timers");
        await rig.RegistrationAsync(executor);

        // init() set t3 (+300 ms), t1 (+100), t2 (+200), rearm (+150) out of order; the first
        // rearm fire sets rearm again 200 ms later (+350), after t3.
        var fired = await rig.Receiver.WaitUntilAsync(r => r.Count >= 5, "five timer fires");
        Assert.Equal(["t1", "rearm", "t2", "t3", "rearm"], fired.Select(r => r.Record.Key.ToStringUtf8()));
        var times = fired.Select(r => long.Parse(r.Record.Value.ToStringUtf8(), CultureInfo.InvariantCulture)).ToList();
        Assert.Equal(times.Order(), times);
        Assert.Equal(times[1] + 200, times[4]);
        Assert.All(fired, r => Assert.True(r.ReceivedUnixMs >= long.Parse(r.Record.Value.ToStringUtf8(), CultureInfo.InvariantCulture),
            $"timer {r.Record.Key.ToStringUtf8()} due at {r.Record.Value.ToStringUtf8()} fired early, at {r.ReceivedUnixMs}"));
        Assert.Equal(5, rig.Receiver.Snapshot().Count);
    }

    [Theory, MemberData(nameof(Languages))]
    public async Task Group_by_delivers_each_key_to_one_instance(string language)
    {
        const int instances = 2;
        await using var rig = await ConformanceRig.StartAsync();
        var executors = Enumerable.Range(0, instances).Select(i => rig.StartExecutor(language, "group_by", i, instances)).ToList();
        var registrations = new Dictionary<int, Contracts.Scheduler.V1.RegisterExecutorRequest>();
        foreach (var executor in executors)
        {
            var registration = await rig.RegistrationAsync(executor);
            registrations[registration.InstanceIndex] = registration;
        }
        Assert.Equal([0, 1], registrations.Keys.Order());
        Assert.All(registrations.Values, r => Assert.Equal(Grouping.GroupBy, Assert.Single(r.Metadata.Inputs).Grouping));

        // The harness is the upstream executor: it routes each key to the instance whose
        // key-group range holds it, exactly as the routing table would.
        var keys = Enumerable.Range(0, 200).Select(i => $"key-{i}").ToList();
        int Owner(string key)
        {
            var group = KeyGroups.Of(System.Text.Encoding.UTF8.GetBytes(key));
            return Enumerable.Range(0, instances).Single(i => KeyGroups.RangeOf(i, instances) is var (s, e) && group >= s && group < e);
        }
        Assert.All(Enumerable.Range(0, instances), i => Assert.Contains(keys, k => Owner(k) == i));
        var senders = new List<UpstreamSender>();
        try
        {
            foreach (var (index, registration) in registrations)
            {
                senders.Add(await UpstreamSender.OpenAsync(registration));
                await senders[^1].SendAllAsync([.. keys.Where(k => Owner(k) == index).Select(k => Record(k, k))]);
            }
            await AssertEachKeyReachedItsOwnerAsync();
        }
        finally
        {
            foreach (var sender in senders)
            {
                await sender.DisposeAsync();
            }
        }

        async Task AssertEachKeyReachedItsOwnerAsync()
        {

            var received = await rig.Receiver.WaitUntilAsync(r => r.Count >= keys.Count, $"{keys.Count} echoes");
            Assert.Equal(keys.Order(StringComparer.Ordinal), received.Select(r => r.Record.Key.ToStringUtf8()).Order(StringComparer.Ordinal));
            Assert.All(received, r =>
            {
                var owner = Owner(r.Record.Key.ToStringUtf8()).ToString(CultureInfo.InvariantCulture);
                Assert.Equal(owner, r.Record.Value.ToStringUtf8()); // the operator echoes its instance index
                Assert.Equal($"{OperatorName}/{owner}", r.Sender);
            });
        }
    }

    [Theory, MemberData(nameof(Languages))]
    public async Task A_blocking_callback_applies_backpressure(string language)
    {
        const int total = 20_000;
        await using var rig = await ConformanceRig.StartAsync();
        using var executor = rig.StartExecutor(language, "backpressure");
        var registration = await rig.RegistrationAsync(executor);

        // The first callback blocks until the file "release" exists. Everything the executor
        // accepts meanwhile sits in its inbound credit window or in batches in flight to the
        // operator; nothing else may be granted.
        const long boundRows = ExecutorLimits.InboundChannelCreditRows + (long)ExecutorLimits.BatchesInFlightMax * ExecutorLimits.BatchRowsMax;
        Assert.True(total > boundRows, "the case must offer more than the executor may accept");
        await using var sender = await UpstreamSender.OpenAsync(registration);
        var records = Enumerable.Range(0, total).Select(i => Record($"r{i:D5}", "0123456789abcdef")).ToList();
        using var sendStop = new CancellationTokenSource(TimeSpan.FromMilliseconds(ConformanceLimits.StartTimeoutMs));
        var sending = sender.SendAsync(records, sendStop.Token);

        var deadline = Environment.TickCount64 + ConformanceLimits.StepTimeoutMs;
        // A stall counts once credit has come at all: before the first grant the channel is
        // still opening (a cold executor's first HTTP/2 request can take longer than the stall).
        while (sender.GrantedRows == 0 || sender.WaitingForCreditMs < ConformanceLimits.CreditStallMs)
        {
            Assert.False(sending.IsCompleted, $"the sender sent all {total} records while the operator was blocked: no backpressure");
            Assert.True(Environment.TickCount64 < deadline, "the sender never ran out of credit");
            await Task.Delay(ConformanceLimits.PollIntervalMs);
        }
        var granted = sender.GrantedRows;
        Assert.InRange(sender.SentRows, 1, granted);
        Assert.True(granted <= boundRows,
            $"the executor granted {granted} rows while its operator was blocked; at most {boundRows} (inbound window + batches in flight) may be held");
        Assert.Empty(rig.Receiver.Snapshot());

        File.WriteAllText(Path.Combine(executor.WorkDir, "release"), "");
        await sending.WaitAsync(ConformanceLimits.StepTimeout);
        var received = await rig.Receiver.WaitUntilAsync(r => r.Count >= total, $"all {total} records after the release");
        Assert.Equal(records.Select(r => r.Key), received.Select(r => r.Record.Key)); // nothing lost, nothing reordered
    }

    [Theory, MemberData(nameof(Languages))]
    public async Task An_exception_is_reported_and_the_exit_code_is_non_zero(string language)
    {
        await using var rig = await ConformanceRig.StartAsync();
        using var executor = rig.StartExecutor(language, "exception");
        var registration = await rig.RegistrationAsync(executor);
        Assert.True(registration.OperatorPid > 0);

        await using var sender = await UpstreamSender.OpenAsync(registration);
        await sender.SendAllAsync(Record("boom", "x"));

        Assert.Equal(ExecutorHost.ExitFailure, await executor.ExitCodeAsync());
        var failure = await rig.FailureAsync(executor);
        Assert.Equal(OperatorName, failure.OperatorName);
        Assert.True(failure.Message.Contains("conformance failure on purpose", StringComparison.Ordinal),
            $"ReportFailure does not carry the operator's exception: {failure.Message}\nexecutor output:\n{executor.Output}");
        Assert.True(await GoneAsync(registration.OperatorPid), $"operator process {registration.OperatorPid} outlived its executor");
        Assert.Empty(rig.Receiver.Snapshot());
    }

    [Theory, MemberData(nameof(Languages))]
    public async Task Destroy_runs_on_shutdown(string language)
    {
        await using var rig = await ConformanceRig.StartAsync();
        using var executor = rig.StartExecutor(language, "destroy");
        var registration = await rig.RegistrationAsync(executor);
        await using var sender = await UpstreamSender.OpenAsync(registration);
        await sender.SendAllAsync(Record("k", "v"));
        await rig.Receiver.WaitUntilAsync(r => r.Count == 1, "the echo of one record (the session is live)");
        var marker = Path.Combine(executor.WorkDir, "destroyed");
        Assert.False(File.Exists(marker));

        executor.Terminate();

        Assert.True(ExecutorHost.ExitOk == await executor.ExitCodeAsync(), executor.Output);
        Assert.Equal("destroyed", File.ReadAllText(marker));
        Assert.True(await GoneAsync(registration.OperatorPid), $"operator process {registration.OperatorPid} outlived its executor");
        Assert.False(rig.Scheduler.Failures.Reader.TryRead(out var failure), $"a clean shutdown reported a failure: {failure?.Message}");
    }

    [Theory, MemberData(nameof(Languages))]
    public async Task Records_up_to_the_size_limit_pass(string language)
    {
        await using var rig = await ConformanceRig.StartAsync();
        using var executor = rig.StartExecutor(language, "size_limit");
        var registration = await rig.RegistrationAsync(executor);
        await using var sender = await UpstreamSender.OpenAsync(registration);

        var key = ByteString.CopyFromUtf8("max");
        var value = new byte[ProtocolLimits.RecordBytesMax - key.Length];
        new Random(42).NextBytes(value);
        await sender.SendAllAsync(Record(key, ByteString.CopyFrom(value)));
        var echoed = Assert.Single(await rig.Receiver.WaitUntilAsync(r => r.Count >= 1, "the echo of the largest record"));
        Assert.Equal(key, echoed.Record.Key);
        Assert.True(value.AsSpan().SequenceEqual(echoed.Record.Value.Span), "the largest record came back changed");

        // "grow" makes the operator produce a record one byte over the limit: its SDK must refuse.
        await sender.SendAllAsync(Record("grow", "x"));
        Assert.Equal(ExecutorHost.ExitFailure, await executor.ExitCodeAsync());
        var failure = await rig.FailureAsync(executor);
        Assert.Contains($"limit of {ProtocolLimits.RecordBytesMax} bytes", failure.Message);
        Assert.Single(rig.Receiver.Snapshot());
    }

    [Theory, MemberData(nameof(Languages))]
    public async Task Binary_and_non_utf8_keys_pass_unchanged(string language)
    {
        byte[][] keys =
        [
            [0x00],
            [0xff],
            [0x00, 0x01, 0xfe, 0xff],
            [0xc3, 0x28],             // invalid 2-byte sequence
            [0x80],                   // lone continuation byte
            [0xed, 0xa0, 0x80],       // UTF-16 surrogate encoded in UTF-8
            [0xf8, 0x88, 0x80, 0x80, 0x80], // 5-byte form, never valid
            [],                       // no key
        ];
        var records = keys.Select(k => Record(ByteString.CopyFrom(k), ByteString.CopyFrom([.. k.Reverse(), 0x00, 0xff]))).ToList();
        await using var rig = await ConformanceRig.StartAsync();
        using var executor = rig.StartExecutor(language, "binary_keys");
        var registration = await rig.RegistrationAsync(executor);
        await using var sender = await UpstreamSender.OpenAsync(registration);
        await sender.SendAllAsync([.. records]);

        var received = await rig.Receiver.WaitUntilAsync(r => r.Count >= records.Count, $"{records.Count} echoes");
        Assert.Equal(records.Select(r => Convert.ToHexString(r.Key.Span)), received.Select(r => Convert.ToHexString(r.Record.Key.Span)));
        Assert.Equal(records.Select(r => Convert.ToHexString(r.Value.Span)), received.Select(r => Convert.ToHexString(r.Record.Value.Span)));
    }

    [Theory, MemberData(nameof(Languages))]
    public async Task Invalid_metadata_is_rejected_with_a_clear_error(string language)
    {
        await using var rig = await ConformanceRig.StartAsync();
        // metadata() names the operator "not-conformance" while the deploy file says "conformance".
        using var executor = rig.StartExecutor(language, "invalid_metadata");

        Assert.Equal(ExecutorHost.ExitFailure, await executor.ExitCodeAsync());
        var failure = await rig.FailureAsync(executor);
        Assert.Contains($"the operator calls itself 'not-{OperatorName}' but the deploy file names it '{OperatorName}'", failure.Message);
        Assert.Contains($"make metadata() return name '{OperatorName}'", failure.Message); // the fix
        Assert.False(rig.Scheduler.Registrations.Reader.TryRead(out _), "an executor with invalid metadata registered");
    }

    [Theory, MemberData(nameof(Languages))]
    public async Task Keyed_state_counts_per_key_across_pipelined_batches(string language)
    {
        // Many records over few keys, sent at once, so several batches are in flight and most
        // see state as of an earlier batch: the SDK's overlay of its own changes must make the
        // counts 1, 2, 3, ... per key regardless. Key k0 is cleared half-way and restarts at 1.
        const int keys = 8, perKey = 500, clearAt = 250;
        var records = new List<ConcordRecord>();
        for (var i = 0; i < perKey; i++)
        {
            for (var k = 0; k < keys; k++)
            {
                records.Add(Record($"k{k}", k == 0 && i == clearAt ? "clear" : "x"));
            }
        }
        await using var rig = await ConformanceRig.StartAsync();
        using var executor = rig.StartExecutor(language, "state");
        var registration = await rig.RegistrationAsync(executor);
        Assert.Equal("count", Assert.Single(registration.Metadata.States).Name);
        await using var sender = await UpstreamSender.OpenAsync(registration);
        await sender.SendAllAsync([.. records]);

        var received = await rig.Receiver.WaitUntilAsync(r => r.Count >= records.Count, $"{records.Count} counts");
        Assert.All(received, r => Assert.Equal(OutputA, r.Stream));
        for (var k = 0; k < keys; k++)
        {
            var key = $"k{k}";
            List<string> expected = k == 0
                ? [.. Enumerable.Range(1, clearAt).Select(Ascii), "cleared", .. Enumerable.Range(1, perKey - clearAt - 1).Select(Ascii)]
                : Enumerable.Range(1, perKey).Select(Ascii).ToList();
            Assert.Equal(expected, received.Where(r => r.Record.Key.ToStringUtf8() == key).Select(r => r.Record.Value.ToStringUtf8()).ToList());
        }
        Assert.Equal(records.Count, rig.Receiver.Snapshot().Count);

        static string Ascii(int n) => n.ToString(CultureInfo.InvariantCulture);
    }

    [Theory, MemberData(nameof(Languages))]
    public async Task Keyed_timers_fire_with_their_keys_state(string language)
    {
        await using var rig = await ConformanceRig.StartAsync();
        using var executor = rig.StartExecutor(language, "keyed_timers");
        var registration = await rig.RegistrationAsync(executor);
        await using var sender = await UpstreamSender.OpenAsync(registration);

        // Each record counts into its key's state and (re)sets that key's "flush" timer 100 ms
        // later; the fire reports the key's count on out-b and clears it. A fire that lands
        // between two records of a key splits its count, so the sums are what is exact.
        await sender.SendAllAsync(Record("a", "x"), Record("b", "x"), Record("a", "x"), Record("c", "x"), Record("a", "x"), Record("c", "x"));
        Dictionary<string, long> Sums(IReadOnlyList<Received> received) => received
            .GroupBy(r => r.Record.Key.ToStringUtf8())
            .ToDictionary(g => g.Key, g => g.Sum(r => long.Parse(r.Record.Value.ToStringUtf8(), CultureInfo.InvariantCulture)));
        bool Reached(IReadOnlyList<Received> r, long a, long b, long c) =>
            Sums(r) is var sums && sums.GetValueOrDefault("a") >= a && sums.GetValueOrDefault("b") >= b && sums.GetValueOrDefault("c") >= c;
        var first = await rig.Receiver.WaitUntilAsync(r => Reached(r, 3, 1, 2), "the first fires of a, b and c");
        Assert.All(first, r => Assert.Equal(OutputB, r.Stream));
        Assert.All(first, r => Assert.True(long.Parse(r.Record.Value.ToStringUtf8(), CultureInfo.InvariantCulture) > 0, "a timer fired with no count in scope"));

        // The fires cleared the counts: a second round counts from zero again.
        await sender.SendAllAsync(Record("a", "x"), Record("a", "x"));
        var all = await rig.Receiver.WaitUntilAsync(r => Reached(r, 5, 1, 2), "the fire of a's second round");
        Assert.Equal(new Dictionary<string, long> { ["a"] = 5, ["b"] = 1, ["c"] = 2 }, Sums(all));
        Assert.All(all, r => Assert.Equal(OutputB, r.Stream));
    }

    [Theory, MemberData(nameof(Languages))]
    public async Task Keyed_state_continues_after_a_restore_from_a_checkpoint(string language)
    {
        // Run 1 (exactly_once): k0 x5, k1 x3 then "clear", k2 x2, barrier 1, then k0 x2 more,
        // which come after the barrier and so are not in checkpoint 1. SIGKILL. Run 2 restores
        // checkpoint 1: k0 counts on from 5 (not 7: the records after the barrier are the
        // sources' to replay), k1 stays cleared, k2 counts on from 2, a new key starts at 1.
        var before = new List<ConcordRecord>();
        before.AddRange(Enumerable.Range(0, 5).Select(_ => Record("k0", "x")));
        before.AddRange(Enumerable.Range(0, 3).Select(_ => Record("k1", "x")));
        before.Add(Record("k1", "clear"));
        before.AddRange(Enumerable.Range(0, 2).Select(_ => Record("k2", "x")));
        await using var rig = await ConformanceRig.StartAsync();
        using var first = rig.StartExecutor(language, "state", delivery: DeliveryGuarantee.DeliveryExactlyOnce);
        var registration = await rig.RegistrationAsync(first);
        var checkpoint = await rig.BeginCheckpointAsync(first, 1);
        await using var sender = await UpstreamSender.OpenAsync(registration);
        await sender.SendAllAsync([.. before]);
        await sender.SendBarrierAsync(1);
        await sender.SendAllAsync(Record("k0", "x"), Record("k0", "x"));
        await rig.CompleteCheckpointAsync(first, registration, 1);
        Assert.True(File.Exists(Hosting.Checkpoints.CheckpointLayout.ManifestPath(checkpoint, OperatorName, 0)), "checkpoint 1 holds no state manifest of the instance");

        var old = await rig.Receiver.WaitUntilAsync(r => r.Count >= before.Count + 2, $"the {before.Count + 2} outputs of run 1");
        Assert.Equal(["k0=1", "k0=2", "k0=3", "k0=4", "k0=5", "k1=1", "k1=2", "k1=3", "k1=cleared", "k2=1", "k2=2", "k0=6", "k0=7"], Pairs(old));
        // The barrier left behind every output of the records before it, ahead of the rest.
        Assert.Equal(before.Count, (await rig.Receiver.WaitForBarrierAsync(OutputA, 1)).Position);

        first.KillHard();
        Assert.Equal(ExecutorProcess.ExitKilled, await first.ExitCodeAsync());
        Assert.True(await GoneAsync(registration.OperatorPid), $"operator process {registration.OperatorPid} outlived its SIGKILLed executor");

        using var restored = rig.StartExecutor(language, "state", delivery: DeliveryGuarantee.DeliveryExactlyOnce, restoreFrom: checkpoint, run: 1);
        var again = await rig.RegistrationAsync(restored);
        Assert.Equal(1UL, again.RestoredCheckpointId);
        await using var resender = await UpstreamSender.OpenAsync(again);
        await resender.SendAllAsync(Record("k0", "x"), Record("k1", "x"), Record("k2", "x"), Record("k3", "x"));

        var all = await rig.Receiver.WaitUntilAsync(r => r.Count >= old.Count + 4, "the 4 outputs of the restored run");
        Assert.Equal(["k0=6", "k1=1", "k2=3", "k3=1"], Pairs(all.Skip(old.Count)));
        Assert.All(all, r => Assert.Equal(OutputA, r.Stream));
        Assert.Equal(old.Count + 4, rig.Receiver.Snapshot().Count);
    }

    [Theory, MemberData(nameof(Languages))]
    public async Task Keyed_timers_set_before_a_checkpoint_fire_after_the_restore(string language)
    {
        // Run 1 (exactly_once): a, b, a, a count into their keys and (re)set their "flush"
        // timers 100 ms later; barrier 1 follows at once, so checkpoint 1 holds the counts (a 3,
        // b 1) and both pending timers. Run 1 then fires them itself; SIGKILL. Run 2 restores
        // checkpoint 1 and fires both timers again, with the restored counts, with no record sent.
        await using var rig = await ConformanceRig.StartAsync();
        using var first = rig.StartExecutor(language, "keyed_timers", delivery: DeliveryGuarantee.DeliveryExactlyOnce);
        var registration = await rig.RegistrationAsync(first);
        // The begin is in before the records, so the snapshot is due the moment their batch is
        // answered, well within the operator's 100 ms flush delay.
        var checkpoint = await rig.BeginCheckpointAsync(first, 1);
        await using var sender = await UpstreamSender.OpenAsync(registration);
        await sender.SendAllAsync(Record("a", "x"), Record("b", "x"), Record("a", "x"), Record("a", "x"));
        await sender.SendBarrierAsync(1);
        await rig.CompleteCheckpointAsync(first, registration, 1);

        var barrier = await rig.Receiver.WaitForBarrierAsync(OutputB, 1);
        Assert.True(barrier.Position == 0,
            "a flush timer fired before checkpoint 1's snapshot, so the checkpoint does not hold it pending: the barrier reached the executor later than the operator's 100 ms flush delay");
        var old = await rig.Receiver.WaitUntilAsync(r => r.Count >= 2, "run 1's fires of a and b");
        Assert.Equal(new Dictionary<string, string> { ["a"] = "3", ["b"] = "1" }, Fires(old));

        first.KillHard();
        Assert.Equal(ExecutorProcess.ExitKilled, await first.ExitCodeAsync());
        Assert.True(await GoneAsync(registration.OperatorPid), $"operator process {registration.OperatorPid} outlived its SIGKILLed executor");

        using var restored = rig.StartExecutor(language, "keyed_timers", delivery: DeliveryGuarantee.DeliveryExactlyOnce, restoreFrom: checkpoint, run: 1);
        var again = await rig.RegistrationAsync(restored);
        Assert.Equal(1UL, again.RestoredCheckpointId);
        var refired = await rig.Receiver.WaitUntilAsync(r => r.Count >= old.Count + 2, "the restored timers' fires of a and b");
        Assert.Equal(new Dictionary<string, string> { ["a"] = "3", ["b"] = "1" }, Fires(refired.Skip(old.Count)));

        // The restored fires cleared the restored counts: a new round counts from zero.
        await using var resender = await UpstreamSender.OpenAsync(again);
        await resender.SendAllAsync(Record("a", "x"), Record("a", "x"));
        var all = await rig.Receiver.WaitUntilAsync(r => r.Count >= old.Count + 3, "the fire of a's new round");
        Assert.Equal(new Dictionary<string, string> { ["a"] = "2" }, Fires(all.Skip(old.Count + 2)));
        Assert.All(all, r => Assert.Equal(OutputB, r.Stream));
        Assert.Equal(old.Count + 3, rig.Receiver.Snapshot().Count);

        static Dictionary<string, string> Fires(IEnumerable<Received> received) =>
            received.ToDictionary(r => r.Record.Key.ToStringUtf8(), r => r.Record.Value.ToStringUtf8());
    }

    [Theory, MemberData(nameof(Languages))]
    public async Task Event_time_timers_fire_only_when_the_watermark_passes_them(string language)
    {
        await using var rig = await ConformanceRig.StartAsync();
        using var executor = rig.StartExecutor(language, "event_time_timers");
        var registration = await rig.RegistrationAsync(executor);
        await using var sender = await UpstreamSender.OpenAsync(registration);

        // Each record sets its key's event-time timer "fire" at its event time + 100; a fire
        // reports (state key, fire time) on out-b. The executor knows its input watermark only
        // ExecutorLimits.WatermarkInputIdleMs after its first input (docs/guarantees.md).
        var grace = TimeSpan.FromMilliseconds(Executor.ExecutorLimits.WatermarkInputIdleMs);
        await sender.SendAllAsync(EventRecord("a", 1_000), EventRecord("b", 2_000), EventRecord("c", 3_000));
        await sender.SendWatermarkAsync(2_150);
        var first = await rig.Receiver.WaitUntilAsync(r => r.Count >= 2, "the fires of a and b at watermark 2150", ConformanceLimits.StepTimeout + grace);
        Assert.Equal([("a", "1100"), ("b", "2100")], Fires(first));

        // c's timer (3100) waits for a watermark that reaches it.
        await sender.SendWatermarkAsync(3_100);
        var all = await rig.Receiver.WaitUntilAsync(r => r.Count >= 3, "the fire of c at watermark 3100");
        Assert.Equal([("a", "1100"), ("b", "2100"), ("c", "3100")], Fires(all));
        Assert.All(all, r => Assert.Equal(OutputB, r.Stream));

        static ConcordRecord EventRecord(string key, long eventTimeMs) => new()
        {
            Key = ByteString.CopyFromUtf8(key),
            Value = ByteString.CopyFromUtf8("x"),
            EventTimeUnixMs = eventTimeMs,
        };
        static List<(string, string)> Fires(IReadOnlyList<Received> received) =>
            [.. received.Select(r => (r.Record.Key.ToStringUtf8(), r.Record.Value.ToStringUtf8()))];
    }
}
