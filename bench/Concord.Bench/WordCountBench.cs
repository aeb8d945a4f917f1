using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Concord.Bench.Internal;
using Concord.Contracts.Types.V1;
using Google.Protobuf;

namespace Concord.Bench;

/// <summary>Ends a run of one baseline (--only echo|single) with its figures; no report is written.</summary>
public sealed class OnlyPartException(double echo, double single) : Exception($"only a baseline was run: echo {echo:N0} records/s, one thread {single:N0} records/s");

/// <summary>The figures of one run, and the markdown that reports them.</summary>
public sealed record BenchReport(string Markdown, double PipelineRecordsPerSecond, double EchoRecordsPerSecond, double SingleThreadRecordsPerSecond);

/// <summary>
/// One benchmark run: the baselines (gRPC echo over a unix socket in batches of 1,000; the word
/// count in one thread), then the word-count pipeline on a real local cluster — generator
/// built-in (as fast as credit allows) → counter (group_by, any command) → csv-sink built-in —
/// at full speed, at half that rate, and with a stalled second sink for the memory bound.
/// </summary>
public static class WordCountBench
{
    public static async Task<BenchReport> RunAsync(BenchOptions options, TextWriter progress)
    {
        var dictionary = Path.Combine(options.Root, "examples", "wordcount", "words.txt");
        var words = File.ReadLines(dictionary).Select(w => w.Trim()).Where(w => w.Length > 0).ToList();
        var duration = TimeSpan.FromSeconds(options.Seconds);
        var started = DateTimeOffset.UtcNow;

        BaselineResult echo = BaselineResult.None, single = BaselineResult.None;
        if (options.Only is null or "echo")
        {
            progress.WriteLine($"baseline: gRPC echo over a unix socket, batches of {BenchLimits.EchoBatchRecords} ({options.Seconds} s)");
            echo = await EchoBaseline.RunAsync(words.Select(ByteString.CopyFromUtf8).ToList(), duration, CancellationToken.None);
            progress.WriteLine($"  {echo.RecordsPerSecond:N0} records/s, {echo.CpuMicrosPerRecord:0.00} µs CPU per record");
        }

        var home = Directory.CreateTempSubdirectory("cc-bench-").FullName;
        try
        {
            if (options.Only is null or "single")
            {
                progress.WriteLine($"baseline: word count in one thread ({options.Seconds} s)");
                single = SingleThreadBaseline.Run(words, duration, Path.Combine(home, "single.csv"));
                progress.WriteLine($"  {single.RecordsPerSecond:N0} records/s, {single.CpuMicrosPerRecord:0.00} µs CPU per record");
            }
            if (options.Only is not (null or "pipeline" or "half"))
            {
                throw new OnlyPartException(echo.RecordsPerSecond, single.RecordsPerSecond);
            }
            var pipeline = await RunPipelineAsync(options, dictionary, home, progress);
            var markdown = Render(options, started, echo, single, pipeline);
            return new BenchReport(markdown, pipeline.Full.Window.RecordsPerSecond, echo.RecordsPerSecond, single.RecordsPerSecond);
        }
        finally
        {
            try
            {
                if (options.KeepHome)
                {
                    progress.WriteLine($"cluster home kept: {home}");
                }
                else
                {
                    Directory.Delete(home, recursive: true);
                }
            }
            catch (IOException)
            {
                // A process that was just killed may still hold a file; the temp dir is harmless.
            }
        }
    }

    internal sealed record Phase(Window Window, IReadOnlyList<ProcessFigures> Processes);

    internal sealed record ProcessFigures(string Role, int Pid, double RssMb, double RssMaxMb, double CpuPercent, double RssFirstMb, double RssLastMb);

    private sealed record PipelineFigures(Phase Full, Phase Half, double HalfRateTarget, Phase Stalled, string? HalfProblem);

    private static async Task<PipelineFigures> RunPipelineAsync(BenchOptions options, string dictionary, string home, TextWriter progress)
    {
        string Artifact(string project, string file)
        {
            var path = Path.Combine(options.Root, "artifacts", "bin", project, "release", file);
            return File.Exists(path) ? path : throw new FileNotFoundException($"{path} is missing: build in Release first (bench/run.sh does)");
        }
        // Each phase on a fresh cluster (its own home and scheduler), so one phase's leftovers
        // (a draining source, a slow reader) cannot colour the next.
        async Task<BenchCluster> StartClusterAsync(string phase)
        {
            var phaseHome = Path.Combine(home, phase);
            Directory.CreateDirectory(phaseHome);
            var cluster = await BenchCluster.StartAsync(phaseHome, Artifact("Concord.Scheduler", "Concord.Scheduler.dll"), Artifact("Concord.Executor", "Concord.Executor.dll"));
            // Readers before writers: records on a stream nobody reads yet are dropped.
            await cluster.DeployAsync(new OperatorSpec
            {
                Name = "sink",
                Instances = 1,
                Builtin = new BuiltinOperator { Kind = "csv-sink", Options = { ["path"] = Path.Combine(phaseHome, "counts.csv"), ["stats"] = Path.Combine(phaseHome, "sink-stats.json") } },
                ExpectedInputs = { new InputStream { Name = "counts", Grouping = Grouping.Shuffle } },
            });
            await cluster.DeployAsync(CounterSpec(options));
            return cluster;
        }
        progress.WriteLine($"pipeline: generator → counter ({options.Counter} × {options.CounterInstances}) → csv-sink; cluster homes under {home}");

        Phase full = new(new Window(0, 0, []), []);
        if (options.Only != "half")
        {
            await using var cluster = await StartClusterAsync("full");
            await cluster.DeployAsync(Generator("source", dictionary, rate: 0));
            progress.WriteLine($"  full speed: warm-up {options.WarmupSeconds} s, window {options.Seconds} s");
            full = await MeasureAsync(cluster, Path.Combine(cluster.Home, "sink-stats.json"), options, progress);
            progress.WriteLine($"  {full.Window.RecordsPerSecond:N0} records/s, p50 {full.Window.PercentileMs(0.5):0.##} ms, p99 {full.Window.PercentileMs(0.99):0.##} ms");
        }

        var halfRate = options.HalfRate > 0 ? options.HalfRate : Math.Max(1, Math.Round(full.Window.RecordsPerSecond / 2));
        Phase half;
        string? halfProblem = null;
        await using (var cluster = await StartClusterAsync("half"))
        {
            await cluster.DeployAsync(Generator("source", dictionary, rate: halfRate));
            progress.WriteLine($"  half rate ({halfRate:N0} records/s): warm-up {options.WarmupSeconds} s, window {options.Seconds} s");
            try
            {
                half = await MeasureAsync(cluster, Path.Combine(cluster.Home, "sink-stats.json"), options, progress);
                progress.WriteLine($"  {half.Window.RecordsPerSecond:N0} records/s, p50 {half.Window.PercentileMs(0.5):0.##} ms, p99 {half.Window.PercentileMs(0.99):0.##} ms");
            }
            catch (Exception e) when (e is TimeoutException or Grpc.Core.RpcException)
            {
                // Reported in the table (a finding), and the run goes on to the memory phase.
                halfProblem = e.Message;
                half = new Phase(new Window(0, 0, []), []);
                progress.WriteLine($"  half-rate phase failed: {e.Message}");
            }
        }

        // A second reader of counts that takes 100 ms per record: the whole pipeline stalls
        // behind it (credit), and the executors' memory must stay flat and bounded.
        IReadOnlyList<ProcessFigures> stalled;
        await using (var cluster = await StartClusterAsync("stalled"))
        {
            await cluster.DeployAsync(StalledSink(options, cluster.Home));
            await cluster.DeployAsync(Generator("source", dictionary, rate: 0));
            progress.WriteLine($"  stalled sink: settle {options.WarmupSeconds} s, sample memory {options.Seconds} s");
            await Task.Delay(TimeSpan.FromSeconds(options.WarmupSeconds));
            stalled = await SampleAsync(cluster, TimeSpan.FromSeconds(options.Seconds));
            progress.WriteLine($"  executors' resident memory, largest: {stalled.Where(p => p.Role.Contains("executor")).Select(p => p.RssMaxMb).DefaultIfEmpty(0).Max():0} MB");
        }
        return new PipelineFigures(full, half, halfRate, new Phase(new Window(0, 0, []), stalled), halfProblem);
    }

    private static OperatorSpec Generator(string name, string dictionary, double rate) => new()
    {
        Name = name,
        Instances = 1,
        Builtin = new BuiltinOperator
        {
            Kind = "generator",
            Options = { ["stream"] = "words", ["dictionary"] = dictionary, ["rate"] = rate.ToString(CultureInfo.InvariantCulture) },
        },
        ExpectedOutputs = { "words" },
    };

    private static OperatorSpec StalledSink(BenchOptions options, string home)
    {
        var spec = new OperatorSpec
        {
            Name = "stalled",
            Executable = Path.Combine(options.Root, "artifacts", "bin", "WordCount", "release", "WordCount"),
            Args = { "sink" },
            Instances = 1,
            ExpectedInputs = { new InputStream { Name = "counts", Grouping = Grouping.Shuffle } },
        };
        spec.Environment["WORDCOUNT_OUTPUT"] = Path.Combine(home, "stalled.csv");
        spec.Environment["WORDCOUNT_SINK_DELAY_US"] = BenchLimits.StalledSinkDelayMicros.ToString(CultureInfo.InvariantCulture);
        return spec;
    }

    /// <summary>The counter the user chose: a known example, a deploy file, or a command line.</summary>
    private static OperatorSpec CounterSpec(BenchOptions options)
    {
        var examples = Path.Combine(options.Root, "examples", "wordcount");
        var spec = options.Counter switch
        {
            "dotnet" => FromDeployFile(Path.Combine(examples, "counter.json")),
            "python" => FromDeployFile(Path.Combine(examples, "counter-python.json")),
            "go" => FromDeployFile(Path.Combine(examples, "counter-go.json")),
            "ruby" => FromDeployFile(Path.Combine(examples, "counter-ruby.json")),
            "node" => FromDeployFile(Path.Combine(examples, "counter-node.json")),
            "java" => FromDeployFile(Path.Combine(examples, "counter-java.json")),
            var file when file.EndsWith(".json", StringComparison.OrdinalIgnoreCase) => FromDeployFile(Path.GetFullPath(file)),
            var command => FromCommand(command),
        };
        spec.Name = "counter";
        spec.Instances = options.CounterInstances;
        spec.ExpectedInputs.Clear();
        spec.ExpectedInputs.Add(new InputStream { Name = "words", Grouping = Grouping.GroupBy });
        spec.ExpectedOutputs.Clear();
        spec.ExpectedOutputs.Add("counts");
        return spec;
    }

    private static OperatorSpec FromCommand(string command)
    {
        var parts = command.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        var spec = new OperatorSpec { Executable = Path.GetFullPath(parts[0]), SourceDirectory = Environment.CurrentDirectory };
        spec.Args.AddRange(parts.Skip(1));
        return spec;
    }

    /// <summary>The fields of a deploy file the benchmark needs: executable (relative to the file), args, environment.</summary>
    private static OperatorSpec FromDeployFile(string path)
    {
        if (!File.Exists(path))
        {
            throw new FileNotFoundException($"deploy file {path} does not exist; pass --counter dotnet|python|go|node, a deploy file or a command line");
        }
        var directory = Path.GetDirectoryName(path)!;
        using var doc = JsonDocument.Parse(File.ReadAllText(path));
        var root = doc.RootElement;
        var executable = root.GetProperty("executable").GetString()!;
        var spec = new OperatorSpec
        {
            Executable = executable.Contains('/') ? Path.GetFullPath(Path.Combine(directory, executable)) : executable,
            SourceDirectory = directory,
        };
        if (!File.Exists(spec.Executable) && spec.Executable.Contains('/'))
        {
            throw new FileNotFoundException($"the counter's executable {spec.Executable} (from {path}) is missing; build it first (scripts/setup.sh builds the examples)");
        }
        if (root.TryGetProperty("args", out var args))
        {
            spec.Args.AddRange(args.EnumerateArray().Select(a => a.GetString()!));
        }
        if (root.TryGetProperty("environment", out var environment))
        {
            foreach (var variable in environment.EnumerateObject())
            {
                spec.Environment[variable.Name] = variable.Value.GetString()!;
            }
        }
        return spec;
    }

    /// <summary>Warm-up, then one window between two snapshots of the sink's stats, sampling every process meanwhile.</summary>
    internal static async Task<Phase> MeasureAsync(BenchCluster cluster, string statsPath, BenchOptions options, TextWriter progress)
    {
        // Records of this phase's source must have arrived (the file may hold an earlier phase's).
        var deadline = DateTime.UtcNow.AddMilliseconds(BenchLimits.FirstRecordsTimeoutMs);
        var before = SinkStats.TryRead(statsPath)?.Records ?? 0;
        while ((SinkStats.TryRead(statsPath)?.Records ?? 0) <= before)
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"no records reached the sink within {BenchLimits.FirstRecordsTimeoutMs} ms; see the logs under {cluster.Home}/instances");
            }
            await Task.Delay(100);
        }
        await Task.Delay(TimeSpan.FromSeconds(options.WarmupSeconds));
        var start = await FreshStatsAsync(statsPath, SinkStats.TryRead(statsPath)?.UpdatedUnixMs ?? 0);
        var processes = await SampleAsync(cluster, TimeSpan.FromSeconds(options.Seconds));
        var end = await FreshStatsAsync(statsPath, start.UpdatedUnixMs + options.Seconds * 1000L - 1000);
        return new Phase(end.Since(start), processes);
    }

    /// <summary>Waits for a stats file written after <paramref name="afterUnixMs"/>.</summary>
    private static async Task<SinkStats> FreshStatsAsync(string path, long afterUnixMs)
    {
        var deadline = DateTime.UtcNow.AddMilliseconds(BenchLimits.StatsFreshnessTimeoutMs);
        while (true)
        {
            var stats = SinkStats.TryRead(path);
            if (stats is not null && stats.UpdatedUnixMs > afterUnixMs)
            {
                return stats;
            }
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"the sink's stats file {path} was not rewritten within {BenchLimits.StatsFreshnessTimeoutMs} ms: records stopped flowing");
            }
            await Task.Delay(50);
        }
    }

    /// <summary>Resident memory (now, largest, first and last sample) and CPU of every executor and operator process over <paramref name="duration"/>.</summary>
    internal static async Task<IReadOnlyList<ProcessFigures>> SampleAsync(BenchCluster cluster, TimeSpan duration)
    {
        var roles = new List<(string Role, int Pid)>();
        foreach (var op in await cluster.ListAsync())
        {
            foreach (var instance in op.Instances)
            {
                roles.Add(($"{op.Spec.Name}/{instance.Index} executor", instance.ExecutorPid));
                if (instance.OperatorPid > 0)
                {
                    roles.Add(($"{op.Spec.Name}/{instance.Index} operator", instance.OperatorPid));
                }
            }
        }
        var first = roles.Select(r => ProcSample.Read(r.Pid)).ToArray();
        var max = first.Select(s => s.RssBytes).ToArray();
        var watch = Stopwatch.StartNew();
        var last = first;
        while (watch.Elapsed < duration)
        {
            await Task.Delay(BenchLimits.SampleIntervalMs);
            last = roles.Select(r => ProcSample.Read(r.Pid)).ToArray();
            for (var i = 0; i < last.Length; i++)
            {
                max[i] = Math.Max(max[i], last[i].RssBytes);
            }
        }
        var seconds = watch.Elapsed.TotalSeconds;
        const double Mb = 1024 * 1024;
        return roles.Select((r, i) => new ProcessFigures(r.Role, r.Pid, last[i].RssBytes / Mb, max[i] / Mb,
            100 * (last[i].CpuSeconds - first[i].CpuSeconds) / seconds, first[i].RssBytes / Mb, last[i].RssBytes / Mb)).ToList();
    }

    private static string Render(BenchOptions options, DateTimeOffset started, BaselineResult echoResult, BaselineResult singleResult, PipelineFigures p)
    {
        var (echo, single) = (echoResult.RecordsPerSecond, singleResult.RecordsPerSecond);
        var full = p.Full.Window;
        var half = p.Half.Window;
        var executorsStalled = p.Stalled.Processes.Where(x => x.Role.EndsWith("executor", StringComparison.Ordinal)).ToList();
        var stalledMax = executorsStalled.Select(x => x.RssMaxMb).DefaultIfEmpty(0).Max();
        var stalledGrowth = executorsStalled.Select(x => x.RssLastMb - x.RssFirstMb).DefaultIfEmpty(0).Max();
        string Ok(bool met) => met ? "met" : "**missed**";
        var md = new StringBuilder();
        md.AppendLine($"## Run of {started:yyyy-MM-dd HH:mm} UTC");
        md.AppendLine();
        md.AppendLine($"* command: `{options.Command}`");
        md.AppendLine($"* machine: {Machine.Describe()}; load average at the end of the run: {Machine.LoadAverage()} (other builds and tests share these cores)");
        md.AppendLine($"* counter: {options.Counter} × {options.CounterInstances}; windows of {options.Seconds} s after {options.WarmupSeconds} s warm-up");
        md.AppendLine();
        md.AppendLine("| figure | value | goal | |");
        md.AppendLine("|---|---|---|---|");
        md.AppendLine($"| pipeline, records/s through the counter | {full.RecordsPerSecond:N0} | ≥ 1,500,000 | {Ok(full.RecordsPerSecond >= 1_500_000)} |");
        md.AppendLine($"| transport ceiling (gRPC echo, unix socket, batches of 1,000), records/s | {echo:N0} | | |");
        md.AppendLine($"| word count in one thread, records/s | {single:N0} | | |");
        md.AppendLine($"| pipeline / transport ceiling | {full.RecordsPerSecond / echo:0.00} | ≥ 0.35 | {Ok(full.RecordsPerSecond / echo >= 0.35)} |");
        md.AppendLine($"| pipeline / one thread | {full.RecordsPerSecond / single:0.00} | | |");
        md.AppendLine($"| latency at full speed p50 / p99 / max, ms | {full.PercentileMs(0.5):0.0} / {full.PercentileMs(0.99):0.0} / {full.MaxMs:0.0} | | |");
        md.AppendLine($"| half rate: target / achieved records/s | {p.HalfRateTarget:N0} / {half.RecordsPerSecond:N0} | | |");
        md.AppendLine(p.HalfProblem is null
            ? $"| latency at half rate p50 / p99 / max, ms | {half.PercentileMs(0.5):0.0} / {half.PercentileMs(0.99):0.0} / {half.MaxMs:0.0} | p99 ≤ 10 | {Ok(half.PercentileMs(0.99) <= 10)} |"
            : $"| latency at half rate p50 / p99 / max, ms | failed: {p.HalfProblem.Replace("|", "/")} | p99 ≤ 10 | **missed** |");
        md.AppendLine($"| stalled sink: largest executor RSS, MB (growth over the window) | {stalledMax:0} ({stalledGrowth:+0.0;-0.0} MB) | ≤ 150, flat | {Ok(stalledMax <= 150)} |");
        md.AppendLine();
        md.AppendLine("Processes at full speed (RSS at the end / largest in the window; CPU % of one core over the window;");
        md.AppendLine("CPU µs per record = CPU time / records through the counter, which does not depend on how busy the machine is).");
        md.AppendLine("The last column is the same process in the half-rate run: fewer records share each batch and each wake-up there,");
        md.AppendLine("so a process whose cost is per batch costs more per record at half rate:");
        md.AppendLine();
        md.AppendLine("| process | pid | RSS MB | max RSS MB | CPU % | CPU µs/record | at half rate: CPU % / µs/record |");
        md.AppendLine("|---|---|---|---|---|---|---|");
        var rate = Math.Max(1, full.RecordsPerSecond);
        var halfByRole = new Dictionary<string, ProcessFigures>(StringComparer.Ordinal);
        foreach (var x in p.Half.Processes)
        {
            halfByRole.TryAdd(x.Role, x);
        }
        string AtHalfRate(double cpuPercent) => p.HalfProblem is null && half.RecordsPerSecond > 0
            ? $"{cpuPercent:0} / {cpuPercent / 100 * 1e6 / half.RecordsPerSecond:0.00}"
            : "";
        foreach (var x in p.Full.Processes)
        {
            var atHalf = halfByRole.TryGetValue(x.Role, out var h) ? AtHalfRate(h.CpuPercent) : "";
            md.AppendLine($"| {x.Role} | {x.Pid} | {x.RssMb:0} | {x.RssMaxMb:0} | {x.CpuPercent:0} | {x.CpuPercent / 100 * 1e6 / rate:0.00} | {atHalf} |");
        }
        var pipelineCpuMicros = p.Full.Processes.Sum(x => x.CpuPercent) / 100 * 1e6 / rate;
        md.AppendLine($"| **all** | | {p.Full.Processes.Sum(x => x.RssMb):0} | | {p.Full.Processes.Sum(x => x.CpuPercent):0} | {pipelineCpuMicros:0.00} | {AtHalfRate(p.Half.Processes.Sum(x => x.CpuPercent))} |");
        md.AppendLine();
        md.AppendLine($"CPU cost per record: pipeline {pipelineCpuMicros:0.00} µs (all processes), echo {echoResult.CpuMicrosPerRecord:0.00} µs, one thread {singleResult.CpuMicrosPerRecord:0.00} µs. " +
            $"With {Environment.ProcessorCount} idle cores that caps the pipeline at ≈ {Environment.ProcessorCount * 1e6 / pipelineCpuMicros:N0} records/s " +
            $"(the echo at ≈ {Environment.ProcessorCount * 1e6 / echoResult.CpuMicrosPerRecord:N0}); by CPU, pipeline / echo = {echoResult.CpuMicrosPerRecord / pipelineCpuMicros:0.00}.");
        md.AppendLine();
        md.AppendLine("Processes with the stalled sink (RSS first / last / largest sample):");
        md.AppendLine();
        md.AppendLine("| process | RSS first MB | RSS last MB | max RSS MB | CPU % |");
        md.AppendLine("|---|---|---|---|---|");
        foreach (var x in p.Stalled.Processes)
        {
            md.AppendLine($"| {x.Role} | {x.RssFirstMb:0} | {x.RssLastMb:0} | {x.RssMaxMb:0} | {x.CpuPercent:0} |");
        }
        return md.ToString();
    }
}
