using Concord.Contracts.Types.V1;
using Concord.Sdk;

namespace Concord.Examples.WordCount;

/// <summary>
/// Writes every record of <c>counts</c> as a <c>word,count</c> line to a CSV file (appending, so
/// a restarted sink keeps what it wrote), flushed at least every
/// <see cref="WordCountLimits.SinkFlushIntervalMs"/>. The last line of a word holds its count.
/// With WORDCOUNT_SINK_DELAY_US set it spends that long on every record (a deliberately slow
/// sink, for backpressure tests and the benchmark's stalled-sink phase).
/// </summary>
public sealed class CountSink(string outputPath, TimeProvider time) : Computation
{
    public const string InputStream = "counts";
    private const string TimerKey = "flush";

    private FileStream? _output;
    private long _lastFlushUnixMs;
    private long _delayMicros;
    private long _delayOwedMicros;

    /// <summary>WORDCOUNT_OUTPUT, or counts.csv in the working directory.</summary>
    public static string OutputPathFromEnvironment(Func<string, string?>? getVariable = null)
    {
        var path = (getVariable ?? Environment.GetEnvironmentVariable)("WORDCOUNT_OUTPUT");
        return string.IsNullOrWhiteSpace(path) ? "counts.csv" : path;
    }

    /// <summary>WORDCOUNT_SINK_DELAY_US: microseconds to spend on every record (default 0).</summary>
    public static long DelayMicrosFromEnvironment(Func<string, string?>? getVariable = null)
    {
        var text = (getVariable ?? Environment.GetEnvironmentVariable)("WORDCOUNT_SINK_DELAY_US");
        if (string.IsNullOrWhiteSpace(text))
        {
            return 0;
        }
        return long.TryParse(text, out var micros) && micros >= 0 && micros <= WordCountLimits.SinkDelayMicrosMax
            ? micros
            : throw new ArgumentException($"WORDCOUNT_SINK_DELAY_US='{text}' is not a whole number of microseconds from 0 to {WordCountLimits.SinkDelayMicrosMax}");
    }

    public override OperatorMetadata Metadata() =>
        new MetadataBuilder(Environment.GetEnvironmentVariable("CONCORD_OPERATOR_NAME") ?? "sink").Input(InputStream);

    public override void Init(IComputationContext context)
    {
        _output = new FileStream(outputPath, FileMode.Append, FileAccess.Write, FileShare.Read, WordCountLimits.SinkWriteBufferBytes);
        _lastFlushUnixMs = time.GetUtcNow().ToUnixTimeMilliseconds();
        context.SetTimer(TimerKey, _lastFlushUnixMs + WordCountLimits.SinkFlushIntervalMs);
        _delayMicros = DelayMicrosFromEnvironment();
        context.Log($"sink: writing word,count lines to {Path.GetFullPath(outputPath)}" + (_delayMicros > 0 ? $", {_delayMicros} µs per record" : ""));
    }

    public override void ProcessRecord(IComputationContext context, Record record)
    {
        var output = _output!;
        output.Write(record.Key.Span);
        output.WriteByte((byte)',');
        output.Write(record.Value.Span);
        output.WriteByte((byte)'\n');
        if (_delayMicros > 0)
        {
            Delay();
        }
        // The timer covers quiet periods; this covers a timer delayed behind a long batch.
        if (time.GetUtcNow().ToUnixTimeMilliseconds() - _lastFlushUnixMs >= WordCountLimits.SinkFlushIntervalMs)
        {
            Flush();
        }
    }

    public override void ProcessTimer(IComputationContext context, string key, long timeUnixMs)
    {
        Flush();
        context.SetTimer(TimerKey, time.GetUtcNow().ToUnixTimeMilliseconds() + WordCountLimits.SinkFlushIntervalMs);
    }

    public override void Destroy()
    {
        _output?.Flush();
        _output?.Dispose();
        _output = null;
    }

    /// <summary>
    /// Spends the per-record delay. Sleeps have millisecond granularity, so the delay is owed
    /// until a whole millisecond has accumulated, and what a sleep overran is credited back:
    /// the average rate is 1 / delay while the CPU stays idle.
    /// </summary>
    private void Delay()
    {
        _delayOwedMicros += _delayMicros;
        if (_delayOwedMicros < 1_000)
        {
            return;
        }
        var start = time.GetTimestamp();
        Thread.Sleep(TimeSpan.FromMilliseconds(_delayOwedMicros / 1_000));
        _delayOwedMicros -= (long)time.GetElapsedTime(start).TotalMicroseconds;
    }

    private void Flush()
    {
        _output!.Flush();
        _lastFlushUnixMs = time.GetUtcNow().ToUnixTimeMilliseconds();
    }
}
