using System.Diagnostics;
using Concord.Executor.DataPlane;
using Concord.Executor.Records;
using Concord.Executor.Routing;
using Concord.Executor.Session;
using Prometheus;

namespace Concord.Executor.Metrics;

/// <summary>
/// Every metric of one executor, in its own registry (docs/observability.md is the catalogue).
/// Names follow the metric naming rule (docs/observability.md): prefix <c>concord_</c>, unit suffix, labels
/// <c>operator</c>, <c>instance</c> (static, from <see cref="ExecutorOptions"/>) and
/// <c>stream</c>. One instance per executor, made by the host and handed to what counts
/// (constructor injection, held in fields). Hooks in the data path are one call per batch,
/// never per record; gauges (queues, CPU, memory) are read only when Prometheus scrapes.
/// </summary>
public sealed class ExecutorMetrics
{
    private volatile Sources? _sources;

    /// <summary>The last records per output stream for `concord tail` (served on /tail beside /metrics); copies nothing until asked.</summary>
    public Tracing.StreamTail Tail { get; } = new();

    /// <summary>Metrics without the static labels (tests; a registry of their own, so nothing is shared).</summary>
    public ExecutorMetrics()
        : this(new Dictionary<string, string>())
    {
    }

    /// <summary>The metrics of the executor that <paramref name="options"/> configure: labelled with its operator and instance.</summary>
    public ExecutorMetrics(ExecutorOptions options)
        : this(new Dictionary<string, string>
        {
            ["operator"] = options.OperatorName,
            ["instance"] = options.InstanceIndex.ToString(System.Globalization.CultureInfo.InvariantCulture),
        })
    {
    }

    private ExecutorMetrics(Dictionary<string, string> staticLabels)
    {
        // The static labels go on before the first metric exists: the registry refuses them later.
        if (staticLabels.Count > 0)
        {
            Registry.SetStaticLabels(staticLabels);
        }
        var factory = Prometheus.Metrics.WithCustomRegistry(Registry);

        RecordsIn = factory.CreateCounter("concord_records_in_total",
            "Records received from upstream executors, per input stream.", ["stream"]);
        RecordsOut = factory.CreateCounter("concord_records_out_total",
            "Records the operator produced, per output stream (before fan-out to readers).", ["stream"]);
        RecordsDropped = factory.CreateCounter("concord_records_dropped_total",
            "Records dropped (at-most-once), per stream, reason (no_reader, send_failed, channel_closed, too_large, reader_unavailable) and, for reader_unavailable, the reading operator.",
            ["stream", "reason", "reader"]);
        LateRecords = factory.CreateCounter("concord_late_records_total",
            "Records whose event time was below the executor's input watermark when they reached its pump, per input stream; they are processed all the same (docs/guarantees.md, \"Event time\").",
            ["stream"]);
        BatchDuration = factory.CreateHistogram("concord_batch_duration_seconds",
            "Time from sending a ProcessBatch to the operator to receiving its BatchDone.",
            new HistogramConfiguration { Buckets = Histogram.ExponentialBuckets(0.0001, 2, 18) });
        EndToEndLatency = factory.CreateHistogram("concord_end_to_end_latency_seconds",
            "Source-to-here latency of received records (now minus ingest_time_unix_us), one observation per received batch.",
            new HistogramConfiguration { LabelNames = ["stream"], Buckets = Histogram.ExponentialBuckets(0.0005, 2, 16) });
        InboundQueueRows = factory.CreateGauge("concord_inbound_queue_rows", "Records waiting in the inbound queue for the operator.");
        InboundQueueBytes = factory.CreateGauge("concord_inbound_queue_bytes", "Serialized bytes waiting in the inbound queue.");
        InboundQueueRowsMax = factory.CreateGauge("concord_inbound_queue_rows_max", "Capacity of the inbound queue in records (channels x credit window).");
        OutboundQueueRows = factory.CreateGauge("concord_outbound_queue_rows", "Records waiting in all outbound queues for downstream executors.");
        BatchesInFlight = factory.CreateGauge("concord_batches_in_flight", "ProcessBatch messages the operator has not answered yet.");
        TimersPending = factory.CreateGauge("concord_timers_pending", "Timers set by the operator and not fired yet.");
        BackpressureSeconds = factory.CreateCounter("concord_backpressure_seconds_total",
            "Seconds the executor waited to hand produced records to full outbound queues (or for the first routing table).");
        OperatorCpuSeconds = factory.CreateCounter("concord_operator_cpu_seconds_total",
            "CPU seconds (user + system) of the operator process, from /proc; the executor's own for built-ins.");
        OperatorResidentMemory = factory.CreateGauge("concord_operator_resident_memory_bytes",
            "Resident memory of the operator process, from /proc; the executor's own for built-ins.");
        ExecutorCpuSeconds = factory.CreateCounter("concord_executor_cpu_seconds_total", "CPU seconds of the executor process, from /proc.");
        ExecutorResidentMemory = factory.CreateGauge("concord_executor_resident_memory_bytes", "Resident memory of the executor process, from /proc.");
        StartTime = factory.CreateGauge("concord_executor_start_time_seconds", "When this executor started, seconds since the Unix epoch (a change means a restart).");
        TracesSampled = factory.CreateCounter("concord_traces_sampled_total", "Records this executor sampled to start a trace (sources only).");
        SpansRecorded = factory.CreateCounter("concord_spans_total", "Spans recorded into this executor's span store.");

        StartTime.SetToCurrentTimeUtc();
        Registry.AddBeforeCollectCallback(Refresh);
    }

    /// <summary>This executor's registry; /metrics serves it. Not the default registry, so no .NET runtime series are mixed in.</summary>
    public CollectorRegistry Registry { get; } = Prometheus.Metrics.NewCustomRegistry();

    public Counter RecordsIn { get; }
    public Counter RecordsOut { get; }
    public Counter RecordsDropped { get; }
    public Counter LateRecords { get; }
    public Histogram BatchDuration { get; }
    public Histogram EndToEndLatency { get; }
    public Gauge InboundQueueRows { get; }
    public Gauge InboundQueueBytes { get; }
    public Gauge InboundQueueRowsMax { get; }
    public Gauge OutboundQueueRows { get; }
    public Gauge BatchesInFlight { get; }
    public Gauge TimersPending { get; }
    public Counter BackpressureSeconds { get; }
    public Counter OperatorCpuSeconds { get; }
    public Gauge OperatorResidentMemory { get; }
    public Counter ExecutorCpuSeconds { get; }
    public Gauge ExecutorResidentMemory { get; }
    public Gauge StartTime { get; }
    public Counter TracesSampled { get; }
    public Counter SpansRecorded { get; }

    /// <summary>
    /// Points the scrape-time gauges at this executor's queues and processes. Called once by
    /// the host; <paramref name="operatorPid"/> 0 (a built-in) reports the executor's own figures.
    /// </summary>
    public void Observe(InboundQueue inbound, Router router, BatchPump pump, int operatorPid)
    {
        InboundQueueRowsMax.Set(inbound.RowsMax);
        _sources = new Sources(inbound, router, pump, operatorPid > 0 ? operatorPid : Environment.ProcessId);
    }

    /// <summary>A batch arrived on <paramref name="stream"/>: counts it, and observes the source-to-here latency of its first record.</summary>
    public void Received(string stream, RawRecord[] records)
    {
        if (records.Length == 0)
        {
            return;
        }
        RecordsIn.WithLabels(stream).Inc(records.Length);
        var ingestUs = records[0].IngestTimeUnixUs;
        if (ingestUs > 0)
        {
            var latencyUs = NowUnixUs() - ingestUs;
            EndToEndLatency.WithLabels(stream).Observe(Math.Max(0, latencyUs) / 1e6);
        }
    }

    /// <summary>Counts what one BatchDone produced, per stream: one increment per stream per batch.</summary>
    public void Produced(RawAnswer done, StreamTable outputs)
    {
        var produced = System.Runtime.InteropServices.CollectionsMarshal.AsSpan(done.Produced);
        if (produced.Length == 0)
        {
            return;
        }
        // Operators usually produce to one stream: count runs of the same stream.
        var stream = produced[0].Stream;
        var run = 0;
        foreach (var p in produced)
        {
            if (p.Stream != stream)
            {
                RecordsOut.WithLabels(outputs[stream]).Inc(run);
                stream = p.Stream;
                run = 0;
            }
            run++;
        }
        RecordsOut.WithLabels(outputs[stream]).Inc(run);
    }

    /// <summary>Counts <paramref name="rows"/> late records received on <paramref name="stream"/>.</summary>
    public void Late(string stream, long rows)
    {
        if (rows > 0)
        {
            LateRecords.WithLabels(stream).Inc(rows);
        }
    }

    /// <summary>Counts <paramref name="rows"/> records of <paramref name="stream"/> dropped for <paramref name="reason"/>.</summary>
    /// <param name="reader">The reading operator the records were for (reason reader_unavailable); empty otherwise.</param>
    public void Dropped(string stream, string reason, long rows = 1, string reader = "")
    {
        if (rows > 0)
        {
            RecordsDropped.WithLabels(stream, reason, reader).Inc(rows);
        }
    }

    /// <summary>
    /// Awaits routing and counts the time as backpressure when it did not complete at once
    /// (an outbound queue was full). The common, synchronous case costs one check.
    /// </summary>
    public ValueTask Backpressure(ValueTask routing) =>
        routing.IsCompletedSuccessfully ? routing : TimeAsync(routing);

    private async ValueTask TimeAsync(ValueTask routing)
    {
        var start = Stopwatch.GetTimestamp();
        try
        {
            await routing.ConfigureAwait(false);
        }
        finally
        {
            BackpressureSeconds.Inc(Stopwatch.GetElapsedTime(start).TotalSeconds);
        }
    }

    /// <summary>Now in µs since the Unix epoch, the unit of ingest_time_unix_us.</summary>
    public static long NowUnixUs() => (DateTimeOffset.UtcNow - DateTimeOffset.UnixEpoch).Ticks / 10;

    private void Refresh()
    {
        var self = ProcStat.Read(Environment.ProcessId);
        if (self is { } s)
        {
            ExecutorCpuSeconds.IncTo(s.CpuSeconds);
            ExecutorResidentMemory.Set(s.ResidentBytes);
        }
        if (_sources is not { } sources)
        {
            return;
        }
        InboundQueueRows.Set(sources.Inbound.QueuedRows);
        InboundQueueBytes.Set(sources.Inbound.QueuedBytes);
        OutboundQueueRows.Set(sources.Router.QueuedRows);
        BatchesInFlight.Set(sources.Pump.InFlight);
        TimersPending.Set(sources.Pump.TimersPending);
        if ((sources.OperatorPid == Environment.ProcessId ? self : ProcStat.Read(sources.OperatorPid)) is { } op)
        {
            OperatorCpuSeconds.IncTo(op.CpuSeconds);
            OperatorResidentMemory.Set(op.ResidentBytes);
        }
    }

    private sealed record Sources(InboundQueue Inbound, Router Router, BatchPump Pump, int OperatorPid);
}
