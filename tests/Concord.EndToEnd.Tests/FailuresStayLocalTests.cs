using System.Diagnostics;
using Concord.Contracts.Scheduler.V1;
using Concord.Contracts.Types.V1;
using Concord.EndToEnd.Tests.Harness;
using Xunit.Abstractions;

namespace Concord.EndToEnd.Tests;

/// <summary>
/// Failures stay local (docs/operations.md "Kills from outside", docs/data-plane.md "An
/// unavailable reader"): kills from outside restart at once, and a reader that is down does
/// not stall the records for the others.
/// </summary>
public class FailuresStayLocalTests(ITestOutputHelper output)
{
    /// <summary>How long the shortened drill kills, in s (the issue's drill: 60 s; bench/kill-drill.py runs it).</summary>
    private const int DrillSeconds = 20;

    /// <summary>One operator process and one executor are killed every this many s.</summary>
    private const int DrillKillEveryS = 5;

    /// <summary>Sink progress is sampled at this period, in ms: the drill's "seconds without progress".</summary>
    private const int SampleMs = 1_000;

    /// <summary>Instance states are looked at this often within a sample, in ms, so a short restart is not missed.</summary>
    private const int StatePollMs = 200;

    /// <summary>The promise: everything is running again within this long after the last kill, in ms.</summary>
    private const int RecoveredWithinMs = 5_000;

    /// <summary>
    /// The drop bound the failing reader's sender is deployed with, in ms: short, so the test
    /// sees the records flow again soon after the deploy.
    /// </summary>
    private const int TestDropAfterMs = 1_000;

    /// <summary>Consecutive samples with sink progress that show the pipeline keeps going with a dead reader.</summary>
    private const int ProgressSamplesRequired = 5;

    [Fact]
    public async Task Under_the_kill_drill_the_sink_progresses_whenever_everything_runs_and_all_run_again_within_5_s_of_the_last_kill()
    {
        await using var cluster = await Cluster.StartAsync();
        var counts = Path.Combine(cluster.Home, "counts.csv");
        await cluster.DeployAsync(Specs.Sink(counts));
        await cluster.DeployAsync(Specs.Counter(instances: 2));
        await cluster.DeployAsync(Specs.Source(rate: 5_000));
        await Eventually.UntilAsync(() => Csv.Lines(counts) > 1_000, TestTimeouts.Flow, () => $"counts flowing into {counts}");

        var seed = Environment.TickCount;
        var random = new Random(seed);
        output.WriteLine($"drill seed {seed}");
        // A stall is a sample without sink progress while every instance ran throughout it and
        // throughout the sample before (one sample of grace for senders to reconnect to a
        // restarted reader and for a restarted source to produce again). A sample during
        // which any instance was down may stall: a source, counter or sink instance that is
        // down stops this linear pipeline's sink legitimately.
        var samples = new List<(bool Progress, bool AllRan)>();
        var victims = new Dictionary<(string, int), string>(); // instance → incarnation when last hit
        var clock = Stopwatch.StartNew();
        var lastKill = TimeSpan.Zero;
        var nextKill = TimeSpan.Zero;
        var size = FileSize(counts);
        var previousAllRan = true;
        TimeSpan? recoveredAt = null;
        while (clock.Elapsed < TimeSpan.FromSeconds(DrillSeconds + DrillKillEveryS))
        {
            var sampleEnd = clock.Elapsed + TimeSpan.FromMilliseconds(SampleMs);
            var allRan = true;
            while (clock.Elapsed < sampleEnd)
            {
                var list = await cluster.Client.ListAsync(new ListRequest(), cluster.Call());
                var instances = list.Operators.SelectMany(o => o.Instances.Select(i => (Op: o.Spec.Name, Instance: i))).ToList();
                allRan &= instances.All(i => i.Instance.State == InstanceState.Running);
                if (nextKill >= TimeSpan.FromSeconds(DrillSeconds) && recoveredAt is null && Recovered(instances, victims))
                {
                    recoveredAt = clock.Elapsed;
                }
                if (clock.Elapsed >= nextKill && nextKill < TimeSpan.FromSeconds(DrillSeconds))
                {
                    KillOne(random, instances, i => i.OperatorPid, "operator", victims);
                    KillOne(random, instances, i => i.ExecutorPid, "executor", victims);
                    lastKill = clock.Elapsed;
                    nextKill += TimeSpan.FromSeconds(DrillKillEveryS);
                    allRan = false;
                }
                // Pacing the look at another process's state; the sample's end bounds it.
                await Task.Delay(TimeSpan.FromMilliseconds(StatePollMs));
            }
            var now = FileSize(counts);
            samples.Add((now != size, allRan && previousAllRan));
            size = now;
            previousAllRan = allRan;
        }

        // Everything running again, each victim with a new incarnation (its kill was seen).
        recoveredAt ??= await Eventually.UntilAsync(async () =>
        {
            var list = await cluster.Client.ListAsync(new ListRequest(), cluster.Call());
            return Recovered(list.Operators.SelectMany(o => o.Instances.Select(i => (o.Spec.Name, i))).ToList(), victims) ? (object)clock.Elapsed : null;
        }, TimeSpan.FromSeconds(Cluster.RunningTimeoutSeconds), () => "every instance running again after the drill") is TimeSpan at ? at : (TimeSpan?)null;
        var recoveredAfter = recoveredAt!.Value - lastKill;
        var stalls = samples.Count(s => !s.Progress && s.AllRan);
        output.WriteLine($"samples without sink progress: {samples.Count(s => !s.Progress)} of {samples.Count}; " +
                         $"while everything ran: {stalls} of {samples.Count(s => s.AllRan)}; all running {recoveredAfter.TotalSeconds:0.0} s after the last kill");

        Assert.True(samples.Count(s => s.AllRan) >= 1, "the drill never saw everything running: the assertion below would be empty");
        Assert.True(stalls == 0, $"{stalls} samples without sink progress while every instance was running: a failure did not stay local");
        Assert.True(recoveredAfter <= TimeSpan.FromMilliseconds(RecoveredWithinMs),
            $"everything was running again only {recoveredAfter.TotalSeconds:0.0} s after the last kill (promised: {RecoveredWithinMs} ms)\n{cluster.SchedulerOutput}");
        // Kills from outside are not the operators' failures: each victim was told apart as one
        // (restarted at once, not counted), and none is crash-looping.
        var final = await cluster.Client.ListAsync(new ListRequest(), cluster.Call());
        Assert.DoesNotContain(final.Operators.SelectMany(o => o.Instances), i => i.State == InstanceState.CrashLooping);
        foreach (var op in final.Operators)
        {
            foreach (var instance in op.Instances.Where(i => victims.ContainsKey((op.Spec.Name, i.Index))))
            {
                Assert.Contains("from outside the scheduler", instance.LastError);
            }
        }
    }

    [Fact]
    public async Task A_reader_that_fails_at_start_deployed_onto_a_running_stream_does_not_stop_the_pipeline_and_its_records_are_dropped_and_counted()
    {
        await using var cluster = await Cluster.StartAsync();
        var counts = Path.Combine(cluster.Home, "counts.csv");
        await cluster.DeployAsync(Specs.Sink(counts));
        await cluster.DeployAsync(Specs.Counter(instances: 2));
        var source = Specs.Source(rate: 5_000);
        source.UnavailableReaderDropAfterMs = TestDropAfterMs;
        await cluster.DeployAsync(source);
        await Eventually.UntilAsync(() => Csv.Lines(counts) > 1_000, TestTimeouts.Flow, () => $"counts flowing into {counts}");

        // A second reader of `words` whose process exits at once, every time it is restarted.
        await cluster.DeployAsync(new OperatorSpec
        {
            Name = "broken",
            Executable = "/bin/false",
            Instances = 2,
            ExpectedInputs = { new InputStream { Name = "words", Grouping = Grouping.Shuffle } },
        }, waitRunning: false);
        await cluster.WaitForAsync("broken", o => o.Instances.Any(i => i.Restarts >= 1), "a failed and restarted instance");

        // Past the bound the records for it are dropped: the sink progresses sample after sample.
        var size = FileSize(counts);
        var progressed = 0;
        var deadline = Stopwatch.StartNew();
        while (progressed < ProgressSamplesRequired)
        {
            Assert.True(deadline.Elapsed < TestTimeouts.Flow,
                $"the sink progressed in only {progressed} consecutive samples within {TestTimeouts.Flow.TotalSeconds:0} s of the failing reader's deploy: it stalls the pipeline\n{cluster.InstanceLogs("source")}");
            // Pacing the samples of another process's output.
            await Task.Delay(TimeSpan.FromMilliseconds(SampleMs));
            var now = FileSize(counts);
            progressed = now > size ? progressed + 1 : 0;
            size = now;
        }

        // A scrape may time out on a busy machine: look again until one answers (bounded).
        InstanceMetrics? last = null;
        var sourceMetrics = await Eventually.UntilAsync(async () =>
        {
            var metrics = await cluster.Client.GetInstanceMetricsAsync(new GetInstanceMetricsRequest(), cluster.Call());
            last = metrics.Instances.Single(i => i.OperatorName == "source");
            return last.Error.Length == 0 ? last : null;
        }, TestTimeouts.Flow, () => $"a scrape of the source's metrics; last: {last}");
        Assert.True(sourceMetrics.RecordsDroppedTotal > 0, $"the source's dropped records should be counted; its metrics: {sourceMetrics}");
        var text = await new HttpClient().GetStringAsync($"http://{sourceMetrics.MetricsAddress}/metrics");
        Assert.Contains(text.Split('\n'), line => line.StartsWith("concord_records_dropped_total{", StringComparison.Ordinal)
                                                  && line.Contains("reason=\"reader_unavailable\"", StringComparison.Ordinal)
                                                  && line.Contains("reader=\"broken\"", StringComparison.Ordinal)
                                                  && line.Contains("stream=\"words\"", StringComparison.Ordinal));
    }

    private void KillOne(Random random, List<(string Op, InstanceStatus Instance)> instances, Func<InstanceStatus, int> pid, string what,
        Dictionary<(string, int), string> victims)
    {
        var candidates = instances.Where(i => pid(i.Instance) > 0).ToList();
        if (candidates.Count == 0)
        {
            return;
        }
        var (op, instance) = candidates[random.Next(candidates.Count)];
        output.WriteLine($"SIGKILL {what} of {op}/{instance.Index} (pid {pid(instance)})");
        Processes.Kill(pid(instance), hard: true);
        victims[(op, instance.Index)] = instance.Incarnation;
    }

    private static bool Recovered(List<(string Op, InstanceStatus Instance)> instances, Dictionary<(string, int), string> victims) =>
        instances.All(i => i.Instance.State == InstanceState.Running
                           && (!victims.TryGetValue((i.Op, i.Instance.Index), out var hit) || i.Instance.Incarnation != hit));

    private static long FileSize(string path) => File.Exists(path) ? new FileInfo(path).Length : 0;
}
