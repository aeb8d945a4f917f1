using Concord.Scheduler.Runtime.Agents;

namespace Concord.Scheduler.Tests.Agents;

/// <summary>The agent mode's command line: values checked before anything starts, with messages naming the fix.</summary>
public sealed class AgentCommandLineTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private string SecretFile(string secret = "a-secret-long-enough-for-the-check-0123456789")
    {
        var path = _dir.Combine(AgentSecret.FileName);
        File.WriteAllText(path, secret + "\n");
        return path;
    }

    private string[] Args(params string[] more) =>
    [
        "--scheduler", "http://127.0.0.1:7400", "--cpus", "2.5", "--mem", "4096", "--home", _dir.Combine("agent"),
        "--agent-secret-file", SecretFile(), "--executor", "/bin/true", .. more,
    ];

    [Fact]
    public void A_full_command_line_gives_every_value()
    {
        var options = AgentCommandLine.Parse(Args("--agent-id", "h1", "--advertise-host", "10.0.0.5"))!;

        Assert.Equal("http://127.0.0.1:7400", options.SchedulerAddress);
        Assert.Equal(2.5, options.Cpus);
        Assert.Equal(4096, options.MemMb);
        Assert.Equal(_dir.Combine("agent"), options.Home);
        Assert.Equal("h1", options.AgentId);
        Assert.Equal("10.0.0.5", options.AdvertisedHost);
        Assert.Equal("a-secret-long-enough-for-the-check-0123456789", options.Secret);
        Assert.Null(options.Tls);
    }

    [Fact]
    public void Defaults_are_the_host_name_and_loopback()
    {
        var options = AgentCommandLine.Parse(Args())!;

        Assert.Equal(Environment.MachineName, options.AgentId);
        Assert.Equal("127.0.0.1", options.AdvertisedHost);
    }

    [Fact]
    public void Several_schedulers_are_a_comma_separated_list_the_first_tried_first()
    {
        var options = AgentCommandLine.Parse(
            ["--scheduler", "http://10.0.0.1:7400, http://10.0.0.2:7400/", "--cpus", "1", "--mem", "512", "--home", _dir.Combine("agent"),
             "--agent-secret-file", SecretFile(), "--executor", "/bin/true"])!;

        Assert.Equal("http://10.0.0.1:7400", options.SchedulerAddress);
        Assert.Equal(["http://10.0.0.1:7400", "http://10.0.0.2:7400"], options.SchedulerAddresses);
    }

    [Fact]
    public void Schedulers_that_mix_http_and_https_are_refused()
    {
        var e = Assert.Throws<UsageException>(() => AgentCommandLine.Parse(
            ["--scheduler", "http://10.0.0.1:7400,https://10.0.0.2:7400", "--cpus", "1", "--mem", "512", "--home", _dir.Combine("agent"),
             "--agent-secret-file", SecretFile(), "--executor", "/bin/true"]));

        Assert.Contains("mixes http:// and https://", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Help_is_not_an_error() => Assert.Null(AgentCommandLine.Parse(["--help"]));

    [Theory]
    [InlineData("--cpus", "0", "--cpus is required and must be above 0")]
    [InlineData("--mem", "0", "--mem is required and must be above 0")]
    [InlineData("--scheduler", "127.0.0.1:7400", "is not a scheduler address")]
    [InlineData("--scheduler", "https://127.0.0.1:7400", "no --tls-cert/--tls-key/--tls-ca were given")]
    public void A_bad_value_names_the_option_and_the_fix(string option, string value, string expected)
    {
        var args = Args().ToList();
        args[args.IndexOf(option) + 1] = value;

        var error = Assert.Throws<UsageException>(() => AgentCommandLine.Parse(args));

        Assert.Contains(expected, error.Message);
    }

    [Fact]
    public void A_missing_secret_file_says_where_the_secret_comes_from()
    {
        var args = Args().ToList();
        args[args.IndexOf("--agent-secret-file") + 1] = _dir.Combine("missing");

        var error = Assert.Throws<UsageException>(() => AgentCommandLine.Parse(args));

        Assert.Contains("copy agent.secret from the scheduler's home", error.Message);
        Assert.DoesNotContain("a-secret-long-enough", error.Message);
    }
}
