using System.Diagnostics;
using System.Text;
using System.Text.Json;
using Concord.EndToEnd.Tests.Harness;

namespace Concord.Observability.Tests;

/// <summary>
/// A real Prometheus (Debian's, scripts/install-prometheus.sh) for one test: loopback, a free
/// port, a temporary config and storage. Its only scrape job discovers targets through the
/// scheduler's HTTP service discovery, exactly as docs/prometheus.yml does.
/// </summary>
public sealed class PrometheusServer : IAsyncDisposable
{
    /// <summary>Where the Debian package installs the server.</summary>
    public const string Executable = "/usr/bin/prometheus";

    /// <summary>How long Prometheus may take to answer /-/ready, in seconds (~0.1 s normally).</summary>
    public const int ReadyTimeoutSeconds = 30;

    private static readonly HttpClient Http = new() { Timeout = TimeSpan.FromSeconds(10) };
    private readonly Process _process;
    private readonly StringBuilder _output = new();
    private readonly string _directory;

    private PrometheusServer(Process process, string directory, string address)
    {
        _process = process;
        _directory = directory;
        Address = address;
    }

    /// <summary>"http://127.0.0.1:port".</summary>
    public string Address { get; }

    public string Output
    {
        get
        {
            lock (_output)
            {
                return _output.ToString();
            }
        }
    }

    /// <param name="tokenFile">The scheduler's token file: discovery needs the operator token (docs/security.md).</param>
    public static async Task<PrometheusServer> StartAsync(string schedulerMetricsAddress, string tokenFile)
    {
        if (!File.Exists(Executable))
        {
            throw new FileNotFoundException($"{Executable} is missing: run scripts/install-prometheus.sh (or scripts/setup.sh)");
        }
        var directory = Directory.CreateTempSubdirectory("cc-prom-").FullName;
        // Scrape and rediscover every second so the test sees data within seconds; honor_labels
        // keeps the executors' own operator/instance labels (they equal the SD labels).
        var config = $"""
            global:
              scrape_interval: 1s
              scrape_timeout: 1s
              evaluation_interval: 1s
            scrape_configs:
              - job_name: concord
                honor_labels: true
                http_sd_configs:
                  - url: http://{schedulerMetricsAddress}/prometheus/targets
                    refresh_interval: 1s
                    authorization:
                      type: Bearer
                      credentials_file: {tokenFile}
            """;
        var configFile = Path.Combine(directory, "prometheus.yml");
        await File.WriteAllTextAsync(configFile, config);
        var port = ObservabilityCluster.FreePort();
        var process = Process.Start(new ProcessStartInfo(Executable,
        [
            $"--config.file={configFile}",
            $"--storage.tsdb.path={Path.Combine(directory, "data")}",
            $"--web.listen-address=127.0.0.1:{port}",
        ])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        })!;
        var server = new PrometheusServer(process, directory, $"http://127.0.0.1:{port}");
        process.OutputDataReceived += (_, e) => server.Append(e.Data);
        process.ErrorDataReceived += (_, e) => server.Append(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        await Eventually.UntilAsync(async () =>
        {
            if (process.HasExited)
            {
                throw new InvalidOperationException($"prometheus exited with {process.ExitCode}:\n{server.Output}");
            }
            using var ready = await Http.GetAsync($"{server.Address}/-/ready");
            return ready.IsSuccessStatusCode;
        }, TimeSpan.FromSeconds(ReadyTimeoutSeconds), () => $"prometheus at {server.Address} to be ready; output:\n{server.Output}");
        return server;
    }

    /// <summary>An instant query through the HTTP API: the result vector's (labels, value) pairs.</summary>
    public async Task<List<(Dictionary<string, string> Labels, double Value)>> QueryAsync(string promql)
    {
        var json = await Http.GetStringAsync($"{Address}/api/v1/query?query={Uri.EscapeDataString(promql)}");
        using var doc = JsonDocument.Parse(json);
        var results = new List<(Dictionary<string, string>, double)>();
        foreach (var item in doc.RootElement.GetProperty("data").GetProperty("result").EnumerateArray())
        {
            var labels = item.GetProperty("metric").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetString()!);
            var value = double.Parse(item.GetProperty("value")[1].GetString()!, System.Globalization.CultureInfo.InvariantCulture);
            results.Add((labels, value));
        }
        return results;
    }

    /// <summary>The active targets Prometheus discovered: (labels, health).</summary>
    public async Task<List<(Dictionary<string, string> Labels, string Health)>> TargetsAsync()
    {
        var json = await Http.GetStringAsync($"{Address}/api/v1/targets?state=active");
        using var doc = JsonDocument.Parse(json);
        return doc.RootElement.GetProperty("data").GetProperty("activeTargets").EnumerateArray()
            .Select(t => (t.GetProperty("labels").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetString()!), t.GetProperty("health").GetString()!))
            .ToList();
    }

    private void Append(string? line)
    {
        if (line is not null)
        {
            lock (_output)
            {
                _output.AppendLine(line);
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill();
            await _process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(10));
        }
        _process.Dispose();
        try
        {
            Directory.Delete(_directory, recursive: true);
        }
        catch (IOException)
        {
            // A file still held open is left in /tmp; the next test uses its own directory.
        }
    }
}
