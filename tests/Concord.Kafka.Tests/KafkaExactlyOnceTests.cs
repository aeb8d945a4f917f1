using System.Diagnostics;
using System.Globalization;
using Concord.Contracts.Types.V1;
using Concord.EndToEnd.Tests.Harness;
using Xunit.Abstractions;
using static Concord.EndToEnd.Tests.Harness.Guarantees;

namespace Concord.Kafka.Tests;

/// <summary>
/// Exactly-once with Kafka through a running topology and real failures (docs/guarantees.md,
/// docs/kafka.md "Delivery with checkpoints"): a prefilled topic read by an <c>exactly_once</c>
/// kafka-source (2 instances), the keyed-state counter of the delivery-guarantee tests
/// (<see cref="Guarantees.Counter"/>), and an <c>exactly_once</c> sink, on a real scheduler
/// whose executors and operators are SIGKILLed under load, the kafka-source's first. Every kill
/// restores the whole topology from the last completed checkpoint, so the source must seek
/// back to the offsets in that checkpoint and read the rest again.
/// </summary>
public sealed class KafkaExactlyOnceTests(ITestOutputHelper log)
{
    /// <summary>Records prefilled into the input topic (200 words, so ~750 per word).</summary>
    private const int Records = 150_000;

    /// <summary>kafka-source instances: each reads the partitions p with p mod 2 == its index.</summary>
    private const int SourceInstances = 2;

    /// <summary>
    /// The source's read rate per instance, records/s (option "rate"): the whole topic takes at
    /// least 150,000 / (2 × 4,000) ≈ 19 s of reading, so the three kills land while the source
    /// still reads however fast the machine is. Unthrottled, a quiet machine read everything
    /// before the second kill, and the kills waited for progress that could not come.
    /// </summary>
    private const int SourceRatePerInstance = 4_000;

    /// <summary>SIGKILLs during the run, each after the source's committed offsets grew since the last.</summary>
    private const int Kills = 3;

    /// <summary>The source's consumer group (the default, concord-&lt;operator name&gt;): only its offsets are committed there.</summary>
    private const string SourceGroup = "concord-source";

    /// <summary>How long the whole run may take, kills and restores included, on 2 busy cores.</summary>
    private static readonly TimeSpan RunTimeout = TimeSpan.FromSeconds(150);

    [Fact]
    public async Task Kafka_source_to_counter_to_file_sink_commits_every_running_count_exactly_once_through_SIGKILLs_of_the_source_and_others()
    {
        var clock = Stopwatch.StartNew();
        await using var bed = await KafkaTestBed.StartAsync("words");
        var expected = Reference(bed);
        log.WriteLine($"{clock.Elapsed.TotalSeconds:F1} s: {Records} records prefilled");
        var output = Path.Combine(bed.Cluster.Home, "committed");
        await bed.Cluster.DeployAsync(FileSink(output, "out-a"));
        await bed.Cluster.DeployAsync(Counter(instances: 2));
        await bed.Cluster.DeployAsync(ExactlyOnceSource(bed));
        log.WriteLine($"{clock.Elapsed.TotalSeconds:F1} s: deployed");

        var happened = await KillsAsync(bed, clock);
        await SourceCommittedEverythingAsync(bed, happened);
        log.WriteLine($"{clock.Elapsed.TotalSeconds:F1} s: the source committed every offset");
        var lines = await AllCommittedAsync(bed.Cluster, output, Records, RunTimeout, happened);
        AssertExactCounts(lines, expected, happened);
        await AssertRestoredAndNothingUncommittedAsync(bed.Cluster, output);
        await AssertSourceRestoredAsync(bed, happened);
        log.WriteLine($"{clock.Elapsed.TotalSeconds:F1} s: verified");
    }

    /// <summary>
    /// The same with kafka-sink <c>exactly_once</c> as the sink. Exactness of the Kafka output
    /// CANNOT be observed on the development Kafka: librdkafka's mock does not honour
    /// read_committed, so a reader also sees the records of transactions the sink aborted (a
    /// killed incarnation's open transaction, aborted by the next one's InitTransactions). What
    /// is asserted: every reference record is in the output topic (output ⊇ reference), and,
    /// since a replay after a restore recomputes the same running counts, no record outside the
    /// reference is (the distinct records equal the reference); duplicates are allowed. Exactly
    /// once on a real cluster is the csv-sink test above plus the sink's transaction sequence
    /// (KafkaCheckpointTests).
    /// </summary>
    [Fact]
    public async Task Kafka_source_to_counter_to_kafka_sink_writes_every_running_count_through_SIGKILLs_but_exactness_is_not_observable_on_the_mock()
    {
        var clock = Stopwatch.StartNew();
        await using var bed = await KafkaTestBed.StartAsync("words", "counts");
        var expected = Reference(bed);
        log.WriteLine($"{clock.Elapsed.TotalSeconds:F1} s: {Records} records prefilled");
        await bed.Cluster.DeployAsync(new OperatorSpec
        {
            Name = "sink",
            Instances = 1,
            Delivery = DeliveryGuarantee.DeliveryExactlyOnce,
            Builtin = new BuiltinOperator { Kind = "kafka-sink", Options = { ["topic"] = "counts", ["bootstrap"] = bed.Bootstrap, ["acks"] = "all", ["linger_ms"] = "5" } },
            ExpectedInputs = { new InputStream { Name = "out-a", Grouping = Grouping.Shuffle } },
        });
        log.WriteLine($"{clock.Elapsed.TotalSeconds:F1} s: kafka-sink running");
        await bed.Cluster.DeployAsync(Counter(instances: 2));
        await bed.Cluster.DeployAsync(ExactlyOnceSource(bed));
        log.WriteLine($"{clock.Elapsed.TotalSeconds:F1} s: deployed");

        var happened = await KillsAsync(bed, clock);
        // The checkpoint that commits the source's last offsets completed, so the sink had
        // flushed everything before its barrier: every reference record is in the topic now.
        await SourceCommittedEverythingAsync(bed, happened);
        log.WriteLine($"{clock.Elapsed.TotalSeconds:F1} s: the source committed every offset");
        var (records, ends) = bed.ReadToEnd("counts");
        var written = records.Select(r => $"{r.Key},{r.Value}").ToList();
        var reference = expected.SelectMany(e => Enumerable.Range(1, e.Value).Select(n => $"{e.Key},{n.ToString(CultureInfo.InvariantCulture)}")).ToHashSet(StringComparer.Ordinal);
        var distinct = written.ToHashSet(StringComparer.Ordinal);
        var missing = reference.Where(r => !distinct.Contains(r)).Take(10).ToList();
        Assert.True(missing.Count == 0, $"{happened}: {reference.Count(r => !distinct.Contains(r))} reference records are not in topic 'counts', e.g. {string.Join("; ", missing)}");
        var foreign = distinct.Where(r => !reference.Contains(r)).Take(10).ToList();
        Assert.True(foreign.Count == 0, $"{happened}: topic 'counts' holds records outside the reference, e.g. {string.Join("; ", foreign)}");
        Assert.True(written.Count >= Records, $"{written.Count} records in 'counts'");
        await AssertSourceRestoredAsync(bed, happened);
        // The one thing of the transactions the mock lets a test see: it writes a control record
        // (a commit or abort marker) into each partition a transaction wrote to when it ends. The
        // sink ends a transaction only when a checkpoint completes (commit) or a new incarnation
        // starts (abort, of the old one's); no incarnation starts after the kills, so a marker
        // after the last records of every partition is the commit of the checkpoint that covered
        // them. A sink that never committed, or only at shutdown, leaves a record there.
        await Eventually.UntilAsync(() => bed.PartitionsEndingInARecord("counts").Count == 0, RunTimeout,
            () => $"a transaction marker after the last record of every partition of 'counts' (records at the end of partitions {string.Join(",", bed.PartitionsEndingInARecord("counts"))}; {happened})\n{bed.Cluster.InstanceLogs("sink")}");
        // What the mock shows of the transactions, for the record (docs/kafka.md): offsets taken
        // beyond the records are control records (transaction markers), duplicates are replays
        // of aborted transactions.
        log.WriteLine($"{clock.Elapsed.TotalSeconds:F1} s: verified; kafka-sink exactly_once on the mock {happened}: {written.Count} records read for {Records} reference records " +
            $"({written.Count - Records} replayed), offsets taken {ends.Sum()} (beyond the records: {ends.Sum() - written.Count})");
    }

    /// <summary>The kills (the source's executor first); says whom it killed and how far the source had committed after the last kill.</summary>
    private async Task<string> KillsAsync(KafkaTestBed bed, Stopwatch clock)
    {
        // Progress is the source's committed offsets: they grow only when a checkpoint holding
        // records completes, so every kill has one behind it and the restore seeks mid-topic.
        var victims = await KillDuringRunAsync(bed.Cluster, () => Task.FromResult(bed.CommittedOffsets(SourceGroup, "words")), operatorsToo: true, Kills, RunTimeout, firstVictim: "source");
        var happened = $"after killing {string.Join(", ", victims)}";
        log.WriteLine($"{clock.Elapsed.TotalSeconds:F1} s: {happened}; the source had committed {bed.CommittedOffsets(SourceGroup, "words")} of {Records} offsets");
        return happened;
    }

    private static OperatorSpec ExactlyOnceSource(KafkaTestBed bed)
    {
        var source = bed.Source("source", "words", stream: "in", instances: SourceInstances);
        source.Delivery = DeliveryGuarantee.DeliveryExactlyOnce;
        source.Builtin.Options["rate"] = SourceRatePerInstance.ToString(CultureInfo.InvariantCulture);
        return source;
    }

    /// <summary>Prefills the input topic with <see cref="Records"/> seeded random words; the counts per word are the reference.</summary>
    private static Dictionary<string, int> Reference(KafkaTestBed bed) =>
        bed.Produce("words", KafkaTestBed.RandomWords(Records, seed: 13)).ToDictionary(e => e.Key, e => (int)e.Value, StringComparer.Ordinal);

    /// <summary>
    /// Waits until the source's group has committed the end of every partition: the source
    /// commits offsets to Kafka only when the checkpoint holding them completes, so then a
    /// checkpoint covering every input record has completed.
    /// </summary>
    private static Task SourceCommittedEverythingAsync(KafkaTestBed bed, string happened) =>
        Eventually.UntilAsync(() => bed.CommittedOffsets(SourceGroup, "words") >= Records, RunTimeout,
            () => $"the source's group to commit all {Records} offsets (has {bed.CommittedOffsets(SourceGroup, "words")}; {happened})\n" +
                $"{Cluster.Tail(bed.Cluster.SchedulerOutput, 40)}\n{bed.Cluster.InstanceLogs("source")}");

    /// <summary>The kafka-source itself was restored from a checkpoint (so it sought back to that checkpoint's offsets).</summary>
    private static async Task AssertSourceRestoredAsync(KafkaTestBed bed, string happened)
    {
        var source = await bed.Cluster.WaitRunningAsync("source", SourceInstances);
        Assert.True(source.Instances.Any(i => i.RestoredCheckpointId > 0), $"a kafka-source instance restored a checkpoint ({happened})");
        Assert.Equal(Records, bed.CommittedOffsets(SourceGroup, "words"));
    }
}
