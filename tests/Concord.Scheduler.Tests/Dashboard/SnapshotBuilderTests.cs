using Concord.Contracts.Scheduler.V1;
using Concord.Contracts.Types.V1;
using Concord.Scheduler.Dashboard;
using Concord.Scheduler.Dashboard.Internal;

namespace Concord.Scheduler.Tests.Dashboard;

/// <summary>The snapshot's arithmetic and guesses, without a scheduler.</summary>
public sealed class SnapshotBuilderTests
{
    [Theory]
    [InlineData("python/run-counter.sh", "", "Python")]
    [InlineData("/usr/bin/python3", "counter.py", "Python")]
    [InlineData("ruby/run-counter.sh", "", "Ruby")]
    [InlineData("../../artifacts/java/bin/concord-java-counter", "", "Java")]
    [InlineData("/usr/bin/env", "node counter.js", "Node")]
    [InlineData("/usr/bin/dotnet", "WordCount.dll counter", "C#")]
    [InlineData("../../artifacts/go/bin/wordcount-counter", "", "Go")]
    [InlineData("/opt/bin/wordcount-counter", "counter", "")]
    public void The_language_is_guessed_from_the_executable_then_the_args(string executable, string args, string language)
    {
        var spec = new OperatorSpec { Name = "x", Executable = executable };
        spec.Args.AddRange(args.Split(' ', StringSplitOptions.RemoveEmptyEntries));

        Assert.Equal(language, LanguageGuess.Of(spec));
    }

    [Fact]
    public void A_builtin_says_its_kind()
    {
        Assert.Equal("built-in: file-source", LanguageGuess.Of(new OperatorSpec { Name = "x", Builtin = new BuiltinOperator { Kind = "file-source" } }));
    }

    [Fact]
    public void A_restarted_executor_counts_no_negative_rate()
    {
        var op = Running("counter");
        var before = Scrape(("counter", 0, 10_000, 0));
        var after = Scrape(("counter", 0, 100, 1_000)); // counters started again

        var snapshot = SnapshotBuilder.Build(1, new SchedulerView("a", "a", false), [op], [], before, after, null);

        Assert.Equal(0, snapshot.Operators[0].RecordsInPerSec);
    }

    [Fact]
    public void Without_an_earlier_scrape_rates_are_zero_and_cpu_unknown_but_memory_shown()
    {
        var snapshot = SnapshotBuilder.Build(1, new SchedulerView("a", "a", false), [Running("counter")], [], null, Scrape(("counter", 0, 100, 1_000)), null);

        var instance = snapshot.Operators[0].Instances[0];
        Assert.Equal(0, instance.RecordsInPerSec);
        Assert.Null(instance.CpuPercent);
        Assert.Equal(1_000, instance.MemoryBytes);
        Assert.Null(snapshot.Operators[0].LatencyP99Ms);
    }

    [Fact]
    public void An_operator_is_failing_degraded_starting_or_running_by_its_instances()
    {
        Assert.Equal("running", SnapshotBuilder.OperatorState(Status(1, InstanceState.Running), 1));
        Assert.Equal("degraded", SnapshotBuilder.OperatorState(Status(2, InstanceState.Running, InstanceState.Starting), 1));
        Assert.Equal("failing", SnapshotBuilder.OperatorState(Status(2, InstanceState.Running, InstanceState.CrashLooping), 1));
        Assert.Equal("starting", SnapshotBuilder.OperatorState(Status(1, InstanceState.Pending), 0));
        Assert.Equal("stopped", SnapshotBuilder.OperatorState(Status(1, InstanceState.Stopped), 0));
    }

    [Fact]
    public void Checkpoints_show_the_latest_completed_and_count_recent_failures()
    {
        var list = new ListCheckpointsResponse { LatestCompletedId = 7 };
        list.Checkpoints.Add(new CheckpointInfo { CheckpointId = 8, Status = CheckpointStatus.Aborted, TriggerUnixMs = 3000, AbortReason = "x" });
        list.Checkpoints.Add(new CheckpointInfo { CheckpointId = 7, Status = CheckpointStatus.Completed, TriggerUnixMs = 2000, DurationMs = 150, StateBytes = 4096 });

        var view = SnapshotBuilder.Checkpoints(list);

        Assert.Equal(7, view.LatestCompletedId);
        Assert.Equal(2150, view.LatestCompletedUnixMs);
        Assert.Equal(150, view.DurationMs);
        Assert.Equal(4096, view.SizeBytes);
        Assert.Equal(1, view.FailedRecent);
        Assert.Equal([8L, 7L], view.Recent.Select(c => c.Id));
        Assert.Equal("aborted", view.Recent[0].Status);
    }

    private static OperatorStatus Running(string name) => Status(1, InstanceState.Running, name: name);

    private static OperatorStatus Status(int desired, params InstanceState[] states) => Status(desired, states, "op");

    private static OperatorStatus Status(int desired, InstanceState state, string name) => Status(desired, [state], name);

    private static OperatorStatus Status(int desired, InstanceState[] states, string name)
    {
        var status = new OperatorStatus { Spec = new OperatorSpec { Name = name, Instances = desired } };
        status.Instances.AddRange(states.Select((s, i) => new InstanceStatus { Index = i, State = s }));
        return status;
    }

    private static GetInstanceMetricsResponse Scrape(params (string Op, int Index, double In, double Memory)[] instances)
    {
        var response = new GetInstanceMetricsResponse();
        response.Instances.AddRange(instances.Select((x, n) => new InstanceMetrics
        {
            OperatorName = x.Op,
            InstanceIndex = x.Index,
            RecordsInTotal = x.In,
            ResidentMemoryBytes = x.Memory,
            ScrapedUnixMs = 1000 + n,
        }));
        return response;
    }
}
