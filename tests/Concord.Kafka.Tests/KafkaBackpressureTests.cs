using System.Text.RegularExpressions;
using Concord.Contracts.Types.V1;
using Concord.EndToEnd.Tests.Harness;

namespace Concord.Kafka.Tests;

/// <summary>A stalled topology pauses kafka-source; releasing it delivers every record.</summary>
public partial class KafkaBackpressureTests
{
    private const int Records = 100_000;

    /// <summary>
    /// Most records the source may have read while the operator is blocked: what the queues between
    /// them hold (the operator's inbound window and batches in flight, the source's outbound
    /// queue, one poll) with generous room, yet far below the topic's size.
    /// </summary>
    private const long ReadWhileBlockedMax = 40_000;

    [GeneratedRegex(@"concord_kafka_records_total\{[^}]*direction=""in""[^}]*\} (\d+)")]
    private static partial Regex RecordsIn();

    [Fact]
    public async Task Blocked_operator_pauses_the_source_and_after_release_every_record_arrives()
    {
        await using var bed = await KafkaTestBed.StartAsync("words");
        var expected = bed.Produce("words", KafkaTestBed.RandomWords(Records, seed: 4));
        var output = Path.Combine(bed.Cluster.Home, "out.csv");
        await bed.Cluster.DeployAsync(Specs.CsvSink("sink", "out-a", output));
        var blocker = new OperatorSpec
        {
            Name = "blocker",
            Executable = Repo.TestOperatorExe,
            Instances = 1,
            Environment = { ["CONFORMANCE_CASE"] = "backpressure" },
            ExpectedInputs = { new InputStream { Name = "in", Grouping = Grouping.GroupBy } },
            ExpectedOutputs = { "out-a", "out-b" },
        };
        await bed.Cluster.DeployAsync(blocker);
        await bed.Cluster.DeployAsync(bed.Source("source", "words", stream: "in"));
        var metricsAddress = (await bed.Cluster.WaitRunningAsync("source", 1)).Instances[0].MetricsAddress;
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        async Task<long> ReadAsync()
        {
            var match = RecordsIn().Match(await http.GetStringAsync($"http://{metricsAddress}/metrics"));
            return match.Success ? long.Parse(match.Groups[1].Value) : 0;
        }

        // The source reads until the queues towards the blocked operator are full, then stops.
        long last = -1;
        await Eventually.UntilAsync(async () =>
        {
            var now = await ReadAsync();
            var stalled = now > 0 && now == last;
            last = now;
            await Task.Delay(500);
            return stalled;
        }, TimeSpan.FromSeconds(60), () => $"the source to stop reading (read {last} so far)");
        Assert.InRange(last, 1, ReadWhileBlockedMax);
        Assert.Equal(0, Csv.Lines(output));

        File.WriteAllText(Path.Combine(bed.Cluster.Home, "instances", "blocker", "0", "release"), "");
        await Eventually.UntilAsync(() => Csv.Lines(output) >= Records, TimeSpan.FromSeconds(90), () => $"{Records} lines in {output} (have {Csv.Lines(output)})");

        var got = Csv.ReadLines(output).Select(l => l[..l.IndexOf(',')]).GroupBy(w => w).ToDictionary(g => g.Key, g => (long)g.Count());
        Assert.Equal(expected.OrderBy(e => e.Key), got.OrderBy(e => e.Key));
        Assert.Equal(Records, await ReadAsync());
    }
}
