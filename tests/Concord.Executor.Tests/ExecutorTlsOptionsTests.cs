using Concord.Contracts.Types.V1;
using Concord.Hosting;
using Google.Protobuf;

namespace Concord.Executor.Tests;

/// <summary>CONCORD_TLS_* in ExecutorOptions: loaded with the scheduler's scheme, refused when they disagree.</summary>
public sealed class ExecutorTlsOptionsTests : IDisposable
{
    private readonly TempDirectory _dir = new();
    private readonly Dictionary<string, string> _env;

    public ExecutorTlsOptionsTests()
    {
        var spec = _dir.Combine("spec.json");
        File.WriteAllText(spec, JsonFormatter.Default.Format(new OperatorSpec { Name = "counter", Executable = "/bin/true", Instances = 1 }));
        var now = DateTimeOffset.UtcNow;
        using var ca = TlsCertificates.CreateAuthority("test CA", now);
        using var host = TlsCertificates.IssueHost(ca, ["127.0.0.1"], now);
        TlsCertificates.WritePem(host, _dir.Combine("host.crt"), _dir.Combine("host.key"));
        File.WriteAllText(_dir.Combine("ca.crt"), ca.ExportCertificatePem());
        _env = new Dictionary<string, string>
        {
            ["CONCORD_SCHEDULER_ADDRESS"] = "https://127.0.0.1:7400",
            ["CONCORD_OPERATOR_NAME"] = "counter",
            ["CONCORD_INSTANCE_INDEX"] = "0",
            ["CONCORD_INCARNATION"] = "abc",
            ["CONCORD_SPEC_FILE"] = spec,
            ["CONCORD_WORK_DIR"] = _dir.Path,
            ["CONCORD_TLS_CERT"] = _dir.Combine("host.crt"),
            ["CONCORD_TLS_KEY"] = _dir.Combine("host.key"),
            ["CONCORD_TLS_CA"] = _dir.Combine("ca.crt"),
        };
    }

    public void Dispose() => _dir.Dispose();

    private ExecutorOptions Read() => ExecutorOptions.FromEnvironment(name => _env.GetValueOrDefault(name));

    [Fact]
    public void Tls_files_with_an_https_scheduler_are_loaded()
    {
        var options = Read();

        Assert.NotNull(options.Tls);
        Assert.True(options.Tls.Certificate.HasPrivateKey);
        Assert.Equal(_dir.Combine("ca.crt"), options.Tls.Options.CaPath);
    }

    [Fact]
    public void An_https_scheduler_without_tls_files_is_refused_naming_the_variables()
    {
        _env.Remove("CONCORD_TLS_CERT");
        _env.Remove("CONCORD_TLS_KEY");
        _env.Remove("CONCORD_TLS_CA");

        var e = Assert.Throws<ExecutorConfigException>(Read);

        Assert.Contains("is https but CONCORD_TLS_CERT, CONCORD_TLS_KEY and CONCORD_TLS_CA are not set", e.Message);
    }

    [Fact]
    public void Tls_files_with_an_http_scheduler_are_refused()
    {
        _env["CONCORD_SCHEDULER_ADDRESS"] = "http://127.0.0.1:7400";

        var e = Assert.Throws<ExecutorConfigException>(Read);

        Assert.Contains("is not https", e.Message);
    }

    [Fact]
    public void Some_tls_variables_or_an_unreadable_file_are_refused_with_the_fix()
    {
        _env.Remove("CONCORD_TLS_KEY");
        Assert.Contains("CONCORD_TLS_KEY is missing", Assert.Throws<ExecutorConfigException>(Read).Message);

        _env["CONCORD_TLS_KEY"] = _dir.Combine("missing.key");
        Assert.Contains("cannot read the TLS certificate", Assert.Throws<ExecutorConfigException>(Read).Message);
    }

    [Fact]
    public void With_tls_the_listen_address_may_be_beyond_loopback_and_the_advertised_host_is_read()
    {
        _env["CONCORD_LISTEN_ADDRESS"] = "0.0.0.0";
        _env["CONCORD_ADVERTISED_HOST"] = "node1.example";

        var options = Read();

        Assert.Equal(System.Net.IPAddress.Any, options.ListenAddress);
        Assert.Equal("node1.example", options.AdvertisedHost);
    }

    [Fact]
    public void A_specific_listen_address_is_advertised_when_no_host_is_given()
    {
        _env["CONCORD_LISTEN_ADDRESS"] = "10.203.7.1";

        Assert.Equal("10.203.7.1", Read().AdvertisedHost);
    }
}
