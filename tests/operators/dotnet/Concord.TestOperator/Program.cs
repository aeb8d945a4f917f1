// The C# test operator of the conformance suite. Every language has one like it, with the same
// behaviours, selected by CONFORMANCE_CASE (the table is in docs/conformance.md). Keep it small:
// it is what the author of a new language's SDK writes.
using System.Globalization;
using System.Text;
using Concord.Contracts.Types.V1;
using Concord.Sdk;
using Google.Protobuf;

ComputationHost.Serve(new TestOperator(
    Environment.GetEnvironmentVariable("CONFORMANCE_CASE") ?? "",
    Environment.GetEnvironmentVariable("CONCORD_OPERATOR_NAME") ?? "conformance",
    // Not a conformance case: the end-to-end replace tests rename the state to make a new version
    // that cannot take the old one's (docs/live-changes.md). Default "count", as the table says.
    Environment.GetEnvironmentVariable("STATE_NAME") is { Length: > 0 } stateName ? stateName : "count"));

internal sealed class TestOperator(string conformanceCase, string name, string stateName) : Computation
{
    /// <summary>The documented record limit (ProtocolLimits.RecordBytesMax), key + value.</summary>
    private const int RecordBytesMax = 1024 * 1024;

    /// <summary>How long the backpressure case blocks at most before it gives up, in ms.</summary>
    private const int GateTimeoutMs = 60_000;

    /// <summary>How far after a record's event time the event_time_timers case sets its timer, in ms.</summary>
    private const long EventTimerDelayMs = 100;

    private bool _gatePassed;
    private bool _rearmed;

    public override OperatorMetadata Metadata()
    {
        var metadata = new MetadataBuilder(conformanceCase == "invalid_metadata" ? "not-" + name : name)
            .Input("in", Grouping.GroupBy).Output("out-a").Output("out-b");
        return conformanceCase is "state" or "keyed_timers" or "event_time_timers" ? metadata.State(stateName) : metadata;
    }

    public override void Init(IComputationContext context)
    {
        if (conformanceCase == "timers")
        {
            var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
            context.SetTimer("t3", now + 300);
            context.SetTimer("t1", now + 100);
            context.SetTimer("t2", now + 200);
            context.SetTimer("rearm", now + 150);
        }
    }

    public override void ProcessRecord(IComputationContext context, Record record)
    {
        switch (conformanceCase)
        {
            case "produce":
                context.ProduceRecord("out-a", record.Key, Prefixed("a:", record.Value));
                context.ProduceRecord("out-b", record.Key, Prefixed("b:", record.Value));
                return;
            case "group_by":
                context.ProduceRecord("out-a", record.Key, ByteString.CopyFromUtf8(context.InstanceIndex.ToString(CultureInfo.InvariantCulture)));
                return;
            case "backpressure":
                WaitForGate();
                break;
            case "exception":
                throw new InvalidOperationException("conformance failure on purpose");
            case "state" when record.Value.ToStringUtf8() == "clear":
                context.State(stateName).Clear();
                context.ProduceRecord("out-a", record.Key, ByteString.CopyFromUtf8("cleared"));
                return;
            case "state":
                context.ProduceRecord("out-a", record.Key, ByteString.CopyFromUtf8(Increment(context)));
                return;
            case "keyed_timers":
                Increment(context);
                context.SetTimer("flush", DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() + 100);
                return;
            case "event_time_timers":
                context.SetTimer("fire", record.EventTimeUnixMs + EventTimerDelayMs, TimerDomain.EventTime);
                return;
            case "size_limit" when record.Key.ToStringUtf8() == "grow":
                context.ProduceRecord("out-a", record.Key, ByteString.CopyFrom(new byte[RecordBytesMax - record.Key.Length + 1]));
                return;
        }
        context.ProduceRecord("out-a", record.Key, record.Value);
    }

    public override void ProcessTimer(IComputationContext context, string key, long timeUnixMs)
    {
        if (conformanceCase == "event_time_timers")
        {
            context.ProduceRecord("out-b", context.StateKey.Span, Encoding.ASCII.GetBytes(timeUnixMs.ToString(CultureInfo.InvariantCulture)));
            return;
        }
        if (conformanceCase == "keyed_timers")
        {
            var count = context.State(stateName);
            context.ProduceRecord("out-b", context.StateKey.Span, count.Get() ?? []);
            count.Clear();
            return;
        }
        context.ProduceRecord("out-a", key, timeUnixMs.ToString(CultureInfo.InvariantCulture));
        if (key == "rearm" && !_rearmed)
        {
            _rearmed = true;
            context.SetTimer(key, timeUnixMs + 200);
        }
    }

    public override void Destroy()
    {
        if (conformanceCase == "destroy")
        {
            File.WriteAllText("destroyed", "destroyed");
        }
    }

    /// <summary>count = int(ascii(get("count")) or 0) + 1, stored as ASCII; returns it.</summary>
    private string Increment(IComputationContext context)
    {
        var state = context.State(stateName);
        var stored = state.Get();
        var count = (stored is null ? 0 : int.Parse(Encoding.ASCII.GetString(stored), CultureInfo.InvariantCulture)) + 1;
        var text = count.ToString(CultureInfo.InvariantCulture);
        state.Set(Encoding.ASCII.GetBytes(text));
        return text;
    }

    private static ByteString Prefixed(string prefix, ByteString value) =>
        ByteString.CopyFrom([.. Encoding.UTF8.GetBytes(prefix), .. value.Span]);

    /// <summary>Blocks the first callback until the harness creates the file "release" in the working directory.</summary>
    private void WaitForGate()
    {
        var deadline = Environment.TickCount64 + GateTimeoutMs;
        while (!_gatePassed && !File.Exists("release"))
        {
            if (Environment.TickCount64 > deadline)
            {
                throw new TimeoutException($"the harness did not create 'release' within {GateTimeoutMs} ms");
            }
            Thread.Sleep(10);
        }
        _gatePassed = true;
    }
}
