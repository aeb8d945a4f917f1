namespace Concord.Scheduler.Tests;

public sealed class SchedulerCommandLineTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private string FakeExecutor()
    {
        var path = _dir.Combine("Concord.Executor.dll");
        File.WriteAllText(path, "");
        return path;
    }

    [Fact]
    public void Every_option_is_read_in_both_spellings()
    {
        var executor = FakeExecutor();

        var options = SchedulerCommandLine.Parse(["--home", _dir.Path, "--port=0", "--executor", executor, "--log-format", "json"])!;

        Assert.Equal(_dir.Path, options.Home);
        Assert.Equal(0, options.Port);
        Assert.Equal(executor, options.ExecutorDll);
        Assert.Equal(LogFormat.Json, options.LogFormat);
    }

    [Fact]
    public void Port_defaults_to_7400_and_help_returns_null()
    {
        var options = SchedulerCommandLine.Parse(["--home", _dir.Path, "--executor", FakeExecutor()])!;

        Assert.Equal(7400, options.Port);
        Assert.Equal(LogFormat.Text, options.LogFormat);
        Assert.Null(SchedulerCommandLine.Parse(["--help"]));
    }

    [Theory]
    [InlineData("--port", "http", "--port 'http' is not a port; use 0..65535 (0 picks a free one)")]
    [InlineData("--port", "70000", "--port '70000' is not a port; use 0..65535 (0 picks a free one)")]
    [InlineData("--log-format", "xml", "--log-format 'xml' is not a format; use text or json")]
    public void Bad_values_are_reported_with_what_to_use(string option, string value, string message)
    {
        var error = Assert.Throws<UsageException>(() => SchedulerCommandLine.Parse(["--home", _dir.Path, option, value]));

        Assert.Equal(message, error.Message);
    }

    [Fact]
    public void Unknown_argument_is_reported_with_the_usage()
    {
        var error = Assert.Throws<UsageException>(() => SchedulerCommandLine.Parse(["--hom", "x"]));

        Assert.StartsWith("unknown argument '--hom'", error.Message);
        Assert.Contains("Usage: Concord.Scheduler", error.Message);
    }

    [Fact]
    public void A_missing_executor_says_how_to_build_or_point_at_it()
    {
        var missing = _dir.Combine("nope", "Concord.Executor.dll");

        var error = Assert.Throws<UsageException>(() => SchedulerCommandLine.FindExecutorDll(missing));

        Assert.Contains($"executor '{missing}' does not exist (from --executor)", error.Message);
        Assert.Contains("dotnet build services/executor", error.Message);
    }
}
