using System.Text.Json;
using Concord.EndToEnd.Tests.Harness;

namespace Concord.EndToEnd.Tests;

/// <summary>The `concord` command as a user runs it: up, deploy the example files, list, graph, scale, kill, down.</summary>
public class CliTests
{
    private static Task<CliRunner.Result> Concord(string home, params string[] args) => CliRunner.RunAsync(home, args);

    [Fact]
    public async Task Tail_prints_the_last_records_on_a_stream_and_names_the_streams_for_an_unknown_one()
    {
        await using var cluster = await Cluster.StartAsync();
        await cluster.DeployAsync(Specs.Counter(instances: 1));
        await cluster.DeployAsync(Specs.Source(rate: 5_000));

        var tail = await Concord(cluster.Home, "tail", "words", "-n", "5");
        Assert.True(tail.ExitCode == 0, $"tail failed: {tail.Err}{tail.Out}");
        var lines = tail.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.True(lines.Length == 5, $"expected 5 records, got:\n{tail.Out}");
        // The source emits each word as the key (what group_by hashes) with an empty value.
        Assert.All(lines, l => Assert.Matches("^[^\\t]+\t$", l));

        var unknown = await Concord(cluster.Home, "tail", "no-such-stream");
        Assert.NotEqual(0, unknown.ExitCode);
        Assert.Contains("no-such-stream", unknown.Err);
        Assert.Contains("words", unknown.Err);
    }

    [Fact]
    public async Task Up_deploy_list_graph_scale_kill_down_with_the_example_deploy_files()
    {
        var home = Directory.CreateTempSubdirectory("cc-").FullName;
        var examples = Path.Combine(Repo.Root, "examples", "wordcount");
        try
        {
            var up = await Concord(home, "up", "--port", "0", "--detach");
            Assert.True(up.ExitCode == 0, $"up failed: {up.Err}{up.Out}");

            foreach (var file in new[] { "sink.json", "counter.json" })
            {
                var deploy = await Concord(home, "deploy", Path.Combine(examples, file));
                Assert.True(deploy.ExitCode == 0, $"deploy {file} failed: {deploy.Err}{deploy.Out}");
            }

            var list = await Concord(home, "list", "--format", "json");
            Assert.Equal(0, list.ExitCode);
            using (var doc = JsonDocument.Parse(list.Out))
            {
                var names = doc.RootElement.GetProperty("operators").EnumerateArray()
                    .Select(o => o.GetProperty("spec").GetProperty("name").GetString()).ToList();
                Assert.Equal(["counter", "sink"], names);
            }

            var graph = await Concord(home, "graph", "--format", "dot");
            Assert.Equal(0, graph.ExitCode);
            Assert.Contains("\"counter\" -> \"sink\"", graph.Out);

            var scale = await Concord(home, "scale", "counter", "0");
            Assert.NotEqual(0, scale.ExitCode);
            Assert.Contains("concord kill", scale.Err);

            var kill = await Concord(home, "kill", "counter");
            Assert.True(kill.ExitCode == 0, kill.Err);
            var missing = await Concord(home, "kill", "counter");
            Assert.NotEqual(0, missing.ExitCode);
            Assert.Contains("counter", missing.Err);

            var down = await Concord(home, "down");
            Assert.True(down.ExitCode == 0, down.Err + down.Out);
            Assert.False(File.Exists(Path.Combine(home, "scheduler.json")));
            Assert.Empty(Processes.WithEnvironment(home));

            var noScheduler = await Concord(home, "list");
            Assert.Equal(1, noScheduler.ExitCode);
            Assert.Contains("concord up", noScheduler.Err);
            Assert.Single(noScheduler.Err.Trim().Split('\n'));
        }
        finally
        {
            await Concord(home, "down");
            foreach (var pid in Processes.WithEnvironment(home))
            {
                Processes.Kill(pid, hard: true);
            }
        }
    }
}
