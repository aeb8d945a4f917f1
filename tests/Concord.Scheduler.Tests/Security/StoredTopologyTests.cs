using System.Text.Json.Nodes;
using Concord.Contracts.Scheduler.V1;
using Concord.Contracts.Types.V1;
using Concord.Scheduler.Store;

namespace Concord.Scheduler.Tests.Security;

/// <summary>
/// topology.json is not trusted: an entry edited (or planted) by hand is checked as a deploy
/// is, and quarantined — never run — when it fails.
/// </summary>
public sealed class StoredTopologyTests : IDisposable
{
    private static readonly TimeSpan Timeout = TestTimeouts.Step;
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private string TopologyPath => _dir.Combine("topology.json");

    private static JsonObject Entry(string name, long version, string? specName = null, int instances = 1) => new()
    {
        ["name"] = name,
        ["version"] = version,
        ["spec"] = new JsonObject { ["name"] = specName ?? name, ["executable"] = "/bin/true", ["instances"] = instances },
    };

    private void WriteTopology(params JsonObject[] entries) =>
        File.WriteAllText(TopologyPath, new JsonObject { ["format"] = 1, ["revision"] = 9, ["operators"] = new JsonArray(entries) }.ToJsonString());

    [Fact]
    public async Task A_stored_name_that_could_leave_the_home_is_quarantined_and_the_good_entries_load()
    {
        WriteTopology(Entry("../../x", 3), Entry("good", 4));

        await using var store = FileTopologyStore.Open(TopologyPath);

        var snapshot = await store.ReadAsync(default).WaitAsync(Timeout);
        Assert.Equal(["good"], snapshot.Operators.Select(o => o.Name));
        var quarantined = Assert.Single(store.Quarantined);
        Assert.Equal("../../x", quarantined.Name);
        Assert.Contains("name: '../../x' is not a valid operator name", quarantined.Reason);
    }

    [Fact]
    public async Task Duplicates_a_name_that_differs_from_its_spec_and_zero_instances_are_errors()
    {
        WriteTopology(Entry("twice", 1), Entry("twice", 2), Entry("alias", 3, specName: "real"), Entry("none", 4, instances: 0), Entry("zero-version", 0));

        await using var store = FileTopologyStore.Open(TopologyPath);

        Assert.Empty((await store.ReadAsync(default).WaitAsync(Timeout)).Operators);
        var reasons = store.Quarantined.ToLookup(q => q.Name, q => q.Reason);
        Assert.All(reasons["twice"], reason => Assert.StartsWith("operator 'twice' is stored 2 times", reason));
        Assert.Equal(2, reasons["twice"].Count());
        Assert.StartsWith("the entry is stored as 'alias' but its spec is named 'real'", Assert.Single(reasons["real"]));
        Assert.Contains("instances: 0 is out of range; use 1..128", Assert.Single(reasons["none"]));
        Assert.StartsWith("version 0 is not a stored version", Assert.Single(reasons["zero-version"]));
    }

    [Fact]
    public async Task The_runtimes_checks_run_on_load_too()
    {
        WriteTopology(Entry("counter", 1));

        await using var store = FileTopologyStore.Open(TopologyPath, spec => $"executable '{spec.Executable}' is not allowed here");

        Assert.Null(await store.GetAsync("counter", default).WaitAsync(Timeout));
        Assert.Equal("invalid operator 'counter':\n  executable '/bin/true' is not allowed here", Assert.Single(store.Quarantined).Reason);
    }

    [Fact]
    public async Task A_quarantined_entry_stays_in_the_file_until_its_name_is_deployed_anew()
    {
        WriteTopology(Entry("bad", 5, instances: 0), Entry("other", 6));
        await using (var store = FileTopologyStore.Open(TopologyPath))
        {
            await store.CompareAndSetAsync("new", TopologyStoreVersions.Absent, new OperatorSpec { Name = "new", Executable = "/bin/true", Instances = 1 }, null, default).WaitAsync(Timeout);
        }
        var kept = JsonNode.Parse(File.ReadAllText(TopologyPath))!["operators"]!.AsArray().Select(o => o!["name"]!.GetValue<string>());
        Assert.Equal(["new", "other", "bad"], kept);

        await using (var store = FileTopologyStore.Open(TopologyPath))
        {
            Assert.Equal("bad", Assert.Single(store.Quarantined).Name);
            var written = await store.CompareAndSetAsync("bad", TopologyStoreVersions.Absent, new OperatorSpec { Name = "bad", Executable = "/bin/true", Instances = 2 }, null, default).WaitAsync(Timeout);
            Assert.True(written!.Version > 6, "versions are never reused, quarantined ones included");
            Assert.Empty(store.Quarantined);
        }
        await using var reopened = FileTopologyStore.Open(TopologyPath);
        Assert.Empty(reopened.Quarantined);
        Assert.Equal(2, (await reopened.GetAsync("bad", default).WaitAsync(Timeout))!.Spec.Instances);
    }

    [Fact]
    public async Task A_write_that_would_grow_the_topology_past_its_cap_is_refused_and_changes_nothing()
    {
        await using var store = FileTopologyStore.Open(TopologyPath);
        var big = new string('x', SchedulerLimits.SpecBytesMax - 1024);
        var stored = 0;
        var error = await Assert.ThrowsAsync<TopologyTooLargeException>(async () =>
        {
            for (; stored <= SchedulerLimits.TopologyBytesMax / big.Length; stored++)
            {
                var spec = new OperatorSpec { Name = $"op-{stored}", Executable = "/bin/true", Instances = 1, Environment = { ["PAD"] = big } };
                await store.CompareAndSetAsync(spec.Name, TopologyStoreVersions.Absent, spec, null, default).WaitAsync(Timeout);
            }
        });

        Assert.Contains($"more than {SchedulerLimits.TopologyBytesMax} (SchedulerLimits.TopologyBytesMax); kill operators you no longer need", error.Message);
        Assert.Null(await store.GetAsync($"op-{stored}", default).WaitAsync(Timeout));
        Assert.True(new FileInfo(TopologyPath).Length <= SchedulerLimits.TopologyBytesMax);
        await using var reopened = FileTopologyStore.Open(TopologyPath);
        Assert.Equal(stored, (await reopened.ReadAsync(default).WaitAsync(Timeout)).Operators.Count);
    }

    [Fact]
    public void A_file_larger_than_the_cap_is_refused_at_open_with_the_fix()
    {
        using (var file = File.Create(TopologyPath))
        {
            file.SetLength(SchedulerLimits.TopologyBytesMax + 1);
        }

        var error = Assert.Throws<InvalidDataException>(() => FileTopologyStore.Open(TopologyPath));

        Assert.Contains($"more than {SchedulerLimits.TopologyBytesMax} (SchedulerLimits.TopologyBytesMax)", error.Message);
        Assert.Contains("move it away", error.Message);
    }

    [Fact]
    public async Task A_scheduler_never_launches_a_quarantined_entry_and_runs_the_rest()
    {
        using var home = new TempDirectory();
        File.WriteAllText(home.Combine("topology.json"), new JsonObject
        {
            ["format"] = 1,
            ["revision"] = 2,
            ["operators"] = new JsonArray(Entry("../../escape", 1), Entry("good", 2)),
        }.ToJsonString());

        await using var scheduler = await SchedulerFixture.StartAsync(home, ownsHome: false);

        var launch = await scheduler.Runtime.NextLaunchAsync(Timeout);
        Assert.Equal("good", launch.OperatorName);
        var list = await scheduler.Client.ListAsync(new ListRequest()).ResponseAsync.WaitAsync(Timeout);
        Assert.Equal(["good"], list.Operators.Select(o => o.Spec.Name));
        Assert.False(scheduler.Runtime.Launches.Reader.TryRead(out var other), $"only 'good' is launched, not {other?.OperatorName}");
    }
}
