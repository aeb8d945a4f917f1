using System.Diagnostics;
using System.Globalization;
using System.Text;
using Concord.Bench.Internal;
using Concord.Contracts.Scheduler.V1;
using Concord.Contracts.Types.V1;

namespace Concord.Bench;

/// <summary>
/// The delivery-guarantee benchmark (bench/run-guarantees.sh, docs/guarantees.md): the word count
/// generator → counter with keyed state (the C# test operator, case "state") → csv-sink in
/// at_most_once, at_least_once and exactly_once (checkpoint every second), each on a fresh
/// cluster and reported as a ratio to at_most_once of the same run; the checkpoints' durations
/// and alignment times (ListCheckpoints); the recovery time from a SIGKILL of the counter's
/// executor; and the state size of 1M counter keys in both backends (bench/StateSize.md).
/// </summary>
public static class GuaranteesBench
{
    private static readonly (string Name, DeliveryGuarantee Delivery)[] Modes =
    [
        ("at_most_once", DeliveryGuarantee.DeliveryAtMostOnce),
        ("at_least_once", DeliveryGuarantee.DeliveryAtLeastOnce),
        ("exactly_once", DeliveryGuarantee.DeliveryExactlyOnce),
    ];

    private sealed record ModeResult(string Name, WordCountBench.Phase Phase, CheckpointFigures? Checkpoints);

    private sealed record CheckpointFigures(int Completed, int Aborted, double DurationP50Ms, double DurationMaxMs, double AlignmentP50Ms, double AlignmentMaxMs, long StateBytes, double WrittenBytesP50);

    private sealed record RecoveryResult(double SteadyRecordsPerSecond, double? RunningAgainMs, double? FirstRecordsMs, double? SteadyAgainMs, ulong RestoredCheckpoint, string? Problem,
        double? StartCpuSeconds, double? SteadyCpuSeconds);

    public static async Task<string> RunAsync(BenchOptions options, TextWriter progress)
    {
        var started = DateTimeOffset.UtcNow;
        var dictionary = Path.Combine(options.Root, "examples", "wordcount", "words.txt");
        var home = Directory.CreateTempSubdirectory("cc-bench-guarantees-").FullName;
        try
        {
            var modes = new List<ModeResult>();
            RecoveryResult? recovery = null;
            if (options.Only is null or "modes" or "recovery")
            {
                foreach (var (name, delivery) in Modes)
                {
                    if (options.Only == "recovery" && delivery != DeliveryGuarantee.DeliveryExactlyOnce)
                    {
                        continue;
                    }
                    await using var cluster = await StartAsync(options, home, name, delivery, dictionary);
                    progress.WriteLine($"  {name}: warm-up {options.WarmupSeconds} s, window {options.Seconds} s");
                    var phase = await WordCountBench.MeasureAsync(cluster, StatsPath(cluster), options, progress);
                    var windowEnd = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
                    var windowStart = windowEnd - (long)(phase.Window.Seconds * 1000);
                    var checkpoints = delivery == DeliveryGuarantee.DeliveryAtMostOnce ? null : await CheckpointsAsync(cluster, windowStart, windowEnd);
                    modes.Add(new ModeResult(name, phase, checkpoints));
                    progress.WriteLine($"  {phase.Window.RecordsPerSecond:N0} records/s" + (checkpoints is null ? "" : $", {checkpoints.Completed} checkpoints, duration p50 {checkpoints.DurationP50Ms:0} ms, alignment p50 {checkpoints.AlignmentP50Ms:0} ms"));
                    if (delivery == DeliveryGuarantee.DeliveryExactlyOnce && options.Only is null or "recovery")
                    {
                        recovery = await RecoverAsync(cluster, phase.Window.RecordsPerSecond, progress);
                    }
                }
            }
            StateSizeBench.Result[] state = [];
            if (options.Only is null or "state")
            {
                progress.WriteLine($"state size: {options.StateKeys:N0} counter keys, memory and rocksdb backends");
                state = [StateSizeBench.Run("memory", options.StateKeys, Path.Combine(home, "state-memory"), progress),
                         StateSizeBench.Run("rocksdb", options.StateKeys, Path.Combine(home, "state-rocksdb"), progress)];
            }
            return Render(options, started, modes, recovery, state);
        }
        finally
        {
            try
            {
                if (options.KeepHome)
                {
                    progress.WriteLine($"cluster homes kept: {home}");
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

    private static string StatsPath(BenchCluster cluster) => Path.Combine(cluster.Home, "sink-stats.json");

    /// <summary>A fresh cluster (checkpoint every second) running the pipeline in <paramref name="delivery"/>.</summary>
    private static async Task<BenchCluster> StartAsync(BenchOptions options, string home, string phase, DeliveryGuarantee delivery, string dictionary)
    {
        string Artifact(string project, string file)
        {
            var path = Path.Combine(options.Root, "artifacts", "bin", project, "release", file);
            return File.Exists(path) ? path : throw new FileNotFoundException($"{path} is missing: build in Release first (bench/run-guarantees.sh does)");
        }
        var phaseHome = Path.Combine(home, phase);
        Directory.CreateDirectory(phaseHome);
        var cluster = await BenchCluster.StartAsync(phaseHome, Artifact("Concord.Scheduler", "Concord.Scheduler.dll"), Artifact("Concord.Executor", "Concord.Executor.dll"),
            "--checkpoint-interval-ms", BenchLimits.CheckpointIntervalMs.ToString(CultureInfo.InvariantCulture),
            "--checkpoints-retained", BenchLimits.CheckpointsRetained.ToString(CultureInfo.InvariantCulture));
        try
        {
            // Readers before writers: records on a stream nobody reads yet are dropped.
            await cluster.DeployAsync(new OperatorSpec
            {
                Name = "sink",
                Instances = 1,
                Delivery = delivery,
                Builtin = new BuiltinOperator
                {
                    Kind = "csv-sink",
                    Options =
                    {
                        // exactly_once: a directory of transactional part files; otherwise one file.
                        ["path"] = Path.Combine(phaseHome, delivery == DeliveryGuarantee.DeliveryExactlyOnce ? "counts" : "counts.csv"),
                        ["stats"] = StatsPath(cluster),
                    },
                },
                ExpectedInputs = { new InputStream { Name = "out-a", Grouping = Grouping.Shuffle } },
            });
            // count := count + 1 in keyed state "count" per record, produce (word, count).
            await cluster.DeployAsync(new OperatorSpec
            {
                Name = "counter",
                Executable = Artifact("Concord.TestOperator", "Concord.TestOperator"),
                Instances = options.CounterInstances,
                Delivery = delivery,
                Environment = { ["CONFORMANCE_CASE"] = "state" },
                ExpectedInputs = { new InputStream { Name = "in", Grouping = Grouping.GroupBy } },
                ExpectedOutputs = { "out-a", "out-b" },
            });
            await cluster.DeployAsync(new OperatorSpec
            {
                Name = "source",
                Instances = 1,
                Delivery = delivery,
                Builtin = new BuiltinOperator { Kind = "generator", Options = { ["stream"] = "in", ["dictionary"] = dictionary, ["rate"] = "0" } },
                ExpectedOutputs = { "in" },
            });
            return cluster;
        }
        catch
        {
            await cluster.DisposeAsync();
            throw;
        }
    }

    /// <summary>Checkpoints triggered inside the window [<paramref name="fromMs"/>, <paramref name="toMs"/>].</summary>
    private static async Task<CheckpointFigures> CheckpointsAsync(BenchCluster cluster, long fromMs, long toMs)
    {
        var all = (await cluster.Client.ListCheckpointsAsync(new ListCheckpointsRequest(), deadline: DateTime.UtcNow.AddMilliseconds(BenchLimits.SchedulerCallTimeoutMs))).Checkpoints;
        var inWindow = all.Where(c => !c.Savepoint && c.TriggerUnixMs >= fromMs && c.TriggerUnixMs <= toMs).ToList();
        var completed = inWindow.Where(c => c.Status == CheckpointStatus.Completed).ToList();
        static double Median(IEnumerable<double> values)
        {
            var sorted = values.Order().ToList();
            return sorted.Count == 0 ? double.NaN : sorted[sorted.Count / 2];
        }
        return new CheckpointFigures(
            completed.Count,
            inWindow.Count(c => c.Status == CheckpointStatus.Aborted),
            Median(completed.Select(c => (double)c.DurationMs)),
            completed.Select(c => (double)c.DurationMs).DefaultIfEmpty(double.NaN).Max(),
            Median(completed.Select(c => (double)c.AlignmentMsMax)),
            completed.Select(c => (double)c.AlignmentMsMax).DefaultIfEmpty(double.NaN).Max(),
            completed.Select(c => c.StateBytes).DefaultIfEmpty(0).Max(),
            Median(completed.Select(c => (double)c.WrittenBytes)));
    }

    /// <summary>
    /// SIGKILLs the counter's executor (instance 0) and follows the sink's stats: when every
    /// instance runs again, when records reach the (restarted) sink, and when a stats interval
    /// first runs at <see cref="BenchLimits.RecoverySteadyFraction"/> of the rate before the kill.
    /// </summary>
    private static async Task<RecoveryResult> RecoverAsync(BenchCluster cluster, double steady, TextWriter progress)
    {
        var statsPath = StatsPath(cluster);
        var counter = (await cluster.ListAsync()).Single(o => o.Spec.Name == "counter").Instances.Single(i => i.Index == 0);
        progress.WriteLine($"  recovery: SIGKILL of counter/0's executor (pid {counter.ExecutorPid}) at {steady:N0} records/s");
        var watch = Stopwatch.StartNew();
        using (var kill = Process.Start(new ProcessStartInfo("kill", ["-KILL", counter.ExecutorPid.ToString(CultureInfo.InvariantCulture)]))!)
        {
            await kill.WaitForExitAsync();
        }
        var killedUnixMs = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        double? runningAgain = null, firstRecords = null, steadyAgain = null, startCpuSeconds = null, steadyCpuSeconds = null;
        int[] restartedPids = [];
        ulong restored = 0;
        SinkStats? previous = null;
        var nextList = 0L;
        while (watch.ElapsedMilliseconds < BenchLimits.RecoveryTimeoutMs && steadyAgain is null)
        {
            if (runningAgain is null && watch.ElapsedMilliseconds >= nextList)
            {
                nextList = watch.ElapsedMilliseconds + BenchLimits.RecoveryListIntervalMs;
                var operators = await cluster.ListAsync();
                var instances = operators.SelectMany(o => o.Instances).ToList();
                if (instances.All(i => i.State == InstanceState.Running && i.RestoredCheckpointId > 0))
                {
                    runningAgain = watch.Elapsed.TotalMilliseconds;
                    restored = instances[0].RestoredCheckpointId;
                    restartedPids = [.. instances.SelectMany(i => new[] { i.ExecutorPid, i.OperatorPid }).Where(pid => pid > 0)];
                    startCpuSeconds = CpuSeconds(restartedPids);
                    progress.WriteLine("    running: CPU s per process: " + string.Join(", ", operators.SelectMany(o => o.Instances.Select(i => (o.Spec.Name, i))).Select(p =>
                        $"{p.Name}/{p.i.Index} executor {ProcSample.Read(p.i.ExecutorPid).CpuSeconds:0.00}" + (p.i.OperatorPid > 0 ? $" operator {ProcSample.Read(p.i.OperatorPid).CpuSeconds:0.00}" : ""))));
                }
            }
            var stats = SinkStats.TryRead(statsPath);
            if (stats is not null && stats.UpdatedUnixMs > killedUnixMs && stats.UpdatedUnixMs != previous?.UpdatedUnixMs)
            {
                // A restarted sink starts its count again: a fall marks the new incarnation.
                var sameSink = previous is not null && previous.UpdatedUnixMs > killedUnixMs && stats.Records >= previous.Records;
                if (runningAgain is not null && stats.Records > 0 && firstRecords is null)
                {
                    firstRecords = watch.Elapsed.TotalMilliseconds;
                }
                // The ramp, interval by interval: where the time between first records and steady goes.
                progress.WriteLine(sameSink
                    ? $"    +{stats.UpdatedUnixMs - killedUnixMs} ms: {stats.Since(previous!).RecordsPerSecond:N0} records/s"
                    : $"    +{stats.UpdatedUnixMs - killedUnixMs} ms: {stats.Records:N0} records (a new sink's first stats)");
                if (sameSink && runningAgain is not null && stats.Since(previous!).RecordsPerSecond >= BenchLimits.RecoverySteadyFraction * steady)
                {
                    steadyAgain = stats.UpdatedUnixMs - killedUnixMs;
                    steadyCpuSeconds = CpuSeconds(restartedPids);
                }
                previous = stats;
            }
            await Task.Delay(BenchLimits.RecoveryPollMs);
        }
        var problem = steadyAgain is null ? $"throughput did not reach {BenchLimits.RecoverySteadyFraction:P0} of {steady:N0} records/s within {BenchLimits.RecoveryTimeoutMs} ms" : null;
        progress.WriteLine($"  running again after {runningAgain:0} ms (checkpoint {restored}), records at the sink after {firstRecords:0} ms, steady after {steadyAgain:0} ms{(problem is null ? "" : "; " + problem)}");
        progress.WriteLine($"  CPU of the restarted processes: {startCpuSeconds:0.00} s until running, {steadyCpuSeconds:0.00} s until steady");
        return new RecoveryResult(steady, runningAgain, firstRecords, steadyAgain, restored, problem, startCpuSeconds, steadyCpuSeconds);
    }

    /// <summary>
    /// CPU seconds (user + system) the processes have used so far: the cost of a restart that the
    /// machine's load does not change, unlike the wall-clock figures (other work shares the cores).
    /// </summary>
    private static double CpuSeconds(int[] pids) => pids.Sum(pid => ProcSample.Read(pid).CpuSeconds);

    private static string Render(BenchOptions options, DateTimeOffset started, List<ModeResult> modes, RecoveryResult? recovery, StateSizeBench.Result[] state)
    {
        string Ok(bool met) => met ? "met" : "**missed**";
        static string Ms(double? ms) => ms is { } v && !double.IsNaN(v) ? v.ToString("N0", CultureInfo.InvariantCulture) : "–";
        var md = new StringBuilder();
        md.AppendLine($"## Guarantees run of {started:yyyy-MM-dd HH:mm} UTC");
        md.AppendLine();
        md.AppendLine($"* command: `{options.Command}`");
        md.AppendLine($"* machine: {Machine.Describe()}; load average at the end of the run: {Machine.LoadAverage()}");
        md.AppendLine($"* pipeline: generator → counter (C# test operator, keyed state `count`, × {options.CounterInstances}) → csv-sink, each operator in the mode; " +
            $"checkpoint every {BenchLimits.CheckpointIntervalMs} ms; a fresh cluster per mode; windows of {options.Seconds} s after {options.WarmupSeconds} s warm-up");
        md.AppendLine();
        if (modes.Count > 0)
        {
            var baseline = modes.FirstOrDefault(m => m.Name == "at_most_once")?.Phase.Window.RecordsPerSecond ?? double.NaN;
            md.AppendLine("| mode | records/s | ratio to at_most_once | goal | latency p50 / p99, ms | CPU µs/record | checkpoints (aborted) | checkpoint duration p50 / max, ms | alignment p50 / max, ms |");
            md.AppendLine("|---|---|---|---|---|---|---|---|---|");
            foreach (var m in modes)
            {
                var w = m.Phase.Window;
                var ratio = w.RecordsPerSecond / baseline;
                var goal = m.Name == "exactly_once" ? $"≥ 0.7: {Ok(ratio >= 0.7)}" : "";
                var cpu = m.Phase.Processes.Sum(p => p.CpuPercent) / 100 * 1e6 / Math.Max(1, w.RecordsPerSecond);
                var c = m.Checkpoints;
                md.AppendLine($"| {m.Name} | {w.RecordsPerSecond:N0} | {ratio:0.00} | {goal} | {w.PercentileMs(0.5):0.0} / {w.PercentileMs(0.99):0.0} | {cpu:0.00} | " +
                    (c is null ? "– | – | – |" : $"{c.Completed} ({c.Aborted}) | {Ms(c.DurationP50Ms)} / {Ms(c.DurationMaxMs)} | {Ms(c.AlignmentP50Ms)} / {Ms(c.AlignmentMaxMs)} |"));
            }
            var sizes = modes.Select(m => m.Checkpoints).LastOrDefault(c => c is not null);
            if (sizes is not null)
            {
                md.AppendLine();
                md.AppendLine($"Checkpoint sizes (exactly_once): state {sizes.StateBytes:N0} bytes, written per checkpoint p50 {sizes.WrittenBytesP50:N0} bytes (incremental).");
            }
            md.AppendLine();
        }
        if (recovery is not null)
        {
            md.AppendLine("| recovery (exactly_once, SIGKILL of counter/0's executor) | ms after the kill | goal | |");
            md.AppendLine("|---|---|---|---|");
            md.AppendLine($"| every instance running again, restored from checkpoint {recovery.RestoredCheckpoint} | {Ms(recovery.RunningAgainMs)} | | |");
            md.AppendLine($"| first records at the restarted sink | {Ms(recovery.FirstRecordsMs)} | | |");
            md.AppendLine($"| steady again (a 1 s stats interval ≥ {BenchLimits.RecoverySteadyFraction:0%} of {recovery.SteadyRecordsPerSecond:N0} records/s) | {Ms(recovery.SteadyAgainMs)} | ≤ 5,000 | {Ok(recovery.SteadyAgainMs <= 5000)} |");
            md.AppendLine($"| CPU seconds of the restarted executors and operator processes: until running / until steady (load-independent) | {recovery.StartCpuSeconds:0.00} / {recovery.SteadyCpuSeconds:0.00} s | | |");
            if (recovery.Problem is not null)
            {
                md.AppendLine();
                md.AppendLine($"Recovery problem: {recovery.Problem}.");
            }
            md.AppendLine();
        }
        if (state.Length > 0)
        {
            md.AppendLine(StateSizeBench.Render(state));
        }
        return md.ToString();
    }
}
