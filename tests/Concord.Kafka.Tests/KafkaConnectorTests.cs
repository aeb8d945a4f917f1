using Concord.Contracts.Scheduler.V1;
using Concord.EndToEnd.Tests.Harness;
using Confluent.Kafka;
using Grpc.Core;

namespace Concord.Kafka.Tests;

/// <summary>
/// kafka-source and kafka-sink end to end: mock Kafka in this process, real scheduler,
/// executors and operators. Each test builds its own cluster and topics.
/// </summary>
public class KafkaConnectorTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task Kafka_source_into_group_by_counter_counts_every_word_of_the_topic()
    {
        await using var bed = await KafkaTestBed.StartAsync("words");
        var expected = bed.Produce("words", KafkaTestBed.RandomWords(5_000, seed: 1));
        var output = Path.Combine(bed.Cluster.Home, "counts.csv");
        await bed.Cluster.DeployAsync(Specs.CsvSink("sink", "counts", output));
        await bed.Cluster.DeployAsync(Specs.Counter(instances: 2));
        // Two source instances share the consumer group: each gets some of the 8 partitions.
        await bed.Cluster.DeployAsync(bed.Source("source", "words", instances: 2));

        await Eventually.UntilAsync(() => Csv.Lines(output) >= 5_000, Deadline, () => $"5,000 counts in {output} (have {Csv.Lines(output)})\n{bed.Cluster.InstanceLogs("source")}");

        Assert.Equal(expected.OrderBy(e => e.Key), Csv.FinalCounts(output).OrderBy(e => e.Key));
        Assert.Equal(5_000, Csv.Lines(output));
    }

    [Fact]
    public async Task Kafka_sink_writes_records_a_plain_consumer_reads_back()
    {
        await using var bed = await KafkaTestBed.StartAsync("out");
        var sink = new Concord.Contracts.Types.V1.OperatorSpec
        {
            Name = "kafka-out",
            Instances = 1,
            Builtin = new Concord.Contracts.Types.V1.BuiltinOperator
            {
                Kind = "kafka-sink",
                Options = { ["topic"] = "out", ["bootstrap"] = bed.Bootstrap, ["acks"] = "all", ["linger_ms"] = "1", ["compression"] = "lz4" },
            },
            ExpectedInputs = { new Concord.Contracts.Types.V1.InputStream { Name = "words", Grouping = Concord.Contracts.Types.V1.Grouping.Shuffle } },
        };
        await bed.Cluster.DeployAsync(sink);
        var generator = new Concord.Contracts.Types.V1.OperatorSpec
        {
            Name = "gen",
            Instances = 1,
            Builtin = new Concord.Contracts.Types.V1.BuiltinOperator
            {
                Kind = "generator",
                Options = { ["dictionary"] = Repo.Dictionary, ["count"] = "2000", ["stream"] = "words" },
            },
            ExpectedOutputs = { "words" },
        };
        var before = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        await bed.Cluster.DeployAsync(generator);

        var read = bed.Consume("out", 2_000);

        Assert.Equal(2_000, read.Count);
        var dictionary = File.ReadAllLines(Repo.Dictionary).Select(w => w.Trim()).ToHashSet(StringComparer.Ordinal);
        Assert.All(read, r =>
        {
            Assert.Equal(r.Key, r.Value);
            Assert.Contains(r.Key, dictionary);
            Assert.True(r.TimestampMs >= before - 1_000, $"the Kafka timestamp {r.TimestampMs} should be the record's event time (after {before})");
        });
    }

    [Fact]
    public async Task Source_stopped_and_redeployed_mid_topic_resumes_from_its_committed_offsets()
    {
        await using var bed = await KafkaTestBed.StartAsync("words");
        var first = bed.Produce("words", KafkaTestBed.RandomWords(1_000, seed: 2));
        var output = Path.Combine(bed.Cluster.Home, "words.csv");
        await bed.Cluster.DeployAsync(Specs.CsvSink("sink", "words", output));
        await bed.Cluster.DeployAsync(bed.Source("source", "words", group: "resume"));
        await Eventually.UntilAsync(() => Csv.Lines(output) >= 1_000, Deadline, () => $"1,000 lines in {output}");

        // A clean stop (SIGTERM, drain) commits the offsets of everything handed over.
        await bed.Cluster.Client.KillAsync(new KillRequest { Name = "source" }, bed.Cluster.Call());
        var marker = $"CONCORD_WORK_DIR={Path.Combine(bed.Cluster.Home, "instances", "source")}";
        await Eventually.UntilAsync(() => Processes.WithEnvironment(marker).Count == 0, Deadline, () => "the source's executor to exit");
        var second = bed.Produce("words", KafkaTestBed.RandomWords(500, seed: 3));
        await bed.Cluster.DeployAsync(bed.Source("source", "words", group: "resume"));
        await Eventually.UntilAsync(() => Csv.Lines(output) >= 1_500, Deadline, () => $"1,500 lines in {output} (have {Csv.Lines(output)})");

        // A replay would come before the new records of its partition, so it would be here by now.
        // csv-sink writes "key,value" and the source passes each word as both.
        var expected = first.Concat(second).GroupBy(e => e.Key).ToDictionary(g => $"{g.Key},{g.Key}", g => g.Sum(e => e.Value));
        Assert.Equal(expected.OrderBy(e => e.Key), Csv.CountWords(output).OrderBy(e => e.Key));
        Assert.Equal(1_500, Csv.Lines(output));
    }

    [Fact]
    public async Task Unknown_topic_and_unreachable_brokers_fail_their_source_with_a_clear_error_and_disturb_nothing_else()
    {
        await using var bed = await KafkaTestBed.StartAsync("words");
        var output = Path.Combine(bed.Cluster.Home, "words.csv");
        var sink = (await bed.Cluster.DeployAsync(Specs.CsvSink("sink", "words", output))).Spec.Name;
        var sinkBefore = (await bed.Cluster.WaitRunningAsync(sink, 1)).Instances[0];

        await bed.Cluster.DeployAsync(bed.Source("missing", "nosuch"), waitRunning: false);
        var unreachable = bed.Source("unreachable", "words");
        unreachable.Builtin.Options["bootstrap"] = "127.0.0.1:1";
        await bed.Cluster.DeployAsync(unreachable, waitRunning: false);

        var missing = await bed.Cluster.WaitForAsync("missing", o => o.LastError.Contains("does not exist", StringComparison.Ordinal), "an error about the topic");
        Assert.Contains("topic 'nosuch' does not exist", missing.LastError);
        Assert.Contains("fix option 'topic'", missing.LastError);
        var down = await bed.Cluster.WaitForAsync("unreachable", o => o.LastError.Contains("cannot reach Kafka", StringComparison.Ordinal), "an error about the brokers");
        Assert.Contains("127.0.0.1:1", down.LastError);
        Assert.Contains("check option 'bootstrap'", down.LastError);

        var sinkAfter = (await bed.Cluster.WaitRunningAsync(sink, 1)).Instances[0];
        Assert.Equal(sinkBefore.Incarnation, sinkAfter.Incarnation);
        Assert.Equal(0, sinkAfter.Restarts);
    }

    [Fact]
    public async Task Malformed_connector_options_are_rejected_at_deploy_or_start_naming_the_option()
    {
        await using var bed = await KafkaTestBed.StartAsync("words");
        var badStart = bed.Source("source", "words", extra: new() { ["start"] = "middle" });
        var rejected = await Assert.ThrowsAsync<RpcException>(() => bed.Cluster.DeployAsync(badStart, waitRunning: false));
        Assert.Equal(StatusCode.InvalidArgument, rejected.StatusCode);
        Assert.Contains("builtin.options.start", rejected.Status.Detail);
        Assert.Contains("earliest, latest", rejected.Status.Detail);

        // librdkafka's own properties are checked when the client is built: the error names it.
        var badProperty = bed.Source("source", "words", extra: new() { ["kafka.no.such.property"] = "1" });
        await bed.Cluster.DeployAsync(badProperty, waitRunning: false);
        var failed = await bed.Cluster.WaitForAsync("source", o => o.LastError.Contains("rejected the configuration", StringComparison.Ordinal), "a configuration error");
        Assert.Contains("no.such.property", failed.LastError);
    }

    [Fact]
    public async Task Message_larger_than_a_record_may_be_fails_the_source_unless_oversize_is_skip()
    {
        await using var bed = await KafkaTestBed.StartAsync("big");
        using (var producer = new ProducerBuilder<byte[], byte[]>(new ProducerConfig
        {
            BootstrapServers = bed.Bootstrap,
            MessageMaxBytes = 4 * 1024 * 1024,
        }).Build())
        {
            var key = "k"u8.ToArray();
            await producer.ProduceAsync(new TopicPartition("big", 0), new Message<byte[], byte[]> { Key = key, Value = new byte[1_100_000] });
            await producer.ProduceAsync(new TopicPartition("big", 0), new Message<byte[], byte[]> { Key = key, Value = "small"u8.ToArray() });
        }

        await bed.Cluster.DeployAsync(bed.Source("strict", "big", stream: "strict-out"), waitRunning: false);
        var strict = await bed.Cluster.WaitForAsync("strict", o => o.LastError.Contains("bytes", StringComparison.Ordinal), "an error about the record size");
        Assert.Contains("more than the 1048576", strict.LastError);
        Assert.Contains("\"oversize\": \"skip\"", strict.LastError);

        var output = Path.Combine(bed.Cluster.Home, "skipped.csv");
        await bed.Cluster.DeployAsync(Specs.CsvSink("sink", "lenient-out", output));
        await bed.Cluster.DeployAsync(bed.Source("lenient", "big", stream: "lenient-out", extra: new() { ["oversize"] = "skip" }));
        await Eventually.UntilAsync(() => Csv.Lines(output) >= 1, Deadline, () => $"the small record in {output}");
        Assert.Equal(["k,small"], Csv.ReadLines(output));

        // The skip is counted where Prometheus scrapes the instance.
        var address = (await bed.Cluster.WaitRunningAsync("lenient", 1)).Instances[0].MetricsAddress;
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        var metrics = await http.GetStringAsync($"http://{address}/metrics");
        Assert.Contains("concord_kafka_oversize_skipped_total{", metrics);
        Assert.Matches(@"concord_kafka_oversize_skipped_total\{[^}]*\} 1\b", metrics);
        Assert.Matches(@"concord_kafka_records_total\{[^}]*direction=""in""[^}]*\} 1\b", metrics);
    }

    [Fact]
    public async Task Source_without_bootstrap_finds_the_development_kafka_in_the_scheduler_home_or_says_how_to_start_one()
    {
        await using var bed = await KafkaTestBed.StartAsync("words");
        var expected = bed.Produce("words", KafkaTestBed.RandomWords(300, seed: 5));
        var devFile = Path.Combine(bed.Cluster.Home, "kafka.json");
        File.WriteAllText(devFile, $$"""{"bootstrap": "{{bed.Bootstrap}}", "pid": {{Environment.ProcessId}}}""");
        var output = Path.Combine(bed.Cluster.Home, "words.csv");
        await bed.Cluster.DeployAsync(Specs.CsvSink("sink", "words", output));
        var dev = bed.Source("source", "words");
        dev.Builtin.Options.Remove("bootstrap");
        await bed.Cluster.DeployAsync(dev);
        await Eventually.UntilAsync(() => Csv.Lines(output) >= 300, Deadline, () => $"300 lines in {output}");
        Assert.Equal(expected.ToDictionary(e => $"{e.Key},{e.Key}", e => e.Value).OrderBy(e => e.Key), Csv.CountWords(output).OrderBy(e => e.Key));

        File.Delete(devFile);
        var missing = bed.Source("nodev", "words", stream: "other");
        missing.Builtin.Options["bootstrap"] = "dev";
        await bed.Cluster.DeployAsync(missing, waitRunning: false);
        var failed = await bed.Cluster.WaitForAsync("nodev", o => o.LastError.Contains("no development Kafka", StringComparison.Ordinal), "an error about the development Kafka");
        Assert.Contains("concord kafka-dev", failed.LastError);
    }
}
