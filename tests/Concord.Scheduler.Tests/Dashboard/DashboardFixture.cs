using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Concord.Contracts.Scheduler.V1;
using Concord.Contracts.Types.V1;
using Concord.Scheduler.Dashboard;
using Concord.Scheduler.Dashboard.Internal;
using Concord.Scheduler.Runtime;
using Grpc.Core.Interceptors;
using Grpc.Net.Client;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using SchedulerClient = Concord.Contracts.Scheduler.V1.Scheduler.SchedulerClient;

namespace Concord.Scheduler.Tests.Dashboard;

/// <summary>
/// A real scheduler in this process (Kestrel on 127.0.0.1:0, the file store in a temp home,
/// <see cref="FakeClusterRuntime"/>), with real HttpClients for the dashboard (HTTP/1.1, as a
/// browser without TLS speaks) and a gRPC client on the same port.
/// </summary>
public sealed class DashboardFixture : IAsyncDisposable
{
    public static readonly TimeSpan Timeout = TestTimeouts.Step;

    private readonly List<IDisposable> _disposables = [];
    private WebApplication _app = null!;
    private SchedulerHome _home = null!;
    private GrpcChannel _channel = null!;

    private DashboardFixture()
    {
    }

    public TempDirectory Home { get; } = new();

    public FakeClusterRuntime Runtime { get; } = new();

    public string Address { get; private set; } = "";

    public string Token { get; private set; } = "";

    public SchedulerClient Client { get; private set; } = null!;

    public IServiceProvider Services => _app.Services;

    internal DashboardFeed Feed => _app.Services.GetRequiredService<DashboardFeed>();

    /// <param name="dashboardDirectory">The built front end; null: a directory that does not exist.</param>
    /// <param name="pushInterval">The event stream's interval; short so tests see several pushes quickly.</param>
    /// <param name="configure">More service replacements (a standby's gate).</param>
    public static async Task<DashboardFixture> StartAsync(string? dashboardDirectory = null, TimeSpan? pushInterval = null,
        Action<IServiceCollection>? configure = null, Hosting.TlsOptions? tls = null, SocketsHttpHandler? grpcHandler = null)
    {
        var fixture = new DashboardFixture();
        fixture._home = SchedulerHome.Acquire(fixture.Home.Path);
        var options = new SchedulerOptions
        {
            Home = fixture.Home.Path,
            Port = 0,
            MetricsPort = 0,
            Tls = tls,
            DashboardDirectory = dashboardDirectory ?? fixture.Home.Combine("no-ui-here"),
        };
        var interval = pushInterval ?? TimeSpan.FromMilliseconds(200);
        fixture._app = SchedulerApp.Create(options, fixture._home, services =>
        {
            services.AddSingleton<IClusterRuntime>(fixture.Runtime);
            services.AddSingleton(new DashboardTuning { PushInterval = interval, SnapshotReuse = interval, KeepAlive = TimeSpan.FromSeconds(15) });
            configure?.Invoke(services);
        });
        await fixture._app.StartAsync().WaitAsync(Timeout);
        var info = SchedulerHome.ReadInfo(fixture.Home.Path) ?? throw new InvalidOperationException("scheduler.json was not written");
        fixture.Address = info.Address;
        fixture.Token = SchedulerAuth.ReadToken(fixture.Home.Path);
        fixture._channel = GrpcChannel.ForAddress(fixture.Address, new GrpcChannelOptions { HttpHandler = grpcHandler });
        fixture.Client = new SchedulerClient(fixture._channel.Intercept(new SchedulerCallerCredentials(
            fixture._app.Services.GetRequiredService<global::Concord.Scheduler.Security.SchedulerSecrets>(), fixture.Token)));
        return fixture;
    }

    /// <summary>
    /// An HttpClient speaking HTTP/1.1 only (as a browser does without TLS), following no
    /// redirects (tests look at them) and keeping cookies only when asked.
    /// </summary>
    public HttpClient Http(bool bearer = false, CookieContainer? cookies = null, SocketsHttpHandler? handler = null)
    {
        handler ??= new SocketsHttpHandler();
        handler.AllowAutoRedirect = false;
        handler.UseCookies = cookies is not null;
        if (cookies is not null)
        {
            handler.CookieContainer = cookies;
        }
        var http = new HttpClient(handler)
        {
            BaseAddress = new Uri(Address),
            DefaultRequestVersion = HttpVersion.Version11,
            DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact,
            Timeout = Timeout,
        };
        if (bearer)
        {
            http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", Token);
        }
        _disposables.Add(http);
        return http;
    }

    /// <summary>Logs in through the form and returns a client that carries the session cookie.</summary>
    public async Task<HttpClient> LoggedInAsync()
    {
        var cookies = new CookieContainer();
        var http = Http(cookies: cookies);
        using var response = await http.PostAsync("/ui/login", new FormUrlEncodedContent([new("token", Token)])).WaitAsync(Timeout);
        Assert.Equal(HttpStatusCode.SeeOther, response.StatusCode);
        return http;
    }

    /// <summary>A POST of JSON, with the dashboard's CSRF header unless told otherwise.</summary>
    public static async Task<(HttpStatusCode Status, JsonElement Body)> PostAsync(HttpClient http, string path, object body, bool csrf = true)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, path)
        {
            Content = new StringContent(JsonSerializer.Serialize(body), Encoding.UTF8, "application/json"),
        };
        if (csrf)
        {
            request.Headers.Add(DashboardEndpoints.CsrfHeader, "1");
        }
        using var response = await http.SendAsync(request).WaitAsync(Timeout);
        return (response.StatusCode, await JsonAsync(response));
    }

    public static async Task<(HttpStatusCode Status, JsonElement Body)> GetJsonAsync(HttpClient http, string path)
    {
        using var response = await http.GetAsync(path).WaitAsync(Timeout);
        return (response.StatusCode, await JsonAsync(response));
    }

    private static async Task<JsonElement> JsonAsync(HttpResponseMessage response)
    {
        var text = await response.Content.ReadAsStringAsync().WaitAsync(Timeout);
        Assert.True(response.Content.Headers.ContentType?.MediaType == "application/json", $"expected JSON, got {response.Content.Headers.ContentType}: {text}");
        return JsonDocument.Parse(text).RootElement.Clone();
    }

    /// <summary>Deploys <paramref name="spec"/> and registers every instance, so all run; with a metrics address when given.</summary>
    public async Task DeployRunningAsync(OperatorSpec spec, Func<int, string>? metricsAddress = null)
    {
        await Client.DeployAsync(new DeployRequest { Spec = spec }).ResponseAsync.WaitAsync(Timeout);
        for (var i = 0; i < spec.Instances; i++)
        {
            await RegisterAsync(await Runtime.NextLaunchAsync(Timeout), metricsAddress);
        }
    }

    public Task RegisterAsync(FakeInstance instance, Func<int, string>? metricsAddress = null) =>
        Client.RegisterExecutorAsync(new RegisterExecutorRequest
        {
            OperatorName = instance.OperatorName,
            InstanceIndex = instance.Index,
            Incarnation = instance.Incarnation,
            DataAddress = $"127.0.0.1:{20000 + instance.Pid}",
            MetricsAddress = metricsAddress?.Invoke(instance.Index) ?? "",
            Metadata = SchedulerFixture.MetadataOf(instance.Launch.Spec),
        }).ResponseAsync.WaitAsync(Timeout);

    /// <summary>The word count's shape: source → words → counter (group_by) → counts → sink.</summary>
    public static OperatorSpec[] WordCount() =>
    [
        SchedulerFixture.Spec("source", writes: "words"),
        SchedulerFixture.Spec("counter", reads: "words", grouping: Grouping.GroupBy, writes: "counts"),
        SchedulerFixture.Spec("sink", reads: "counts"),
    ];

    public async ValueTask DisposeAsync()
    {
        foreach (var disposable in _disposables)
        {
            disposable.Dispose();
        }
        _channel.Dispose();
        await _app.StopAsync().WaitAsync(Timeout);
        await _app.DisposeAsync();
        _home.Dispose();
        Home.Dispose();
    }
}
