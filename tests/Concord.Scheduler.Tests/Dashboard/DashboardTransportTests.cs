using System.Net;
using Concord.Contracts.Scheduler.V1;
using Concord.Hosting;

namespace Concord.Scheduler.Tests.Dashboard;

/// <summary>The dashboard (HTTP/1.1) and the gRPC API (HTTP/2) on the scheduler's one port, in cleartext and with TLS.</summary>
public sealed class DashboardTransportTests : IDisposable
{
    private readonly TempDirectory _certs = new();

    public void Dispose() => _certs.Dispose();

    [Fact]
    public async Task In_cleartext_grpc_and_the_dashboard_share_the_port()
    {
        await using var scheduler = await DashboardFixture.StartAsync();
        await scheduler.DeployRunningAsync(SchedulerFixture.Spec("counter"));

        var list = await scheduler.Client.ListAsync(new ListRequest()).ResponseAsync.WaitAsync(DashboardFixture.Timeout);
        using var response = await scheduler.Http(bearer: true).GetAsync("/ui/api/snapshot").WaitAsync(DashboardFixture.Timeout);
        // The browser-facing side is HTTP/1.1; gRPC (above) was HTTP/2 on the same address.
        var list2 = await scheduler.Client.ListAsync(new ListRequest()).ResponseAsync.WaitAsync(DashboardFixture.Timeout);

        Assert.Equal("counter", Assert.Single(list.Operators).Spec.Name);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(HttpVersion.Version11, response.Version);
        Assert.Single(list2.Operators);
    }

    [Fact]
    public async Task With_tls_grpc_and_the_dashboard_share_the_port_by_alpn()
    {
        var now = DateTimeOffset.UtcNow;
        using var ca = TlsCertificates.CreateAuthority("test CA", now);
        using var host = TlsCertificates.IssueHost(ca, ["127.0.0.1", "localhost"], now);
        using var client = TlsCertificates.IssueClient(ca, "operator", now);
        TlsCertificates.WritePem(host, _certs.Combine("host.crt"), _certs.Combine("host.key"));
        TlsCertificates.WritePem(client, _certs.Combine("client.crt"), _certs.Combine("client.key"));
        File.WriteAllText(_certs.Combine("ca.crt"), ca.ExportCertificatePem());
        var serverTls = new TlsOptions(_certs.Combine("host.crt"), _certs.Combine("host.key"), _certs.Combine("ca.crt"));
        using var clientTls = new TlsOptions(_certs.Combine("client.crt"), _certs.Combine("client.key"), _certs.Combine("ca.crt")).Load();
        await using var scheduler = await DashboardFixture.StartAsync(tls: serverTls, grpcHandler: clientTls.CreateHandler());

        var list = await scheduler.Client.ListAsync(new ListRequest()).ResponseAsync.WaitAsync(DashboardFixture.Timeout);
        var cookies = new CookieContainer();
        var http = scheduler.Http(cookies: cookies, handler: clientTls.CreateHandler());
        using var login = await http.PostAsync("/ui/login", new FormUrlEncodedContent([new("token", scheduler.Token)])).WaitAsync(DashboardFixture.Timeout);
        var setCookie = Assert.Single(login.Headers.GetValues("Set-Cookie"));
        using var snapshot = await http.GetAsync("/ui/api/snapshot").WaitAsync(DashboardFixture.Timeout);

        Assert.StartsWith("https://", scheduler.Address);
        Assert.Empty(list.Operators);
        Assert.Equal(HttpStatusCode.SeeOther, login.StatusCode);
        Assert.Contains("secure", setCookie, StringComparison.OrdinalIgnoreCase);
        Assert.Equal(HttpStatusCode.OK, snapshot.StatusCode);
        Assert.Equal(HttpVersion.Version11, snapshot.Version);
    }
}
