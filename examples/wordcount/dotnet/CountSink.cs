using Concord.Contracts.Types.V1;
using Concord.Sdk;

namespace Concord.Examples.WordCount;

/// <summary>
/// Writes every record of <c>counts</c> as a <c>word,count</c> line to a CSV file (appending, so
/// a restarted sink keeps what it wrote), flushed at least every
/// <see cref="WordCountLimits.SinkFlushIntervalMs"/>. The last line of a word holds its count.
/// </summary>
public sealed class CountSink(string outputPath, TimeProvider time) : Computation
{
    public const string InputStream = "counts";
    private const string TimerKey = "flush";

    private FileStream? _output;
    private long _lastFlushUnixMs;

    /// <summary>WORDCOUNT_OUTPUT, or counts.csv in the working directory.</summary>
    public static string OutputPathFromEnvironment(Func<string, string?>? getVariable = null)
    {
        var path = (getVariable ?? Environment.GetEnvironmentVariable)("WORDCOUNT_OUTPUT");
        return string.IsNullOrWhiteSpace(path) ? "counts.csv" : path;
    }

    public override OperatorMetadata Metadata() =>
        new MetadataBuilder(Environment.GetEnvironmentVariable("CONCORD_OPERATOR_NAME") ?? "sink").Input(InputStream);

    public override void Init(IComputationContext context)
    {
        _output = new FileStream(outputPath, FileMode.Append, FileAccess.Write, FileShare.Read, WordCountLimits.SinkWriteBufferBytes);
        _lastFlushUnixMs = time.GetUtcNow().ToUnixTimeMilliseconds();
        context.SetTimer(TimerKey, _lastFlushUnixMs + WordCountLimits.SinkFlushIntervalMs);
        context.Log($"sink: writing word,count lines to {Path.GetFullPath(outputPath)}");
    }

    public override void ProcessRecord(IComputationContext context, Record record)
    {
        var output = _output!;
        output.Write(record.Key.Span);
        output.WriteByte((byte)',');
        output.Write(record.Value.Span);
        output.WriteByte((byte)'\n');
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

    private void Flush()
    {
        _output!.Flush();
        _lastFlushUnixMs = time.GetUtcNow().ToUnixTimeMilliseconds();
    }
}
