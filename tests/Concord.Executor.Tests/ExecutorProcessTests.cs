using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text;
using System.Threading.Channels;
using Concord.Contracts;
using Concord.Contracts.Scheduler.V1;
using Concord.Contracts.Types.V1;
using Concord.Executor.DataPlane;
using Concord.Executor.Records;
using Google.Protobuf;
using Grpc.Core;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using static Concord.Executor.Tests.TestSupport;

namespace Concord.Executor.Tests;

/// <summary>The built executor as a process, with a fake scheduler and a real downstream data plane.</summary>
public sealed class ExecutorProcessTests : IAsyncLifetime
{
    private readonly TempDirectory _dir = new();
    private readonly InboundQueue _sinkQueue = new(channelsMax: 4, channelCreditRows: 2_048, channelCreditBytes: 1 << 20);
    private ExecutorServer _sink = null!;
    private WebApplication _schedulerApp = null!;
    private FakeScheduler _scheduler = null!;
    private string _schedulerAddress = "";

    public async Task InitializeAsync()
    {
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

    private sealed class Executor(Process process, StringBuilder output) : IDisposable
    {
        public Process Process { get; } = process;

        public string Output { get { lock (output) { return output.ToString(); } } }

        public async Task<int> ExitCodeAsync()
        {
            await Process.WaitForExitAsync().WaitAsync(Bound);
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
    }

    private Executor Start(OperatorSpec? spec, bool withSpec = true)
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add("exec");
        psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "Concord.Executor.dll"));
        psi.Environment["CONCORD_SCHEDULER_ADDRESS"] = _schedulerAddress;
        psi.Environment["CONCORD_OPERATOR_NAME"] = spec?.Name ?? "source";
        psi.Environment["CONCORD_INSTANCE_INDEX"] = "0";
        psi.Environment["CONCORD_INCARNATION"] = "inc-source";
        psi.Environment["CONCORD_WORK_DIR"] = _dir.Path;
        if (withSpec && spec is not null)
        {
            var specFile = Path.Combine(_dir.Path, "spec.json");
            File.WriteAllText(specFile, JsonFormatter.Default.Format(spec));
            psi.Environment["CONCORD_SPEC_FILE"] = specFile;
        }
        var output = new StringBuilder();
        var process = new Process { StartInfo = psi };
        process.OutputDataReceived += (_, e) => { lock (output) { output.AppendLine(e.Data); } };
        process.ErrorDataReceived += (_, e) => { lock (output) { output.AppendLine(e.Data); } };
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return new Executor(process, output);
    }

    private OperatorSpec Generator(long count)
    {
        var words = Path.Combine(_dir.Path, "words.txt");
        File.WriteAllLines(words, ["alpha", "beta", "gamma"]);
        return new OperatorSpec
        {
            Name = "source",
            Instances = 1,
            ExpectedOutputs = { "words" },
            Builtin = new BuiltinOperator { Kind = "generator", Options = { ["dictionary"] = words, ["count"] = count.ToString(System.Globalization.CultureInfo.InvariantCulture) } },
        };
    }

    [Fact]
    public async Task Generator_executor_registers_routes_its_records_downstream_and_drains_on_SIGTERM()
    {
        using var executor = Start(Generator(count: 5_000));

        var registration = await _scheduler.Registrations.Reader.ReadAsync().AsTask().WaitAsync(Bound);
        Assert.Equal("source", registration.OperatorName);
        Assert.Equal("inc-source", registration.Incarnation);
        Assert.Equal(["words"], registration.Metadata.Outputs);
        Assert.StartsWith("127.0.0.1:", registration.DataAddress);

        var received = 0;
        while (received < 5_000)
        {
            var item = await _sinkQueue.Reader.ReadAsync().AsTask().WaitAsync(Bound);
            Assert.All(item.Records, r => Assert.Contains(r.Key.ToStringUtf8(), new[] { "alpha", "beta", "gamma" }));
            received += item.Records.Length;
            _sinkQueue.Release(item.Source, item.Records.Length, item.Records.Sum(r => (long)r.Length));
        }
        Assert.Equal(5_000, received);

        Assert.Equal(0, kill(executor.Process.Id, 15));
        Assert.True(0 == await executor.ExitCodeAsync(), executor.Output);
        Assert.Contains("Executor stopped", executor.Output);
    }

    [Fact]
    public async Task Executor_whose_operator_cannot_start_reports_the_failure_and_exits_1()
    {
        using var executor = Start(new OperatorSpec { Name = "broken", Instances = 1, Executable = "/nonexistent/operator" });

        Assert.True(1 == await executor.ExitCodeAsync(), executor.Output);
        var failure = await _scheduler.Failures.Reader.ReadAsync().AsTask().WaitAsync(Bound);
        Assert.Equal("broken", failure.OperatorName);
        Assert.Contains("'/nonexistent/operator' does not exist", failure.Message);
    }

    [Fact]
    public async Task Executor_without_a_spec_file_exits_2_naming_the_variable()
    {
        using var executor = Start(spec: null, withSpec: false);
        Assert.Equal(2, await executor.ExitCodeAsync());
        Assert.Contains("CONCORD_SPEC_FILE is not set", executor.Output);
    }
}
