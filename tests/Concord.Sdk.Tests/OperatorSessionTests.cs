using Concord.Contracts;
using Concord.Contracts.Operator.V1;
using Concord.Contracts.Types.V1;
using Google.Protobuf;
using static Concord.Sdk.Tests.ExecutorHarness;

namespace Concord.Sdk.Tests;

public sealed class OperatorSessionTests
{
    private static readonly DateTimeOffset Start = DateTimeOffset.FromUnixTimeMilliseconds(1_700_000_000_000);

    [Fact]
    public async Task Metadata_comes_first_and_init_products_arrive_in_BatchDone_seq_0()
    {
        var time = new ManualTimeProvider(Start);
        var computation = new ScriptedComputation
        {
            OnInit = ctx =>
            {
                Assert.Equal(1, ctx.InstanceIndex);
                Assert.Equal(3, ctx.InstanceCount);
                Assert.Equal("scripted", ctx.OperatorName);
                ctx.ProduceRecord("out", "k", "hello");
                ctx.SetTimer("tick", 42);
            },
        };
        await using var executor = await StartAsync(computation, time);

        await executor.SendInitAsync();
        var first = await executor.ReceiveAsync();
        Assert.Equal(OperatorMessage.MessageOneofCase.Metadata, first.MessageCase);
        Assert.Equal("scripted", first.Metadata.Metadata_.Name);
        Assert.Equal(["out", "other"], first.Metadata.Metadata_.Outputs);
        Assert.Equal(Grouping.GroupBy, first.Metadata.Metadata_.Inputs.Single().Grouping);
        Assert.Equal(ProtocolLimits.ProtocolVersion, first.Metadata.ProtocolVersion);
        Assert.Equal(Capabilities.All, first.Metadata.Capabilities);
        Assert.StartsWith("concord-dotnet/", first.Metadata.Sdk);

        var done = await executor.ReceiveBatchDoneAsync();
        Assert.Equal(0UL, done.Seq);
        var produced = Assert.Single(done.Produced);
        Assert.Equal("out", produced.Stream);
        Assert.Equal("k", produced.Record.Key.ToStringUtf8());
        Assert.Equal("hello", produced.Record.Value.ToStringUtf8());
        Assert.Equal(Start.ToUnixTimeMilliseconds(), produced.Record.EventTimeUnixMs);
        Assert.Equal(Start.ToUnixTimeMilliseconds() * 1000, produced.Record.IngestTimeUnixUs);
        var timer = Assert.Single(done.TimersSet);
        Assert.Equal(("tick", 42L), (timer.Key, timer.TimeUnixMs));
    }

    [Fact]
    public async Task Pipelined_batches_are_answered_in_order_with_their_products()
    {
        var trace = new TraceContext { TraceId = ByteString.CopyFrom(new byte[16]), ParentSpanId = ByteString.CopyFrom(new byte[8]) };
        var computation = new ScriptedComputation
        {
            OnRecord = (ctx, record) =>
            {
                ctx.ProduceRecord("out", record.Key, ByteString.CopyFromUtf8(record.Value.ToStringUtf8().ToUpperInvariant()));
                if (record.Value.ToStringUtf8() == "b2")
                {
                    ctx.ProduceRecord("other", record.Key, record.Value, eventTimeUnixMs: 7);
                }
            },
        };
        await using var executor = await StartAsync(computation);
        await executor.OpenAsync();

        const int batches = 5;
        for (ulong seq = 1; seq <= batches; seq++)
        {
            await executor.SendBatchAsync(seq,
            [
                Record($"k{seq}", $"a{seq}", eventTimeUnixMs: 1000 + (long)seq, ingestTimeUnixUs: 5000, trace: trace),
                Record($"k{seq}", $"b{seq}", eventTimeUnixMs: 2000 + (long)seq),
            ]);
        }

        for (ulong seq = 1; seq <= batches; seq++)
        {
            var done = await executor.ReceiveBatchDoneAsync();
            Assert.Equal(seq, done.Seq);
            Assert.Equal(seq == 2 ? 3 : 2, done.Produced.Count);
            var a = done.Produced[0];
            Assert.Equal(("out", $"k{seq}", $"A{seq}"), (a.Stream, a.Record.Key.ToStringUtf8(), a.Record.Value.ToStringUtf8()));
            Assert.Equal(1000 + (long)seq, a.Record.EventTimeUnixMs);
            Assert.Equal(5000, a.Record.IngestTimeUnixUs);
            Assert.Equal(trace, a.Record.Trace);
            var b = done.Produced[1];
            Assert.Equal($"B{seq}", b.Record.Value.ToStringUtf8());
            Assert.Equal(2000 + (long)seq, b.Record.EventTimeUnixMs);
            Assert.Null(b.Record.Trace);
            if (seq == 2)
            {
                Assert.Equal("other", done.Produced[2].Stream);
                Assert.Equal(7, done.Produced[2].Record.EventTimeUnixMs);
            }
        }
        var expected = new List<string> { "init" };
        for (var seq = 1; seq <= batches; seq++)
        {
            expected.Add($"record:a{seq}");
            expected.Add($"record:b{seq}");
        }
        Assert.Equal(expected, computation.Calls);
        Assert.Single(computation.CallbackThreadIds);
    }

    [Fact]
    public async Task Timers_set_come_back_in_timers_set_and_fired_timers_call_ProcessTimer_after_the_records_in_order()
    {
        var time = new ManualTimeProvider(Start);
        var computation = new ScriptedComputation
        {
            OnRecord = (ctx, record) => ctx.SetTimer(record.Key.ToStringUtf8(), 100),
            OnTimer = (ctx, key, _) => ctx.ProduceRecord("out", key, "fired"),
        };
        await using var executor = await StartAsync(computation, time);
        await executor.OpenAsync();

        await executor.SendBatchAsync(1, [Record("t1", "x"), Record("t2", "y")]);
        var first = await executor.ReceiveBatchDoneAsync();
        Assert.Equal([("t1", 100L), ("t2", 100L)], first.TimersSet.Select(t => (t.Key, t.TimeUnixMs)));

        await executor.SendBatchAsync(2, [Record("r", "z")],
            [new TimerFired { Key = "t2", TimeUnixMs = 100 }, new TimerFired { Key = "t1", TimeUnixMs = 101 }]);
        var second = await executor.ReceiveBatchDoneAsync();
        Assert.Equal(["init", "record:x", "record:y", "record:z", "timer:t2@100", "timer:t1@101"], computation.Calls);
        Assert.Equal(["t2", "t1"], second.Produced.Select(p => p.Record.Key.ToStringUtf8()));
        // Records produced in a timer have no cause: event time is "now".
        Assert.All(second.Produced, p => Assert.Equal(Start.ToUnixTimeMilliseconds(), p.Record.EventTimeUnixMs));
    }

    [Fact]
    public async Task Producing_to_an_undeclared_stream_is_a_fatal_error_naming_the_stream()
    {
        var computation = new ScriptedComputation { OnRecord = (ctx, _) => ctx.ProduceRecord("nowhere", "k", "v") };
        await using var executor = await StartAsync(computation);
        await executor.OpenAsync();

        await executor.SendBatchAsync(1, [Record("k", "v")]);
        var error = await executor.ReceiveErrorAsync();

        Assert.True(error.Fatal);
        Assert.Contains("'nowhere'", error.Message);
        Assert.Contains(nameof(UndeclaredStreamException), error.Message);
        Assert.Contains(".Output(\"nowhere\")", error.Message);
        await executor.AssertStreamCompletesAsync();
        Assert.Equal(SessionOutcome.ExitCodeFatal, (await executor.OutcomeAsync()).ExitCode);
    }

    [Fact]
    public async Task A_record_larger_than_max_record_bytes_is_a_fatal_error_naming_the_size()
    {
        var computation = new ScriptedComputation { OnRecord = (ctx, _) => ctx.ProduceRecord("out", "key", "12345678") };
        await using var executor = await StartAsync(computation);
        await executor.OpenAsync(DefaultInit(maxRecordBytes: 10));

        await executor.SendBatchAsync(1, [Record("k", "v")]);
        var error = await executor.ReceiveErrorAsync();

        Assert.True(error.Fatal);
        Assert.Contains("11 bytes", error.Message);
        Assert.Contains("limit of 10 bytes", error.Message);
        Assert.Contains(nameof(RecordTooLargeException), error.Message);
        Assert.Equal(SessionOutcome.ExitCodeFatal, (await executor.OutcomeAsync()).ExitCode);
    }

    [Fact]
    public async Task An_exception_in_user_code_is_a_fatal_error_with_its_type_and_stack_trace_and_Destroy_is_not_called()
    {
        var computation = new ScriptedComputation { OnRecord = (_, _) => throw new FormatException("bad word") };
        await using var executor = await StartAsync(computation);
        await executor.OpenAsync();

        await executor.SendBatchAsync(1, [Record("k", "v")]);
        var error = await executor.ReceiveErrorAsync();

        Assert.True(error.Fatal);
        Assert.Contains("ProcessRecord", error.Message);
        Assert.Contains("System.FormatException", error.Message);
        Assert.Contains("bad word", error.Message);
        Assert.Contains(nameof(ScriptedComputation), error.Detail); // the stack trace
        await executor.AssertStreamCompletesAsync();
        var outcome = await executor.OutcomeAsync();
        Assert.Equal(SessionOutcome.ExitCodeFatal, outcome.ExitCode);
        Assert.Contains("System.FormatException", outcome.Reason);
        Assert.DoesNotContain("destroy", computation.Calls);
    }

    [Fact]
    public async Task An_exception_in_Init_is_fatal_after_Metadata()
    {
        var computation = new ScriptedComputation { OnInit = _ => throw new InvalidDataException("no dictionary") };
        await using var executor = await StartAsync(computation);

        await executor.SendInitAsync();
        Assert.Equal(OperatorMessage.MessageOneofCase.Metadata, (await executor.ReceiveAsync()).MessageCase);
        var error = await executor.ReceiveErrorAsync();

        Assert.True(error.Fatal);
        Assert.Contains("Init threw System.IO.InvalidDataException: no dictionary", error.Message);
        Assert.Equal(SessionOutcome.ExitCodeFatal, (await executor.OutcomeAsync()).ExitCode);
    }

    [Fact]
    public async Task Shutdown_calls_Destroy_and_completes_the_stream_with_exit_code_0()
    {
        var computation = new ScriptedComputation();
        await using var executor = await StartAsync(computation);
        await executor.OpenAsync();

        await executor.SendShutdownAsync("scale down");
        await executor.AssertStreamCompletesAsync();

        Assert.Equal(["init", "destroy"], computation.Calls);
        var outcome = await executor.OutcomeAsync();
        Assert.Equal(SessionOutcome.ExitCodeClean, outcome.ExitCode);
        Assert.Contains("scale down", outcome.Reason);
    }

    [Fact]
    public async Task An_exception_in_Destroy_is_a_fatal_error()
    {
        var computation = new ScriptedComputation { OnDestroy = () => throw new IOException("disk full") };
        await using var executor = await StartAsync(computation);
        await executor.OpenAsync();

        await executor.SendShutdownAsync();
        var error = await executor.ReceiveErrorAsync();

        Assert.Contains("Destroy threw System.IO.IOException: disk full", error.Message);
        Assert.Equal(SessionOutcome.ExitCodeFatal, (await executor.OutcomeAsync()).ExitCode);
    }

    [Fact]
    public async Task An_Init_requiring_a_capability_the_SDK_lacks_is_rejected_with_an_error_naming_it()
    {
        var computation = new ScriptedComputation();
        await using var executor = await StartAsync(computation);
        var init = DefaultInit();
        // Not a capability of any SDK (keyed-state.v1, the example here before, is one now).
        init.Capabilities.Add("no-such-capability.v1");
        init.RequiredCapabilities.Add("no-such-capability.v1");

        await executor.SendInitAsync(init);
        var error = await executor.ReceiveErrorAsync();

        Assert.True(error.Fatal);
        Assert.Contains("[no-such-capability.v1]", error.Message);
        Assert.DoesNotContain(Capabilities.Timers + "]", error.Message.Split("supported")[0]);
        await executor.AssertStreamCompletesAsync();
        Assert.Empty(computation.Calls);
        Assert.Equal(SessionOutcome.ExitCodeFatal, (await executor.OutcomeAsync()).ExitCode);
    }

    [Fact]
    public async Task A_batch_with_a_skipped_seq_is_a_protocol_error()
    {
        await using var executor = await StartAsync(new ScriptedComputation());
        await executor.OpenAsync();

        await executor.SendBatchAsync(2, [Record("k", "v")]);
        var error = await executor.ReceiveErrorAsync();

        Assert.True(error.Fatal);
        Assert.Contains("seq 2 arrived, expected 1", error.Message);
    }

    [Fact]
    public async Task A_batch_before_Init_is_a_protocol_error()
    {
        await using var executor = await StartAsync(new ScriptedComputation());

        await executor.SendBatchAsync(1, [Record("k", "v")]);
        var error = await executor.ReceiveErrorAsync();

        Assert.Contains("before Init", error.Message);
    }

    [Fact]
    public async Task Stopping_the_host_runs_Destroy_and_ends_cleanly()
    {
        var computation = new ScriptedComputation();
        await using var executor = await StartAsync(computation);
        await executor.OpenAsync();

        executor.Stop();
        await executor.AssertStreamCompletesAsync();

        Assert.Equal(SessionOutcome.ExitCodeClean, (await executor.OutcomeAsync()).ExitCode);
        Assert.Equal(["init", "destroy"], computation.Calls);
    }

    [Fact]
    public async Task An_executor_that_closes_without_Shutdown_gets_Destroy_and_a_non_zero_exit()
    {
        var computation = new ScriptedComputation();
        await using var executor = await StartAsync(computation);
        await executor.OpenAsync();

        await executor.Call.RequestStream.CompleteAsync().WaitAsync(TestTimeouts.Step);

        await computation.Destroyed.Task.WaitAsync(TestTimeouts.Step);
        await executor.AssertStreamCompletesAsync();
        var outcome = await executor.OutcomeAsync();
        Assert.Equal(SessionOutcome.ExitCodeFatal, outcome.ExitCode);
        Assert.Contains("without sending Shutdown", outcome.Reason);
    }

    [Fact]
    public async Task Log_lines_reach_the_executor_with_their_level()
    {
        var computation = new ScriptedComputation { OnInit = ctx => ctx.Log("warming up", OperatorLogLevel.Warning) };
        await using var executor = await StartAsync(computation);

        await executor.SendInitAsync();
        Assert.Equal(OperatorMessage.MessageOneofCase.Metadata, (await executor.ReceiveAsync()).MessageCase);
        var log = await executor.ReceiveAsync();

        Assert.Equal(OperatorMessage.MessageOneofCase.Log, log.MessageCase);
        Assert.Equal(("warming up", Log.Types.Level.Warning), (log.Log.Message, log.Log.Level));
    }

    [Fact]
    public async Task Producing_outside_a_callback_is_refused()
    {
        IComputationContext? kept = null;
        var computation = new ScriptedComputation { OnInit = ctx => kept = ctx };
        await using var executor = await StartAsync(computation);
        await executor.OpenAsync();

        var e = Assert.Throws<InvalidOperationException>(() => kept!.ProduceRecord("out", "k", "v"));
        Assert.Contains("outside a callback", e.Message);
    }
}
