using Concord.Contracts.Types.V1;
using Concord.Examples.WordCount;
using Google.Protobuf;

namespace Concord.Sdk.Tests;

/// <summary>Collects what a callback produces, for testing computations without a session.</summary>
internal sealed class RecordingContext : IComputationContext
{
    public List<(string Stream, string Key, string Value)> Produced { get; } = [];
    public List<(string Key, long TimeUnixMs)> Timers { get; } = [];
    public List<string> Logs { get; } = [];

    public string OperatorName => "test";
    public int InstanceIndex => 0;
    public int InstanceCount => 1;

    public void ProduceRecord(string stream, ByteString key, ByteString value, long eventTimeUnixMs = 0) =>
        Produced.Add((stream, key.ToStringUtf8(), value.ToStringUtf8()));

    public void SetTimer(string key, long timeUnixMs) => Timers.Add((key, timeUnixMs));

    public void Log(string message, OperatorLogLevel level = OperatorLogLevel.Info) => Logs.Add(message);
}

public sealed class WordCountTests
{
    private static readonly DateTimeOffset Start = DateTimeOffset.FromUnixTimeMilliseconds(1_700_000_000_000);

    private static ConcordRecord Word(string word) => new() { Key = ByteString.CopyFromUtf8(word) };

    [Fact]
    public void Counter_emits_the_updated_count_of_every_word_it_reads()
    {
        var counter = new WordCounter();
        var context = new RecordingContext();

        foreach (var word in new[] { "a", "b", "a", "a" })
        {
            counter.ProcessRecord(context, Word(word));
        }

        Assert.Equal([("counts", "a", "1"), ("counts", "b", "1"), ("counts", "a", "2"), ("counts", "a", "3")], context.Produced);
        Assert.Equal(3, counter.Counts["a"]);
    }

    [Fact]
    public void Counter_reads_words_grouped_by_key_and_writes_counts()
    {
        var metadata = new WordCounter().Metadata();
        Assert.Equal(("words", Grouping.GroupBy), (metadata.Inputs.Single().Name, metadata.Inputs.Single().Grouping));
        Assert.Equal(["counts"], metadata.Outputs);
    }

    [Fact]
    public void Source_emits_at_its_rate_stops_at_its_limit_and_logs_every_word()
    {
        var directory = new TempDirectory();
        try
        {
            var dictionary = Path.Combine(directory.Path, "words.txt");
            File.WriteAllLines(dictionary, ["alpha", "beta", "", "gamma"]);
            var emittedLog = Path.Combine(directory.Path, "emitted.txt");
            var time = new ManualTimeProvider(Start);
            var source = new WordSource(new WordSourceOptions(dictionary, RateWordsPerSecond: 1000, LimitWords: 25, emittedLog), time, new Random(7));
            var context = new RecordingContext();

            source.Init(context);
            Assert.Equal(("emit", Start.ToUnixTimeMilliseconds() + WordCountLimits.SourceTimerIntervalMs), context.Timers.Single());

            time.Advance(TimeSpan.FromMilliseconds(10));
            source.ProcessTimer(context, "emit", 0);
            Assert.Equal(10, context.Produced.Count); // 1,000 words/s for 10 ms
            Assert.Equal(2, context.Timers.Count);

            time.Advance(TimeSpan.FromSeconds(1));
            source.ProcessTimer(context, "emit", 0);
            Assert.Equal(25, context.Produced.Count); // capped by the limit
            Assert.Equal(2, context.Timers.Count);   // no timer after the limit
            source.Destroy();

            Assert.All(context.Produced, p => Assert.Contains(p.Key, new[] { "alpha", "beta", "gamma" }));
            Assert.Equal(context.Produced.Select(p => p.Key), File.ReadAllLines(emittedLog));
        }
        finally
        {
            directory.Dispose();
        }
    }

    [Fact]
    public void Source_options_reject_a_bad_rate_naming_the_variable()
    {
        var e = Assert.Throws<ArgumentException>(() =>
            WordSourceOptions.FromEnvironment(name => name == "WORDCOUNT_RATE" ? "fast" : null));
        Assert.Contains("WORDCOUNT_RATE='fast'", e.Message);
    }

    [Fact]
    public void Source_with_a_missing_dictionary_fails_in_Init_naming_the_path_and_the_variable()
    {
        var source = new WordSource(new WordSourceOptions("/nonexistent/words.txt"), TimeProvider.System);
        var e = Assert.Throws<FileNotFoundException>(() => source.Init(new RecordingContext()));
        Assert.Contains("/nonexistent/words.txt", e.Message);
        Assert.Contains("WORDCOUNT_DICTIONARY", e.Message);
    }

    [Fact]
    public void Sink_writes_word_count_lines_and_flushes_on_its_timer()
    {
        var directory = new TempDirectory();
        try
        {
            var output = Path.Combine(directory.Path, "counts.csv");
            var time = new ManualTimeProvider(Start);
            var sink = new CountSink(output, time);
            var context = new RecordingContext();
            sink.Init(context);

            sink.ProcessRecord(context, new ConcordRecord { Key = ByteString.CopyFromUtf8("a"), Value = ByteString.CopyFromUtf8("1") });
            sink.ProcessRecord(context, new ConcordRecord { Key = ByteString.CopyFromUtf8("a"), Value = ByteString.CopyFromUtf8("2") });
            time.Advance(TimeSpan.FromMilliseconds(WordCountLimits.SinkFlushIntervalMs));
            sink.ProcessTimer(context, "flush", 0);

            using (var reader = new StreamReader(new FileStream(output, FileMode.Open, FileAccess.Read, FileShare.ReadWrite)))
            {
                Assert.Equal("a,1\na,2\n", reader.ReadToEnd());
            }
            Assert.Equal(2, context.Timers.Count);
            sink.Destroy();
        }
        finally
        {
            directory.Dispose();
        }
    }
}
