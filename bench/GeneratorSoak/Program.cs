using System.Globalization;
using Concord.Contracts;
using Concord.Contracts.Operator.V1;
using Concord.Contracts.Scheduler.V1;
using Concord.Contracts.Types.V1;
using Concord.Executor;
using Concord.Executor.Builtins;
using Concord.Executor.DataPlane;
using Concord.Executor.Metrics;
using Concord.Executor.Records;
using Concord.Executor.Routing;
using Concord.Executor.Session;
using Concord.Executor.Timers;
using Concord.Executor.Tracing;
using Microsoft.Extensions.Logging.Abstractions;

// bench/soak.sh [--seconds N] [--rate N]: runs a rate-limited generator through the real pump,
// router, outbound channel and data-plane server and fails (exit 1) if production ever pauses
// longer than GapSecondsMax. A lost timer wake-up stops such a generator with no error and
// nothing in flight; only running it for a while shows one.

const int DefaultSeconds = 60; // long against the 1 s LongestWait of the pump, short enough to run by hand
const int DefaultRate = 200_000; // records/s: the generator is timer-driven at any rate; a high one makes many wake-ups
const int GapSecondsMax = 3; // longest pause accepted: generous for a loaded 2-core machine, far below a stall
const int SampleIntervalMs = 5; // how often the count is read: short against GapSecondsMax

var seconds = DefaultSeconds;
var rate = DefaultRate;
for (var i = 0; i < args.Length; i++)
{
    int Positive() => i + 1 < args.Length && int.TryParse(args[++i], NumberStyles.Integer, CultureInfo.InvariantCulture, out var v) && v > 0
        ? v : throw new ArgumentException($"{args[i - 1]} needs a positive integer");
    try
    {
        switch (args[i])
        {
            case "--seconds": seconds = Positive(); break;
            case "--rate": rate = Positive(); break;
            default: throw new ArgumentException($"unknown option '{args[i]}'; usage: bench/soak.sh [--seconds N] [--rate N]");
        }
    }
    catch (ArgumentException e)
    {
        Console.Error.WriteLine($"soak: {e.Message}");
        return 2;
    }
}

var dir = Directory.CreateTempSubdirectory("cc-soak-").FullName;
try
{
    var words = Path.Combine(dir, "words.txt");
    File.WriteAllLines(words, ["one", "two", "three"]);
    var spec = new OperatorSpec
    {
        Name = "gen",
        Builtin = new BuiltinOperator { Kind = "generator", Options = { ["dictionary"] = words, ["rate"] = rate.ToString(CultureInfo.InvariantCulture) } },
        ExpectedOutputs = { "words" },
    };
    var generator = new GeneratorOperator(spec, dir, TimeProvider.System);
    await generator.StartAsync(new Init(), CancellationToken.None);
    var identity = new DataPlaneIdentity("counter", 0, "inc-1", new HashSet<string> { "words" });
    var queue = new InboundQueue();
    var metrics = new ExecutorMetrics();
    var tracing = new ExecutorTracing("gen", 0, sampleEvery: 0, isSource: true, metrics);
    await using var server = await ExecutorServer.StartAsync(identity, queue, metrics, tracing, NullLoggerFactory.Instance, CancellationToken.None);
    using var clients = new DataPlaneClients();
    await using var router = new Router(new StreamTable(["words"]),
        (stream, reader, index) => new OutboundChannel(stream, reader, index, "gen/0", clients, NullLogger.Instance, TimeProvider.System, metrics, tracing),
        NullLogger.Instance, TimeProvider.System, metrics);
    var readers = new Reader { OperatorName = "counter", Grouping = Grouping.GroupBy };
    readers.Instances.Add(new ReaderInstance { Index = 0, DataAddress = server.Address, Incarnation = "inc-1", KeyGroupStart = 0, KeyGroupEnd = ProtocolLimits.KeyGroupCount });
    await router.ApplyAsync(new RoutingTable { Version = 1, KeyGroupCount = ProtocolLimits.KeyGroupCount, Streams = { new StreamRoute { Stream = "words", Readers = { readers } } } });

    // The downstream operator: takes what arrives and gives the credit back.
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
    var end = DateTime.UtcNow.AddSeconds(seconds);
    var longest = TimeSpan.Zero;
    var stalled = false;
    while (DateTime.UtcNow < end)
    {
        await Task.Delay(SampleIntervalMs);
        var now = generator.Produced;
        var gap = DateTime.UtcNow - lastChange;
        if (now != last)
        {
            longest = gap > longest ? gap : longest;
            last = now;
            lastChange = DateTime.UtcNow;
        }
        else if (gap >= TimeSpan.FromSeconds(GapSecondsMax))
        {
            Console.Error.WriteLine($"soak: STALLED at {last} records for {gap.TotalSeconds:0.0} s; in flight {pump.InFlight}, timers {pump.TimersPending}, sends {sends.Status}, answers {answers.Status} {sends.Exception} {answers.Exception}");
            stalled = true;
            break;
        }
    }
    await stop.CancelAsync();
    await drainStop.CancelAsync();
    Console.WriteLine($"soak: {last:N0} records in {seconds} s at a rate of {rate:N0}/s; longest pause {longest.TotalMilliseconds:0} ms (limit {GapSecondsMax} s)");
    return stalled ? 1 : 0;
}
finally
{
    try
    {
        Directory.Delete(dir, recursive: true);
    }
    catch (IOException)
    {
        // Best effort: /tmp is cleaned by the OS.
    }
}
