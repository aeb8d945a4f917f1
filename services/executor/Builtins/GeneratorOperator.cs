using System.Text;
using Concord.Contracts.Operator.V1;
using Concord.Contracts.Types.V1;
using Concord.Executor.Records;

namespace Concord.Executor.Builtins;

/// <summary>
/// Built-in source: random words from a dictionary on one stream, at a rate or as fast as
/// credit allows. Driven by its own timer so backpressure works as for any operator: no
/// batch in flight, no timer fired, no records produced. Key and value are both the word.
/// Options: stream (default "words"), rate records/s (0 = unbounded), dictionary (required:
/// a word list, one per line), count (stop after N records, 0 = never), stats (optional path:
/// {"produced":N,"updated_unix_ms":T} rewritten every
/// <see cref="ExecutorLimits.CsvSinkStatsIntervalMs"/> while producing and on shutdown, so a
/// test or benchmark can watch the source's rate fall under backpressure).
/// </summary>
public sealed class GeneratorOperator : BuiltinSession
{
    public const string Kind = "generator";
    private const string TimerKey = "generate";

    private readonly string _stream;
    private readonly double _rate;
    private readonly long _count;
    private readonly byte[][] _words;
    private readonly Random _random = new();
    private readonly int _recordsPerAnswerMax;
    private long _produced;
    private double _allowance;
    private long _lastTickMs;
    private readonly string? _statsPath;
    private long _lastStatsMs;

    public GeneratorOperator(OperatorSpec spec, string workDir, TimeProvider time, int recordsPerAnswerMax = ExecutorLimits.BatchRowsMax)
        : base(spec, time)
    {
        var options = new BuiltinOptions(spec.Builtin);
        _stream = options.String("stream") ?? "words";
        _rate = options.Double("rate", 0, 0);
        _count = options.Long("count", 0, 0);
        _recordsPerAnswerMax = recordsPerAnswerMax;
        var dictionary = BuiltinOptions.ResolvePath(spec, "dictionary", options.Required("dictionary",
            "the path of a word list, one word per line (the demo uses examples/wordcount/words.txt)"), workDir);
        _words = LoadWords(dictionary);
        _statsPath = options.String("stats") is { } stats ? BuiltinOptions.ResolvePath(spec, "stats", stats, workDir) : null;
    }

    /// <summary>Records produced so far.</summary>
    public long Produced => Interlocked.Read(ref _produced);

    protected override OperatorMetadata Describe() => new() { Name = Spec.Name, Outputs = { _stream } };

    protected override void OnInit(AnswerWriter done)
    {
        _lastTickMs = Now().EventTimeMs;
        if (_count == 0 || _produced < _count)
        {
            done.TimersSet.Add(new TimerSet { Key = TimerKey, TimeUnixMs = _lastTickMs });
        }
    }

    protected override void OnBatch(RawBatch batch, AnswerWriter done)
    {
        var fired = false;
        foreach (var timer in batch.TimersFired)
        {
            fired |= timer.Key == TimerKey;
        }
        if (!fired)
        {
            return;
        }
        var (nowMs, nowUs) = Now();
        long n;
        if (_rate == 0)
        {
            n = _recordsPerAnswerMax;
        }
        else
        {
            // Token bucket: at most GeneratorBurstMs of records after a stall (backpressure).
            _allowance = Math.Min(_allowance + _rate * (nowMs - _lastTickMs) / 1000.0, Math.Max(1, _rate * ExecutorLimits.GeneratorBurstMs / 1000.0));
            n = Math.Min((long)_allowance, _recordsPerAnswerMax);
            _allowance -= n;
        }
        _lastTickMs = nowMs;
        if (_count > 0)
        {
            n = Math.Min(n, _count - _produced);
        }
        for (var i = 0; i < n; i++)
        {
            var word = _words[_random.Next(_words.Length)];
            done.Produce(0, word, word, nowMs, nowUs); // its one output stream
        }
        Interlocked.Add(ref _produced, n);
        if (_statsPath is not null && nowMs - _lastStatsMs >= ExecutorLimits.CsvSinkStatsIntervalMs)
        {
            WriteStats(nowMs);
        }
        if (_count > 0 && _produced >= _count)
        {
            if (_statsPath is not null)
            {
                WriteStats(nowMs);
            }
            return; // done: no more timers
        }
        var next = _rate == 0 || _allowance >= 1 ? nowMs : nowMs + ExecutorLimits.GeneratorTickMs;
        done.TimersSet.Add(new TimerSet { Key = TimerKey, TimeUnixMs = next });
    }

    protected override void OnShutdown()
    {
        if (_statsPath is not null)
        {
            WriteStats(Now().EventTimeMs);
        }
    }

    /// <summary>Replaces the stats file atomically (write then rename) so a reader never sees half of it.</summary>
    private void WriteStats(long nowMs)
    {
        try
        {
            var temp = _statsPath + ".tmp";
            File.WriteAllText(temp, $"{{\"produced\":{Produced},\"updated_unix_ms\":{nowMs}}}");
            File.Move(temp, _statsPath!, overwrite: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new OperatorFailedException($"generator cannot write its stats file '{_statsPath}' ({e.Message}); fix option 'stats' or the directory's permissions");
        }
        _lastStatsMs = nowMs;
    }

    private static byte[][] LoadWords(string path)
    {
        if (!File.Exists(path))
        {
            throw new OperatorFailedException($"generator dictionary '{path}' does not exist; pass a word list (one word per line) as option 'dictionary'");
        }
        var words = new List<byte[]>();
        using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read);
        using var bounded = new BoundedReadStream(file, ExecutorLimits.GeneratorDictionaryBytesMax, path);
        using var reader = new StreamReader(bounded, Encoding.UTF8);
        while (reader.ReadLine() is { } line)
        {
            var word = line.Trim();
            if (word.Length == 0)
            {
                continue;
            }
            if (words.Count == ExecutorLimits.GeneratorDictionaryWordsMax)
            {
                throw new OperatorFailedException(
                    $"generator dictionary '{path}' has more than {ExecutorLimits.GeneratorDictionaryWordsMax} words (ExecutorLimits.GeneratorDictionaryWordsMax); use a smaller word list");
            }
            // Encoded once: every record copies the word's bytes.
            words.Add(Encoding.UTF8.GetBytes(word));
        }
        if (words.Count == 0)
        {
            throw new OperatorFailedException($"generator dictionary '{path}' has no words; put one word per line");
        }
        return [.. words];
    }
}

/// <summary>
/// Reads at most <paramref name="bytesMax"/> bytes of <paramref name="inner"/>, then fails the
/// generator: a dictionary that never ends (/dev/zero) must not be read for ever.
/// </summary>
internal sealed class BoundedReadStream(Stream inner, long bytesMax, string path) : Stream
{
    private long _read;

    public override bool CanRead => true;

    public override bool CanSeek => false;

    public override bool CanWrite => false;

    public override long Length => throw new NotSupportedException();

    public override long Position { get => _read; set => throw new NotSupportedException(); }

    public override int Read(byte[] buffer, int offset, int count)
    {
        var read = inner.Read(buffer, offset, (int)Math.Min(count, bytesMax + 1 - _read));
        _read += read;
        if (_read > bytesMax)
        {
            throw new OperatorFailedException(
                $"generator dictionary '{path}' has more than {bytesMax} bytes (ExecutorLimits.GeneratorDictionaryBytesMax), or is not a regular file; use a smaller word list");
        }
        return read;
    }

    public override void Flush()
    {
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
}
