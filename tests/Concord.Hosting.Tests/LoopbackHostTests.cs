using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace Concord.Hosting.Tests;

public sealed class LoopbackHostTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(20);

    [Fact]
    public async Task Two_endpoints_of_one_host_get_their_own_free_ports_and_serve_the_same_routes()
    {
        await using var host = new LoopbackHost(null,
            new LoopbackEndpoint("a", HttpProtocols.Http1),
            new LoopbackEndpoint("b", HttpProtocols.Http1AndHttp2));
        host.Build().MapGet("/ping", () => Results.Text("pong"));
        await host.StartAsync().WaitAsync(Bound);

        var a = host.AddressOf("a");
        var b = host.AddressOf("b");

        Assert.StartsWith("127.0.0.1:", a);
        Assert.StartsWith("127.0.0.1:", b);
        Assert.NotEqual(a, b);
        using var http = new HttpClient();
        Assert.Equal("pong", await http.GetStringAsync($"http://{a}/ping").WaitAsync(Bound));
        Assert.Equal("pong", await http.GetStringAsync($"http://{b}/ping").WaitAsync(Bound));
        Assert.Equal(a, $"127.0.0.1:{host.PortOf("a")}");
    }

    [Fact]
    public async Task A_unix_socket_endpoint_has_no_port()
    {
        var path = Path.Combine(Path.GetTempPath(), $"lh-{Environment.ProcessId}-{Guid.NewGuid():N}"[..20] + ".sock");
        await using var host = new LoopbackHost(null, LoopbackEndpoint.UnixSocket("op", path, HttpProtocols.Http2));
        await host.StartAsync().WaitAsync(Bound);

        Assert.Contains("unix socket", Assert.Throws<ArgumentException>(() => host.PortOf("op")).Message);
    }

    [Fact]
    public async Task A_unix_socket_endpoint_reports_its_path()
    {
        var path = Path.Combine(Path.GetTempPath(), $"lh-{Environment.ProcessId}-{Guid.NewGuid():N}"[..20] + ".sock");
        await using var host = new LoopbackHost(null, LoopbackEndpoint.UnixSocket("op", path, HttpProtocols.Http2));
        await host.StartAsync().WaitAsync(Bound);

        Assert.Equal(path, host.AddressOf("op"));
        Assert.True(File.Exists(path));
    }

    [Fact]
    public async Task After_dispose_the_port_no_longer_accepts_connections()
    {
        var host = new LoopbackHost(null, new LoopbackEndpoint("a", HttpProtocols.Http1));
        host.Build().MapGet("/", () => "ok");
        await host.StartAsync().WaitAsync(Bound);
        var endpoint = IPEndPoint.Parse(host.AddressOf("a"));

        await host.DisposeAsync().AsTask().WaitAsync(Bound);

        using var socket = new System.Net.Sockets.Socket(System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp);
        await Assert.ThrowsAsync<System.Net.Sockets.SocketException>(() => socket.ConnectAsync(endpoint).WaitAsync(Bound));
    }

    [Fact]
    public void Unknown_endpoints_and_duplicate_names_are_refused_with_the_fix()
    {
        var duplicate = Assert.Throws<ArgumentException>(() => new LoopbackHost(null,
            new LoopbackEndpoint("a", HttpProtocols.Http1), new LoopbackEndpoint("a", HttpProtocols.Http2)));
        Assert.Contains("its own name", duplicate.Message);

        var host = new LoopbackHost(null, new LoopbackEndpoint("a", HttpProtocols.Http1));
        var notStarted = Assert.Throws<InvalidOperationException>(() => host.AddressOf("a"));
        Assert.Contains("StartAsync", notStarted.Message);
    }
}
