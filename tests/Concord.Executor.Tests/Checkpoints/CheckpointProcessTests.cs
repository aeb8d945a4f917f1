using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text;
using Concord.Contracts;
using Concord.Contracts.Scheduler.V1;
using Concord.Contracts.Types.V1;
using Concord.Executor.DataPlane;
using Google.Protobuf;
using static Concord.Executor.Tests.Checkpoints.CheckpointTestSupport;
using static Concord.Executor.Tests.TestSupport;

namespace Concord.Executor.Tests.Checkpoints;

/// <summary>The built executor as a process with a guarantee: restore at start, WatchCheckpoints, barrier downstream, acknowledgement.</summary>
public sealed class CheckpointProcessTests : IAsyncLifetime
{
    private readonly TempDirectory _dir = new();
    private readonly InboundQueue _sinkQueue = new(channelsMax: 4, channelCreditRows: 2_048, channelCreditBytes: 1 << 20);
    private ExecutorServer _sink = null!;
    private FakeSchedulerHost _scheduler = null!;

    public async Task InitializeAsync()
    {
        _sinkQueue.UseGate(reader => reader); // barriers in, as received
        _sink = await TestTelemetry.StartServerAsync(new DataPlaneIdentity("sink", 0, "inc-sink", new HashSet<string> { "words" }), _sinkQueue).WaitAsync(Bound);
        var table = RoutingTests.Table("words", Grouping.GroupBy, 1, reader: "sink");
        table.Streams[0].Readers[0].Instances[0].DataAddress = _sink.Address;
        table.Streams[0].Readers[0].Instances[0].Incarnation = "inc-sink";
        _scheduler = await FakeSchedulerHost.StartAsync(new FakeScheduler(table));
    }

    public async Task DisposeAsync()
    {
        await _scheduler.DisposeAsync();
        await _sink.DisposeAsync();
        _dir.Dispose();
    }

    [DllImport("libc", SetLastError = true)]
    private static extern int kill(int pid, int signal);

    [Fact]
    public async Task A_generator_with_exactly_once_restores_registers_the_checkpoint_and_sends_barriers_after_its_records()
    {
        var restoreFrom = Directory.CreateDirectory(_dir.Combine("checkpoints", "chk-4")).FullName;
        var words = _dir.Write("words.txt", "alpha\nbeta\ngamma\n");
        var spec = new OperatorSpec
        {
            Name = "source",
            Instances = 1,
            ExpectedOutputs = { "words" },
            Delivery = DeliveryGuarantee.DeliveryExactlyOnce,
            Builtin = new BuiltinOperator { Kind = "generator", Options = { ["dictionary"] = words, ["count"] = "2000" } },
        };
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add("exec");
        psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "Concord.Executor.dll"));
        psi.Environment[ExecutorOptions.SchedulerAddressVariable] = _scheduler.Address;
        psi.Environment[ExecutorOptions.OperatorNameVariable] = "source";
        psi.Environment[ExecutorOptions.InstanceIndexVariable] = "0";
        psi.Environment[ExecutorOptions.IncarnationVariable] = "inc-source";
        psi.Environment[ExecutorOptions.WorkDirVariable] = _dir.Path;
        psi.Environment[ExecutorOptions.SpecFileVariable] = _dir.Write("spec.json", JsonFormatter.Default.Format(spec));
        psi.Environment[ExecutorOptions.RestoreCheckpointVariable] = restoreFrom;
        var output = new StringBuilder();
        using var process = new Process { StartInfo = psi };
        process.OutputDataReceived += (_, e) => { lock (output) { output.AppendLine(e.Data); } };
        process.ErrorDataReceived += (_, e) => { lock (output) { output.AppendLine(e.Data); } };
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        try
        {
            var registration = await _scheduler.Scheduler.Registrations.Reader.ReadAsync().AsTask().WaitAsync(Bound);
            Assert.Equal(4UL, registration.RestoredCheckpointId);

            await _scheduler.Scheduler.CheckpointCommands.Writer.WriteAsync(Begin(5, _dir.Combine("checkpoints", "chk-5")));
            var seen = await ReadThroughBarrierAsync(_sinkQueue);
            Assert.Equal("barrier 5", seen[^1]);
            Assert.All(seen[..^1], key => Assert.Contains(key, new[] { "alpha", "beta", "gamma" }));

            var (ack, _) = await _scheduler.Scheduler.Acknowledgements.Reader.ReadAsync().AsTask().WaitAsync(Bound);
            Assert.Equal((5UL, "source", 0, "inc-source", ""), (ack.CheckpointId, ack.OperatorName, ack.InstanceIndex, ack.Incarnation, ack.Error));
            // The generator keeps its position as an operator snapshot, written before the barrier went on.
            var snapshot = _dir.Combine("checkpoints", "chk-5", "source", "0.operator");
            Assert.True(File.Exists(snapshot), $"no operator snapshot at {snapshot}");
            // Written: that snapshot, the keyed state's manifest and its key-group files (the
            // generator's durable timer), and nothing else under the checkpoint root.
            var manifest = Concord.Hosting.Checkpoints.CheckpointLayout.ManifestPath(_dir.Combine("checkpoints", "chk-5"), "source", 0);
            Assert.True(File.Exists(manifest), $"no state manifest at {manifest}");
            var files = Directory.EnumerateFiles(_dir.Combine("checkpoints"), "*", SearchOption.AllDirectories).ToList();
            Assert.Equal(files.Sum(f => new FileInfo(f).Length), ack.WrittenBytes);

            Assert.Equal(0, kill(process.Id, 15));
            await process.WaitForExitAsync().WaitAsync(Bound);
            string text;
            lock (output)
            {
                text = output.ToString();
            }
            Assert.True(process.ExitCode == 0, text);
        }
        finally
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
            }
        }
    }
}
