using System.Globalization;
using Concord.Contracts.Scheduler.V1;
using Concord.Contracts.Types.V1;
using Concord.EndToEnd.Tests.Harness;
using Grpc.Core;
using static Concord.EndToEnd.Tests.Harness.Guarantees;

namespace Concord.EndToEnd.Tests;

/// <summary>
/// The rest of issue 13's proofs (docs/guarantees.md), on a real cluster: generator → keyed-state
/// counter → csv-sink with at-least-once through SIGKILLs, a rescale 1 → 3 → 2 of the counter under
/// load with exactly-once, SIGKILLs of the scheduler in the middle of checkpoints, and
/// `concord checkpoints` on a running exactly-once pipeline.
/// </summary>
public sealed class GuaranteeTests
{
    /// <summary>Records per generator lane; 2 lanes (instances).</summary>
    private const int RecordsPerLane = 8_000;

    /// <summary>Records per second per generator instance: the run lasts long enough for the kills and scales to land mid-stream.</summary>
    private const int RatePerInstance = 800;

    /// <summary>SIGKILLs of executors and operators in the at-least-once run.</summary>
    private const int Kills = 3;

    /// <summary>Deadline of a Scale call, in seconds: it takes a checkpoint first (SchedulerLimits.RescaleCheckpointWaitMs bounds that at 120 s).</summary>
    private const int ScaleCallTimeoutSeconds = 60;

    /// <summary>How long one phase of a run may take (growth between kills, the end of the stream), on 2 busy cores.</summary>
    private static readonly TimeSpan RunTimeout = TimeSpan.FromSeconds(75);

    /// <summary>How long a killed process may take to be gone, in seconds.</summary>
    private const int GoneTimeoutSeconds = 30;

    private static int Total => GeneratorInstances * RecordsPerLane;

    // ================================ at-least-once ================================

    [Fact]
    public async Task At_least_once_a_counter_with_keyed_state_outputs_every_running_count_at_least_once_through_SIGKILLs_of_executors_and_operators()
    {
        const DeliveryGuarantee delivery = DeliveryGuarantee.DeliveryAtLeastOnce;
        await using var cluster = await Cluster.StartAsync();
        // With at_least_once the csv-sink appends to a plain file (docs/guarantees.md, "Sources and sinks").
        var output = Path.Combine(cluster.Home, "counts.csv");
        await cluster.DeployAsync(FileSink(output, "out-a", delivery));
        await cluster.DeployAsync(Counter(instances: 2, delivery));
        await cluster.DeployAsync(Generator("in", RecordsPerLane, RatePerInstance, delivery));

        // The file grows before anything is checkpointed: each kill waits for a checkpoint completed
        // since the last. The sink's executor is killed first, so a torn last line is likely every run.
        var victims = await KillDuringRunAsync(cluster, () => LatestCheckpointAsync(cluster), operatorsToo: true, Kills, RunTimeout, firstVictim: "sink");

        var happened = $"after killing {string.Join(", ", victims)}";
        var expected = Reference(GeneratorInstances, RecordsPerLane);
        var reference = expected
            .SelectMany(e => Enumerable.Range(1, e.Value).Select(count => string.Create(CultureInfo.InvariantCulture, $"{e.Key},{count}")))
            .ToHashSet(StringComparer.Ordinal);
        List<string> Missing() => reference.Except(Csv.ReadLines(output), StringComparer.Ordinal).ToList();
        await Eventually.UntilAsync(() => Missing().Count == 0, RunTimeout,
            () => $"every (word, count) of the reference in {output}; {Missing().Count} of {reference.Count} missing, e.g. {string.Join("; ", Missing().Take(5))}; {happened}\n" +
                  $"{Cluster.Tail(cluster.SchedulerOutput, 40)}\n{cluster.InstanceLogs("sink")}");

        // Replays may repeat lines, and counts may go past the reference (a checkpoint's state,
        // not aligned, can hold records after the barrier that are then replayed), but every line
        // is a whole "word,count" of a word the generator emits: none torn or glued by a kill.
        var lines = Csv.ReadLines(output);
        var torn = lines.Where(l => !IsCountOfAWord(l, expected)).ToList();
        Assert.True(torn.Count == 0, $"{torn.Count} lines of {output} are no \"word,count\" of a generated word, e.g. {string.Join("; ", torn.Take(5))}; {happened}");
        Assert.True(lines.Count >= reference.Count);
        // The kills were recovered from checkpoints, visible in `list`.
        var list = await cluster.Client.ListAsync(new ListRequest(), cluster.Call());
        var checkpoints = await cluster.Client.ListCheckpointsAsync(new ListCheckpointsRequest(), cluster.Call());
        Assert.True(list.Operators.SelectMany(o => o.Instances).Any(i => i.RestoredCheckpointId > 0),
            $"no instance restored a checkpoint; {happened}; latest completed checkpoint {checkpoints.LatestCompletedId}\n{Cluster.Tail(cluster.SchedulerOutput, 60)}");
    }

    private static bool IsCountOfAWord(string line, Dictionary<string, int> expected)
    {
        var comma = line.LastIndexOf(',');
        return comma > 0 && expected.ContainsKey(line[..comma])
            && int.TryParse(line.AsSpan(comma + 1), NumberStyles.None, CultureInfo.InvariantCulture, out var count) && count >= 1;
    }

    // ================================ rescale with state ================================

    [Fact]
    public async Task Rescaling_the_keyed_state_counter_1_to_3_to_2_under_load_keeps_every_running_count_exactly_once()
    {
        await using var cluster = await Cluster.StartAsync();
        var output = Path.Combine(cluster.Home, "committed");
        await cluster.DeployAsync(FileSink(output, "out-a"));
        await cluster.DeployAsync(Counter(instances: 1));
        await cluster.DeployAsync(Generator("in", RecordsPerLane, RatePerInstance));

        var steps = new List<string>();
        foreach (var instances in new[] { 3, 2 })
        {
            await GrowthAsync(cluster, () => CommittedLines(output).Count, RunTimeout, $"before the scale to {instances}; {string.Join(", ", steps)}");
            var before = CommittedLines(output).Count;
            // Under load: the sources have not finished (the scale is not of an idle pipeline).
            Assert.True(before < Total, $"the generator finished before the scale to {instances}; slow it down (RatePerInstance)");
            var scaled = await cluster.Client.ScaleAsync(new ScaleRequest { Name = "counter", Instances = instances },
                new CallOptions(deadline: DateTime.UtcNow.AddSeconds(ScaleCallTimeoutSeconds)));
            var running = await cluster.WaitRunningAsync("counter", instances);
            // Every instance after a scale with state restored the checkpoint the scale took.
            Assert.All(running.Instances, i => Assert.True(i.RestoredCheckpointId > 0, $"counter/{i.Index} restored no checkpoint after the scale to {instances}"));
            steps.Add($"scaled to {instances} at {before} committed lines from checkpoint {running.Instances[0].RestoredCheckpointId}");
        }

        var happened = string.Join(", ", steps);
        var lines = await AllCommittedAsync(cluster, output, Total, RunTimeout, happened);
        AssertExactCounts(lines, Reference(GeneratorInstances, RecordsPerLane), happened);
        Assert.Equal(2, (await cluster.FindAsync("counter"))!.Instances.Count);
        await AssertRestoredAndNothingUncommittedAsync(cluster, output);
    }

    // ================================ concord checkpoints ================================

    [Fact]
    public async Task Concord_checkpoints_lists_the_completed_checkpoints_of_a_running_exactly_once_pipeline_with_their_sizes()
    {
        await using var cluster = await Cluster.StartAsync();
        await cluster.DeployAsync(FileSink(Path.Combine(cluster.Home, "committed"), "out-a"));
        await cluster.DeployAsync(Counter(instances: 2));
        await cluster.DeployAsync(Generator("in", RecordsPerLane, RatePerInstance));
        const int participants = GeneratorInstances + 2 + 1;
        // Checkpoints run from the first deploy on: those triggered before the whole pipeline ran
        // have fewer participants and no state. Only later ones are checked.
        var beforeWholePipeline = (await cluster.Client.ListCheckpointsAsync(new ListCheckpointsRequest(), cluster.Call()))
            .Checkpoints.Select(c => c.CheckpointId).DefaultIfEmpty(0UL).Max();
        // A few completed checkpoints with the counter's keyed state in them.
        await Eventually.UntilAsync(async () =>
        {
            var list = await cluster.Client.ListCheckpointsAsync(new ListCheckpointsRequest(), cluster.Call());
            return list.Checkpoints.Count(c => c.CheckpointId > beforeWholePipeline && c.Status == CheckpointStatus.Completed && c.StateBytes > 0) >= 2;
        }, RunTimeout, () => $"two completed checkpoints with state after checkpoint {beforeWholePipeline}\n{Cluster.Tail(cluster.SchedulerOutput, 40)}");

        var cli = await CliRunner.RunAsync(cluster.Home, "checkpoints");

        Assert.True(cli.ExitCode == 0, $"concord checkpoints exited {cli.ExitCode}: {cli.Err}\n{cli.Out}");
        var lines = cli.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Matches(@"^ID\s+STATUS\s+TRIGGERED \(UTC\)\s+DURATION MS\s+ALIGNMENT MS\s+STATE\s+WRITTEN\s+ACKED\s+SAVEPOINT$", lines[0]);
        // Columns are separated by at least 3 spaces; a cell ("1.5 KiB", a date and time) holds single ones.
        var completed = lines.Skip(1).Select(l => System.Text.RegularExpressions.Regex.Split(l.Trim(), @"\s{3,}"))
            .Where(cells => cells.Length == 9 && cells[1] == "completed" && ulong.TryParse(cells[0], CultureInfo.InvariantCulture, out var id) && id > beforeWholePipeline).ToList();
        Assert.True(completed.Count >= 2, $"at least 2 completed checkpoints listed:\n{cli.Out}");
        foreach (var cells in completed)
        {
            var row = string.Join(" | ", cells);
            Assert.True(ulong.TryParse(cells[0], CultureInfo.InvariantCulture, out _), row);
            Assert.Matches(@"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$", cells[2]);
            Assert.True(long.TryParse(cells[3], CultureInfo.InvariantCulture, out var duration) && duration >= 0, row);
            Assert.True(long.TryParse(cells[4], CultureInfo.InvariantCulture, out _), row);
            Assert.True(Size(cells[5]) > 0, $"a checkpoint of the keyed-state counter has state: {row}");
            Assert.True(Size(cells[6]) > 0, $"every checkpoint writes at least the operator snapshots: {row}");
            Assert.Equal(string.Create(CultureInfo.InvariantCulture, $"{participants}/{participants}"), cells[7]);
            Assert.Equal("-", cells[8]);
        }
        var newest = completed.Select(c => ulong.Parse(c[0], CultureInfo.InvariantCulture)).Max();
        Assert.Contains(string.Create(CultureInfo.InvariantCulture, $"a failure now restores checkpoint {newest}"), cli.Out);
    }

    /// <summary>"0 B", "512 B", "1.5 KiB", "3.2 MiB" → bytes (approximately).</summary>
    private static double Size(string cell)
    {
        var parts = cell.Split(' ');
        Assert.True(parts.Length == 2, $"a size: '{cell}'");
        var unit = Array.IndexOf(["B", "KiB", "MiB", "GiB", "TiB"], parts[1]);
        Assert.True(unit >= 0, $"a size unit: '{cell}'");
        return double.Parse(parts[0], CultureInfo.InvariantCulture) * Math.Pow(1024, unit);
    }

    // ================================ scheduler killed mid-checkpoint ================================

    [Fact]
    public async Task A_scheduler_SIGKILLed_in_the_middle_of_checkpoints_resumes_from_the_last_completed_one_and_the_committed_counts_are_exact()
    {
        var first = await Cluster.StartAsync();
        await using var firstCluster = first; // disposed last: by then nothing of this home runs
        var home = first.Home;
        var output = Path.Combine(home, "committed");
        await first.DeployAsync(FileSink(output, "out-a"));
        await first.DeployAsync(Counter(instances: 2));
        await first.DeployAsync(Generator("in", RecordsPerLane, RatePerInstance));
        var steps = new List<string>();

        // 1. Killed mid-checkpoint, every instance lives on: the next scheduler adopts them, the
        //    checkpoint it interrupted never completes, and the following ones do.
        await GrowthAsync(first, () => CommittedLines(output).Count, RunTimeout, "before the first kill");
        steps.Add((await KillSchedulerMidCheckpointAsync(first)).What);
        await using var second = await Cluster.StartAsync(home);
        await AllRunningAsync(second);
        await GrowthAsync(second, () => CommittedLines(output).Count, RunTimeout, $"checkpoints to complete again after {steps[^1]}");
        Assert.True(CommittedLines(output).Count < Total, $"the generator finished before the second kill; slow it down (RatePerInstance); {string.Join(", ", steps)}");

        // 2. Killed mid-checkpoint, and a counter executor dies while no scheduler runs: the next
        //    scheduler cannot adopt every participant, so all restart from the last completed
        //    checkpoint (two points in time are never joined).
        var counter = (await second.FindAsync("counter"))!.Instances[0];
        var kill = await KillSchedulerMidCheckpointAsync(second);
        steps.Add(kill.What);
        Processes.Kill(counter.ExecutorPid, hard: true);
        await Eventually.UntilAsync(() => !Processes.IsAlive(counter.ExecutorPid), TimeSpan.FromSeconds(GoneTimeoutSeconds),
            () => $"counter/0's executor (pid {counter.ExecutorPid}) to die");
        steps.Add($"counter/0's executor SIGKILLed while no scheduler ran");
        await using var third = await Cluster.StartAsync(home);
        var restored = await AllRunningAsync(third);
        var instances = restored.Operators.SelectMany(o => o.Instances.Select(i => (o.Spec.Name, i))).ToList();
        // The restore is from the last completed checkpoint: the one completed before the kill,
        // or the one in progress if it completed in the instant between the look and the kill.
        Assert.All(instances, p => Assert.True(p.i.RestoredCheckpointId >= kill.CompletedBefore && p.i.RestoredCheckpointId <= kill.InProgress,
            $"{p.Name}/{p.i.Index} restored checkpoint {p.i.RestoredCheckpointId}, expected the last completed one ({kill.CompletedBefore}, " +
            $"or {kill.InProgress} if it completed just before the kill); {string.Join(", ", steps)}"));
        Assert.Single(instances.Select(p => p.i.RestoredCheckpointId).Distinct());
        Assert.All(instances, p => Assert.NotEqual(counter.Incarnation, p.i.Incarnation));

        var happened = string.Join(", ", steps);
        var lines = await AllCommittedAsync(third, output, Total, RunTimeout, happened);
        AssertExactCounts(lines, Reference(GeneratorInstances, RecordsPerLane), happened);
        await AssertRestoredAndNothingUncommittedAsync(third, output);
    }

    private sealed record SchedulerKill(string What, ulong CompletedBefore, ulong InProgress, string Directory);

    /// <summary>
    /// Waits for a checkpoint in progress that not every participant acknowledged yet, SIGKILLs
    /// the scheduler at once, and waits until its home is free for the next one. Returns what
    /// happened, the last completed checkpoint then, and the one in progress.
    /// </summary>
    private static async Task<SchedulerKill> KillSchedulerMidCheckpointAsync(Cluster cluster)
    {
        var seen = await Eventually.UntilAsync(async () =>
        {
            var list = await cluster.Client.ListCheckpointsAsync(new ListCheckpointsRequest(), cluster.Call());
            return list.Checkpoints.FirstOrDefault(c => c.Status == CheckpointStatus.InProgress && c.Acknowledged < c.Participants) is { } running
                ? new SchedulerKill($"scheduler SIGKILLed during checkpoint {running.CheckpointId} ({running.Acknowledged}/{running.Participants} acknowledged)",
                    list.LatestCompletedId, running.CheckpointId, running.Directory)
                : null;
        }, RunTimeout, () => $"a checkpoint in progress\n{Cluster.Tail(cluster.SchedulerOutput, 40)}");
        // At once, without starting a kill(1) process: the checkpoint is a few hundred ms long.
        using (var scheduler = System.Diagnostics.Process.GetProcessById(cluster.SchedulerPid))
        {
            scheduler.Kill();
        }
        await Eventually.UntilAsync(() => !Processes.IsAlive(cluster.SchedulerPid), TimeSpan.FromSeconds(GoneTimeoutSeconds), () => "the scheduler to die");
        // A killed process shows as a zombie while its other threads still exit and hold its
        // files; the next scheduler needs the home's lock, so wait until the kernel released it.
        await Eventually.UntilAsync(() => LockIsFree(Path.Combine(cluster.Home, "scheduler.lock")), TimeSpan.FromSeconds(GoneTimeoutSeconds),
            () => "the killed scheduler's lock on its home to be released");
        var interrupted = Path.Combine(seen.Directory, "_metadata.json");
        return seen with { What = seen.What + (File.Exists(interrupted) ? " (it had completed by the kill)" : " (it had not completed)") };
    }

    private static async Task<ListResponse> AllRunningAsync(Cluster cluster) =>
        await Eventually.UntilAsync(async () =>
        {
            var list = await cluster.Client.ListAsync(new ListRequest(), cluster.Call());
            return list.Operators.Count == 3 && list.Operators.All(o => o.Instances.All(i => i.State == InstanceState.Running)) ? list : null;
        }, RunTimeout, () => $"every instance to be running again\n{Cluster.Tail(cluster.SchedulerOutput, 40)}");
}
