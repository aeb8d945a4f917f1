using System.Diagnostics;
using Concord.Contracts;
using Concord.Contracts.Operator.V1;
using Google.Protobuf;
using Grpc.Core;

namespace Concord.Sdk.Tests;

/// <summary>
/// The exit-code policy of the top-level ComputationHost.Serve, checked on the real WordCount
/// program (built next to these tests) started as a process, as the executor starts operators.
/// </summary>
public sealed class OperatorProcessTests
{
    private static Process StartWordCount(string operatorName, string? address, string workDirectory)
    {
        var start = new ProcessStartInfo("dotnet")
        {
            ArgumentList = { Path.Combine(AppContext.BaseDirectory, "WordCount.dll"), operatorName },
            WorkingDirectory = workDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        start.Environment.Remove(ProtocolLimits.OperatorAddressVariable);
        start.Environment.Remove("CONCORD_OPERATOR_NAME");
        if (address is not null)
        {
            start.Environment[ProtocolLimits.OperatorAddressVariable] = address;
        }
        return Process.Start(start)!;
    }

    private static async Task<AsyncDuplexStreamingCall<ExecutorMessage, OperatorMessage>> ConnectAsync(string socketPath, Process process)
    {
        var deadline = DateTime.UtcNow + TestTimeouts.Step;
        while (!ExecutorHarness.Listening(socketPath))
        {
            if (process.HasExited)
            {
                Assert.Fail($"the operator exited early with {process.ExitCode}: {await process.StandardError.ReadToEndAsync()}");
            }
            if (DateTime.UtcNow > deadline)
            {
                process.Kill();
                Assert.Fail($"the operator did not bind {socketPath} within {TestTimeouts.Step}: " +
                    $"{await process.StandardOutput.ReadToEndAsync()} {await process.StandardError.ReadToEndAsync()}");
            }
            await Task.Delay(20);
        }
        return ExecutorHarness.OpenSession(socketPath).Call;
    }

    private static async Task<OperatorMessage> NextAsync(AsyncDuplexStreamingCall<ExecutorMessage, OperatorMessage> call)
    {
        while (true)
        {
            Assert.True(await call.ResponseStream.MoveNext(CancellationToken.None).WaitAsync(TestTimeouts.Step));
            if (call.ResponseStream.Current.MessageCase != OperatorMessage.MessageOneofCase.Log)
            {
                return call.ResponseStream.Current;
            }
        }
    }

    [Fact]
    public async Task Counter_process_counts_words_and_exits_0_after_Shutdown()
    {
        using var directory = new TempDirectory();
        var socket = Path.Combine(directory.Path, "op.sock");
        using var process = StartWordCount("counter", socket, directory.Path);
        try
        {
            using var call = await ConnectAsync(socket, process);
            var init = ExecutorHarness.DefaultInit();
            init.OperatorName = "counter";
            await call.RequestStream.WriteAsync(new ExecutorMessage { Init = init }).WaitAsync(TestTimeouts.Step);
            var metadata = await NextAsync(call);
            Assert.Equal("counter", metadata.Metadata.Metadata_.Name);
            Assert.Equal(0UL, (await NextAsync(call)).BatchDone.Seq);

            var batch = new ProcessBatch { Seq = 1 };
            foreach (var word in new[] { "x", "y", "x" })
            {
                batch.Records.Add(new ConcordRecord { Key = ByteString.CopyFromUtf8(word) });
            }
            await call.RequestStream.WriteAsync(new ExecutorMessage { ProcessBatch = batch }).WaitAsync(TestTimeouts.Step);
            var done = (await NextAsync(call)).BatchDone;
            Assert.Equal(["x=1", "y=1", "x=2"], done.Produced.Select(p => $"{p.Record.Key.ToStringUtf8()}={p.Record.Value.ToStringUtf8()}"));

            await call.RequestStream.WriteAsync(new ExecutorMessage { Shutdown = new Shutdown() }).WaitAsync(TestTimeouts.Step);
            Assert.False(await call.ResponseStream.MoveNext(CancellationToken.None).WaitAsync(TestTimeouts.Step));
            call.Dispose();
            await process.WaitForExitAsync().WaitAsync(TestTimeouts.Step);
            Assert.Equal(SessionOutcome.ExitCodeClean, process.ExitCode);
        }
        finally
        {
            Cleanup(process, directory);
        }
    }

    [Fact]
    public async Task Counter_process_exits_1_after_a_fatal_error()
    {
        using var directory = new TempDirectory();
        var socket = Path.Combine(directory.Path, "op.sock");
        using var process = StartWordCount("counter", socket, directory.Path);
        try
        {
            using var call = await ConnectAsync(socket, process);
            var init = ExecutorHarness.DefaultInit();
            init.RequiredCapabilities.Add("exactly-once.v1");
            await call.RequestStream.WriteAsync(new ExecutorMessage { Init = init }).WaitAsync(TestTimeouts.Step);
            var error = (await NextAsync(call)).Error;
            Assert.Contains("exactly-once.v1", error.Message);
            call.Dispose();

            await process.WaitForExitAsync().WaitAsync(TestTimeouts.Step);
            Assert.Equal(SessionOutcome.ExitCodeFatal, process.ExitCode);
            Assert.Contains("exactly-once.v1", await process.StandardError.ReadToEndAsync());
        }
        finally
        {
            Cleanup(process, directory);
        }
    }

    [Fact]
    public async Task Operator_started_without_an_address_exits_2_naming_the_variable()
    {
        using var directory = new TempDirectory();
        using var process = StartWordCount("counter", address: null, directory.Path);
        try
        {
            await process.WaitForExitAsync().WaitAsync(TestTimeouts.Step);
            Assert.Equal(SessionOutcome.ExitCodeUsage, process.ExitCode);
            Assert.Contains(ProtocolLimits.OperatorAddressVariable, await process.StandardError.ReadToEndAsync());
            Assert.Equal("", await process.StandardOutput.ReadToEndAsync());
        }
        finally
        {
            Cleanup(process, directory);
        }
    }

    private static void Cleanup(Process process, TempDirectory directory)
    {
        if (!process.HasExited)
        {
            process.Kill();
        }
        directory.Dispose();
    }
}
