namespace Concord.Scheduler.Tests;

/// <summary>--tls-cert, --tls-key, --tls-ca: all three or none, and files that must be usable before anything starts.</summary>
public sealed class SchedulerTlsOptionsTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void The_three_tls_options_are_read_as_full_paths()
    {
        var options = SchedulerCommandLine.Parse(["--home", _dir.Path, "--executor", "/bin/true", "--tls-cert", "h.crt", "--tls-key", "h.key", "--tls-ca", "ca.crt"])!;

        Assert.Equal(new Hosting.TlsOptions(Path.GetFullPath("h.crt"), Path.GetFullPath("h.key"), Path.GetFullPath("ca.crt")), options.Tls);
        Assert.Null(SchedulerCommandLine.Parse(["--home", _dir.Path, "--executor", "/bin/true"])!.Tls);
    }

    [Fact]
    public void Only_some_tls_options_is_a_usage_error_naming_the_missing_one()
    {
        var e = Assert.Throws<UsageException>(() => SchedulerCommandLine.Parse(["--home", _dir.Path, "--executor", "/bin/true", "--tls-cert", "h.crt", "--tls-ca", "ca.crt"]));

        Assert.Contains("--tls-key is missing", e.Message);
        Assert.Contains("concord certs", e.Message);
    }

    [Fact]
    public void Tls_files_that_cannot_be_read_stop_the_scheduler_before_it_listens()
    {
        using var home = SchedulerHome.Acquire(_dir.Path);
        var tls = new Hosting.TlsOptions(_dir.Combine("none.crt"), _dir.Combine("none.key"), _dir.Combine("ca.crt"));

        var e = Assert.Throws<UsageException>(() => SchedulerApp.Create(new SchedulerOptions { Home = _dir.Path, Tls = tls }, home));

        Assert.Contains("cannot read the TLS certificate", e.Message);
        Assert.Contains(_dir.Combine("none.crt"), e.Message);
    }
}
