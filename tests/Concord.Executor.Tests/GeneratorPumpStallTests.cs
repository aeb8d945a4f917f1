using Concord.Contracts.Operator.V1;
using Concord.Contracts.Types.V1;
using Concord.Executor.Builtins;
using Concord.Executor.DataPlane;
using Concord.Executor.Records;
using Concord.Executor.Routing;
using Concord.Executor.Session;
using Microsoft.Extensions.Logging.Abstractions;
using Concord.Executor.Timers;
using static Concord.Executor.Tests.TestSupport;

namespace Concord.Executor.Tests;

/// <summary>
/// A rate-limited generator drives itself by timers through the pump; a lost timer wake-up
/// would stop it silently (no error, nothing in flight). Runs it through the real pump,
/// router, outbound channel and data-plane server for a few seconds and checks it never stops.
/// </summary>
public sealed class GeneratorPumpStallTests
{
    /// <summary>How long the generator runs, in seconds.</summary>
    private const int RunSeconds = 4;

    /// <summary>Longest pause in production accepted, in seconds: generous for a loaded machine, far below a stall.</summary>
    private const int GapSecondsMax = 3;

    [Fact]
    public async Task A_generator_at_a_rate_keeps_producing_through_pump_router_and_data_plane()
    {
        var dir = ShortTempDir();
        var words = Path.Combine(dir, "words.txt");
        File.WriteAllLines(words, ["one", "two", "three"]);
        var spec = new OperatorSpec { Name = "gen", Builtin = new BuiltinOperator { Kind = "generator", Options = { ["dictionary"] = words, ["rate"] = "200000" } }, ExpectedOutputs = { "words" } };
        var generator = new GeneratorOperator(spec, dir, TimeProvider.System);
        await generator.StartAsync(new Init(), CancellationToken.None);
        var identity = new DataPlaneIdentity("counter", 0, "inc-1", new HashSet<string> { "words" });
        var queue = new InboundQueue();
        await using var server = await TestTelemetry.StartServerAsync(identity, queue);
        using var clients = new DataPlaneClients();
        var metrics = TestTelemetry.Metrics();
        var tracing = TestTelemetry.Tracing(metrics);
        await using var router = new Router(new StreamTable(["words"]),
            (stream, reader, index) => new OutboundChannel(stream, reader, index, "gen/0", clients, NullLogger.Instance, TimeProvider.System, metrics, tracing),
            NullLogger.Instance, TimeProvider.System, metrics);
        var table = RoutingTests.Table("words", Grouping.GroupBy, 1);
        table.Streams[0].Readers[0].Instances[0].DataAddress = server.Address;
        table.Streams[0].Readers[0].Instances[0].Incarnation = "inc-1";
        await router.ApplyAsync(table);
        using var drainStop = new CancellationTokenSource();
        var drain = Task.Run(async () =>
        {
            while (!drainStop.IsCancellationRequested)
            {
                var item = await queue.Reader.ReadAsync(drainStop.Token);
                queue.Release(item.Source, item.Records.Length, item.Records.Sum(r => (long)r.Length));
                await Task.Delay(1);
            }
        });
        var pump = new BatchPump(generator, new InboundQueue(), router, new TimerQueue(), TimeProvider.System, metrics, tracing);
        using var stop = new CancellationTokenSource();
        var answers = pump.RunAnswerLoopAsync(stop.Token);
        var sends = pump.RunSendLoopAsync(stop.Token, stop.Token);
        var last = 0L;
        var lastChange = DateTime.UtcNow;
        var end = DateTime.UtcNow.AddSeconds(RunSeconds);
        var longest = TimeSpan.Zero;
        while (DateTime.UtcNow < end)
        {
            await Task.Delay(5);
            var now = generator.Produced;
            if (now != last)
            {
                longest = DateTime.UtcNow - lastChange > longest ? DateTime.UtcNow - lastChange : longest;
                last = now;
                lastChange = DateTime.UtcNow;
            }
            Assert.True(DateTime.UtcNow - lastChange < TimeSpan.FromSeconds(GapSecondsMax), $"stalled at {last} records, in flight {pump.InFlight}, timers {pump.TimersPending}, sends {sends.Status}, answers {answers.Status} {sends.Exception} {answers.Exception}");
        }
        await stop.CancelAsync();
        await drainStop.CancelAsync();
        Assert.True(last > 10_000, $"only {last} records in {RunSeconds} s at 200,000/s; longest gap {longest}");
        Directory.Delete(dir, recursive: true);
    }
}
