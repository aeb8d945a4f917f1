using System.Globalization;
using System.Text.RegularExpressions;
using Concord.EndToEnd.Tests.Harness;

namespace Concord.Observability.Tests;

/// <summary>`concord logs`, `top`, `trace` and `graph --format svg` against a running word count.</summary>
[Collection(ClusterCollection.Name)]
public sealed partial class CliObservabilityTests(ObservabilityCluster fixture)
{
    /// <summary>How often the follow test appends its marker until the follow has attached, in ms.</summary>
    private const int AppendIntervalMs = 100;

    private static readonly TimeSpan TraceTimeout = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task Logs_show_the_operators_stdout_and_stderr_lines_tagged_with_operator_and_instance()
    {
        var run = await fixture.CliAsync("logs", "sink", "--instance", "0", "--tail", "1000");

        Assert.Equal(0, run.ExitCode);
        var stdout = run.Out.Split('\n').Single(l => l.Contains(ObservabilityCluster.StdoutMarker));
        var stderr = run.Out.Split('\n').Single(l => l.Contains(ObservabilityCluster.StderrMarker));
        // The executor's log template tags every event with operator/instance and its source.
        Assert.Contains("INF sink/0 Concord.Operator", stdout);
        Assert.Contains("WRN sink/0 Concord.Operator", stderr);
    }

    [Fact]
    public async Task Logs_of_every_instance_are_prefixed_with_the_instance()
    {
        var run = await fixture.CliAsync("logs", "counter", "--tail", "5");

        Assert.Equal(0, run.ExitCode);
        var lines = run.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Contains(lines, l => l.StartsWith("counter/0 | ", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.StartsWith("counter/1 | ", StringComparison.Ordinal));
        Assert.True(lines.Length <= 10, run.ToString());
    }

    [Fact]
    public async Task Logs_follow_prints_lines_written_after_it_started()
    {
        var log = Path.Combine(fixture.Cluster.Home, "instances", "sink", "0", "executor.log");
        var marker = $"appended-by-the-test-{Guid.NewGuid():N}";
        // The follow ends on its own timeout (as Ctrl-C would end it). Nothing tells us when it
        // has attached, so the marker is appended until then and after.
        var follow = ObservabilityCluster.RunCliAsync(["--scheduler", fixture.Cluster.Address, "--home", fixture.Cluster.Home, "logs", "sink", "-i", "0", "-f", "--tail", "0"],
            timeout: TimeSpan.FromSeconds(6));
        while (!follow.IsCompleted)
        {
            await File.AppendAllTextAsync(log, marker + "\n");
            await Task.WhenAny(follow, Task.Delay(AppendIntervalMs));
        }
        var run = await follow;

        Assert.Contains(marker, run.Out);
        Assert.DoesNotContain(ObservabilityCluster.StdoutMarker, run.Out); // --tail 0: no history
    }

    [Fact]
    public async Task Logs_show_the_log_of_the_release_written_last_after_a_rolling_replace()
    {
        // As a rolling replace leaves it: the new (odd) release writes into <index>.b.
        var odd = Path.Combine(fixture.Cluster.Home, "instances", "sink", "0.b");
        var marker = $"odd-release-line-{Guid.NewGuid():N}";
        Directory.CreateDirectory(odd);
        var log = Path.Combine(odd, "executor.log");
        await File.WriteAllTextAsync(log, marker + "\n");
        // Later than anything the running sink writes into 0/executor.log meanwhile.
        File.SetLastWriteTimeUtc(log, DateTime.UtcNow.AddHours(1));
        try
        {
            var run = await fixture.CliAsync("logs", "sink", "-i", "0", "--tail", "10");

            Assert.Equal(0, run.ExitCode);
            Assert.Contains(marker, run.Out);
            Assert.DoesNotContain(ObservabilityCluster.StdoutMarker, run.Out);
        }
        finally
        {
            Directory.Delete(odd, recursive: true);
        }
    }

    [Fact]
    public async Task Logs_tail_continues_into_the_rolled_file_when_the_current_one_is_shorter()
    {
        // As the runtime leaves it right after a roll (copytruncate): the older lines in executor.log.1.
        var rolled = Path.Combine(fixture.Cluster.Home, "instances", "sink", "0", "executor.log.1");
        var marker = $"rolled-line-{Guid.NewGuid():N}";
        await File.WriteAllTextAsync(rolled, $"older\n{marker}\n");
        try
        {
            var run = await fixture.CliAsync("logs", "sink", "-i", "0", "--tail", "10000");

            Assert.Equal(0, run.ExitCode);
            var lines = run.Out.Split('\n');
            var rolledAt = Array.FindIndex(lines, l => l.Contains(marker, StringComparison.Ordinal));
            var currentAt = Array.FindIndex(lines, l => l.Contains(ObservabilityCluster.StdoutMarker, StringComparison.Ordinal));
            Assert.True(rolledAt >= 0 && currentAt > rolledAt, $"the rolled line before the current file's lines:\n{run.Out}");
        }
        finally
        {
            File.Delete(rolled);
        }
    }

    [Fact]
    public async Task Top_once_shows_every_operator_with_its_rates_latency_cpu_and_memory()
    {
        var run = await fixture.CliAsync("top", "--once");

        Assert.Equal(0, run.ExitCode);
        Assert.Contains("IN/S", run.Out);
        Assert.Contains("P99 E2E", run.Out);
        var counter = Row(run.Out, "counter");
        Assert.Equal("2/2", counter[1]);
        Assert.True(Number(counter[2]) > 0, $"counter in/s: {run.Out}");
        Assert.True(Number(counter[3]) > 0, $"counter out/s: {run.Out}");
        Assert.Contains("DROPPED", run.Out);
        // MEMORY, then DROPPED (nothing is dropped in this healthy pipeline).
        Assert.Matches(@"MiB\s+0$", run.Out.Split('\n').Single(l => l.TrimStart().StartsWith("counter ", StringComparison.Ordinal)).TrimEnd());
        var sink = Row(run.Out, "sink");
        Assert.True(Number(sink[4]) > 0, $"sink p99 end-to-end: {run.Out}");
    }

    [Fact]
    public async Task Trace_lists_recent_traces_and_shows_one_hop_by_hop_through_every_operator()
    {
        // A trace is complete once the sink has recorded its operator span.
        var id = await Eventually.UntilAsync(async () =>
        {
            var list = await fixture.CliAsync("trace", "--limit", "50");
            return list.Out.Split('\n').Where(l => l.EndsWith("source -> counter -> sink", StringComparison.Ordinal))
                .Select(l => l[..32]).FirstOrDefault();
        }, TraceTimeout, () => "a trace through source, counter and sink in `concord trace`");

        var run = await fixture.CliAsync("trace", id);

        Assert.Equal(0, run.ExitCode);
        Assert.StartsWith($"trace {id}: ", run.Out);
        var hops = run.Out.Split('\n').Skip(2).Where(l => l.Length > 0).Select(l => HopPattern().Match(l)).ToList();
        Assert.All(hops, h => Assert.True(h.Success));
        var path = hops.Select(h => $"{h.Groups["kind"].Value} {h.Groups["where"].Value}").ToList();
        Assert.Equal("operator source/0", path[0]);
        Assert.Equal("send source/0", path[1]);
        Assert.Matches(@"^network -> counter/[01]$", path[2]);
        Assert.Matches(@"^queue counter/[01]$", path[3]);
        Assert.Contains(path, p => p.StartsWith("network -> sink/0", StringComparison.Ordinal));
        Assert.Equal("operator sink/0", path[^1]);
        // Offsets never go back: hops are in time order, in ms.
        var offsets = hops.Select(h => double.Parse(h.Groups["at"].Value, CultureInfo.InvariantCulture)).ToList();
        Assert.Equal(offsets.Order().ToList(), offsets);
    }

    [Fact]
    public async Task Graph_svg_is_rendered_by_graphviz_with_current_rates_on_the_edges()
    {
        var run = await fixture.CliAsync("graph", "--format", "svg");

        Assert.Equal(0, run.ExitCode);
        Assert.StartsWith("<?xml", run.Out);
        Assert.Contains("<svg", run.Out);
        Assert.Matches(@"words \[group_by\]", run.Out);
        Assert.Matches(@"[1-9][0-9]* rec/s", run.Out);
    }

    [Fact]
    public async Task Logs_of_a_killed_operator_or_a_scaled_away_index_show_the_kept_failed_log()
    {
        // What the local runtime leaves when it forgets a failed instance (LocalRuntimeForgetTests).
        KeepFailedLog("departed", 0, "operator crashed: broker unreachable");
        KeepFailedLog("counter", 5, "operator crashed: out of memory");

        var killed = await fixture.CliAsync("logs", "departed");
        var scaledAway = await fixture.CliAsync("logs", "counter", "--instance", "5");

        Assert.Equal(0, killed.ExitCode);
        Assert.Contains("departed/0 | operator crashed: broker unreachable", killed.Out);
        Assert.Equal(0, scaledAway.ExitCode);
        Assert.Contains("operator crashed: out of memory", scaledAway.Out);
    }

    private void KeepFailedLog(string op, int index, string line)
    {
        var kept = Path.Combine(fixture.Cluster.Home, "instances", op, "last-failed");
        Directory.CreateDirectory(kept);
        File.WriteAllText(Path.Combine(kept, "executor.log"), line + "\n");
        File.WriteAllText(Path.Combine(kept, "index"), index.ToString(CultureInfo.InvariantCulture));
    }

    [Theory]
    [InlineData("trace 0123456789abcdef0123456789abcdef", "trace 0123456789abcdef0123456789abcdef is not in any running executor's span store")]
    [InlineData("trace not-a-trace-id", "'not-a-trace-id' is not a trace id (32 hex digits); run `concord trace`")]
    [InlineData("logs no-such-operator", "operator 'no-such-operator' is not deployed; deployed: counter, sink, source")]
    [InlineData("logs counter --instance 9", "instance 9 of 'counter' does not exist; it has 2 instance(s), 0..1")]
    public async Task Bad_input_gets_one_clear_line_and_a_non_zero_exit(string command, string message)
    {
        var run = await fixture.CliAsync(command.Split(' '));

        Assert.Equal(1, run.ExitCode);
        var line = run.Err.Trim().Split('\n').Single();
        Assert.StartsWith($"error: {message}", line);
    }

    private static string[] Row(string table, string op) =>
        table.Split('\n').Single(l => l.TrimStart().StartsWith(op + " ", StringComparison.Ordinal))
            .Split(' ', StringSplitOptions.RemoveEmptyEntries) is var cells
            ? Merge(cells)
            : [];

    /// <summary>Cells of a row: "7.3 ms" and "195 MiB" are one cell each.</summary>
    private static string[] Merge(string[] words)
    {
        var cells = new List<string>();
        foreach (var word in words)
        {
            if (word is "ms" or "MiB" or "KiB" or "GiB" && cells.Count > 0)
            {
                cells[^1] += " " + word;
            }
            else
            {
                cells.Add(word);
            }
        }
        return [.. cells];
    }

    private static double Number(string cell)
    {
        var text = cell.Split(' ')[0];
        var scale = text.EndsWith('k') ? 1_000 : text.EndsWith('M') ? 1_000_000 : 1;
        return double.TryParse(text.TrimEnd('k', 'M'), NumberStyles.Float, CultureInfo.InvariantCulture, out var value) ? value * scale : 0;
    }

    [GeneratedRegex(@"^\s*\+(?<at>[0-9.]+) ms\s+(?<took>[0-9.]+) ms\s+(?<kind>\w+)\s+(?<where>(-> )?[a-z0-9-]+/[0-9]+)")]
    private static partial Regex HopPattern();
}

/// <summary>The CLI with no scheduler to talk to.</summary>
public sealed class NoSchedulerTests
{
    [Theory]
    [InlineData("top", "--once")]
    [InlineData("trace")]
    [InlineData("logs", "counter")]
    public async Task Without_a_scheduler_the_command_says_so_in_one_line_and_exits_non_zero(params string[] command)
    {
        var port = ObservabilityCluster.FreePort();

        var run = await ObservabilityCluster.RunCliAsync(["--scheduler", $"http://127.0.0.1:{port}", .. command]);

        Assert.Equal(1, run.ExitCode);
        Assert.Equal($"error: no scheduler at http://127.0.0.1:{port}: start one with `concord up`", run.Err.Trim());
    }
}
