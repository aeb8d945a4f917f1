using System.Diagnostics;
using System.Text;
using Concord.Contracts.DataPlane.V1;
using Concord.Contracts.Types.V1;
using Concord.Executor.DataPlane;
using Google.Protobuf;
using static Concord.Executor.Tests.TestSupport;

namespace Concord.Executor.Tests.Security;

/// <summary>
/// The built executor with the conformance suite's C# test operator in its "backpressure" case,
/// which blocks in its first callback: the executor fails the instance once the batch is late.
/// </summary>
public sealed class LivenessProcessTests : IAsyncLifetime
{
    private const int BatchTimeoutMs = 1_500;
    private readonly TempDirectory _dir = new();
    private readonly DataPlaneClients _clients = new();
    private FakeSchedulerHost _scheduler = null!;

    public async Task InitializeAsync() => _scheduler = await FakeSchedulerHost.StartAsync(
        new FakeScheduler(new Contracts.Scheduler.V1.RoutingTable { Version = 1, KeyGroupCount = Contracts.ProtocolLimits.KeyGroupCount }));

    public async Task DisposeAsync()
    {
        _clients.Dispose();
        await _scheduler.DisposeAsync();
        _dir.Dispose();
    }

    [Fact]
    public async Task An_operator_that_stops_answering_fails_the_instance_with_the_batch_and_the_bound_and_exit_1()
    {
        var testOperator = RepoPaths.Require(RepoPaths.Artifact("Concord.TestOperator", "Concord.TestOperator"),
            "build tests/operators/dotnet/Concord.TestOperator (dotnet build Concord.sln)");
        var spec = new OperatorSpec
        {
            Name = "hung",
            Instances = 1,
            Executable = testOperator,
            Environment =
            {
                ["CONFORMANCE_CASE"] = "backpressure", // blocks its first record until a file appears (it never does here)
                [ExecutorLimits.BatchAnswerTimeoutVariable] = BatchTimeoutMs.ToString(System.Globalization.CultureInfo.InvariantCulture),
            },
        };
        var specFile = _dir.Write("spec.json", JsonFormatter.Default.Format(spec));
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add("exec");
        psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "Concord.Executor.dll"));
        psi.Environment["CONCORD_SCHEDULER_ADDRESS"] = _scheduler.Address;
        psi.Environment["CONCORD_OPERATOR_NAME"] = "hung";
        psi.Environment["CONCORD_INSTANCE_INDEX"] = "0";
        psi.Environment["CONCORD_INCARNATION"] = "inc-hung";
        psi.Environment["CONCORD_WORK_DIR"] = _dir.Path;
        psi.Environment["CONCORD_SPEC_FILE"] = specFile;
        var output = new StringBuilder();
        using var executor = new Process { StartInfo = psi };
        executor.OutputDataReceived += (_, e) => { lock (output) { output.AppendLine(e.Data); } };
        executor.ErrorDataReceived += (_, e) => { lock (output) { output.AppendLine(e.Data); } };
        executor.Start();
        executor.BeginOutputReadLine();
        executor.BeginErrorReadLine();
        try
        {
            var registration = await _scheduler.Scheduler.Registrations.Reader.ReadAsync().AsTask().WaitAsync(TestTimeouts.Process);

            // One record: the operator blocks in its callback and never answers batch 1.
            using var call = new Contracts.DataPlane.V1.DataPlane.DataPlaneClient(_clients.Get(registration.DataAddress)).Push();
            await call.RequestStream.WriteAsync(new DataFrame
            {
                Open = new ChannelOpen { Stream = "in", OperatorName = "hung", InstanceIndex = 0, Sender = "test/0", ReceiverIncarnation = "inc-hung" },
            }).WaitAsync(Bound);
            Assert.True(await call.ResponseStream.MoveNext(CancellationToken.None).WaitAsync(Bound));
            await call.RequestStream.WriteAsync(new DataFrame { Batch = new RecordBatch { Records = { Record("k") } } }).WaitAsync(Bound);

            var failure = await _scheduler.Scheduler.Failures.Reader.ReadAsync().AsTask().WaitAsync(TestTimeouts.Process);
            Assert.Equal("hung", failure.OperatorName);
            Assert.Contains($"operator did not answer batch 1 within {BatchTimeoutMs} ms", failure.Message);
            await executor.WaitForExitAsync().WaitAsync(TestTimeouts.Process);
            string text;
            lock (output)
            {
                text = output.ToString();
            }
            Assert.True(executor.ExitCode == 1, text);
        }
        finally
        {
            if (!executor.HasExited)
            {
                executor.Kill(entireProcessTree: true);
            }
        }
    }
}
