using System.Globalization;
using Concord.Contracts.Types.V1;
using Concord.Sdk;
using Google.Protobuf;

namespace Concord.Examples.WordCount;

/// <summary>Source options, read from WORDCOUNT_* environment variables.</summary>
/// <param name="DictionaryPath">WORDCOUNT_DICTIONARY: one word per line; default words.txt in the working directory.</param>
/// <param name="RateWordsPerSecond">WORDCOUNT_RATE: words per second per instance; default 20,000.</param>
/// <param name="LimitWords">WORDCOUNT_LIMIT: total words per instance, 0 = unbounded.</param>
/// <param name="EmittedLogPath">WORDCOUNT_EMITTED_LOG: when set, every emitted word is appended there, one per line.</param>
public sealed record WordSourceOptions(
    string DictionaryPath,
    long RateWordsPerSecond = WordCountLimits.SourceDefaultRateWordsPerSecond,
    long LimitWords = 0,
    string? EmittedLogPath = null)
{
    public static WordSourceOptions FromEnvironment(Func<string, string?>? getVariable = null)
    {
        getVariable ??= Environment.GetEnvironmentVariable;
        var dictionary = getVariable("WORDCOUNT_DICTIONARY");
        var log = getVariable("WORDCOUNT_EMITTED_LOG");
        return new WordSourceOptions(
            string.IsNullOrWhiteSpace(dictionary) ? "words.txt" : dictionary,
            ParseLong(getVariable, "WORDCOUNT_RATE", WordCountLimits.SourceDefaultRateWordsPerSecond, minimum: 1),
            ParseLong(getVariable, "WORDCOUNT_LIMIT", 0, minimum: 0),
            string.IsNullOrWhiteSpace(log) ? null : log);
    }

    private static long ParseLong(Func<string, string?> getVariable, string name, long fallback, long minimum)
    {
        var text = getVariable(name);
        if (string.IsNullOrWhiteSpace(text))
        {
            return fallback;
        }
        if (!long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var value) || value < minimum)
        {
            throw new ArgumentException($"{name}='{text}' is not a whole number >= {minimum}; set it to e.g. {fallback} or leave it unset");
        }
        return value;
    }
}

/// <summary>
/// Emits random dictionary words to stream <c>words</c> (key = word, empty value) at a steady
/// rate, driven by a timer every <see cref="WordCountLimits.SourceTimerIntervalMs"/>.
/// </summary>
public sealed class WordSource(WordSourceOptions options, TimeProvider time, Random? random = null) : Computation
{
    public const string OutputStream = "words";
    private const string TimerKey = "emit";

    private readonly Random _random = random ?? new Random();
    private ByteString[] _words = [];
    private StreamWriter? _emittedLog;
    private long _lastFireUnixMs;
    private double _allowanceWords;

    /// <summary>Words emitted so far by this instance.</summary>
    public long EmittedWords { get; private set; }

    public override OperatorMetadata Metadata() =>
        new MetadataBuilder(Environment.GetEnvironmentVariable("CONCORD_OPERATOR_NAME") ?? "source").Output(OutputStream);

    public override void Init(IComputationContext context)
    {
        _words = LoadDictionary(options.DictionaryPath);
        if (options.EmittedLogPath is { } path)
        {
            _emittedLog = new StreamWriter(new FileStream(path, FileMode.Append, FileAccess.Write, FileShare.ReadWrite));
        }
        _lastFireUnixMs = time.GetUtcNow().ToUnixTimeMilliseconds();
        context.SetTimer(TimerKey, _lastFireUnixMs + WordCountLimits.SourceTimerIntervalMs);
        context.Log($"source: {_words.Length} words from {options.DictionaryPath}, {options.RateWordsPerSecond} words/s, " +
                    (options.LimitWords == 0 ? "unbounded" : $"limit {options.LimitWords}"));
    }

    public override void ProcessRecord(IComputationContext context, Record record) =>
        throw new InvalidOperationException("the word source has no inputs; deploy it without \"inputs\"");

    public override void ProcessTimer(IComputationContext context, string key, long timeUnixMs)
    {
        var now = time.GetUtcNow().ToUnixTimeMilliseconds();
        // Token bucket: earn rate × elapsed, spend whole words, never hold more than one burst.
        _allowanceWords = Math.Min(
            _allowanceWords + (now - _lastFireUnixMs) * options.RateWordsPerSecond / 1000.0,
            WordCountLimits.SourceBurstWordsMax);
        _lastFireUnixMs = now;
        var count = (long)_allowanceWords;
        if (options.LimitWords > 0)
        {
            count = Math.Min(count, options.LimitWords - EmittedWords);
        }
        _allowanceWords -= count;
        for (var i = 0; i < count; i++)
        {
            var word = _words[_random.Next(_words.Length)];
            context.ProduceRecord(OutputStream, word, ByteString.Empty);
            _emittedLog?.WriteLine(word.ToStringUtf8());
        }
        EmittedWords += count;
        _emittedLog?.Flush();

        if (options.LimitWords == 0 || EmittedWords < options.LimitWords)
        {
            context.SetTimer(TimerKey, now + WordCountLimits.SourceTimerIntervalMs);
        }
        else
        {
            context.Log($"source: limit of {options.LimitWords} words reached, stopping");
        }
    }

    public override void Destroy() => _emittedLog?.Dispose();

    private static ByteString[] LoadDictionary(string path)
    {
        if (!File.Exists(path))
        {
            throw new FileNotFoundException(
                $"dictionary '{Path.GetFullPath(path)}' does not exist; set WORDCOUNT_DICTIONARY to a file with one word per line " +
                "(the deploy file can list it under \"files\" to copy it into the working directory)", path);
        }
        var words = File.ReadLines(path)
            .Select(line => line.Trim())
            .Where(line => line.Length > 0)
            .Select(ByteString.CopyFromUtf8)
            .ToArray();
        if (words.Length == 0)
        {
            throw new InvalidDataException($"dictionary '{Path.GetFullPath(path)}' has no words; put one word per line in it");
        }
        return words;
    }
}
