using Concord.EndToEnd.Tests.Harness;
using static Concord.EndToEnd.Tests.Harness.Guarantees;

namespace Concord.EndToEnd.Tests;

/// <summary>
/// Exactly-once through real failures (docs/guarantees.md): a replayable source and a
/// transactional file sink, both <c>exactly_once</c>, on a real cluster whose executors are
/// SIGKILLed under load. The committed output must equal the reference output exactly: no
/// record lost, none duplicated, nothing uncommitted visible.
/// </summary>
public sealed class ExactlyOnceTests
{
    /// <summary>Records per generator lane; 2 lanes (instances).</summary>
    private const int RecordsPerLane = 12_000;

    /// <summary>Records per second per generator instance: slow enough that the kills land mid-stream.</summary>
    private const int RatePerInstance = 1_500;

    /// <summary>SIGKILLs during the run, each after the committed output has grown since the last.</summary>
    private const int Kills = 3;

    /// <summary>How long the whole run may take, kills and restores included, on 2 busy cores.</summary>
    private static readonly TimeSpan RunTimeout = TimeSpan.FromSeconds(150);

    [Fact]
    public async Task A_generator_to_file_sink_pipeline_commits_every_record_exactly_once_through_SIGKILLs_of_its_executors()
    {
        await using var cluster = await Cluster.StartAsync();
        var output = Path.Combine(cluster.Home, "committed");
        await cluster.DeployAsync(FileSink(output, "words"));
        await cluster.DeployAsync(Generator("words", RecordsPerLane, RatePerInstance));

        var victims = await KillDuringRunAsync(cluster, () => CommittedLines(output).Count, operatorsToo: false, Kills, RunTimeout);

        var happened = $"after killing {string.Join(", ", victims)}";
        var lines = await AllCommittedAsync(cluster, output, GeneratorInstances * RecordsPerLane, RunTimeout, happened);
        var actual = lines.Select(l => l[..l.IndexOf(',', StringComparison.Ordinal)])
            .GroupBy(w => w, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.Count(), StringComparer.Ordinal);
        var expected = Reference(GeneratorInstances, RecordsPerLane);
        var wrong = expected.Where(e => actual.GetValueOrDefault(e.Key) != e.Value).Select(e => $"{e.Key}: expected {e.Value}, committed {actual.GetValueOrDefault(e.Key)}").Take(10).ToList();
        Assert.True(wrong.Count == 0, $"{happened}: {string.Join("; ", wrong)}");
        Assert.Equal(expected.Count, actual.Count);
        await AssertRestoredAndNothingUncommittedAsync(cluster, output);
    }

    [Fact]
    public async Task A_counter_with_keyed_state_between_them_emits_every_running_count_exactly_once_through_SIGKILLs_of_executors_and_operators()
    {
        await using var cluster = await Cluster.StartAsync();
        var output = Path.Combine(cluster.Home, "committed");
        await cluster.DeployAsync(FileSink(output, "out-a"));
        await cluster.DeployAsync(Counter(instances: 2));
        await cluster.DeployAsync(Generator("in", RecordsPerLane, RatePerInstance));

        var victims = await KillDuringRunAsync(cluster, () => CommittedLines(output).Count, operatorsToo: true, Kills, RunTimeout);

        var happened = $"after killing {string.Join(", ", victims)}";
        var lines = await AllCommittedAsync(cluster, output, GeneratorInstances * RecordsPerLane, RunTimeout, happened);
        AssertExactCounts(lines, Reference(GeneratorInstances, RecordsPerLane), happened);
        await AssertRestoredAndNothingUncommittedAsync(cluster, output);
    }
}
