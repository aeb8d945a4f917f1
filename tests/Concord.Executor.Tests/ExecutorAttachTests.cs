using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text;
using Concord.Contracts;
using Concord.Contracts.Scheduler.V1;
using Concord.Contracts.Types.V1;
using Concord.Executor.DataPlane;
using Google.Protobuf;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using static Concord.Executor.Tests.TestSupport;

namespace Concord.Executor.Tests;

/// <summary>
/// Attach mode (CONCORD_OPERATOR_ATTACH): the built executor as a process waits for an operator
/// process started separately (as a Kubernetes pod starts its operator container beside the
/// executor sidecar), with a fake scheduler and a real downstream data plane.
/// </summary>
public sealed class ExecutorAttachTests : IAsyncLifetime
{
    private const int Records = 200;

    /// <summary>A real Python operator (the repository's SDK) that produces its records in init.</summary>
    private const string ProducerScript = """
        import os
        import concord

        class Producer(concord.Computation):
            def metadata(self):
                return concord.Metadata(name="source", istreams=[], ostreams=["words"])

            def init(self, ctx):
                for i in range(int(os.environ["PRODUCE"])):
                    ctx.produce_record("words", b"w%d" % i, b"v")

        if __name__ == "__main__":
            concord.serve_computation(Producer())
        """;

    private readonly TempDirectory _dir = new();
    private readonly InboundQueue _sinkQueue = new(channelsMax: 4, channelCreditRows: 2_048, channelCreditBytes: 1 << 20);
    private ExecutorServer _sink = null!;
    private WebApplication _schedulerApp = null!;
    private FakeScheduler _scheduler = null!;
    private string _schedulerAddress = "";

    private string Socket => Path.Combine(_dir.Path, "shared", "operator.sock");

    public async Task InitializeAsync()
    {
        Directory.CreateDirectory(Path.Combine(_dir.Path, "shared"));
        _sink = await TestTelemetry.StartServerAsync(new DataPlaneIdentity("sink", 0, "inc-sink", new HashSet<string> { "words" }),
            _sinkQueue).WaitAsync(Bound);
        var table = new RoutingTable
        {
            Version = 1,
            KeyGroupCount = ProtocolLimits.KeyGroupCount,
            Streams =
            {
                new StreamRoute
                {
                    Stream = "words",
                    Readers =
                    {
                        new Reader
                        {
                            OperatorName = "sink",
                            Grouping = Grouping.GroupBy,
                            Instances = { new ReaderInstance { Index = 0, DataAddress = _sink.Address, Incarnation = "inc-sink", KeyGroupStart = 0, KeyGroupEnd = 128 } },
                        },
                    },
                },
            },
        };
        _scheduler = new FakeScheduler(table);
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.Services.AddGrpc();
        builder.Services.AddSingleton(_scheduler);
        builder.WebHost.ConfigureKestrel(k => k.Listen(System.Net.IPAddress.Loopback, 0, o => o.Protocols = HttpProtocols.Http2));
        _schedulerApp = builder.Build();
        _schedulerApp.MapGrpcService<FakeScheduler>();
        await _schedulerApp.StartAsync().WaitAsync(Bound);
        _schedulerAddress = _schedulerApp.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
    }

    public async Task DisposeAsync()
    {
        await _schedulerApp.StopAsync().WaitAsync(Bound);
        await _schedulerApp.DisposeAsync();
        await _sink.DisposeAsync();
        _dir.Dispose();
    }

    [DllImport("libc", SetLastError = true)]
    private static extern int kill(int pid, int signal);

    /// <summary>A child process with its output kept for assertion messages.</summary>
    private sealed class Child(Process process, StringBuilder output) : IDisposable
    {
        public Process Process { get; } = process;

        public string Output { get { lock (output) { return output.ToString(); } } }

        public async Task<int> ExitCodeAsync(TimeSpan bound)
        {
            await Process.WaitForExitAsync().WaitAsync(bound);
            return Process.ExitCode;
        }

        public void Dispose()
        {
            if (!Process.HasExited)
            {
                Process.Kill(entireProcessTree: true);
            }
            Process.Dispose();
        }

        public static Child Start(ProcessStartInfo psi)
        {
            psi.RedirectStandardOutput = true;
            psi.RedirectStandardError = true;
            psi.UseShellExecute = false;
            var output = new StringBuilder();
            var process = new Process { StartInfo = psi };
            process.OutputDataReceived += (_, e) => { lock (output) { output.AppendLine(e.Data); } };
            process.ErrorDataReceived += (_, e) => { lock (output) { output.AppendLine(e.Data); } };
            process.Start();
            process.BeginOutputReadLine();
            process.BeginErrorReadLine();
            return new Child(process, output);
        }
    }

    /// <summary>
    /// The executor in attach mode with the spec inline (CONCORD_SPEC_JSON), as the Kubernetes
    /// runtime starts it: the executable named in the spec does not exist here, so an executor
    /// that tried to start it would fail instead of attaching.
    /// </summary>
    private Child StartExecutor(int attachTimeoutMs)
    {
        var spec = new OperatorSpec { Name = "source", Instances = 1, Executable = "/operator/image/entrypoint", ExpectedOutputs = { "words" } };
        var psi = new ProcessStartInfo("dotnet");
        psi.ArgumentList.Add("exec");
        psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "Concord.Executor.dll"));
        psi.Environment["CONCORD_SCHEDULER_ADDRESS"] = _schedulerAddress;
        psi.Environment["CONCORD_OPERATOR_NAME"] = "source";
        psi.Environment["CONCORD_INSTANCE_INDEX"] = "0";
        psi.Environment["CONCORD_INCARNATION"] = "inc-source";
        psi.Environment["CONCORD_WORK_DIR"] = _dir.Path;
        psi.Environment.Remove("CONCORD_SPEC_FILE");
        psi.Environment[ExecutorOptions.SpecJsonVariable] = JsonFormatter.Default.Format(spec);
        psi.Environment[ExecutorOptions.OperatorAttachVariable] = Socket;
        psi.Environment[ExecutorLimits.OperatorAttachTimeoutVariable] = attachTimeoutMs.ToString(System.Globalization.CultureInfo.InvariantCulture);
        return Child.Start(psi);
    }

    private Child StartOperator()
    {
        var script = Path.Combine(_dir.Path, "producer.py");
        File.WriteAllText(script, ProducerScript);
        var psi = new ProcessStartInfo("/usr/bin/python3") { WorkingDirectory = _dir.Path };
        psi.ArgumentList.Add(script);
        psi.Environment["PYTHONPATH"] = Path.Combine(RepoPaths.Root, "sdk", "python");
        psi.Environment[ProtocolLimits.OperatorAddressVariable] = Socket;
        psi.Environment["PRODUCE"] = Records.ToString(System.Globalization.CultureInfo.InvariantCulture);
        return Child.Start(psi);
    }

    [Fact]
    public async Task Executor_attaches_to_an_operator_started_separately_routes_its_records_and_drains_it_on_SIGTERM()
    {
        // The executor first, as a pod starts its sidecar before the operator container.
        using var executor = StartExecutor(attachTimeoutMs: TestTimeouts.ProcessSeconds * 1000);
        using var op = StartOperator();

        var registration = await _scheduler.Registrations.Reader.ReadAsync().AsTask().WaitAsync(TestTimeouts.Process);
        Assert.Equal("source", registration.OperatorName);
        Assert.Equal(["words"], registration.Metadata.Outputs);
        Assert.Equal(0, registration.OperatorPid); // not its child: it has no pid to report

        var keys = new HashSet<string>(StringComparer.Ordinal);
        while (keys.Count < Records)
        {
            var item = await _sinkQueue.Reader.ReadAsync().AsTask().WaitAsync(Bound);
            foreach (var record in item.Records)
            {
                Assert.True(keys.Add(record.Key.ToStringUtf8()), $"duplicate {record.Key.ToStringUtf8()}");
            }
            _sinkQueue.Release(item.Source, item.Records.Length, item.Records.Sum(r => (long)r.Length));
        }
        Assert.Equal(Enumerable.Range(0, Records).Select(i => $"w{i}").ToHashSet(), keys);

        // Drain: Shutdown over the session ends the operator (exit 0), then the executor.
        Assert.Equal(0, kill(executor.Process.Id, 15));
        Assert.True(0 == await executor.ExitCodeAsync(Bound), executor.Output);
        Assert.True(0 == await op.ExitCodeAsync(Bound), op.Output);
        Assert.Contains("Attached to the operator serving", executor.Output);
        Assert.Contains("Executor stopped", executor.Output);
    }

    [Fact]
    public async Task Executor_whose_operator_never_appears_exits_1_within_the_bound_naming_the_socket()
    {
        const int attachTimeoutMs = 1_500;
        var started = Stopwatch.StartNew();
        using var executor = StartExecutor(attachTimeoutMs);

        Assert.True(1 == await executor.ExitCodeAsync(TestTimeouts.Process), executor.Output);
        var failure = await _scheduler.Failures.Reader.ReadAsync().AsTask().WaitAsync(Bound);
        Assert.Equal("source", failure.OperatorName);
        Assert.Contains($"no operator served {Socket} within {attachTimeoutMs} ms", failure.Message);
        Assert.Contains("CONCORD_OPERATOR_ADDRESS=", failure.Message);
        // Well within a process start plus the bound (not the default 120 s wait).
        Assert.True(started.Elapsed < TimeSpan.FromMilliseconds(attachTimeoutMs) + TestTimeouts.Process, started.Elapsed.ToString());
    }

    [Fact]
    public async Task Executor_whose_attached_operator_dies_reports_the_failure_and_exits_1()
    {
        using var executor = StartExecutor(attachTimeoutMs: TestTimeouts.ProcessSeconds * 1000);
        using var op = StartOperator();
        await _scheduler.Registrations.Reader.ReadAsync().AsTask().WaitAsync(TestTimeouts.Process);

        op.Process.Kill();
        Assert.True(1 == await executor.ExitCodeAsync(Bound), executor.Output);
        var failure = await _scheduler.Failures.Reader.ReadAsync().AsTask().WaitAsync(Bound);
        Assert.Contains("the operator", failure.Message);
    }

    /// <summary>
    /// A pod being stopped: Kubernetes signals the operator container first and the executor
    /// sidecar once the operator has exited (docs/kubernetes.md, "Stop order"). The Python
    /// operator dies on SIGTERM (its SDK does not catch it), which breaks the session; the
    /// executor's own SIGTERM follows within ExecutorLimits.AttachedOperatorStopWaitMs, so
    /// it drains and exits 0 without reporting a failure.
    /// </summary>
    [Fact]
    public async Task Executor_whose_attached_operator_exits_on_SIGTERM_and_which_is_signalled_next_drains_and_exits_0()
    {
        using var executor = StartExecutor(attachTimeoutMs: TestTimeouts.ProcessSeconds * 1000);
        using var op = StartOperator();
        await _scheduler.Registrations.Reader.ReadAsync().AsTask().WaitAsync(TestTimeouts.Process);
        var received = 0;
        while (received < Records)
        {
            var item = await _sinkQueue.Reader.ReadAsync().AsTask().WaitAsync(Bound);
            received += item.Records.Length;
            _sinkQueue.Release(item.Source, item.Records.Length, item.Records.Sum(r => (long)r.Length));
        }

        // Kubernetes' order: the main container, then (once it has exited) the sidecar.
        Assert.Equal(0, kill(op.Process.Id, 15));
        await op.ExitCodeAsync(Bound);
        // Kubelet signals the sidecar once it has seen the operator's exit: here, once the
        // executor has seen the session end (another process's state: polled, with a deadline).
        var deadline = DateTime.UtcNow + Bound;
        while (!executor.Output.Contains("waiting up to", StringComparison.Ordinal) && !executor.Process.HasExited && DateTime.UtcNow < deadline)
        {
            await Task.Delay(20);
        }
        Assert.True(executor.Output.Contains("waiting up to", StringComparison.Ordinal), executor.Output);
        Assert.Equal(0, kill(executor.Process.Id, 15));

        Assert.True(0 == await executor.ExitCodeAsync(Bound), executor.Output);
        Assert.Contains("SIGTERM followed", executor.Output);
        Assert.Contains("Executor stopped", executor.Output);
        Assert.False(_scheduler.Failures.Reader.TryRead(out var failure), failure?.Message);
    }
}
