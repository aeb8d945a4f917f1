using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;

namespace Concord.Bench.Tests;

/// <summary>The benchmark runs end to end for a few seconds and reports every figure (values are not judged).</summary>
public class BenchSmokeTests
{
    /// <summary>Whole short run: baselines, three pipeline phases, cluster start and stop on a loaded 2-core machine.</summary>
    private static readonly TimeSpan RunTimeout = TimeSpan.FromMinutes(4);

    [Fact]
    public async Task A_short_benchmark_run_reports_every_figure_into_the_results_file()
    {
        var text = await RunBenchAsync("--seconds", "2", "--warmup", "1");
        Assert.Contains("hand-written analysis stays", text);
        Assert.True(Figure(text, "pipeline, records/s through the counter") > 0, text);
        Assert.True(Figure(text, "transport ceiling") > 0, text);
        Assert.True(Figure(text, "word count in one thread") > 0, text);
        Assert.Matches(@"\| latency at half rate p50 / p99 / max, ms \| [0-9.]+ / [0-9.]+ / [0-9.]+", text);
        Assert.Matches(@"\| stalled sink: largest executor RSS, MB[^|]*\| [1-9][0-9]* ", text);
        Assert.Matches(@"\| counter/0 operator \| [0-9]+ \| [1-9][0-9]* \|", text);
    }

    [Fact]
    public async Task A_short_guarantees_run_reports_every_mode_checkpoints_recovery_and_state_size()
    {
        var text = await RunBenchAsync("--scenario", "guarantees", "--seconds", "2", "--warmup", "1", "--state-keys", "20000");
        Assert.Contains("hand-written analysis stays", text);
        Assert.True(Figure(text, "at_most_once") > 0, text);
        Assert.True(Figure(text, "at_least_once") > 0, text);
        Assert.True(Figure(text, "exactly_once") > 0, text);
        // Checkpoints of a 2 s window on a loaded machine may all still be running: their count is there.
        Assert.Matches(@"\| exactly_once \|[^\n]*\| [0-9]+ \([0-9]+\) \| ", text);
        // The recovery completed: a checkpoint was restored and records reached the restarted sink.
        Assert.Matches(@"\| every instance running again, restored from checkpoint [1-9][0-9]* \| [0-9,]+ \|", text);
        Assert.Matches(@"\| first records at the restarted sink \| [0-9,]+ \|", text);
        Assert.Matches(@"\| memory \| [0-9.]+ \| [0-9.]+ \|", text);
        Assert.Matches(@"\| rocksdb \| ", text);
        Assert.DoesNotContain("**incomplete**", text);
    }

    /// <summary>
    /// Runs the benchmark with <paramref name="arguments"/> into a results file that already
    /// holds hand-written text, and returns the file as the run left it.
    /// </summary>
    private static async Task<string> RunBenchAsync(params string[] arguments)
    {
        var root = RepoPaths.Root;
        var bench = RepoPaths.Artifact("Concord.Bench", "Concord.Bench.dll");
        Assert.True(File.Exists(bench), $"{bench} is missing: build the solution in Release (scripts/setup.sh)");
        using var dir = new TempDirectory("cc-benchtest-");
        var results = dir.Combine("RESULTS.md");
        File.WriteAllText(results, "# Results\n\nhand-written analysis stays\n");
        var info = new ProcessStartInfo("dotnet", [bench, "--root", root, .. arguments, "--results", results, "--command", "test"])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(RunTimeout);
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw;
        }
        var output = await stdout.WaitAsync(TimeSpan.FromSeconds(10)) + await stderr.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.True(process.ExitCode == 0, $"the benchmark exited {process.ExitCode}:\n{output}");

        return File.ReadAllText(results);
    }

    /// <summary>The number in the value column of the table row starting with <paramref name="figure"/>.</summary>
    private static double Figure(string markdown, string figure)
    {
        var match = Regex.Match(markdown, @"\| " + Regex.Escape(figure) + @"[^|]*\| ([0-9,.]+) \|");
        Assert.True(match.Success, $"no row '{figure}' in:\n{markdown}");
        return double.Parse(match.Groups[1].Value.Replace(",", ""), CultureInfo.InvariantCulture);
    }
}
