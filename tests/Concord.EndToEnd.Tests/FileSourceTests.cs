using Concord.EndToEnd.Tests.Harness;

namespace Concord.EndToEnd.Tests;

/// <summary>The built-in file source feeding the word-count topology on a real embedded cluster.</summary>
public class FileSourceTests
{
    [Fact]
    public async Task File_source_to_counter_to_csv_sink_counts_exactly_the_words_of_the_directory()
    {
        await using var cluster = await Cluster.StartAsync();
        var input = Path.Combine(cluster.Home, "input");
        Directory.CreateDirectory(input);
        // Two files with a known mix of words: every word of both must be counted once, no more.
        var random = new Random(7);
        string[] vocabulary = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta"];
        var first = Enumerable.Range(0, 6_000).Select(_ => vocabulary[random.Next(vocabulary.Length)]).ToArray();
        var second = Enumerable.Range(0, 4_000).Select(_ => vocabulary[random.Next(3)]).ToArray();
        File.WriteAllLines(Path.Combine(input, "a.txt"), first);
        File.WriteAllText(Path.Combine(input, "b.txt"), string.Join("\r\n", second)); // CRLF, no final newline
        var expected = first.Concat(second).GroupBy(w => w, StringComparer.Ordinal).ToDictionary(g => g.Key, g => (long)g.Count(), StringComparer.Ordinal);
        var total = first.Length + second.Length;
        var output = Path.Combine(cluster.Home, "counts.csv");

        // Readers before writers: records on a stream nobody reads yet are dropped (at-most-once).
        await cluster.DeployAsync(Specs.CsvSink("sink", "counts", output));
        await cluster.DeployAsync(Specs.Counter(instances: 2));
        await cluster.DeployAsync(Specs.FileSource("source", "words", input));

        await Eventually.UntilAsync(() => Csv.Lines(output) >= total, TestTimeouts.Flow,
            () => $"{total} lines in {output} (have {Csv.Lines(output)})\n{cluster.InstanceLogs("source")}");

        // One count update per line read: exactly the lines of both files, and final counts equal to the files' word counts.
        Assert.Equal(total, Csv.Lines(output));
        var actual = Csv.FinalCounts(output);
        Assert.Equal(expected.Count, actual.Count);
        foreach (var (word, count) in expected)
        {
            Assert.True(actual.TryGetValue(word, out var got) && got == count, $"word '{word}': expected {count}, sink says {got}");
        }
        // Finished, not exited: the source is still running and has said so once.
        var source = await cluster.WaitRunningAsync("source", 1);
        Assert.Single(source.Instances);
        await Eventually.UntilAsync(() => cluster.InstanceLogs("source", tailLines: 400).Contains("finished: 10000 records from 2 files", StringComparison.Ordinal), TestTimeouts.Flow,
            () => $"the source's 'finished' log line\n{cluster.InstanceLogs("source")}");
    }
}
