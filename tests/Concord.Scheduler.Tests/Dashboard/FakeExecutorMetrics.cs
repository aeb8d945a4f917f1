using System.Globalization;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;

namespace Concord.Scheduler.Tests.Dashboard;

/// <summary>
/// An executor's /metrics as the scheduler scrapes it, over real HTTP: every scrape finds the
/// counters grown (records in and out, CPU, backpressure, latency observations), as they do
/// while records flow.
/// </summary>
public sealed class FakeExecutorMetrics : IAsyncDisposable
{
    private readonly WebApplication _app;
    private long _scrapes;

    private FakeExecutorMetrics(WebApplication app) => _app = app;

    /// <summary>host:port, as an executor registers its metrics address.</summary>
    public string Address { get; private set; } = "";

    /// <summary>Whether the backpressure counter grows with each scrape.</summary>
    public bool Backpressured { get; set; }

    public static async Task<FakeExecutorMetrics> StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        var app = builder.Build();
        var metrics = new FakeExecutorMetrics(app);
        app.MapGet("/metrics", () => Results.Text(metrics.Text(Interlocked.Increment(ref metrics._scrapes)), "text/plain"));
        await app.StartAsync().WaitAsync(DashboardFixture.Timeout);
        metrics.Address = new Uri(app.Urls.First()).Authority;
        return metrics;
    }

    private string Text(long n)
    {
        static string F(double value) => value.ToString(CultureInfo.InvariantCulture);
        // Latency observations: 90 % under 1 ms, 10 % between 10 and 100 ms, 100 more per scrape.
        return string.Join('\n',
            $"concord_records_in_total{{stream=\"words\"}} {F(n * 500)}",
            $"concord_records_out_total{{stream=\"counts\"}} {F(n * 400)}",
            $"concord_records_dropped_total{{reason=\"late\"}} {F(n * 2)}",
            "concord_inbound_queue_rows 10",
            "concord_inbound_queue_rows_max 1000",
            $"concord_operator_cpu_seconds_total {F(n * 0.05)}",
            "concord_operator_resident_memory_bytes 52428800",
            $"concord_backpressure_seconds_total {F(Backpressured ? n * 0.1 : 0)}",
            $"concord_end_to_end_latency_seconds_bucket{{le=\"0.001\"}} {F(n * 90)}",
            $"concord_end_to_end_latency_seconds_bucket{{le=\"0.01\"}} {F(n * 90)}",
            $"concord_end_to_end_latency_seconds_bucket{{le=\"0.1\"}} {F(n * 100)}",
            $"concord_end_to_end_latency_seconds_bucket{{le=\"+Inf\"}} {F(n * 100)}",
            "");
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync().WaitAsync(DashboardFixture.Timeout);
        await _app.DisposeAsync();
    }
}
