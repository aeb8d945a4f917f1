using System.Net.Sockets;
using System.Text.Json;
using Concord.Cli;
using Concord.EndToEnd.Tests.Harness;

namespace Concord.Observability.Tests;

/// <summary>
/// One real cluster shared by the tests of the "cluster" collection: word count (source →
/// counter ×2 → sink) running at a modest rate, the source sampling one record in
/// <see cref="SampleEvery"/> for tracing, and a sink wrapped in a shell script that writes a
/// line to stdout and one to stderr before exec-ing the real operator (for the logs tests).
/// Starting it once keeps the suite to seconds per test.
/// </summary>
public sealed class ObservabilityCluster : IAsyncLifetime
{
    /// <summary>Source sampling for these tests: often enough for traces within a second.</summary>
    public const int SampleEvery = 64;

    /// <summary>Records per second the source emits: enough for rates, little CPU.</summary>
    public const int SourceRate = 2_000;

    public const string StdoutMarker = "chatty sink says hello on stdout";
    public const string StderrMarker = "chatty sink complains on stderr";

    public static readonly TimeSpan FlowTimeout = TestTimeouts.Flow;

    private Cluster? _cluster;

    public Cluster Cluster => _cluster ?? throw new InvalidOperationException("the cluster did not start");

    /// <summary>"host:port" of the scheduler's HTTP/1.1 endpoint (/metrics, /prometheus/targets).</summary>
    public string SchedulerMetricsAddress { get; private set; } = "";

    public string CountsFile => Path.Combine(Cluster.Home, "counts.csv");

    public async Task InitializeAsync()
    {
        _cluster = await Cluster.StartAsync();
        using (var info = JsonDocument.Parse(await File.ReadAllTextAsync(Path.Combine(Cluster.Home, "scheduler.json"))))
        {
            SchedulerMetricsAddress = info.RootElement.GetProperty("metricsAddress").GetString()!;
        }

        var wrapper = Path.Combine(Cluster.Home, "chatty-sink.sh");
        await File.WriteAllTextAsync(wrapper, $"#!/bin/sh\necho \"{StdoutMarker}\"\necho \"{StderrMarker}\" >&2\nexec \"{Repo.WordCountExe}\" \"$@\"\n");
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(wrapper, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }
        var sink = Specs.Sink(CountsFile);
        sink.Executable = wrapper;
        var source = Specs.Source(rate: SourceRate);
        source.Environment["CONCORD_TRACE_SAMPLE_EVERY"] = SampleEvery.ToString();

        // Readers before writers, as in the demo.
        await Cluster.DeployAsync(sink);
        await Cluster.DeployAsync(Specs.Counter(instances: 2));
        await Cluster.DeployAsync(source);
        await Eventually.UntilAsync(() => Csv.Lines(CountsFile) > 1_000, FlowTimeout,
            () => $"counts flowing into {CountsFile} (have {Csv.Lines(CountsFile)})\n{Cluster.InstanceLogs("sink")}");
    }

    public async Task DisposeAsync()
    {
        if (_cluster is not null)
        {
            await _cluster.DisposeAsync();
        }
    }

    /// <summary>Runs the CLI in-process against this cluster's scheduler.</summary>
    public Task<CliRun> CliAsync(params string[] args) => RunCliAsync(["--scheduler", Cluster.Address, "--home", Cluster.Home, .. args]);

    /// <summary>Runs the CLI in-process with an empty environment (nothing leaks in from the test host).</summary>
    public static async Task<CliRun> RunCliAsync(string[] args, TimeSpan? timeout = null)
    {
        using var output = new StringWriter();
        using var error = new StringWriter();
        using var stop = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(30));
        var code = await ConcordCli.RunAsync(args, output, error, _ => null, interactive: false, TimeProvider.System, stop.Token)
            .WaitAsync(TimeSpan.FromSeconds(60));
        return new CliRun(code, output.ToString(), error.ToString());
    }

    /// <summary>A TCP port free right now on 127.0.0.1 (for servers that cannot report the port they bound).</summary>
    public static int FreePort()
    {
        using var listener = new TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        return ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
    }
}

/// <summary>What one CLI run printed and returned.</summary>
public sealed record CliRun(int ExitCode, string Out, string Err)
{
    public override string ToString() => $"exit {ExitCode}\n--- stdout\n{Out}\n--- stderr\n{Err}";
}

[CollectionDefinition(Name)]
public sealed class ClusterCollection : ICollectionFixture<ObservabilityCluster>
{
    public const string Name = "observability cluster";
}
