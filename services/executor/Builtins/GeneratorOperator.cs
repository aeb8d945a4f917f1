using System.Text;
using Concord.Contracts.Operator.V1;
using Concord.Contracts.Types.V1;
using Concord.Executor.Builtins.Internal;
using Concord.Executor.Checkpoints;
using Concord.Executor.Records;

namespace Concord.Executor.Builtins;

/// <summary>
/// Built-in source: random words from a dictionary on one stream, at a rate or as fast as
/// credit allows. Driven by its own timer so backpressure works as for any operator: no
/// batch in flight, no timer fired, no records produced. Key and value are both the word.
/// Options: stream (default "words"), rate records/s (0 = unbounded), dictionary (required:
/// a word list, one per line), count (stop after N records, 0 = never), seed (integer, default 0),
/// stats (optional path:
/// {"produced":N,"updated_unix_ms":T} rewritten every
/// <see cref="ExecutorLimits.CsvSinkStatsIntervalMs"/> while producing and on shutdown, so a
/// test or benchmark can watch the source's rate fall under backpressure).
/// <para>
/// Replayable (docs/guarantees.md, "Sources and sinks"): the records form <em>lanes</em>; lane
/// L's record at position p is the word <see cref="WordIndex"/>(seed, L, p), a pure function,
/// and a lane ends after <c>count</c> records. Instance i starts with lane i; its checkpoint
/// snapshot is the position of each lane it owns. A restore with M instances takes the union of
/// every old instance's lanes and gives lane L to instance L mod M (an instance whose own lane
/// is in no snapshot starts it at 0), so the records ever produced are exactly
/// lanes 0..(largest instance count)-1, each positions 0..count-1, whatever the rescales.
/// </para>
/// </summary>
public sealed class GeneratorOperator : BuiltinSession, ICheckpointedOperator
{
    public const string Kind = "generator";
    private const string TimerKey = "generate";

    private readonly string _stream;
    private readonly RateBudget _rate;
    private readonly long _count;
    private readonly byte[][] _words;
    private readonly ulong _seed;
    private readonly int _instanceIndex;
    private readonly int _instances;
    private readonly int _recordsPerAnswerMax;
    // The lanes this instance owns (ascending) and each one's next position; pump thread only.
    private int[] _laneIds;
    private long[] _positions;
    private long _produced;
    private readonly string? _statsPath;
    private long _lastStatsMs;

    /// <param name="instanceIndex">This instance's index: its first lane.</param>
    public GeneratorOperator(OperatorSpec spec, string workDir, TimeProvider time, int recordsPerAnswerMax = ExecutorLimits.BatchRowsMax, int instanceIndex = 0)
        : base(spec, time)
    {
        var options = new BuiltinOptions(spec.Builtin);
        _stream = options.String("stream") ?? "words";
        _rate = new RateBudget(options.Double("rate", 0, 0));
        _count = options.Long("count", 0, 0);
        _seed = unchecked((ulong)options.Long("seed", 0, long.MinValue));
        _recordsPerAnswerMax = recordsPerAnswerMax;
        _instanceIndex = instanceIndex;
        _instances = Math.Max(1, spec.Instances);
        _laneIds = [instanceIndex];
        _positions = [0];
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
        var nowMs = Now().EventTimeMs;
        _rate.Start(nowMs);
        if (!Finished)
        {
            done.TimersSet.Add(new TimerSet { Key = TimerKey, TimeUnixMs = nowMs });
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
        var n = _rate.Allow(nowMs, _recordsPerAnswerMax);
        var produced = ProduceFromLanes(n, done, nowMs, nowUs);
        _rate.Spend(produced);
        Interlocked.Add(ref _produced, produced);
        if (_statsPath is not null && nowMs - _lastStatsMs >= ExecutorLimits.CsvSinkStatsIntervalMs)
        {
            WriteStats(nowMs);
        }
        if (Finished)
        {
            if (_statsPath is not null)
            {
                WriteStats(nowMs);
            }
            return; // done: no more timers
        }
        done.TimersSet.Add(new TimerSet { Key = TimerKey, TimeUnixMs = _rate.NextTurnMs(nowMs) });
    }

    /// <summary>Whether every lane this instance owns has produced <c>count</c> records (never without a count).</summary>
    private bool Finished => _count > 0 && Array.TrueForAll(_positions, position => position >= _count);

    /// <summary>Up to <paramref name="n"/> records, one per unfinished lane in turn; returns how many.</summary>
    private long ProduceFromLanes(long n, AnswerWriter done, long nowMs, long nowUs)
    {
        long produced = 0;
        var lanes = _laneIds;
        var positions = _positions;
        var progress = true;
        while (produced < n && progress)
        {
            progress = false;
            for (var i = 0; i < lanes.Length && produced < n; i++)
            {
                if (_count > 0 && positions[i] >= _count)
                {
                    continue;
                }
                var word = _words[WordIndex(_seed, lanes[i], positions[i], _words.Length)];
                done.Produce(0, word, word, nowMs, nowUs); // its one output stream
                positions[i]++;
                produced++;
                progress = true;
            }
        }
        return produced;
    }

    /// <summary>
    /// The dictionary index of lane <paramref name="lane"/>'s record at <paramref name="position"/>:
    /// a pure function (SplitMix64 finaliser of the three), so a restored lane replays the same
    /// words and a test can compute the reference output.
    /// </summary>
    public static int WordIndex(ulong seed, int lane, long position, int words)
    {
        unchecked
        {
            var z = seed + 0x9E3779B97F4A7C15UL * ((ulong)(uint)lane + 1) + 0xBF58476D1CE4E5B9UL * (ulong)position;
            z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
            z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
            z ^= z >> 31;
            return (int)(z % (ulong)words);
        }
    }

    /// <summary>The lanes this instance owns and their next positions (for tests and the stats).</summary>
    public IReadOnlyDictionary<int, long> Lanes => _laneIds.Zip(_positions).ToDictionary(p => p.First, p => p.Second);

    public byte[] SnapshotOperator(ulong checkpointId) => PositionSnapshot.Write(Lanes);

    public void RestoreOperator(ulong checkpointId, IReadOnlyDictionary<int, byte[]> snapshots)
    {
        var all = new SortedDictionary<int, long>();
        foreach (var snapshot in snapshots.Values)
        {
            foreach (var (lane, position) in PositionSnapshot.Read(snapshot, Kind))
            {
                all[lane] = Math.Max(position, all.GetValueOrDefault(lane));
            }
        }
        var owned = new SortedDictionary<int, long>();
        foreach (var (lane, position) in all)
        {
            if (lane % _instances == _instanceIndex % _instances)
            {
                owned[lane] = position;
            }
        }
        owned.TryAdd(_instanceIndex, 0);
        _laneIds = [.. owned.Keys];
        _positions = [.. owned.Values];
        Interlocked.Exchange(ref _produced, owned.Values.Sum());
    }

    public void CheckpointCompleted(ulong checkpointId)
    {
        // Nothing to commit: the position is the whole state.
    }

    public void CheckpointAborted(ulong checkpointId)
    {
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
