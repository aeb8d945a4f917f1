using System.Globalization;
using System.Net;
using System.Text;
using Concord.EndToEnd.Tests.Harness;
using OpenQA.Selenium;
using Xunit.Abstractions;

namespace Concord.EndToEnd.Tests.Dashboard;

/// <summary>
/// The web dashboard (docs/dashboard.md) in a real headless Chromium against a real scheduler
/// running the word count: the page logs in with the token, draws the topology with live rates,
/// and scales and kills through its own buttons; what it shows comes from the scheduler's event
/// stream, never from a reload. Screenshots of the main views are saved as test artifacts.
/// (The JSON API alone, without a browser: <see cref="Concord.EndToEnd.Tests.DashboardTests"/>.)
/// </summary>
public sealed class DashboardBrowserTests(ITestOutputHelper output)
{
    /// <summary>Login and the first snapshot on screen, in seconds: the page and a scheduler answering at cold JIT.</summary>
    public const int PageTimeoutSeconds = TestTimeouts.ProcessSeconds;

    /// <summary>Non-zero rates on both streams, in seconds: records through the pipeline and two scrapes of it.</summary>
    public const int RatesTimeoutSeconds = TestTimeouts.FlowSeconds;

    /// <summary>A scaled operator's new instance running and shown, in seconds: as long as the harness waits for running instances.</summary>
    public const int ScaleTimeoutSeconds = Cluster.RunningTimeoutSeconds;

    /// <summary>A killed operator gone from the page, in seconds: its processes stopping and the next push.</summary>
    public const int KillTimeoutSeconds = TestTimeouts.ProcessSeconds;

    /// <summary>A sampled trace listed in the panel, in seconds: records flowing, one in 1,024 sampled, the panel's 5 s refresh.</summary>
    public const int TracesTimeoutSeconds = TestTimeouts.FlowSeconds;

    /// <summary>A short-lived dialog or panel appearing after a click, in seconds.</summary>
    public const int ClickTimeoutSeconds = TestTimeouts.StepSeconds;

    /// <summary>Where the screenshots go: next to dotnet test's own TestResults of this project (gitignored).</summary>
    public static string ArtifactsDirectory =>
        Environment.GetEnvironmentVariable("CONCORD_DASHBOARD_ARTIFACTS") is { Length: > 0 } dir
            ? dir
            : Path.Combine(Repo.Root, "tests", "Concord.EndToEnd.Tests", "TestResults", "dashboard");

    [Fact]
    public async Task The_page_shows_the_word_count_live_and_scales_and_kills_through_its_buttons()
    {
        await using var cluster = await Cluster.StartAsync();
        var output1 = Path.Combine(cluster.Home, "counts.csv");
        // Readers before writers: records on a stream nobody reads yet are dropped (at-most-once).
        await cluster.DeployAsync(Specs.Sink(output1));
        await cluster.DeployAsync(Specs.Counter(instances: 2));
        await cluster.DeployAsync(Specs.Source(rate: 2_000));
        var baseUri = new Uri(cluster.Address.TrimEnd('/') + "/");

        await RequestsWithoutTheTokenAreRefused(baseUri);

        if (Directory.Exists(ArtifactsDirectory))
        {
            Directory.Delete(ArtifactsDirectory, recursive: true);
        }
        using var browser = new Browser(ArtifactsDirectory);
        output.WriteLine($"dashboard screenshots: {ArtifactsDirectory}");
        var driver = browser.Driver;

        // Not logged in: the page sends the browser to the login form; a wrong token is refused
        // with a message on the form, the right one logs in.
        driver.Navigate().GoToUrl(new Uri(baseUri, "ui/"));
        var token = browser.UntilFound(TimeSpan.FromSeconds(PageTimeoutSeconds), "the login form's token field",
            d => d.FindElement(By.CssSelector("input[name='token']")));
        Assert.Contains("/ui/login", driver.Url, StringComparison.Ordinal);
        token.SendKeys("not-the-token");
        token.Submit();
        var refusal = browser.UntilFound(TimeSpan.FromSeconds(PageTimeoutSeconds), "the login form's message after a wrong token",
            _ => browser.ByTestId("error") is { Text.Length: > 0 } message ? message.Text : null);
        output.WriteLine($"wrong token: {refusal}");
        token = browser.UntilFound(TimeSpan.FromSeconds(PageTimeoutSeconds), "the login form again", d => d.FindElement(By.CssSelector("input[name='token']")));
        token.SendKeys(SchedulerAuth.ReadToken(cluster.Home));
        token.Submit();

        // The graph: three operators, two streams with records flowing on both.
        browser.Until(TimeSpan.FromSeconds(PageTimeoutSeconds), "the three word-count operators drawn after login",
            _ => browser.AllByTestId("node-source").Count == 1 && browser.AllByTestId("node-counter").Count == 1 && browser.AllByTestId("node-sink").Count == 1);
        Assert.EndsWith("/ui/", driver.Url, StringComparison.Ordinal);
        string Rates() => string.Join(", ", new[] { "edge-words-source-counter", "edge-counts-counter-sink" }
            .Select(id => $"{id}={browser.AllByTestId(id).FirstOrDefault()?.GetDomAttribute("data-rate") ?? "(missing)"}"));
        browser.Until(TimeSpan.FromSeconds(RatesTimeoutSeconds), "a non-zero data-rate on both streams (words, counts)",
            _ => Rate(browser, "edge-words-source-counter") > 0 && Rate(browser, "edge-counts-counter-sink") > 0);
        output.WriteLine($"rates: {Rates()}");
        Assert.Equal("2/2", browser.ByTestId("instances-counter").Text);
        browser.Screenshot("01-graph");

        // The operator panel: instances table, chart, logs, traces.
        browser.ByTestId("node-counter").Click();
        var panel = browser.Shown("operator-panel", TimeSpan.FromSeconds(ClickTimeoutSeconds), "the counter's operator panel to open");
        browser.Until(TimeSpan.FromSeconds(ClickTimeoutSeconds), "two instance rows and the log lines fetched in the panel",
            _ => panel.FindElements(By.CssSelector("table.instances tbody tr")).Count == 2 && browser.ByTestId("logs").Text != "loading…");
        browser.Screenshot("02-operator-panel");

        // A sampled trace through the counter (sources sample one record in 1,024): its spans hop by hop.
        browser.UntilFound(TimeSpan.FromSeconds(TracesTimeoutSeconds), "a sampled trace through the counter in the panel's traces list",
            _ => browser.ByTestId("traces").FindElements(By.CssSelector("button[data-trace]")).FirstOrDefault()).Click();
        var spans = browser.UntilFound(TimeSpan.FromSeconds(ClickTimeoutSeconds), "the trace's spans, with one on the counter",
            _ => panel.FindElements(By.CssSelector("table.spans tbody tr")) is { Count: > 0 } rows && rows.Any(r => r.Text.Contains("counter", StringComparison.Ordinal)) ? rows : null);
        browser.Script("document.querySelector('table.spans').scrollIntoView()");
        output.WriteLine($"trace: {spans.Count} span(s)");
        browser.Screenshot("02b-trace");

        // Scale from the page: 3 instances, confirmed; the graph says 3/3 without a reload.
        var marker = browser.Script("return window.__concordPageId = Math.random();");
        var scale = browser.ByTestId("scale-input");
        scale.Clear();
        scale.SendKeys("3");
        browser.ByTestId("scale-button").Click();
        browser.Shown("confirm-yes", TimeSpan.FromSeconds(ClickTimeoutSeconds), "the scale confirmation dialog").Click();
        browser.Until(TimeSpan.FromSeconds(ScaleTimeoutSeconds), "the counter's node to show 3/3 instances",
            _ => browser.ByTestId("instances-counter").Text == "3/3");
        Assert.False(browser.ByTestId("error").Displayed, $"the page shows an error: {browser.ByTestId("error").Text}");
        Assert.Equal(marker, browser.Script("return window.__concordPageId;"));
        Assert.Equal(3, (await cluster.WaitRunningAsync("counter", 3)).Instances.Count);
        browser.Until(TimeSpan.FromSeconds(ClickTimeoutSeconds), "three instance rows in the open panel",
            _ => panel.FindElements(By.CssSelector("table.instances tbody tr")).Count == 3);
        // Back to the top of the page and of the panel for the overview shot (the trace scrolled them).
        browser.Script("window.scrollTo(0, 0); document.querySelector(\"[data-testid='operator-panel']\").scrollTop = 0;");
        browser.Screenshot("03-scaled");

        // Kill from the page: the counter disappears from the graph, the others stay.
        browser.ByTestId("kill-button").Click();
        browser.Shown("confirm-yes", TimeSpan.FromSeconds(ClickTimeoutSeconds), "the kill confirmation dialog").Click();
        browser.Until(TimeSpan.FromSeconds(KillTimeoutSeconds), "the counter's node to disappear after kill",
            _ => browser.AllByTestId("node-counter").Count == 0);
        Assert.Single(browser.AllByTestId("node-source"));
        Assert.Single(browser.AllByTestId("node-sink"));
        Assert.Empty(browser.AllByTestId("edge-words-source-counter"));
        Assert.False(browser.ByTestId("operator-panel").Displayed, "the killed operator's panel closes");
        Assert.Equal(marker, browser.Script("return window.__concordPageId;"));
        Assert.Null(await cluster.FindAsync("counter"));
        browser.Screenshot("04-killed");

        var weight = PageWeight(browser);
        File.WriteAllText(Path.Combine(ArtifactsDirectory, "page-weight.txt"), weight);
        output.WriteLine(weight);
    }

    private static double Rate(Browser browser, string testId) =>
        double.Parse(browser.ByTestId(testId).GetDomAttribute("data-rate") ?? "0", CultureInfo.InvariantCulture);

    /// <summary>The unauthenticated refusals of the contract, and the CSRF header on actions.</summary>
    private static async Task RequestsWithoutTheTokenAreRefused(Uri baseUri)
    {
        using var http = new HttpClient(new HttpClientHandler { AllowAutoRedirect = false }) { BaseAddress = baseUri, Timeout = TestTimeouts.Step };
        using (var api = await http.GetAsync("ui/api/snapshot"))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, api.StatusCode);
            Assert.Contains("\"error\"", await api.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }
        using (var page = await http.GetAsync("ui/"))
        {
            Assert.Equal(HttpStatusCode.SeeOther, page.StatusCode);
            Assert.EndsWith("/ui/login", page.Headers.Location?.ToString(), StringComparison.Ordinal);
        }
        using (var scale = await http.PostAsync("ui/api/scale", new StringContent("{\"operator\":\"counter\",\"instances\":3}", Encoding.UTF8, "application/json")))
        {
            Assert.True(scale.StatusCode is HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden, $"an unauthenticated scale answered {(int)scale.StatusCode}");
        }
    }

    /// <summary>Bytes the page transferred (navigation and every resource), from the browser's resource timing.</summary>
    private static string PageWeight(Browser browser)
    {
        var entries = browser.Script("""
            return performance.getEntriesByType('navigation').concat(performance.getEntriesByType('resource'))
              .map(e => [e.name, e.transferSize, e.encodedBodySize, e.decodedBodySize].join(' '));
            """) as IReadOnlyCollection<object> ?? [];
        var lines = entries.Select(e => e.ToString() ?? "").ToList();
        long transferred = 0;
        long decoded = 0;
        foreach (var parts in lines.Select(l => l.Split(' ')).Where(p => p.Length == 4 && !p[0].Contains("/ui/api/", StringComparison.Ordinal)))
        {
            transferred += long.Parse(parts[1], CultureInfo.InvariantCulture);
            decoded += long.Parse(parts[3], CultureInfo.InvariantCulture);
        }
        return $"page weight (html, js, css; API calls excluded): {transferred / 1024.0:0.0} KiB transferred, {decoded / 1024.0:0.0} KiB decoded\n" + string.Join('\n', lines);
    }
}
