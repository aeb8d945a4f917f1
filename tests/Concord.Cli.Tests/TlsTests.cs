using System.Diagnostics;
using System.Net;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json;

namespace Concord.Cli.Tests;

/// <summary>`concord certs` and the CLI over https with client certificates against a real scheduler.</summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class TlsTests : IDisposable
{
    private const string ServerAuth = "1.3.6.1.5.5.7.3.1";
    private const string ClientAuth = "1.3.6.1.5.5.7.3.2";

    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private sealed record Result(int Code, string Out, string Err);

    private static async Task<Result> RunAsync(params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        var code = await ConcordCli.RunAsync(args, output, error, _ => null, interactive: false, TimeProvider.System).WaitAsync(TestTimeouts.Process);
        return new Result(code, output.ToString(), error.ToString());
    }

    [Fact]
    public async Task Certs_writes_a_CA_host_and_client_certificates_that_chain_with_the_SANs_and_purposes_and_private_keys()
    {
        var certs = _dir.Combine("certs");

        var result = await RunAsync("certs", "--out", certs, "--host", "node1,node1.example,127.0.0.1", "--host", "node2,10.0.0.7", "--client", "alice");

        Assert.True(result.Code == 0, result.Err);
        using var ca = X509Certificate2.CreateFromPemFile(Path.Combine(certs, "ca.crt"), Path.Combine(certs, "ca.key"));
        Assert.True(ca.Extensions.OfType<X509BasicConstraintsExtension>().Single().CertificateAuthority);
        using (var caKey = ca.GetECDsaPublicKey())
        {
            Assert.Equal(256, caKey!.KeySize);
        }

        using var node1 = X509Certificate2.CreateFromPemFile(Path.Combine(certs, "node1.crt"), Path.Combine(certs, "node1.key"));
        Assert.True(node1.HasPrivateKey);
        Assert.True(Chains(node1, ca, ServerAuth));
        Assert.True(Chains(node1, ca, ClientAuth));
        var sans = node1.Extensions.OfType<X509SubjectAlternativeNameExtension>().Single();
        Assert.Equal(["node1", "node1.example"], sans.EnumerateDnsNames());
        Assert.Equal([IPAddress.Parse("127.0.0.1")], sans.EnumerateIPAddresses());
        Assert.True(node1.MatchesHostname("127.0.0.1"));
        Assert.True(node1.MatchesHostname("node1.example"));
        Assert.False(node1.MatchesHostname("node2"));

        using var node2 = X509Certificate2.CreateFromPemFile(Path.Combine(certs, "node2.crt"), Path.Combine(certs, "node2.key"));
        Assert.True(node2.MatchesHostname("10.0.0.7"));

        using var alice = X509Certificate2.CreateFromPemFile(Path.Combine(certs, "alice.crt"), Path.Combine(certs, "alice.key"));
        Assert.True(Chains(alice, ca, ClientAuth));
        Assert.False(Chains(alice, ca, ServerAuth));
        Assert.Contains("CN=alice", alice.Subject);

        foreach (var key in Directory.GetFiles(certs, "*.key"))
        {
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(key));
        }
        Assert.Contains("BEGIN PRIVATE KEY", await File.ReadAllTextAsync(Path.Combine(certs, "ca.key")));
        Assert.Contains("--tls-cert " + Path.Combine(certs, "node1.crt"), result.Out);
    }

    [Fact]
    public async Task Certs_reuses_an_existing_CA_and_replaces_it_only_with_force()
    {
        var certs = _dir.Combine("certs");
        Assert.Equal(0, (await RunAsync("certs", "--out", certs)).Code);
        var first = await File.ReadAllTextAsync(Path.Combine(certs, "ca.crt"));

        var again = await RunAsync("certs", "--out", certs);
        Assert.Equal(1, again.Code);
        Assert.Contains("a CA already exists", again.Err);
        Assert.Contains("--force", again.Err);

        var more = await RunAsync("certs", "--out", certs, "--host", "node3,127.0.0.1");
        Assert.True(more.Code == 0, more.Err);
        Assert.Equal(first, await File.ReadAllTextAsync(Path.Combine(certs, "ca.crt")));
        using (var ca = X509CertificateLoader.LoadCertificateFromFile(Path.Combine(certs, "ca.crt")))
        using (var node3 = X509CertificateLoader.LoadCertificateFromFile(Path.Combine(certs, "node3.crt")))
        {
            Assert.True(Chains(node3, ca, ServerAuth));
        }

        var forced = await RunAsync("certs", "--out", certs, "--force");
        Assert.True(forced.Code == 0, forced.Err);
        Assert.NotEqual(first, await File.ReadAllTextAsync(Path.Combine(certs, "ca.crt")));
    }

    [Theory]
    [InlineData("--host", "bad name", "neither a DNS name nor an IP address")]
    [InlineData("--host", "node1,", "neither a DNS name nor an IP address")]
    [InlineData("--client", "a/b", "is not a usable name")]
    [InlineData("--client", "ca", "would overwrite the CA's files")]
    public async Task Certs_refuses_bad_names_with_the_fix(string option, string value, string message)
    {
        var result = await RunAsync("certs", "--out", _dir.Combine("certs"), option, value);

        Assert.Equal(1, result.Code);
        Assert.Contains(message, result.Err);
        Assert.False(File.Exists(_dir.Combine("certs", "ca.crt")));
    }

    [Fact]
    public async Task A_scheduler_with_tls_serves_the_cli_and_its_executors_over_https_with_client_certificates()
    {
        var schedulerDll = RepoPaths.Require(RepoPaths.Artifact("Concord.Scheduler", "Concord.Scheduler.dll"));
        var executorDll = RepoPaths.Require(RepoPaths.Artifact("Concord.Executor", "Concord.Executor.dll"));
        var certs = _dir.Combine("certs");
        var home = _dir.Combine("home");
        Assert.Equal(0, (await RunAsync("certs", "--out", certs, "--host", "localhost,127.0.0.1", "--client", "alice")).Code);
        Assert.Equal(0, (await RunAsync("certs", "--out", _dir.Combine("other"), "--client", "mallory")).Code);
        string[] alice = ["--tls-cert", Path.Combine(certs, "alice.crt"), "--tls-key", Path.Combine(certs, "alice.key"), "--tls-ca", Path.Combine(certs, "ca.crt")];

        var log = new StringBuilder();
        var start = new ProcessStartInfo("dotnet")
        {
            ArgumentList =
            {
                schedulerDll, "--home", home, "--port", "0", "--executor", executorDll,
                "--tls-cert", Path.Combine(certs, "localhost.crt"), "--tls-key", Path.Combine(certs, "localhost.key"), "--tls-ca", Path.Combine(certs, "ca.crt"),
            },
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        using var scheduler = Process.Start(start)!;
        scheduler.OutputDataReceived += (_, e) => { lock (log) { log.AppendLine(e.Data); } };
        scheduler.ErrorDataReceived += (_, e) => { lock (log) { log.AppendLine(e.Data); } };
        scheduler.BeginOutputReadLine();
        scheduler.BeginErrorReadLine();
        try
        {
            var infoFile = Path.Combine(home, "scheduler.json");
            await Eventually.UntilAsync(() => File.Exists(infoFile) || scheduler.HasExited, TestTimeouts.Process, () => "scheduler.json to appear");
            Assert.False(scheduler.HasExited, $"the scheduler exited: {log}");
            var address = JsonDocument.Parse(await File.ReadAllTextAsync(infoFile)).RootElement.GetProperty("address").GetString()!;
            Assert.StartsWith("https://127.0.0.1:", address);

            // Executors register with the scheduler and send records to each other over mutual TLS.
            var output = _dir.Combine("out.csv");
            var sink = _dir.Write("sink.json", """
                {"name": "sink", "inputs": ["words"], "builtin": {"kind": "csv-sink", "options": {"path": "OUTPUT"}}}
                """.Replace("OUTPUT", output, StringComparison.Ordinal));
            _dir.Write("words.txt", "alpha\nbeta\ngamma\n");
            var source = _dir.Write("source.json", """
                {"name": "source", "outputs": ["words"], "builtin": {"kind": "generator", "options": {"stream": "words", "dictionary": "words.txt", "count": 30, "rate": 0}}}
                """);
            var deploySink = await RunAsync(["deploy", sink, "--home", home, .. alice]);
            Assert.True(deploySink.Code == 0, deploySink.Err + log);
            var deploySource = await RunAsync(["deploy", source, "--home", home, .. alice]);
            Assert.True(deploySource.Code == 0, deploySource.Err + log);
            await Eventually.UntilAsync(() => File.Exists(output) && File.ReadAllLines(output).Length >= 30, TestTimeouts.Flow,
                () => $"30 lines in {output}; the scheduler's log:\n{log}");

            var list = await RunAsync(["list", "--home", home, .. alice]);
            Assert.True(list.Code == 0, list.Err);
            Assert.Contains("sink", list.Out);

            // The scheduler scrapes the executors' /metrics over TLS with its own certificate.
            var token = (await File.ReadAllTextAsync(Path.Combine(home, Contracts.Credentials.TokenFileName))).Trim();
            using (var connection = new Cli.Internal.SchedulerConnection(address, token,
                tls: new Hosting.TlsOptions(Path.Combine(certs, "alice.crt"), Path.Combine(certs, "alice.key"), Path.Combine(certs, "ca.crt")).Load()))
            {
                var metrics = await connection.CallAsync(
                    (client, call) => client.GetInstanceMetricsAsync(new Contracts.Scheduler.V1.GetInstanceMetricsRequest(), call), CancellationToken.None);
                Assert.Equal(2, metrics.Instances.Count);
                Assert.All(metrics.Instances, i => Assert.True(i.Error.Length == 0, i.Error));
            }

            var noCertificate = await RunAsync("list", "--home", home);
            Assert.Equal(1, noCertificate.Code);
            Assert.Contains("needs a client certificate", noCertificate.Err);
            Assert.Contains("concord certs --client NAME", noCertificate.Err);

            var otherCa = await RunAsync("list", "--home", home,
                "--tls-cert", _dir.Combine("other", "mallory.crt"), "--tls-key", _dir.Combine("other", "mallory.key"), "--tls-ca", _dir.Combine("other", "ca.crt"));
            Assert.Equal(1, otherCa.Code);
            Assert.Contains("TLS handshake with the scheduler", otherCa.Err);

            // A client certificate from another CA is refused before dialling (the server would refuse it too: Concord.Hosting.Tests).
            var foreignCertificate = await RunAsync("list", "--home", home,
                "--tls-cert", _dir.Combine("other", "mallory.crt"), "--tls-key", _dir.Combine("other", "mallory.key"), "--tls-ca", Path.Combine(certs, "ca.crt"));
            Assert.Equal(1, foreignCertificate.Code);
            Assert.Contains("does not chain to the CA", foreignCertificate.Err);
        }
        finally
        {
            if (!scheduler.HasExited)
            {
                Cli.Internal.ProcessControl.Signal(scheduler.Id, Cli.Internal.ProcessControl.SigTerm);
                await scheduler.WaitForExitAsync().WaitAsync(TestTimeouts.Process);
            }
        }
    }

    private static bool Chains(X509Certificate2 leaf, X509Certificate2 ca, string purpose)
    {
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.Add(ca);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        chain.ChainPolicy.ApplicationPolicy.Add(new System.Security.Cryptography.Oid(purpose));
        return chain.Build(leaf);
    }
}
