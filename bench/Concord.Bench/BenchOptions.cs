using System.Globalization;

namespace Concord.Bench;

/// <summary>Command line of the benchmark.</summary>
public sealed record BenchOptions
{
    public const string Usage =
        "usage: bench/run.sh [--seconds N] [--warmup N] [--counter dotnet|python|go|node|CMD|deploy.json] [--counter-instances N] [--results PATH|-] [--only echo|single|pipeline|half] [--half-rate N] [--keep-home] [--root DIR]\n" +
        "       bench/run-guarantees.sh [--seconds N] [--warmup N] [--counter-instances N] [--state-keys N] [--results PATH|-] [--only modes|recovery|state] [--keep-home] [--root DIR]";

    /// <summary>Length of every measured window, in seconds (default 10).</summary>
    public int Seconds { get; init; } = 10;

    /// <summary>
    /// Warm-up before each pipeline window, in seconds (default 10). Measured on 2 cores: a
    /// fresh pipeline runs at a fifth of its speed for the first ~3 s and reaches steady state
    /// after ~10 s, while the JIT's tiered compilation of four processes competes for the
    /// cores; a shorter warm-up measures the JIT, not the pipeline.
    /// </summary>
    public int WarmupSeconds { get; init; } = 10;

    /// <summary>The counter: dotnet (C# WordCount), python, go, node, a deploy file, or a command line.</summary>
    public string Counter { get; init; } = "dotnet";

    public int CounterInstances { get; init; } = 1;

    /// <summary>Rate of the half-rate phase in records/s; 0 = half of the measured full speed.</summary>
    public int HalfRate { get; init; }

    /// <summary>Keep the cluster's home directory (logs, stats, CSV) after the run, for diagnosis.</summary>
    public bool KeepHome { get; init; }

    /// <summary>
    /// Which benchmark: "wordcount" (bench/run.sh) or "guarantees" (bench/run-guarantees.sh:
    /// delivery modes, checkpoints, recovery, state size).
    /// </summary>
    public string Scenario { get; init; } = "wordcount";

    /// <summary>Counter keys of the guarantees scenario's state-size part.</summary>
    public int StateKeys { get; init; } = BenchLimits.StateKeysDefault;

    /// <summary>Run only one part (echo, single, pipeline or half; guarantees: modes, recovery or state), for profiling; null runs all.</summary>
    public string? Only { get; init; }

    /// <summary>Markdown file the results go into (between markers), or null for none.</summary>
    public string? ResultsPath { get; init; }

    /// <summary>Repository root (the directory holding Concord.sln).</summary>
    public string Root { get; init; } = FindRoot();

    /// <summary>The command as the user typed it, for RESULTS.md.</summary>
    public string Command { get; init; } = "bench/run.sh";

    public static BenchOptions Parse(string[] args)
    {
        var options = new BenchOptions();
        string? results = "bench/RESULTS.md";
        for (var i = 0; i < args.Length; i++)
        {
            string Value() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value");
            int Positive(string name)
            {
                var text = Value();
                return int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var v) && v > 0
                    ? v : throw new ArgumentException($"{name} '{text}' is not a positive integer");
            }
            options = args[i] switch
            {
                "--seconds" => options with { Seconds = Positive("--seconds") },
                "--warmup" => options with { WarmupSeconds = Positive("--warmup") },
                "--counter" => options with { Counter = Value() },
                "--counter-instances" => options with { CounterInstances = Positive("--counter-instances") },
                "--only" => options with { Only = Value() is var only && only is "echo" or "single" or "pipeline" or "half" or "modes" or "recovery" or "state" ? only : throw new ArgumentException($"--only takes echo, single, pipeline or half (guarantees: modes, recovery or state), not '{only}'") },
                "--scenario" => options with { Scenario = Value() is var scenario && scenario is "wordcount" or "guarantees" ? scenario : throw new ArgumentException($"--scenario takes wordcount or guarantees, not '{scenario}'") },
                "--state-keys" => options with { StateKeys = Positive("--state-keys") },
                "--half-rate" => options with { HalfRate = Positive("--half-rate") },
                "--keep-home" => options with { KeepHome = true },
                "--root" => options with { Root = Path.GetFullPath(Value()) },
                "--command" => options with { Command = Value() },
                "--results" => SetResults(options, Value(), ref results),
                _ => throw new ArgumentException($"unknown option '{args[i]}'"),
            };
        }
        var onlyFits = options.Only is null || (options.Scenario == "guarantees") == (options.Only is "modes" or "recovery" or "state");
        if (!onlyFits)
        {
            throw new ArgumentException($"--only {options.Only} is not a part of the {options.Scenario} scenario");
        }
        return options with
        {
            ResultsPath = results is null ? null : Path.IsPathRooted(results) ? results : Path.Combine(options.Root, results),
        };
    }

    private static BenchOptions SetResults(BenchOptions options, string value, ref string? results)
    {
        results = value == "-" ? null : value;
        return options;
    }

    private static string FindRoot()
    {
        foreach (var start in new[] { Environment.CurrentDirectory, AppContext.BaseDirectory })
        {
            for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
            {
                if (File.Exists(Path.Combine(dir.FullName, "Concord.sln")))
                {
                    return dir.FullName;
                }
            }
        }
        return Environment.CurrentDirectory;
    }
}
