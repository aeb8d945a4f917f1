using Concord.Contracts;
using Concord.Contracts.Operator.V1;
using Concord.Contracts.Types.V1;
using Concord.Executor.Builtins;
using Microsoft.Extensions.Time.Testing;
using static Concord.Executor.Tests.TestSupport;

namespace Concord.Executor.Tests;

public sealed class BuiltinTests : IDisposable
{
    private readonly TempDirectory _dir = new();
    private readonly FakeTimeProvider _time = new(DateTimeOffset.FromUnixTimeMilliseconds(1_700_000_000_000));

    public void Dispose() => _dir.Dispose();

    private OperatorSpec GeneratorSpec(params (string Key, string Value)[] options)
    {
        var words = Path.Combine(_dir.Path, "words.txt");
        File.WriteAllLines(words, ["one", "", "two"]);
        var spec = new OperatorSpec { Name = "gen", Builtin = new BuiltinOperator { Kind = "generator", Options = { ["dictionary"] = words } } };
        foreach (var (key, value) in options)
        {
            spec.Builtin.Options[key] = value;
        }
        return spec;
    }

    private static async Task<Concord.Executor.Records.RawAnswer> Answer(BuiltinSession session, ProcessBatch batch)
    {
        await session.SendAsync(batch, CancellationToken.None).AsTask().WaitAsync(Bound);
        await using var answers = session.ReadAnswersAsync(CancellationToken.None).GetAsyncEnumerator();
        Assert.True(await answers.MoveNextAsync().AsTask().WaitAsync(Bound));
        return answers.Current;
    }

    [Fact]
    public async Task Generator_produces_words_on_its_timer_and_stops_after_count()
    {
        var generator = new GeneratorOperator(GeneratorSpec(("count", "1500")), _dir.Path, _time);
        var metadata = await generator.StartAsync(new Init(), CancellationToken.None).WaitAsync(Bound);
        Assert.Equal(["words"], metadata.Metadata_.Outputs);
        await using var answers = generator.ReadAnswersAsync(CancellationToken.None).GetAsyncEnumerator();
        Assert.True(await answers.MoveNextAsync().AsTask().WaitAsync(Bound));
        var timer = Assert.Single(answers.Current.TimersSet);

        var fire = new ProcessBatch { Seq = 1, TimersFired = { new TimerFired { Key = timer.Key, TimeUnixMs = timer.TimeUnixMs } } };
        await generator.SendAsync(fire, CancellationToken.None).AsTask().WaitAsync(Bound);
        Assert.True(await answers.MoveNextAsync().AsTask().WaitAsync(Bound));
        Assert.Equal(ExecutorLimits.BatchRowsMax, answers.Current.Produced.Count);
        Assert.All(answers.Current.Produced, p => Assert.Contains(p.Record.Key.ToStringUtf8(), new[] { "one", "two" }));
        Assert.Single(answers.Current.TimersSet);

        fire.Seq = 2;
        await generator.SendAsync(fire, CancellationToken.None).AsTask().WaitAsync(Bound);
        Assert.True(await answers.MoveNextAsync().AsTask().WaitAsync(Bound));
        Assert.Equal(1500 - ExecutorLimits.BatchRowsMax, answers.Current.Produced.Count);
        Assert.Empty(answers.Current.TimersSet); // done: no further timer
        Assert.Equal(1500, generator.Produced);
    }

    [Fact]
    public async Task Generator_with_a_rate_produces_in_proportion_to_elapsed_time()
    {
        var generator = new GeneratorOperator(GeneratorSpec(("rate", "1000")), _dir.Path, _time);
        await generator.StartAsync(new Init(), CancellationToken.None).WaitAsync(Bound);
        await using var answers = generator.ReadAnswersAsync(CancellationToken.None).GetAsyncEnumerator();
        Assert.True(await answers.MoveNextAsync().AsTask().WaitAsync(Bound));

        _time.Advance(TimeSpan.FromMilliseconds(50));
        await generator.SendAsync(new ProcessBatch { Seq = 1, TimersFired = { new TimerFired { Key = "generate" } } }, CancellationToken.None).AsTask().WaitAsync(Bound);
        Assert.True(await answers.MoveNextAsync().AsTask().WaitAsync(Bound));
        Assert.Equal(50, answers.Current.Produced.Count);
        Assert.Equal(_time.GetUtcNow().ToUnixTimeMilliseconds() + ExecutorLimits.SourceRateTickMs, Assert.Single(answers.Current.TimersSet).TimeUnixMs);
    }

    [Fact]
    public void Generator_without_dictionary_is_refused_naming_the_option()
    {
        var spec = new OperatorSpec { Name = "gen", Builtin = new BuiltinOperator { Kind = "generator" } };
        var e = Assert.Throws<OperatorFailedException>(() => new GeneratorOperator(spec, _dir.Path, _time));
        Assert.Contains("needs option 'dictionary'", e.Message);
    }

    [Fact]
    public void Unknown_option_is_refused_listing_the_known_ones()
    {
        var e = Assert.Throws<OperatorFailedException>(() => new GeneratorOperator(GeneratorSpec(("speed", "9")), _dir.Path, _time));
        Assert.Contains("no option 'speed'", e.Message);
        Assert.Contains("stream, rate, dictionary, count", e.Message);
    }

    [Fact]
    public void Unknown_kind_is_refused_listing_the_kinds()
    {
        var spec = new OperatorSpec { Name = "x", Builtin = new BuiltinOperator { Kind = "http-source" } };
        var e = Assert.Throws<OperatorFailedException>(() => BuiltinOperators.Create(spec, _dir.Path, 0, _time, TestTelemetry.Metrics()));
        Assert.Contains("'http-source'", e.Message);
        Assert.Contains("generator, csv-sink", e.Message);
    }

    [Fact]
    public async Task Csv_sink_writes_key_value_lines_and_flushes_within_the_interval()
    {
        var spec = new OperatorSpec
        {
            Name = "sink",
            ExpectedInputs = { new InputStream { Name = "counts" } },
            Builtin = new BuiltinOperator { Kind = "csv-sink", Options = { ["path"] = "out/counts-{instance}.csv" } },
        };
        var sink = new CsvSinkOperator(spec, _dir.Path, 3, _time);
        Assert.Equal(Path.Combine(_dir.Path, "out", "counts-3.csv"), sink.Path);
        var metadata = await sink.StartAsync(new Init(), CancellationToken.None).WaitAsync(Bound);
        Assert.Equal("counts", Assert.Single(metadata.Metadata_.Inputs).Name);
        await using var answers = sink.ReadAnswersAsync(CancellationToken.None).GetAsyncEnumerator();
        Assert.True(await answers.MoveNextAsync().AsTask().WaitAsync(Bound));

        await sink.SendAsync(new ProcessBatch { Seq = 1, Records = { Record("a", "1"), Record("b", "2") } }, CancellationToken.None).AsTask().WaitAsync(Bound);
        Assert.True(await answers.MoveNextAsync().AsTask().WaitAsync(Bound));
        Assert.Equal("a,1\nb,2\n", ReadShared(sink.Path)); // first write flushes at once

        _time.Advance(TimeSpan.FromMilliseconds(10));
        await sink.SendAsync(new ProcessBatch { Seq = 2, Records = { Record("c", "3") } }, CancellationToken.None).AsTask().WaitAsync(Bound);
        Assert.True(await answers.MoveNextAsync().AsTask().WaitAsync(Bound));
        var flushTimer = Assert.Single(answers.Current.TimersSet);
        Assert.True(flushTimer.TimeUnixMs <= _time.GetUtcNow().ToUnixTimeMilliseconds() + ExecutorLimits.CsvSinkFlushIntervalMs);

        _time.Advance(TimeSpan.FromMilliseconds(ExecutorLimits.CsvSinkFlushIntervalMs));
        await sink.SendAsync(new ProcessBatch { Seq = 3, TimersFired = { new TimerFired { Key = flushTimer.Key, TimeUnixMs = flushTimer.TimeUnixMs } } }, CancellationToken.None).AsTask().WaitAsync(Bound);
        Assert.True(await answers.MoveNextAsync().AsTask().WaitAsync(Bound));
        Assert.Equal("a,1\nb,2\nc,3\n", ReadShared(sink.Path));

        await sink.SendShutdownAsync("done", CancellationToken.None);
        Assert.False(await answers.MoveNextAsync().AsTask().WaitAsync(Bound));
    }

    private static string ReadShared(string path)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        return new StreamReader(stream).ReadToEnd();
    }
}
