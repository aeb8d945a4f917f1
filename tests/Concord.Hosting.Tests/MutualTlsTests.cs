using System.Net;
using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace Concord.Hosting.Tests;

/// <summary>Real sockets on 127.0.0.1: a host endpoint with mutual TLS and the client handler, both trusting only the configured CA.</summary>
public sealed class MutualTlsTests : IDisposable
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(20);

    private readonly string _dir = Directory.CreateTempSubdirectory("cc-tls-").FullName;
    private readonly X509Certificate2 _ca;
    private readonly TlsCredentials _server;
    private readonly TlsCredentials _client;

    public MutualTlsTests()
    {
        _ca = TlsCertificates.CreateAuthority("test CA", DateTimeOffset.UtcNow);
        _server = Credentials("server", _ca, TlsCertificates.IssueHost(_ca, ["localhost", "127.0.0.1"], DateTimeOffset.UtcNow));
        _client = Credentials("client", _ca, TlsCertificates.IssueClient(_ca, "alice", DateTimeOffset.UtcNow));
    }

    [Fact]
    public async Task A_client_with_a_certificate_from_the_CA_is_served_over_https()
    {
        await using var host = await StartAsync(_server);
        using var http = new HttpClient(_client.CreateHandler());

        var answer = await http.GetStringAsync($"https://{host.AddressOf("tls")}/who").WaitAsync(Bound);

        Assert.Contains("alice", answer);
    }

    [Fact]
    public async Task A_client_without_a_certificate_is_refused()
    {
        await using var host = await StartAsync(_server);
        using var handler = new SocketsHttpHandler();
        // Trusts the server (as the real client does), but presents no certificate.
        handler.SslOptions.RemoteCertificateValidationCallback = (_, _, _, _) => true;
        using var http = new HttpClient(handler);

        await Assert.ThrowsAsync<HttpRequestException>(() => http.GetStringAsync($"https://{host.AddressOf("tls")}/who").WaitAsync(Bound));
    }

    [Fact]
    public async Task A_client_with_a_certificate_from_another_CA_is_refused()
    {
        await using var host = await StartAsync(_server);
        using var otherCa = TlsCertificates.CreateAuthority("other CA", DateTimeOffset.UtcNow);
        // The stranger trusts our CA (so it would accept the server) but its own certificate is from another CA.
        using var stranger = Credentials("stranger", _ca, SignedBy(otherCa, "mallory"), issuerForCheck: otherCa);
        using var http = new HttpClient(stranger.CreateHandler());

        await Assert.ThrowsAsync<HttpRequestException>(() => http.GetStringAsync($"https://{host.AddressOf("tls")}/who").WaitAsync(Bound));
    }

    [Fact]
    public async Task A_server_certificate_for_another_name_is_refused_by_the_client()
    {
        using var elsewhere = Credentials("elsewhere", _ca, TlsCertificates.IssueHost(_ca, ["db.example", "10.1.2.3"], DateTimeOffset.UtcNow));
        await using var host = await StartAsync(elsewhere);
        using var http = new HttpClient(_client.CreateHandler());

        var refused = await Assert.ThrowsAsync<HttpRequestException>(() => http.GetStringAsync($"https://{host.AddressOf("tls")}/who").WaitAsync(Bound));
        Assert.Contains("SSL", refused.ToString(), StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task A_server_certificate_from_another_CA_is_refused_by_the_client()
    {
        using var otherCa = TlsCertificates.CreateAuthority("other CA", DateTimeOffset.UtcNow);
        // The impostor trusts our CA (so it accepts our client) but presents a certificate for the right name from another CA.
        using var impostor = Credentials("impostor", _ca, TlsCertificates.IssueHost(otherCa, ["127.0.0.1"], DateTimeOffset.UtcNow), issuerForCheck: otherCa);
        await using var host = await StartAsync(impostor);
        using var http = new HttpClient(_client.CreateHandler());

        await Assert.ThrowsAsync<HttpRequestException>(() => http.GetStringAsync($"https://{host.AddressOf("tls")}/who").WaitAsync(Bound));
    }

    [Fact]
    public void A_non_loopback_endpoint_without_tls_is_refused_with_the_fix()
    {
        var refused = Assert.Throws<TlsConfigurationException>(() => new LoopbackHost(null,
            new LoopbackEndpoint("public", HttpProtocols.Http1) { Address = IPAddress.Any, TlsOptionsHint = "--tls-cert, --tls-key and --tls-ca" }));

        Assert.Contains("0.0.0.0", refused.Message);
        Assert.Contains("concord certs", refused.Message);
        Assert.Contains("--tls-cert, --tls-key and --tls-ca", refused.Message);
    }

    [Fact]
    public void Loopback_may_be_plain_and_any_address_may_listen_with_tls()
    {
        ListenPolicy.Check(IPAddress.Loopback, tls: false, "e", "hint");
        ListenPolicy.Check(IPAddress.IPv6Loopback, tls: false, "e", "hint");
        ListenPolicy.Check(IPAddress.Any, tls: true, "e", "hint");
        var refused = Assert.Throws<TlsConfigurationException>(() => ListenPolicy.Check(IPAddress.Parse("10.0.0.5"), tls: false, "the scheduler's gRPC endpoint", "--tls-cert, --tls-key and --tls-ca"));
        Assert.StartsWith("the scheduler's gRPC endpoint would listen on 10.0.0.5 without TLS", refused.Message);
    }

    [Fact]
    public void Partial_tls_settings_and_a_certificate_from_another_CA_are_refused_with_the_fix()
    {
        var partial = Assert.Throws<TlsConfigurationException>(() => TlsOptions.FromParts("a.crt", null, "ca.crt", ("--tls-cert", "--tls-key", "--tls-ca")));
        Assert.Contains("--tls-key is missing", partial.Message);
        Assert.Null(TlsOptions.FromParts(null, " ", "", ("--tls-cert", "--tls-key", "--tls-ca")));

        using var otherCa = TlsCertificates.CreateAuthority("other CA", DateTimeOffset.UtcNow);
        using var foreign = TlsCertificates.IssueHost(otherCa, ["127.0.0.1"], DateTimeOffset.UtcNow);
        TlsCertificates.WritePem(foreign, Path.Combine(_dir, "foreign.crt"), Path.Combine(_dir, "foreign.key"));
        var mismatched = Assert.Throws<TlsConfigurationException>(() =>
            new TlsOptions(Path.Combine(_dir, "foreign.crt"), Path.Combine(_dir, "foreign.key"), Path.Combine(_dir, "server-ca.crt")).Load());
        Assert.Contains("does not chain to the CA", mismatched.Message);
    }

    private static async Task<LoopbackHost> StartAsync(TlsCredentials tls)
    {
        var host = new LoopbackHost(null, new LoopbackEndpoint("tls", HttpProtocols.Http1AndHttp2) { Tls = tls });
        host.Build().MapGet("/who", (HttpContext http) => Results.Text(http.Connection.ClientCertificate?.Subject ?? "nobody"));
        await host.StartAsync().WaitAsync(Bound);
        return host;
    }

    private static X509Certificate2 SignedBy(X509Certificate2 authority, string name) => TlsCertificates.IssueClient(authority, name, DateTimeOffset.UtcNow);

    /// <summary>Writes the files and loads them as a process would; <paramref name="issuerForCheck"/> is written as the CA when the certificate is not from <paramref name="ca"/>, and the trusted CA swapped in after loading.</summary>
    private TlsCredentials Credentials(string name, X509Certificate2 ca, X509Certificate2 certificate, X509Certificate2? issuerForCheck = null)
    {
        using (certificate)
        {
            var cert = Path.Combine(_dir, $"{name}.crt");
            var key = Path.Combine(_dir, $"{name}.key");
            var caPath = Path.Combine(_dir, $"{name}-ca.crt");
            TlsCertificates.WritePem(certificate, cert, key);
            File.WriteAllText(caPath, (issuerForCheck ?? ca).ExportCertificatePem());
            var loaded = new TlsOptions(cert, key, caPath).Load();
            if (issuerForCheck is null)
            {
                return loaded;
            }
            // A peer whose certificate is from another CA but which trusts ours: load with its own
            // issuer (Load checks the chain), then trust ours.
            File.WriteAllText(caPath, ca.ExportCertificatePem());
            loaded.Dispose();
            return TlsCredentials.LoadUnchecked(new TlsOptions(cert, key, caPath));
        }
    }

    public void Dispose()
    {
        _server.Dispose();
        _client.Dispose();
        _ca.Dispose();
        Directory.Delete(_dir, recursive: true);
    }
}
