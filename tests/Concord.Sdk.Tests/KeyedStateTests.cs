using System.Globalization;
using System.Text;
using Concord.Contracts.Operator.V1;
using Concord.Contracts.Types.V1;
using Google.Protobuf;
using static Concord.Sdk.Tests.ExecutorHarness;

namespace Concord.Sdk.Tests;

/// <summary>Keyed state in the C# SDK: shipped states, the overlay of its own changes, mutations, keyed timers.</summary>
public sealed class KeyedStateTests
{
    private static OperatorMetadata WithCount() =>
        new MetadataBuilder("scripted").Input("in", Grouping.GroupBy).Output("out").Output("other").State("count");

    /// <summary>count += 1 for the key in scope, produced as (key, count).</summary>
    private static void Count(IComputationContext ctx)
    {
        var state = ctx.State("count");
        var stored = state.Get();
        var count = (stored is null ? 0 : int.Parse(Encoding.ASCII.GetString(stored), CultureInfo.InvariantCulture)) + 1;
        state.Set(Encoding.ASCII.GetBytes(count.ToString(CultureInfo.InvariantCulture)));
        ctx.ProduceRecord("out", ctx.StateKey.Span, Encoding.ASCII.GetBytes(count.ToString(CultureInfo.InvariantCulture)));
    }

    private static ExecutorMessage Batch(ulong seq, ulong asOf, IEnumerable<ConcordRecord> records, params (string Key, string Value)[] states)
    {
        var batch = new ProcessBatch { Seq = seq, StateAsOfSeq = asOf };
        batch.Records.AddRange(records);
        foreach (var (key, value) in states)
        {
            batch.States.Add(new KeyState { Key = ByteString.CopyFromUtf8(key), Values = { new StateValue { Name = "count", Value = ByteString.CopyFromUtf8(value) } } });
        }
        return new ExecutorMessage { ProcessBatch = batch };
    }

    private static string Values(BatchDone done) => string.Join(",", done.Produced.Select(p => $"{p.Record.Key.ToStringUtf8()}={p.Record.Value.ToStringUtf8()}"));

    private static string Mutations(BatchDone done) => string.Join(",", done.StateMutations.Select(m => $"{m.Key.ToStringUtf8()}/{m.Name}={(m.Clear ? "clear" : m.Value.ToStringUtf8())}"));

    [Fact]
    public async Task Callbacks_see_their_own_earlier_writes_across_pipelined_batches()
    {
        var computation = new ScriptedComputation { MetadataValue = WithCount(), OnRecord = (ctx, _) => Count(ctx) };
        await using var executor = await StartAsync(computation);
        await executor.OpenAsync();

        // Batches 1 and 2 both carry state as of 0 (nothing applied yet); batch 3 carries a=2
        // as of 1, but batch 2's change (a=3) is not in it yet; batch 4 is as of 3.
        await executor.SendAsync(Batch(1, 0, [Record("a", "x"), Record("b", "x"), Record("a", "x")]));
        await executor.SendAsync(Batch(2, 0, [Record("a", "x")]));
        await executor.SendAsync(Batch(3, 1, [Record("a", "x"), Record("b", "x")], ("a", "2"), ("b", "1")));
        await executor.SendAsync(Batch(4, 3, [Record("a", "x")], ("a", "4")));

        var b1 = await executor.ReceiveBatchDoneAsync();
        Assert.Equal("a=1,b=1,a=2", Values(b1));
        Assert.Equal("a/count=2,b/count=1", Mutations(b1)); // coalesced to the last change per key and name
        Assert.Equal("a=3", Values(await executor.ReceiveBatchDoneAsync()));
        Assert.Equal("a=4,b=2", Values(await executor.ReceiveBatchDoneAsync()));
        Assert.Equal("a=5", Values(await executor.ReceiveBatchDoneAsync()));
    }

    [Fact]
    public async Task Clear_removes_the_value_for_later_callbacks_and_returns_a_clear_mutation()
    {
        var seen = new List<string>();
        var computation = new ScriptedComputation
        {
            MetadataValue = WithCount(),
            OnRecord = (ctx, record) =>
            {
                var state = ctx.State("count");
                seen.Add(state.Get() is { } v ? Encoding.ASCII.GetString(v) : "none");
                if (record.Value.ToStringUtf8() == "clear")
                {
                    state.Clear();
                }
            },
        };
        await using var executor = await StartAsync(computation);
        await executor.OpenAsync();

        await executor.SendAsync(Batch(1, 0, [Record("a", "clear"), Record("a", "x")], ("a", "7")));
        var done = await executor.ReceiveBatchDoneAsync();
        await executor.SendAsync(Batch(2, 0, [Record("a", "x")], ("a", "7"))); // the executor has not applied batch 1 yet
        await executor.ReceiveBatchDoneAsync();

        Assert.Equal("a/count=clear", Mutations(done));
        Assert.Equal(["7", "none", "none"], seen);
    }

    [Fact]
    public async Task An_undeclared_state_name_is_a_fatal_error_naming_the_declared_ones()
    {
        var computation = new ScriptedComputation { MetadataValue = WithCount(), OnRecord = (ctx, _) => ctx.State("total").Get() };
        await using var executor = await StartAsync(computation);
        await executor.OpenAsync();

        await executor.SendAsync(Batch(1, 0, [Record("a", "x")]));
        var error = await executor.ReceiveErrorAsync();

        Assert.True(error.Fatal);
        Assert.Contains(nameof(UndeclaredStateException), error.Message);
        Assert.Contains("state 'total' is not declared by this operator (declared: [count])", error.Message);
        Assert.Contains(".State(\"total\")", error.Message);
    }

    [Fact]
    public async Task A_value_over_max_state_value_bytes_is_a_fatal_error_naming_the_size()
    {
        var computation = new ScriptedComputation { MetadataValue = WithCount(), OnRecord = (ctx, _) => ctx.State("count").Set(new byte[11]) };
        await using var executor = await StartAsync(computation);
        var init = DefaultInit();
        init.MaxStateValueBytes = 10;
        await executor.OpenAsync(init);

        await executor.SendAsync(Batch(1, 0, [Record("a", "x")]));
        var error = await executor.ReceiveErrorAsync();

        Assert.Contains(nameof(StateValueTooLargeException), error.Message);
        Assert.Contains("11 bytes", error.Message);
        Assert.Contains("limit of 10 bytes", error.Message);
    }

    [Fact]
    public async Task A_timer_set_for_a_record_carries_its_key_and_fires_with_that_keys_state()
    {
        var timerScope = new List<string>();
        var computation = new ScriptedComputation
        {
            MetadataValue = WithCount(),
            OnRecord = (ctx, _) => ctx.SetTimer("flush", 100),
            OnTimer = (ctx, _, _) => timerScope.Add($"{Encoding.UTF8.GetString(ctx.StateKey.Span)}:{Encoding.ASCII.GetString(ctx.State("count").Get() ?? [])}"),
        };
        await using var executor = await StartAsync(computation);
        var init = await executor.OpenAsync();

        await executor.SendAsync(Batch(1, 0, [Record("k1", "x"), Record("k2", "x")]));
        var done = await executor.ReceiveBatchDoneAsync();
        Assert.Equal(["k1", "k2"], done.TimersSet.Select(t => t.StateKey.ToStringUtf8()));

        var fire = Batch(2, 1, [], ("k2", "9"));
        fire.ProcessBatch.TimersFired.Add(new TimerFired { Key = "flush", TimeUnixMs = 100, StateKey = ByteString.CopyFromUtf8("k2") });
        await executor.SendAsync(fire);
        await executor.ReceiveBatchDoneAsync();
        Assert.Equal(["k2:9"], timerScope);
    }

    [Fact]
    public async Task A_stateless_operator_sets_timers_without_a_state_key_as_before()
    {
        var computation = new ScriptedComputation { OnRecord = (ctx, _) => ctx.SetTimer("flush", 100) };
        await using var executor = await StartAsync(computation);
        await executor.OpenAsync();

        await executor.SendBatchAsync(1, [Record("k1", "x")]);
        var timer = Assert.Single((await executor.ReceiveBatchDoneAsync()).TimersSet);
        Assert.True(timer.StateKey.IsEmpty);
    }

    [Fact]
    public async Task State_further_behind_than_the_batches_in_flight_is_a_protocol_error()
    {
        var computation = new ScriptedComputation { MetadataValue = WithCount(), OnRecord = (ctx, _) => Count(ctx) };
        await using var executor = await StartAsync(computation);
        var init = DefaultInit();
        init.MaxBatchesInFlight = 2;
        await executor.OpenAsync(init);

        await executor.SendAsync(Batch(1, 0, [Record("a", "x")]));
        await executor.SendAsync(Batch(2, 0, [Record("a", "x")]));
        await executor.SendAsync(Batch(3, 0, [Record("a", "x")]));
        await executor.ReceiveBatchDoneAsync();
        await executor.ReceiveBatchDoneAsync();
        var error = await executor.ReceiveErrorAsync();

        Assert.Contains("ProcessBatch 3 carries state as of batch 0, more than max_batches_in_flight (2) behind", error.Message);
    }

    [Theory]
    [InlineData("")]
    [InlineData("has space")]
    [InlineData("concord.timers")]
    public void Invalid_state_names_are_refused_naming_the_rule(string name)
    {
        var e = Assert.Throws<ArgumentException>(() => new MetadataBuilder("op").State(name));
        Assert.Contains(Concord.Contracts.ProtocolLimits.StreamNameRule, e.Message);
    }

    [Fact]
    public void A_state_declared_twice_is_refused()
    {
        var e = Assert.Throws<ArgumentException>(() => new MetadataBuilder("op").State("count").State("count"));
        Assert.Contains("state 'count' is declared twice", e.Message);
        Assert.Equal(["count"], ((OperatorMetadata)new MetadataBuilder("op").State("count")).States.Select(s => s.Name));
    }
}
