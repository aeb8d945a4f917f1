using Concord.Cli.Internal;

namespace Concord.Cli.Tests;

public sealed class SchedulerAddressTests : IDisposable
{
    private readonly TempDirectory _home = new();

    public void Dispose() => _home.Dispose();

    private static Func<string, string?> Env(params (string Name, string Value)[] variables) =>
        name => variables.FirstOrDefault(v => v.Name == name).Value;

    private void WriteSchedulerJson(int port) =>
        _home.Write("scheduler.json", $$"""{"address":"http://127.0.0.1:{{port}}","pid":1,"startedUnixMs":1}""");

    [Fact]
    public void Option_wins_over_environment_and_scheduler_json()
    {
        WriteSchedulerJson(7002);

        var (address, source) = SchedulerAddress.Resolve("http://127.0.0.1:7000", Env(("CONCORD_SCHEDULER", "http://127.0.0.1:7001")), _home.Path);

        Assert.Equal(("http://127.0.0.1:7000", "--scheduler"), (address, source));
    }

    [Fact]
    public void Several_schedulers_are_each_normalized_and_kept_in_order()
    {
        var (address, _) = SchedulerAddress.Resolve(null, Env(("CONCORD_SCHEDULER", "10.0.0.1:7400, http://10.0.0.2:7400/")), _home.Path);

        Assert.Equal("http://10.0.0.1:7400,http://10.0.0.2:7400", address);
    }

    [Fact]
    public void One_bad_address_among_several_is_refused_by_name()
    {
        var e = Assert.Throws<CliException>(() => SchedulerAddress.Resolve("http://10.0.0.1:7400,ftp://x", Env(), _home.Path));

        Assert.Contains("'ftp://x'", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Environment_wins_over_scheduler_json()
    {
        WriteSchedulerJson(7002);

        var (address, _) = SchedulerAddress.Resolve(null, Env(("CONCORD_SCHEDULER", "http://127.0.0.1:7001")), _home.Path);

        Assert.Equal("http://127.0.0.1:7001", address);
    }

    [Fact]
    public void Scheduler_json_in_home_is_used_when_nothing_else_is_given()
    {
        WriteSchedulerJson(7002);

        var (address, source) = SchedulerAddress.Resolve(null, Env(), _home.Path);

        Assert.Equal("http://127.0.0.1:7002", address);
        Assert.EndsWith("scheduler.json", source);
    }

    [Fact]
    public void Default_local_address_is_used_without_scheduler_json()
    {
        Assert.Equal("http://127.0.0.1:7400", SchedulerAddress.Resolve(null, Env(), _home.Path).Address);
    }

    [Fact]
    public void Half_written_scheduler_json_is_ignored()
    {
        _home.Write("scheduler.json", "{\"address\":");

        Assert.Equal("http://127.0.0.1:7400", SchedulerAddress.Resolve(null, Env(), _home.Path).Address);
    }

    [Theory]
    [InlineData("127.0.0.1:7400", "http://127.0.0.1:7400")]
    [InlineData("http://localhost:9000/", "http://localhost:9000")]
    [InlineData(" http://127.0.0.1:1 ", "http://127.0.0.1:1")]
    public void Addresses_are_normalised(string given, string expected)
    {
        Assert.Equal(expected, SchedulerAddress.Normalize(given, "--scheduler"));
    }

    [Theory]
    [InlineData("ftp://host:1")]
    [InlineData("http://host:1/path")]
    [InlineData("not an address")]
    public void Bad_address_names_the_source_and_the_expected_form(string given)
    {
        var error = Assert.Throws<CliException>(() => SchedulerAddress.Normalize(given, "CONCORD_SCHEDULER"));

        Assert.StartsWith("CONCORD_SCHEDULER:", error.Message);
        Assert.Contains("http://HOST:PORT", error.Message);
    }

    [Fact]
    public void Home_is_option_then_CONCORD_HOME_then_dot_concord_in_the_user_home()
    {
        Assert.Equal("/tmp/a", ConcordHome.Resolve("/tmp/a", Env(("CONCORD_HOME", "/tmp/b"))));
        Assert.Equal("/tmp/b", ConcordHome.Resolve(null, Env(("CONCORD_HOME", "/tmp/b"), ("HOME", "/tmp/u"))));
        Assert.Equal("/tmp/u/.concord", ConcordHome.Resolve(null, Env(("HOME", "/tmp/u"))));
    }
}
