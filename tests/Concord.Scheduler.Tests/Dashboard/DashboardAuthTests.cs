using System.Net;
using Concord.Scheduler.Dashboard;

namespace Concord.Scheduler.Tests.Dashboard;

/// <summary>The dashboard's login, sessions, Bearer tokens and CSRF header, over real HTTP/1.1.</summary>
public sealed class DashboardAuthTests
{
    [Fact]
    public async Task Without_credentials_pages_redirect_to_the_login_and_the_api_answers_401_naming_the_fix()
    {
        await using var scheduler = await DashboardFixture.StartAsync();
        var http = scheduler.Http();

        using var page = await http.GetAsync("/ui/").WaitAsync(DashboardFixture.Timeout);
        var (status, body) = await DashboardFixture.GetJsonAsync(http, "/ui/api/snapshot");

        Assert.Equal(HttpStatusCode.SeeOther, page.StatusCode);
        Assert.Equal("/ui/login", page.Headers.Location?.ToString());
        Assert.Equal(HttpStatusCode.Unauthorized, status);
        Assert.Contains("carries no session cookie and no operator token", body.GetProperty("error").GetString());
        Assert.Contains("/ui/login", body.GetProperty("error").GetString());
    }

    [Fact]
    public async Task A_wrong_token_at_login_is_401_with_the_form_and_no_cookie()
    {
        await using var scheduler = await DashboardFixture.StartAsync();
        var cookies = new CookieContainer();
        var http = scheduler.Http(cookies: cookies);

        using var response = await http.PostAsync("/ui/login", new FormUrlEncodedContent([new("token", "not-the-token-at-all-0123456789")])).WaitAsync(DashboardFixture.Timeout);
        var html = await response.Content.ReadAsStringAsync();

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Contains("wrong token", html);
        Assert.Contains("<form method=\"post\" action=\"/ui/login\">", html);
        Assert.DoesNotContain("not-the-token-at-all", html);
        Assert.Empty(cookies.GetAllCookies());
    }

    [Fact]
    public async Task The_right_token_makes_an_HttpOnly_SameSite_Strict_session_that_opens_the_api_until_logout()
    {
        await using var scheduler = await DashboardFixture.StartAsync();
        var cookies = new CookieContainer();
        var http = scheduler.Http(cookies: cookies);

        using var login = await http.PostAsync("/ui/login", new FormUrlEncodedContent([new("token", scheduler.Token)])).WaitAsync(DashboardFixture.Timeout);
        var setCookie = Assert.Single(login.Headers.GetValues("Set-Cookie"));
        var (status, snapshot) = await DashboardFixture.GetJsonAsync(http, "/ui/api/snapshot");

        Assert.Equal(HttpStatusCode.SeeOther, login.StatusCode);
        Assert.Equal("/ui/", login.Headers.Location?.ToString());
        Assert.StartsWith(DashboardEndpoints.CookieName + "=", setCookie);
        Assert.Contains("httponly", setCookie, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("samesite=strict", setCookie, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("path=/ui", setCookie, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain(scheduler.Token, setCookie);
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.True(snapshot.TryGetProperty("operators", out _));

        var sessionCookie = cookies.GetAllCookies().Single();
        using var logout = await http.PostAsync("/ui/logout", null).WaitAsync(DashboardFixture.Timeout);
        // The browser would drop the cookie; a copy kept by an attacker must not work either.
        var replay = scheduler.Http();
        using var request = new HttpRequestMessage(HttpMethod.Get, "/ui/api/snapshot");
        request.Headers.Add("Cookie", $"{sessionCookie.Name}={sessionCookie.Value}");
        using var replayed = await replay.SendAsync(request).WaitAsync(DashboardFixture.Timeout);
        Assert.Equal(HttpStatusCode.SeeOther, logout.StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, replayed.StatusCode);
    }

    [Fact]
    public async Task A_bearer_token_opens_the_api_and_a_wrong_one_is_401()
    {
        await using var scheduler = await DashboardFixture.StartAsync();
        var wrong = scheduler.Http();
        wrong.DefaultRequestHeaders.Authorization = new("Bearer", "wrong-token-wrong-token-wrong-token");

        var (okStatus, _) = await DashboardFixture.GetJsonAsync(scheduler.Http(bearer: true), "/ui/api/history");
        var (wrongStatus, wrongBody) = await DashboardFixture.GetJsonAsync(wrong, "/ui/api/history");

        Assert.Equal(HttpStatusCode.OK, okStatus);
        Assert.Equal(HttpStatusCode.Unauthorized, wrongStatus);
        Assert.Contains("carries a wrong operator token", wrongBody.GetProperty("error").GetString());
    }

    [Fact]
    public async Task An_action_without_the_csrf_header_is_403_even_with_a_valid_session()
    {
        await using var scheduler = await DashboardFixture.StartAsync();
        await scheduler.DeployRunningAsync(SchedulerFixture.Spec("counter"));
        var http = await scheduler.LoggedInAsync();

        var (status, body) = await DashboardFixture.PostAsync(http, "/ui/api/scale", new { @operator = "counter", instances = 3 }, csrf: false);
        var (killStatus, _) = await DashboardFixture.PostAsync(scheduler.Http(bearer: true), "/ui/api/kill", new { @operator = "counter" }, csrf: false);

        Assert.Equal(HttpStatusCode.Forbidden, status);
        Assert.Contains(DashboardEndpoints.CsrfHeader, body.GetProperty("error").GetString());
        Assert.Equal(HttpStatusCode.Forbidden, killStatus);
        // Nothing was scaled or killed.
        var list = await scheduler.Client.ListAsync(new()).ResponseAsync.WaitAsync(DashboardFixture.Timeout);
        Assert.Equal(1, list.Operators.Single(o => o.Spec.Name == "counter").Spec.Instances);
    }
}
