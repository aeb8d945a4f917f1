using System.Diagnostics;
using System.Runtime.InteropServices;
using Concord.Contracts.Types.V1;
using Concord.Executor.Metrics;
using Concord.Executor.Records;
using Google.Protobuf;
using Span = Concord.Contracts.Scheduler.V1.Span;

namespace Concord.Executor.Tracing;

/// <summary>
/// Dapper-style tracing inside one executor. Sources sample one produced record in N and give
/// it a <see cref="TraceContext"/>; every executor follows records that carry one and records
/// three kinds of span (docs/observability.md):
/// <list type="bullet">
/// <item><c>queue</c>: received on the data plane → sent to the operator in a ProcessBatch;</item>
/// <item><c>operator</c>: ProcessBatch sent → BatchDone received;</item>
/// <item><c>send</c>: produced (BatchDone received) → written to the downstream executor.</item>
/// </list>
/// A produced record's <c>parent_span_id</c> is rewritten to its send span, so the next
/// executor's queue span hangs under it; the scheduler derives the network hop between them.
/// </summary>
/// <remarks>
/// Hooks scan a batch for traced records (a flag per record, set when the record's bytes were
/// scanned) and parse and lock only when they find one; with the default sampling that is
/// about one batch in a thousand. A followed record is known by its trace context (trace id
/// and parent span id, unique per hop because every send rewrites the parent), not by where
/// its bytes are, so following it never keeps a buffer alive. Everything followed is bounded
/// by <see cref="ObservabilityLimits.TracePendingRecordsMax"/>.
/// </remarks>
public sealed class ExecutorTracing
{
    private readonly object _lock = new();
    private readonly Dictionary<(string TraceId, string ParentSpanId), Pending> _received = [];
    private readonly Dictionary<(string TraceId, string ParentSpanId), Pending> _sending = [];
    private readonly Dictionary<ulong, List<Pending>> _inOperator = [];
    private readonly int _sampleEvery;
    private readonly ExecutorMetrics _metrics;
    private int _untilSample;
    /// <summary>Entries in _received, _sending and _inOperator together (lock held to change it).</summary>
    private int _followed;

    /// <param name="metrics">The executor's metrics: sampled traces and recorded spans are counted there.</param>
    public ExecutorTracing(string operatorName, int instanceIndex, int sampleEvery, bool isSource, ExecutorMetrics metrics, SpanStore? store = null, OtlpExport? export = null)
    {
        _metrics = metrics;
        OperatorName = operatorName;
        InstanceIndex = instanceIndex;
        _sampleEvery = isSource ? Math.Max(0, sampleEvery) : 0;
        // Start at a random point so several sources do not sample in lockstep.
        _untilSample = _sampleEvery > 0 ? Random.Shared.Next(1, _sampleEvery + 1) : int.MaxValue;
        Store = store ?? new SpanStore();
        Export = export;
    }

    public string OperatorName { get; }

    public int InstanceIndex { get; }

    public SpanStore Store { get; }

    /// <summary>OTLP export of every span, when OTEL_EXPORTER_OTLP_ENDPOINT is set; null otherwise.</summary>
    public OtlpExport? Export { get; }

    /// <summary>One record in this many is sampled at this (source) executor; 0 when it does not sample.</summary>
    public int SampleEvery => _sampleEvery;

    /// <summary>The sampling from the environment: <see cref="ObservabilityLimits.TraceSampleEveryVariable"/>, else the default.</summary>
    public static int SampleEveryFrom(Func<string, string?> environment, IReadOnlyDictionary<string, string>? operatorEnvironment = null)
    {
        var text = operatorEnvironment?.GetValueOrDefault(ObservabilityLimits.TraceSampleEveryVariable)
            ?? environment(ObservabilityLimits.TraceSampleEveryVariable);
        return int.TryParse(text, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var every)
            ? every
            : ObservabilityLimits.TraceSampleEveryDefault;
    }

    /// <summary>Records arrived on <paramref name="stream"/>: starts a queue span for each traced one.</summary>
    public void Received(string stream, RawRecord[] records)
    {
        foreach (var record in records)
        {
            if (TraceOf(record) is not { } trace)
            {
                continue;
            }
            var now = ExecutorMetrics.NowUnixUs();
            var key = KeyOf(trace);
            lock (_lock)
            {
                if (Reserve(now))
                {
                    _received[key] = Begin("queue", key.TraceId, key.ParentSpanId, stream, now);
                }
            }
        }
    }

    /// <summary>A ProcessBatch goes to the operator: ends the queue spans of its traced records, starts their operator spans.</summary>
    public void Sent(RawBatch batch, long sentUnixUs)
    {
        if (Volatile.Read(ref _followed) == 0)
        {
            return;
        }
        List<Pending>? started = null;
        foreach (var record in CollectionsMarshal.AsSpan(batch.Records))
        {
            if (TraceOf(record) is not { } trace)
            {
                continue;
            }
            lock (_lock)
            {
                if (!_received.Remove(KeyOf(trace), out var queued))
                {
                    continue;
                }
                Record(queued, sentUnixUs);
                started ??= [];
                // The operator span keeps the follow slot the queue span had.
                started.Add(Begin("operator", queued.TraceId, queued.SpanId, queued.Stream, sentUnixUs));
            }
        }
        if (started is not null)
        {
            lock (_lock)
            {
                _inOperator[batch.Seq] = started;
            }
        }
    }

    /// <summary>
    /// The operator answered batch <paramref name="done"/>: ends its operator spans, samples
    /// (sources), and starts a send span for every traced record it produced, pointing the
    /// record's parent_span_id at it (the record's bytes are rewritten). Runs before routing,
    /// so nothing else holds the records yet.
    /// </summary>
    public void Answered(RawAnswer done, StreamTable outputs, long sentUnixUs)
    {
        List<Pending>? operatorSpans = null;
        if (Volatile.Read(ref _followed) > 0)
        {
            lock (_lock)
            {
                if (_inOperator.Remove(done.Seq, out operatorSpans))
                {
                    _followed -= operatorSpans.Count;
                }
            }
        }
        var now = ExecutorMetrics.NowUnixUs();
        if (operatorSpans is not null)
        {
            foreach (var span in operatorSpans)
            {
                Record(span, now);
            }
        }
        var sampled = _sampleEvery > 0 && Sample(done.Produced);
        if (operatorSpans is null && !sampled)
        {
            return;
        }
        var produced = done.Produced;
        for (var i = 0; i < produced.Count; i++)
        {
            if (!produced[i].Record.HasTrace
                || ParseOrNull(produced[i].Record.Buffer, produced[i].Record.Offset, produced[i].Record.Length) is not { Trace: { } trace } record)
            {
                continue;
            }
            var traceId = Hex(trace.TraceId);
            string? parent = null;
            if (trace.ParentSpanId.IsEmpty)
            {
                // Sampled here: the root span is this batch in the source operator.
                var root = Begin("operator", traceId, "", "", sentUnixUs > 0 ? sentUnixUs : now);
                Record(root, now);
                parent = root.SpanId;
            }
            else if (operatorSpans?.Find(s => s.TraceId == traceId) is { } op)
            {
                parent = op.SpanId;
            }
            if (parent is null)
            {
                continue; // a trace this executor did not follow (its pending store was full)
            }
            lock (_lock)
            {
                if (!Reserve(now))
                {
                    continue;
                }
                var send = Begin("send", traceId, parent, outputs[produced[i].Stream], now);
                record.Trace = new TraceContext { TraceId = trace.TraceId, ParentSpanId = ByteString.CopyFrom(Convert.FromHexString(send.SpanId)) };
                produced[i] = produced[i] with { Record = RawRecord.From(record) };
                _sending[KeyOf(record.Trace)] = send;
            }
        }
    }

    /// <summary>A batch went out to a downstream executor: ends the send spans of its traced records.</summary>
    public void Written(List<RecordSlice> records)
    {
        if (Volatile.Read(ref _followed) == 0)
        {
            return;
        }
        var now = ExecutorMetrics.NowUnixUs();
        foreach (var record in CollectionsMarshal.AsSpan(records))
        {
            if (TraceOf(record) is not { } trace)
            {
                continue;
            }
            lock (_lock)
            {
                if (_sending.Remove(KeyOf(trace), out var send))
                {
                    _followed--;
                    Record(send, now);
                }
            }
        }
    }

    /// <summary>Samples one record in N of <paramref name="produced"/>; true when any was sampled.</summary>
    private bool Sample(List<RawProduced> produced)
    {
        var n = produced.Count;
        var offset = 0;
        var any = false;
        while (_untilSample <= n - offset)
        {
            var i = offset + _untilSample - 1;
            if (!produced[i].Record.HasTrace
                && ParseOrNull(produced[i].Record.Buffer, produced[i].Record.Offset, produced[i].Record.Length) is { } record)
            {
                record.Trace = new TraceContext { TraceId = ByteString.CopyFrom(RandomBytes(16)) };
                produced[i] = produced[i] with { Record = RawRecord.From(record) };
                _metrics.TracesSampled.Inc();
                any = true;
            }
            offset = i + 1;
            _untilSample = _sampleEvery;
        }
        _untilSample -= n - offset;
        return any;
    }

    /// <summary>
    /// The record's trace context, or null when it has none — or when its bytes do not parse:
    /// tracing never fails the data path; such a record is simply not followed.
    /// </summary>
    private static TraceContext? TraceOf(in RawRecord record) => record.HasTrace ? ParseOrNull(record.Buffer, record.Offset, record.Length)?.Trace : null;

    private static TraceContext? TraceOf(in RecordSlice record) => record.HasTrace ? ParseOrNull(record.Buffer, record.Offset, record.Length)?.Trace : null;

    private static Contracts.Types.V1.Record? ParseOrNull(byte[] buffer, int offset, int length)
    {
        try
        {
            return Contracts.Types.V1.Record.Parser.ParseFrom(buffer, offset, length);
        }
        catch (InvalidProtocolBufferException)
        {
            return null;
        }
    }

    private static (string TraceId, string ParentSpanId) KeyOf(TraceContext trace) => (Hex(trace.TraceId), Hex(trace.ParentSpanId));

    /// <summary>Takes a follow slot (lock held); frees stale ones when full. False when none is free.</summary>
    private bool Reserve(long nowUs)
    {
        if (_followed >= ObservabilityLimits.TracePendingRecordsMax)
        {
            var staleBefore = nowUs - ObservabilityLimits.TracePendingTimeoutMs * 1000L;
            foreach (var map in new[] { _received, _sending })
            {
                foreach (var key in map.Where(e => e.Value.StartUnixUs < staleBefore).Select(e => e.Key).ToList())
                {
                    map.Remove(key);
                    _followed--;
                }
            }
            foreach (var seq in _inOperator.Where(e => e.Value[0].StartUnixUs < staleBefore).Select(e => e.Key).ToList())
            {
                _followed -= _inOperator[seq].Count;
                _inOperator.Remove(seq);
            }
            if (_followed >= ObservabilityLimits.TracePendingRecordsMax)
            {
                return false;
            }
        }
        _followed++;
        return true;
    }

    /// <summary>
    /// Starts a span. With OTLP export the span is an <see cref="Activity"/> whose id becomes
    /// the span id (Activity ids cannot be chosen), so the store and the exporter agree.
    /// </summary>
    private Pending Begin(string kind, string traceId, string parentSpanId, string stream, long startUnixUs)
    {
        var activity = Export?.Start(kind, traceId, parentSpanId, startUnixUs);
        return new Pending(kind, traceId, parentSpanId, activity?.SpanId.ToHexString() ?? NewSpanId(), stream, startUnixUs, activity);
    }

    private void Record(Pending pending, long endUs)
    {
        var span = new Span
        {
            TraceId = pending.TraceId,
            SpanId = pending.SpanId,
            ParentSpanId = pending.ParentSpanId,
            Kind = pending.Kind,
            Stream = pending.Stream,
            StartUnixUs = pending.StartUnixUs,
            DurationUs = Math.Max(0, endUs - pending.StartUnixUs),
            OperatorName = OperatorName,
            InstanceIndex = InstanceIndex,
        };
        Store.Add(span);
        _metrics.SpansRecorded.Inc();
        if (pending.Activity is { } activity)
        {
            Export!.End(activity, span);
        }
    }

    private static string NewSpanId() => Convert.ToHexStringLower(RandomBytes(8));

    private static byte[] RandomBytes(int count)
    {
        var bytes = new byte[count];
        Random.Shared.NextBytes(bytes);
        return bytes;
    }

    private static string Hex(ByteString bytes) => bytes.IsEmpty ? "" : Convert.ToHexStringLower(bytes.Span);

    private sealed record Pending(string Kind, string TraceId, string ParentSpanId, string SpanId, string Stream, long StartUnixUs, Activity? Activity);
}
