using System.Diagnostics;
using System.Globalization;
using System.Text;
using Concord.Contracts.Scheduler.V1;
using Concord.Contracts.Types.V1;
using Concord.EndToEnd.Tests.Harness;
using Grpc.Core;
using Xunit.Abstractions;

namespace Concord.EndToEnd.Tests;

/// <summary>
/// Live changes of a running topology under load (docs/live-changes.md): the C# word source
/// emits random dictionary words at 5,000/s to the C# word counter (group_by word), whose
/// counts go to the built-in CSV sink. (An external source rather than the built-in generator:
/// it keeps these tests about the scheduler, not about the executor's built-ins, which another
/// suite covers.) Each test changes one thing while records flow and checks
/// what the documented semantics promise: after the switch every word is counted by exactly one
/// counter instance (its counts in the sink go up by exactly one), nothing else restarts, no
/// instance runs twice, no process is left behind, and the sink keeps growing.
/// </summary>
/// <remarks>
/// Every change is also measured (time to take effect, throughput dip at the sink, recovery)
/// and written to the test output; with CONCORD_LIVE_RESULTS=FILE the figures are appended to
/// FILE as markdown table rows (bench/live-changes.sh does that).
/// </remarks>
public sealed class LiveChangeTests(ITestOutputHelper output)
{
    private const int SourceRatePerSecond = 5_000;

    /// <summary>Sink bytes that must follow a change before its effects count as settled: about 2 s of output.</summary>
    private const long SettleBytes = 120_000;

    /// <summary>Sink bytes checked after settling: about 3 s of output, thousands of words seen twice or more.</summary>
    private const long CheckedBytes = 180_000;

    private static readonly TimeSpan FlowTimeout = TimeSpan.FromSeconds(60);

    // ================================ scale ================================

    [Fact]
    public async Task Scale_1_to_4_to_2_under_load_keeps_each_word_on_one_counter_and_restarts_nothing_else()
    {
        await using var cluster = await Cluster.StartAsync();
        var sink = await StartLoadAsync(cluster, counterInstances: 1);
        using var probe = new ThroughputProbe(sink);
        await WaitGrowthAsync(cluster, sink, SettleBytes);
        var others = await IdentityAsync(cluster, "source", "sink");

        // 1 → 4: three new instances take over three quarters of the key groups.
        var took = await ScaleAsync(cluster, 4, probe, "scale counter 1 → 4");
        await AssertOneCounterPerWordAfterSettlingAsync(cluster, sink, "after scale 1 → 4");
        AssertNoDuplicatesOrOrphans(cluster, await ListAsync(cluster));

        // 4 → 2: instances 2 and 3 are routed away from, drain and exit.
        var four = await cluster.WaitRunningAsync("counter", 4);
        await ScaleAsync(cluster, 2, probe, "scale counter 4 → 2");
        var gone = four.Instances.Skip(2).SelectMany(i => new[] { i.ExecutorPid, i.OperatorPid }).ToList();
        await Eventually.UntilAsync(() => gone.All(pid => !Processes.IsAlive(pid)), FlowTimeout,
            () => $"the processes of counter/2 and counter/3 ({string.Join(", ", gone.Where(Processes.IsAlive))}) to exit");
        await AssertOneCounterPerWordAfterSettlingAsync(cluster, sink, "after scale 4 → 2");

        var two = await cluster.WaitRunningAsync("counter", 2);
        Assert.Equal(four.Instances.Take(2).Select(i => i.Incarnation), two.Instances.Select(i => i.Incarnation));
        WriteReports(probe);
        Assert.Equal(others, await IdentityAsync(cluster, "source", "sink"));
        AssertNoDuplicatesOrOrphans(cluster, await ListAsync(cluster));
        Assert.True(took.TotalMilliseconds > 0);
    }

    // ============================== supervision ==============================

    [Fact]
    public async Task SIGKILL_of_an_operator_and_of_an_executor_restarts_that_instance_only_without_duplicates_or_orphans()
    {
        await using var cluster = await Cluster.StartAsync();
        var sink = await StartLoadAsync(cluster, counterInstances: 2);
        using var probe = new ThroughputProbe(sink);
        await WaitGrowthAsync(cluster, sink, SettleBytes);
        var others = await IdentityAsync(cluster, "source", "sink");

        // The operator process of counter/0: its executor fails, the scheduler restarts the instance.
        var before = await cluster.WaitRunningAsync("counter", 2);
        var started = Stopwatch.StartNew();
        var change = probe.Now;
        Processes.Kill(before.Instances[0].OperatorPid, hard: true);
        var afterOperatorKill = await cluster.WaitForAsync("counter",
            o => o.Instances.All(i => i.State == InstanceState.Running) && o.Instances[0].Incarnation != before.Instances[0].Incarnation,
            "a new running incarnation of counter/0");
        Report(probe, "SIGKILL counter operator process", change, started.Elapsed);
        Assert.Equal(1, afterOperatorKill.Instances[0].Restarts);
        Assert.Equal(before.Instances[1].Incarnation, afterOperatorKill.Instances[1].Incarnation);
        Assert.False(Processes.IsAlive(before.Instances[0].ExecutorPid), "the executor of the killed operator must have exited");
        await AssertOneCounterPerWordAfterSettlingAsync(cluster, sink, "after SIGKILL of an operator");

        // The executor of counter/1: its operator must not outlive it, the instance is restarted.
        started.Restart();
        change = probe.Now;
        var victim = afterOperatorKill.Instances[1];
        Processes.Kill(victim.ExecutorPid, hard: true);
        var afterExecutorKill = await cluster.WaitForAsync("counter",
            o => o.Instances.All(i => i.State == InstanceState.Running) && o.Instances[1].Incarnation != victim.Incarnation,
            "a new running incarnation of counter/1");
        Report(probe, "SIGKILL counter executor", change, started.Elapsed);
        Assert.Contains("killed by signal 9", afterExecutorKill.Instances[1].LastError);
        await Eventually.UntilAsync(() => !Processes.IsAlive(victim.OperatorPid), TimeSpan.FromSeconds(30),
            () => $"the operator (pid {victim.OperatorPid}) of the killed executor to exit rather than live on as an orphan");
        await AssertOneCounterPerWordAfterSettlingAsync(cluster, sink, "after SIGKILL of an executor");
        WriteReports(probe);

        Assert.Equal(others, await IdentityAsync(cluster, "source", "sink"));
        AssertNoDuplicatesOrOrphans(cluster, await ListAsync(cluster));
    }

    [Fact]
    public async Task A_scheduler_killed_with_SIGKILL_and_started_again_adopts_the_running_instances_and_nothing_is_lost()
    {
        var first = await Cluster.StartAsync();
        await using var firstCluster = first; // disposed last: by then nothing of this home runs
        var sink = await StartLoadAsync(first, counterInstances: 2);
        using var probe = new ThroughputProbe(sink);
        await WaitGrowthAsync(first, sink, SettleBytes);
        var before = await ListAsync(first);
        var identities = await IdentityAsync(first, "source", "counter", "sink");
        var from = new FileInfo(sink).Length;

        var started = Stopwatch.StartNew();
        var change = probe.Now;
        Processes.Kill(first.SchedulerPid, hard: true);
        await Eventually.UntilAsync(() => !Processes.IsAlive(first.SchedulerPid), TimeSpan.FromSeconds(10), () => "the scheduler to die");
        // A killed process shows as a zombie while its other threads still exit and hold its
        // files; the next scheduler needs the home's lock, so wait until the kernel released it.
        await Eventually.UntilAsync(() => LockIsFree(Path.Combine(first.Home, "scheduler.lock")), TimeSpan.FromSeconds(30),
            () => "the killed scheduler's lock on its home to be released");
        // Executors keep routing by their last table while no scheduler runs: the sink keeps growing.
        var atDeath = new FileInfo(sink).Length;
        await Eventually.UntilAsync(() => new FileInfo(sink).Length > atDeath + 20_000, FlowTimeout, () => "records to keep flowing without a scheduler");

        await using var second = await Cluster.StartAsync(first.Home);
        var adopted = await Eventually.UntilAsync(async () =>
        {
            var list = await ListAsync(second);
            return list.Operators.Count == 3 && list.Operators.All(o => o.Instances.All(i => i.State == InstanceState.Running)) ? list : null;
        }, FlowTimeout, () => $"every instance to be running again\n{Cluster.Tail(second.SchedulerOutput, 40)}");
        Report(probe, "SIGKILL scheduler + restart (adoption)", change, started.Elapsed);

        // Same processes, same incarnations: adopted, not restarted; and no second copy of anything.
        Assert.Equal(identities, await IdentityAsync(second, "source", "counter", "sink"));
        Assert.Equal(
            before.Operators.SelectMany(o => o.Instances.Select(i => (i.ExecutorPid, i.OperatorPid))),
            adopted.Operators.SelectMany(o => o.Instances.Select(i => (i.ExecutorPid, i.OperatorPid))));
        Assert.Contains("Adopting counter/0", second.SchedulerOutput);
        AssertNoDuplicatesOrOrphans(second, adopted);
        // The counters never restarted: every word's count went up by exactly one across the
        // whole outage, so nothing was lost or counted twice.
        await WaitGrowthAsync(second, sink, CheckedBytes);
        WriteReports(probe);
        AssertCountsStepByOne(sink, from, "across the scheduler's SIGKILL and restart");
        // And the adopted topology still changes live.
        await second.Client.ScaleAsync(new ScaleRequest { Name = "counter", Instances = 3 }, second.Call());
        await second.WaitRunningAsync("counter", 3);
    }

    // ================================ replace ================================

    [Fact]
    public async Task Rolling_replace_under_load_moves_routing_to_the_new_version_and_stops_the_old_one()
    {
        await using var cluster = await Cluster.StartAsync();
        var sink = await StartLoadAsync(cluster, counterInstances: 2);
        using var probe = new ThroughputProbe(sink);
        await WaitGrowthAsync(cluster, sink, SettleBytes);
        var others = await IdentityAsync(cluster, "source", "sink");
        var old = await cluster.WaitRunningAsync("counter", 2);

        // The new version differs in its environment; through the CLI, as an operator would.
        var file = Path.Combine(cluster.Home, "counter-v2.json");
        File.WriteAllText(file, $$"""
            {"name": "counter", "executable": "{{Repo.WordCountExe}}", "args": ["counter"], "instances": 2,
             "environment": {"COUNTER_VERSION": "2"},
             "inputs": [{"stream": "words", "grouping": "group_by"}], "outputs": ["counts"]}
            """);
        var started = Stopwatch.StartNew();
        var change = probe.Now;
        (int ExitCode, string Out, string Err) cli;
        try
        {
            cli = await ConcordCliAsync(cluster.Home, "replace", file);
        }
        catch (TimeoutException e)
        {
            throw new TimeoutException($"{e.Message}\nscheduler:\n{Cluster.Tail(cluster.SchedulerOutput, 40)}", e);
        }
        var took = started.Elapsed;

        Assert.True(cli.ExitCode == 0, $"concord replace exited {cli.ExitCode}: {cli.Err}\n{cli.Out}");
        var timings = System.Text.RegularExpressions.Regex.Match(cli.Out, @"replaced 'counter' \(2 instances\): routing moved after (\d+) ms, old instances stopped after (\d+) ms");
        Assert.True(timings.Success, cli.Out);
        Report(probe, "rolling replace of counter (2 instances)", change, took, $"switch {timings.Groups[1].Value} ms, old stopped {timings.Groups[2].Value} ms (scheduler's view)");
        var replaced = await cluster.WaitRunningAsync("counter", 2);
        Assert.Equal("2", replaced.Spec.Environment["COUNTER_VERSION"]);
        Assert.Empty(replaced.Instances.Select(i => i.Incarnation).Intersect(old.Instances.Select(i => i.Incarnation)));
        Assert.InRange(long.Parse(timings.Groups[1].Value, CultureInfo.InvariantCulture), 1, long.Parse(timings.Groups[2].Value, CultureInfo.InvariantCulture));
        // By the time Replace answers, the old version is gone, processes and all.
        Assert.All(old.Instances, i => Assert.False(Processes.IsAlive(i.ExecutorPid) || Processes.IsAlive(i.OperatorPid),
            $"old counter/{i.Index} (executor {i.ExecutorPid}, operator {i.OperatorPid}) must have stopped"));
        await AssertOneCounterPerWordAfterSettlingAsync(cluster, sink, "after the replace");
        WriteReports(probe);
        Assert.Equal(others, await IdentityAsync(cluster, "source", "sink"));
        AssertNoDuplicatesOrOrphans(cluster, await ListAsync(cluster));
        // The new version's working directories are the ".b" ones (odd release).
        Assert.True(Directory.Exists(Path.Combine(cluster.Home, "instances", "counter", "0.b")));
    }

    [Fact]
    public async Task A_replace_whose_new_version_cannot_start_rolls_back_and_leaves_the_old_version_running()
    {
        await using var cluster = await Cluster.StartAsync();
        var sink = await StartLoadAsync(cluster, counterInstances: 1);
        await WaitGrowthAsync(cluster, sink, SettleBytes / 2);
        var identities = await IdentityAsync(cluster, "source", "counter", "sink");

        // Through the CLI, as an operator would: the WordCount program exits 2 with a usage error.
        var file = Path.Combine(cluster.Home, "counter-broken.json");
        File.WriteAllText(file, $$"""
            {"name": "counter", "executable": "{{Repo.WordCountExe}}", "args": ["no-such-mode"], "instances": 1,
             "inputs": [{"stream": "words", "grouping": "group_by"}], "outputs": ["counts"]}
            """);
        var cli = await ConcordCliAsync(cluster.Home, "deploy", "--replace", file);

        Assert.NotEqual(0, cli.ExitCode);
        Assert.Contains("error: replace of 'counter' failed and was rolled back; the old version keeps running", cli.Err);
        Assert.Equal(identities, await IdentityAsync(cluster, "source", "counter", "sink"));
        var counter = await cluster.WaitRunningAsync("counter", 1);
        Assert.Equal("counter", counter.Spec.Args[0]);
        Assert.Contains("rolled back", counter.LastError);
        await WaitGrowthAsync(cluster, sink, SettleBytes / 2);
        AssertNoDuplicatesOrOrphans(cluster, await ListAsync(cluster));
    }

    // ================================ bad input ================================

    [Fact]
    public async Task Bad_scale_and_replace_requests_get_clear_errors_and_a_crash_loop_is_shown_without_disturbing_the_rest()
    {
        await using var cluster = await Cluster.StartAsync();
        var sink = await StartLoadAsync(cluster, counterInstances: 1);
        await WaitGrowthAsync(cluster, sink, SettleBytes / 2);
        var identities = await IdentityAsync(cluster, "source", "counter", "sink");

        var zero = await Assert.ThrowsAsync<RpcException>(() => cluster.Client.ScaleAsync(new ScaleRequest { Name = "counter", Instances = 0 }, cluster.Call()).ResponseAsync);
        var negative = await Assert.ThrowsAsync<RpcException>(() => cluster.Client.ScaleAsync(new ScaleRequest { Name = "counter", Instances = -3 }, cluster.Call()).ResponseAsync);
        var unknown = await Assert.ThrowsAsync<RpcException>(() => cluster.Client.ScaleAsync(new ScaleRequest { Name = "cuonter", Instances = 2 }, cluster.Call()).ResponseAsync);
        var otherStreams = Counter(instances: 1);
        otherStreams.ExpectedInputs[0].Name = "sentences";
        var streams = await Assert.ThrowsAsync<RpcException>(() => cluster.Client.ReplaceAsync(new ReplaceRequest { Spec = otherStreams }, cluster.Call()).ResponseAsync);

        Assert.Equal((StatusCode.InvalidArgument, "instances: 0 is out of range; use 1..128"), (zero.StatusCode, zero.Status.Detail));
        Assert.Equal((StatusCode.InvalidArgument, "instances: -3 is out of range; use 1..128"), (negative.StatusCode, negative.Status.Detail));
        Assert.Equal(StatusCode.NotFound, unknown.StatusCode);
        Assert.StartsWith("operator 'cuonter' is not deployed; deployed: counter, sink, source", unknown.Status.Detail);
        Assert.Equal(StatusCode.FailedPrecondition, streams.StatusCode);
        Assert.Contains("declares inputs [sentences (group_by)] and outputs [counts] but the running operator has inputs [words (group_by)] and outputs [counts]", streams.Status.Detail);

        // A crash loop: an operator that exits at once, every time.
        var crashing = Counter(instances: 1);
        crashing.Name = "crasher";
        crashing.Args[0] = "no-such-mode";
        crashing.ExpectedInputs[0].Name = "nothing";
        crashing.ExpectedOutputs.Clear();
        await cluster.DeployAsync(crashing, waitRunning: false);
        var looping = await cluster.WaitForAsync("crasher", o => o.Instances[0].State == InstanceState.CrashLooping, "a crash-looping instance");
        Assert.True(looping.Instances[0].Restarts >= 4, $"restarts = {looping.Instances[0].Restarts}");
        Assert.NotEmpty(looping.LastError);
        Assert.Equal(looping.LastError, looping.Instances[0].LastError);
        output.WriteLine($"crash loop shown in list: {looping.Instances[0].State}, restarts {looping.Instances[0].Restarts}, last error: {looping.LastError}");

        // Nothing else was disturbed, and records still flow.
        Assert.Equal(identities, await IdentityAsync(cluster, "source", "counter", "sink"));
        await WaitGrowthAsync(cluster, sink, SettleBytes / 2);
        var counter = await cluster.WaitRunningAsync("counter", 1);
        Assert.Equal(1, counter.Spec.Instances);
        Assert.Equal("words", counter.Spec.ExpectedInputs[0].Name);
    }

    // ================================ helpers ================================

    /// <summary>Word source → counter (group_by) → CSV sink, readers first; returns the sink's file.</summary>
    private static async Task<string> StartLoadAsync(Cluster cluster, int counterInstances)
    {
        var sink = Path.Combine(cluster.Home, "counts.csv");
        await cluster.DeployAsync(Specs.CsvSink("sink", "counts", sink));
        await cluster.DeployAsync(Counter(counterInstances));
        await cluster.DeployAsync(Specs.Source(rate: SourceRatePerSecond));
        return sink;
    }

    private static OperatorSpec Counter(int instances) => Specs.Counter(instances: instances);

    private static bool LockIsFree(string path)
    {
        try
        {
            using var probe = new FileStream(path, FileMode.Open, FileAccess.ReadWrite, FileShare.None);
            return true;
        }
        catch (IOException)
        {
            return false;
        }
    }

    /// <summary>Runs the concord CLI against the cluster's home (it reads the address from scheduler.json).</summary>
    private static async Task<(int ExitCode, string Out, string Err)> ConcordCliAsync(string home, params string[] args)
    {
        var info = new ProcessStartInfo("dotnet", [Repo.CliDll, .. args])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        info.Environment["CONCORD_HOME"] = home;
        info.Environment["CONCORD_SCHEDULER"] = null;
        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        // The Replace call's own deadline is 120 s (CliLimits.ReplaceRpcDeadlineSeconds); more for a loaded machine's start-up.
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(180));
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"`concord {string.Join(' ', args)}` did not exit within 180 s; output so far:\n{await stdout}\n{await stderr}");
        }
        return (process.ExitCode, await stdout, await stderr);
    }

    private async Task<TimeSpan> ScaleAsync(Cluster cluster, int instances, ThroughputProbe probe, string label)
    {
        var started = Stopwatch.StartNew();
        var change = probe.Now;
        await cluster.Client.ScaleAsync(new ScaleRequest { Name = "counter", Instances = instances }, cluster.Call());
        await cluster.WaitRunningAsync("counter", instances);
        var took = started.Elapsed;
        Report(probe, label, change, took);
        return took;
    }

    private static Task<ListResponse> ListAsync(Cluster cluster) => cluster.Client.ListAsync(new ListRequest(), cluster.Call()).ResponseAsync;

    /// <summary>Every instance's identity (incarnation, pids, restarts): a restart anywhere changes it.</summary>
    private static async Task<string> IdentityAsync(Cluster cluster, params string[] names)
    {
        var list = await ListAsync(cluster);
        return string.Join("; ", list.Operators
            .Where(o => names.Contains(o.Spec.Name))
            .SelectMany(o => o.Instances.Select(i => $"{o.Spec.Name}/{i.Index} {i.Incarnation} pids {i.ExecutorPid}/{i.OperatorPid} restarts {i.Restarts} {i.State}")));
    }

    private static Task WaitGrowthAsync(Cluster cluster, string sink, long bytes)
    {
        var from = File.Exists(sink) ? new FileInfo(sink).Length : 0;
        return Eventually.UntilAsync(() => File.Exists(sink) && new FileInfo(sink).Length >= from + bytes, FlowTimeout,
            () => $"{bytes} more bytes in {sink} (from {from}, now {(File.Exists(sink) ? new FileInfo(sink).Length : 0)})\n" +
                  $"{cluster.InstanceLogs("source", 15)}\n{cluster.InstanceLogs("sink", 15)}\n{cluster.InstanceLogs("counter", 10)}\n" +
                  $"scheduler:\n{Cluster.Tail(cluster.SchedulerOutput, 30)}");
    }

    /// <summary>
    /// Lets the change settle (records routed by the old table are through), then checks that
    /// every word seen in the next few seconds of output was counted by exactly one counter.
    /// </summary>
    private static async Task AssertOneCounterPerWordAfterSettlingAsync(Cluster cluster, string sink, string when)
    {
        await WaitGrowthAsync(cluster, sink, SettleBytes);
        var from = new FileInfo(sink).Length;
        await WaitGrowthAsync(cluster, sink, CheckedBytes);
        AssertCountsStepByOne(sink, from, when);
    }

    /// <summary>
    /// In the sink's lines after byte <paramref name="from"/>, each word's counts go up by
    /// exactly one: one counter instance counts it (two would interleave two sequences) and
    /// no record was lost in between.
    /// </summary>
    private static void AssertCountsStepByOne(string sink, long from, string when)
    {
        var last = new Dictionary<string, long>(StringComparer.Ordinal);
        var repeated = new HashSet<string>(StringComparer.Ordinal);
        var violations = new List<string>();
        foreach (var line in LinesAfter(sink, from))
        {
            var comma = line.LastIndexOf(',');
            var word = line[..comma];
            var count = long.Parse(line[(comma + 1)..], CultureInfo.InvariantCulture);
            if (last.TryGetValue(word, out var previous))
            {
                repeated.Add(word);
                if (count != previous + 1 && violations.Count < 10)
                {
                    violations.Add($"'{word}': {previous} then {count}");
                }
            }
            last[word] = count;
        }
        Assert.True(repeated.Count >= 200, $"{when}: only {repeated.Count} words were seen twice; the check needs more output");
        Assert.True(violations.Count == 0, $"{when}: words whose counts did not go up by one (counted by two instances, or lost): {string.Join("; ", violations)}");
    }

    /// <summary>Complete lines that start after byte <paramref name="from"/>.</summary>
    private static List<string> LinesAfter(string path, long from)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        stream.Seek(Math.Max(0, from - 1), SeekOrigin.Begin);
        using var reader = new StreamReader(stream, Encoding.UTF8);
        var text = reader.ReadToEnd();
        // Skip the line the offset falls into (unless the offset is a line start), and the unfinished last one.
        var start = from == 0 ? 0 : text.IndexOf('\n') + 1;
        var end = text.LastIndexOf('\n');
        return end < start ? [] : text[start..end].Split('\n').ToList();
    }

    /// <summary>
    /// No instance runs twice and nothing runs that is not listed: the live processes of this
    /// cluster (found by their environment, as an operator would with /proc) carry exactly the
    /// incarnations `list` shows, one per instance.
    /// </summary>
    private static void AssertNoDuplicatesOrOrphans(Cluster cluster, ListResponse list)
    {
        var expected = list.Operators.SelectMany(o => o.Instances.Select(i => $"{o.Spec.Name}/{i.Index} {i.Incarnation}")).Order().ToList();
        var found = new SortedSet<string>(StringComparer.Ordinal);
        foreach (var pid in cluster.LaunchedProcesses())
        {
            var environment = EnvironmentOf(pid);
            if (environment is not null && environment.TryGetValue("CONCORD_INCARNATION", out var incarnation))
            {
                found.Add($"{environment.GetValueOrDefault("CONCORD_OPERATOR_NAME")}/{environment.GetValueOrDefault("CONCORD_INSTANCE_INDEX")} {incarnation}");
            }
        }
        Assert.Equal(expected, found.ToList());
    }

    private static Dictionary<string, string>? EnvironmentOf(int pid)
    {
        try
        {
            return File.ReadAllText($"/proc/{pid}/environ").Split('\0', StringSplitOptions.RemoveEmptyEntries)
                .Select(e => e.Split('=', 2)).Where(p => p.Length == 2)
                .GroupBy(p => p[0]).ToDictionary(g => g.Key, g => g.First()[1], StringComparer.Ordinal);
        }
        catch (IOException)
        {
            return null;
        }
    }

    private readonly List<(string Change, double AtMs, TimeSpan TookEffect, string Detail)> _changes = [];

    /// <summary>Notes a change; its dip is computed by <see cref="WriteReports"/> once the output after it is known.</summary>
    private void Report(ThroughputProbe probe, string change, double changeAtMs, TimeSpan tookEffect, string detail = "") =>
        _changes.Add((change, changeAtMs, tookEffect, detail));

    /// <summary>
    /// Writes one markdown row per change: time to take effect, sink throughput before, the
    /// lowest 500 ms window after (until the next change), and when it was last below 80 %.
    /// </summary>
    private void WriteReports(ThroughputProbe probe)
    {
        for (var i = 0; i < _changes.Count; i++)
        {
            var (change, at, took, detail) = _changes[i];
            var until = i + 1 < _changes.Count ? _changes[i + 1].AtMs : probe.Now;
            var dip = probe.Dip(at, until);
            var line = $"| {change} | {took.TotalMilliseconds:0} ms | {dip.BaselineLinesPerSecond:0}/s | {dip.MinLinesPerSecond:0}/s ({dip.DipPercent:0}% dip) | {dip.RecoveryMs:0} ms | {detail} |";
            output.WriteLine(line);
            if (Environment.GetEnvironmentVariable("CONCORD_LIVE_RESULTS") is { Length: > 0 } results)
            {
                File.AppendAllText(results, line + "\n");
            }
        }
        _changes.Clear();
    }
}

/// <summary>
/// Samples the size of the sink's file every <see cref="SampleIntervalMs"/> to measure the
/// throughput seen at the end of the pipeline around a change. Measuring, not waiting: the
/// tests never wait on it.
/// </summary>
internal sealed class ThroughputProbe : IDisposable
{
    /// <summary>Sampling interval, in ms: fine enough to see a dip of a fraction of a second.</summary>
    public const int SampleIntervalMs = 100;

    /// <summary>Window the rate is computed over, in ms: long enough to smooth batching (the sink flushes every 100 ms).</summary>
    public const int WindowMs = 500;

    /// <summary>
    /// Average bytes per sink line ("word,count\n"), to report lines rather than bytes: 9
    /// (words.txt averages 6 characters; counts have 1–2 digits in these runs; measured 9.1).
    /// </summary>
    private const double BytesPerLine = 9;

    private readonly string _path;
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private readonly List<(double Ms, long Bytes)> _samples = [];
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _loop;

    public ThroughputProbe(string path)
    {
        _path = path;
        _loop = Task.Run(SampleAsync);
    }

    /// <summary>Milliseconds since the probe started.</summary>
    public double Now => _clock.Elapsed.TotalMilliseconds;

    /// <summary>Rate before <paramref name="changeAtMs"/>, lowest rate until <paramref name="untilMs"/>, and when it was last below 80 % of before.</summary>
    public (double BaselineLinesPerSecond, double MinLinesPerSecond, double DipPercent, double RecoveryMs) Dip(double changeAtMs, double untilMs)
    {
        List<(double Ms, long Bytes)> samples;
        lock (_samples)
        {
            samples = [.. _samples];
        }
        double RateAt(double endMs)
        {
            var end = samples.LastOrDefault(s => s.Ms <= endMs);
            var start = samples.LastOrDefault(s => s.Ms <= endMs - WindowMs);
            return end.Ms - start.Ms <= 0 ? 0 : (end.Bytes - start.Bytes) / BytesPerLine / ((end.Ms - start.Ms) / 1000);
        }
        var before = samples.Where(s => s.Ms <= changeAtMs).ToList();
        var baseline = before.Count >= 2 && before[^1].Ms - before[0].Ms > 0
            ? (before[^1].Bytes - before[Math.Max(0, before.Count - 20)].Bytes) / BytesPerLine / ((before[^1].Ms - before[Math.Max(0, before.Count - 20)].Ms) / 1000)
            : 0;
        var windows = samples.Where(s => s.Ms >= changeAtMs + WindowMs && s.Ms <= untilMs).Select(s => (s.Ms, Rate: RateAt(s.Ms))).ToList();
        var min = windows.Count == 0 ? baseline : windows.Min(w => w.Rate);
        var lastLow = windows.LastOrDefault(w => w.Rate < baseline * 0.8);
        var recovery = lastLow.Ms == 0 ? 0 : lastLow.Ms - changeAtMs;
        return (baseline, min, baseline <= 0 ? 0 : Math.Max(0, 100 * (1 - min / baseline)), recovery);
    }

    private async Task SampleAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            var bytes = File.Exists(_path) ? new FileInfo(_path).Length : 0;
            lock (_samples)
            {
                _samples.Add((Now, bytes));
            }
            try
            {
                await Task.Delay(SampleIntervalMs, _stop.Token);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    public void Dispose()
    {
        _stop.Cancel();
        _loop.Wait(TimeSpan.FromSeconds(5));
        _stop.Dispose();
    }
}
