using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Concord.Scheduler.Tests.Dashboard;

/// <summary>The built front end served from SchedulerOptions.DashboardDirectory, and nothing beside it.</summary>
public sealed class DashboardStaticFilesTests : IDisposable
{
    private readonly TempDirectory _ui = new();

    public DashboardStaticFilesTests()
    {
        _ui.Write("index.html", "<!doctype html><title>Concord</title><script type=module src=app.js></script>");
        _ui.Write("app.js", "export const answer = 42;");
        _ui.Write("login.html", "<!doctype html><p data-testid=error><!--message--></p><form method=post action=/ui/login><input name=token></form>");
        _ui.Write(".hidden.js", "secret");
    }

    public void Dispose() => _ui.Dispose();

    [Fact]
    public async Task Index_and_app_are_served_html_without_caching_and_the_rest_with_an_etag()
    {
        await using var scheduler = await DashboardFixture.StartAsync(_ui.Path);
        var http = await scheduler.LoggedInAsync();

        using var index = await http.GetAsync("/ui/").WaitAsync(DashboardFixture.Timeout);
        using var app = await http.GetAsync("/ui/app.js").WaitAsync(DashboardFixture.Timeout);
        using var again = new HttpRequestMessage(HttpMethod.Get, "/ui/app.js");
        again.Headers.TryAddWithoutValidation("If-None-Match", app.Headers.ETag!.ToString());
        using var notModified = await http.SendAsync(again).WaitAsync(DashboardFixture.Timeout);

        Assert.Equal(HttpStatusCode.OK, index.StatusCode);
        Assert.Equal("text/html", index.Content.Headers.ContentType?.MediaType);
        Assert.Contains("no-cache", index.Headers.CacheControl?.ToString());
        Assert.Contains("<title>Concord</title>", await index.Content.ReadAsStringAsync());
        Assert.Equal(HttpStatusCode.OK, app.StatusCode);
        Assert.Equal("text/javascript", app.Content.Headers.ContentType?.MediaType);
        Assert.Equal("export const answer = 42;", await app.Content.ReadAsStringAsync());
        Assert.Equal(HttpStatusCode.NotModified, notModified.StatusCode);
    }

    [Fact]
    public async Task The_login_page_is_the_built_one_and_needs_no_session()
    {
        await using var scheduler = await DashboardFixture.StartAsync(_ui.Path);

        using var login = await scheduler.Http().GetAsync("/ui/login").WaitAsync(DashboardFixture.Timeout);

        Assert.Equal(HttpStatusCode.OK, login.StatusCode);
        Assert.Contains("<input name=token>", await login.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task A_wrong_token_gets_the_built_login_page_with_the_message_in_its_place()
    {
        await using var scheduler = await DashboardFixture.StartAsync(_ui.Path);

        using var response = await scheduler.Http().PostAsync("/ui/login", new FormUrlEncodedContent([new("token", "<b>wrong</b>-token-0123456789")])).WaitAsync(DashboardFixture.Timeout);
        var html = await response.Content.ReadAsStringAsync();

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Contains("<input name=token>", html);
        Assert.Contains("<p data-testid=error>wrong token; paste the one in ", html);
        Assert.DoesNotContain("<!--message-->", html);
        Assert.DoesNotContain("wrong</b>", html);
    }

    [Theory]
    [InlineData("/ui/../token")]
    [InlineData("/ui/%2e%2e/token")]
    [InlineData("/ui/..%2ftoken")]
    [InlineData("/ui/%2e%2e%2f%2e%2e%2fetc/passwd")]
    [InlineData("/ui/.hidden.js")]
    [InlineData("/ui/app.js/")]
    public async Task Paths_outside_the_directory_or_hidden_are_refused(string path)
    {
        await using var scheduler = await DashboardFixture.StartAsync(_ui.Path);
        var http = scheduler.Http(bearer: true);
        var token = await File.ReadAllTextAsync(scheduler.Home.Combine("token"));

        // Sent as written: HttpClient would resolve the dots itself.
        var (status, body) = await RawGetAsync(scheduler.Address, path, scheduler.Token);

        Assert.NotEqual(200, status);
        Assert.DoesNotContain(token.Trim(), body);
        Assert.DoesNotContain("secret", body);
        Assert.DoesNotContain("root:", body);
        _ = http;
    }

    [Fact]
    public async Task Without_a_built_dashboard_the_pages_answer_503_naming_the_build_script()
    {
        await using var scheduler = await DashboardFixture.StartAsync(dashboardDirectory: null);

        using var index = await scheduler.Http(bearer: true).GetAsync("/ui/").WaitAsync(DashboardFixture.Timeout);

        Assert.Equal(HttpStatusCode.ServiceUnavailable, index.StatusCode);
        Assert.Contains("the dashboard is not built; run scripts/build-ui.sh", await index.Content.ReadAsStringAsync());
    }

    /// <summary>One HTTP/1.1 GET over a bare socket, the path exactly as given.</summary>
    private static async Task<(int Status, string Body)> RawGetAsync(string address, string path, string token)
    {
        var uri = new Uri(address);
        using var client = new TcpClient();
        await client.ConnectAsync(uri.Host, uri.Port).WaitAsync(DashboardFixture.Timeout);
        await using var stream = client.GetStream();
        var request = $"GET {path} HTTP/1.1\r\nHost: {uri.Authority}\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n";
        await stream.WriteAsync(Encoding.ASCII.GetBytes(request)).AsTask().WaitAsync(DashboardFixture.Timeout);
        using var reader = new StreamReader(stream, Encoding.UTF8);
        var response = await reader.ReadToEndAsync().WaitAsync(DashboardFixture.Timeout);
        var status = int.Parse(response.Split(' ')[1], System.Globalization.CultureInfo.InvariantCulture);
        return (status, response);
    }
}
