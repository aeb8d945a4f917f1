using System.Text;
using Concord.Contracts.Operator.V1;
using Concord.Contracts.Types.V1;
using Concord.Executor.Builtins;
using Microsoft.Extensions.Time.Testing;
using static Concord.Executor.Tests.TestSupport;

namespace Concord.Executor.Tests;

public sealed class FileSourceTests : IDisposable
{
    private readonly TempDirectory _dir = new();
    private readonly FakeTimeProvider _time = new(DateTimeOffset.FromUnixTimeMilliseconds(1_700_000_000_000));

    public void Dispose() => _dir.Dispose();

    private OperatorSpec Spec(string path, params (string Key, string Value)[] options)
    {
        var spec = new OperatorSpec { Name = "files", Builtin = new BuiltinOperator { Kind = "file-source", Options = { ["path"] = path } } };
        foreach (var (key, value) in options)
        {
            spec.Builtin.Options[key] = value;
        }
        return spec;
    }

    private string Write(string name, string text)
    {
        var path = Path.Combine(_dir.Path, name);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, text);
        return path;
    }

    /// <summary>Starts the source and fires its timer until it sets none; every record produced, in order.</summary>
    private async Task<List<(string Key, string Value)>> Drain(FileSourceOperator source, int ticksMax = 100)
    {
        await source.StartAsync(new Init(), CancellationToken.None).WaitAsync(Bound);
        await using var answers = source.ReadAnswersAsync(CancellationToken.None).GetAsyncEnumerator();
        Assert.True(await answers.MoveNextAsync().AsTask().WaitAsync(Bound));
        var records = new List<(string, string)>();
        var timer = Assert.Single(answers.Current.TimersSet);
        for (ulong seq = 1; seq <= (ulong)ticksMax; seq++)
        {
            var fire = new ProcessBatch { Seq = seq, TimersFired = { new TimerFired { Key = timer.Key, TimeUnixMs = timer.TimeUnixMs } } };
            await source.SendAsync(fire, CancellationToken.None).AsTask().WaitAsync(Bound);
            Assert.True(await answers.MoveNextAsync().AsTask().WaitAsync(Bound));
            records.AddRange(answers.Current.Produced.Select(p => (p.Record.Key.ToStringUtf8(), p.Record.Value.ToStringUtf8())));
            if (answers.Current.TimersSet.Count == 0)
            {
                return records;
            }
            timer = Assert.Single(answers.Current.TimersSet);
        }
        Assert.Fail($"the file source was still reading after {ticksMax} ticks");
        return records;
    }

    [Fact]
    public async Task Lines_become_records_keyed_by_the_line_then_the_source_finishes()
    {
        var path = Write("in.txt", "one\r\ntwo\n\nthree");
        var source = new FileSourceOperator(Spec(path), _dir.Path, _time);
        var records = await Drain(source);
        Assert.Equal([("one", "one"), ("two", "two"), ("three", "three")], records);
        Assert.Equal(3, source.Produced);
        Assert.True(source.Finished);
    }

    [Fact]
    public async Task Its_stream_is_lines_unless_named()
    {
        var path = Write("in.txt", "a\n");
        var unnamed = await new FileSourceOperator(Spec(path), _dir.Path, _time).StartAsync(new Init(), CancellationToken.None).WaitAsync(Bound);
        Assert.Equal(["lines"], unnamed.Metadata_.Outputs);
        var named = await new FileSourceOperator(Spec(path, ("stream", "words")), _dir.Path, _time).StartAsync(new Init(), CancellationToken.None).WaitAsync(Bound);
        Assert.Equal(["words"], named.Metadata_.Outputs);
    }

    [Fact]
    public async Task A_csv_key_column_keys_the_record_and_the_value_stays_the_whole_line()
    {
        var path = Write("in.csv", "1,apple,red\n2,\"pear, green\",green\n3\n");
        var records = await Drain(new FileSourceOperator(Spec(path, ("format", "csv"), ("key_column", "1")), _dir.Path, _time));
        Assert.Equal([("apple", "1,apple,red"), ("pear, green", "2,\"pear, green\",green"), ("", "3")], records);
    }

    [Fact]
    public void A_key_column_without_csv_format_is_refused_naming_the_fix()
    {
        var path = Write("in.txt", "a\n");
        var e = Assert.Throws<OperatorFailedException>(() => new FileSourceOperator(Spec(path, ("key_column", "0")), _dir.Path, _time));
        Assert.Contains("\"format\": \"csv\"", e.Message);
    }

    [Fact]
    public async Task A_directory_is_read_file_by_file_in_name_order()
    {
        Write("in/b.txt", "b1\nb2\n");
        Write("in/a.txt", "a1\n");
        Write("in/c.txt", "c1\n");
        Directory.CreateDirectory(Path.Combine(_dir.Path, "in", "0-subdirectory-ignored"));
        var records = await Drain(new FileSourceOperator(Spec(Path.Combine(_dir.Path, "in")), _dir.Path, _time, recordsPerAnswerMax: 2));
        Assert.Equal(["a1", "b1", "b2", "c1"], records.Select(r => r.Key));
    }

    [Fact]
    public async Task A_line_over_the_bound_is_dropped_and_counted_and_the_next_lines_still_come()
    {
        var longLine = new string('x', ExecutorLimits.FileSourceLineBytesMax + 1);
        var fits = new string('y', ExecutorLimits.FileSourceLineBytesMax);
        var path = Write("in.txt", $"before\n{longLine}\n{fits}\r\nafter\n{longLine}");
        var source = new FileSourceOperator(Spec(path), _dir.Path, _time);
        var records = await Drain(source);
        Assert.Equal(["before", fits, "after"], records.Select(r => r.Key));
        Assert.Equal(2, source.Dropped);
        Assert.Equal(3, source.Produced);
    }

    [Fact]
    public async Task With_a_rate_it_produces_in_proportion_to_elapsed_time()
    {
        var path = Write("in.txt", string.Concat(Enumerable.Range(0, 5_000).Select(i => $"w{i}\n")));
        var source = new FileSourceOperator(Spec(path, ("rate", "1000")), _dir.Path, _time);
        await source.StartAsync(new Init(), CancellationToken.None).WaitAsync(Bound);
        await using var answers = source.ReadAnswersAsync(CancellationToken.None).GetAsyncEnumerator();
        Assert.True(await answers.MoveNextAsync().AsTask().WaitAsync(Bound));
        var timer = Assert.Single(answers.Current.TimersSet);
        _time.Advance(TimeSpan.FromMilliseconds(50));
        await source.SendAsync(new ProcessBatch { Seq = 1, TimersFired = { new TimerFired { Key = timer.Key, TimeUnixMs = timer.TimeUnixMs } } }, CancellationToken.None).AsTask().WaitAsync(Bound);
        Assert.True(await answers.MoveNextAsync().AsTask().WaitAsync(Bound));
        Assert.Equal(50, answers.Current.Produced.Count); // 50 ms at 1000/s
        Assert.Equal("w0", answers.Current.Produced[0].Record.Key.ToStringUtf8());
        Assert.Equal(_time.GetUtcNow().ToUnixTimeMilliseconds() + ExecutorLimits.SourceRateTickMs, Assert.Single(answers.Current.TimersSet).TimeUnixMs);
    }

    [Fact]
    public async Task Stats_say_how_many_records_were_produced_and_that_it_finished()
    {
        var path = Write("in.txt", "a\nb\n");
        var stats = Path.Combine(_dir.Path, "stats.json");
        await Drain(new FileSourceOperator(Spec(path, ("stats", stats)), _dir.Path, _time));
        var text = File.ReadAllText(stats);
        Assert.Contains("\"produced\":2", text);
        Assert.Contains("\"finished\":true", text);
    }

    [Fact]
    public void A_fifo_is_refused_before_it_is_opened()
    {
        var fifo = Path.Combine(_dir.Path, "pipe");
        using (var mkfifo = System.Diagnostics.Process.Start("mkfifo", [fifo]))
        {
            Assert.True(mkfifo.WaitForExit(Bound));
            Assert.Equal(0, mkfifo.ExitCode);
        }
        var e = Assert.Throws<OperatorFailedException>(() => new FileSourceOperator(Spec(fifo), _dir.Path, _time));
        Assert.Contains("not a regular file", e.Message);
    }

    [Fact]
    public void A_path_outside_the_allowed_directories_is_refused()
    {
        var e = Assert.Throws<OperatorFailedException>(() => new FileSourceOperator(Spec("/etc/hostname"), _dir.Path, _time));
        Assert.Contains("outside the instance's directory", e.Message);
    }

    [Fact]
    public void A_missing_path_is_refused_naming_it()
    {
        var e = Assert.Throws<OperatorFailedException>(() => new FileSourceOperator(Spec(Path.Combine(_dir.Path, "nope.txt")), _dir.Path, _time));
        Assert.Contains("does not exist", e.Message);
    }

    [Fact]
    public void Csv_columns_handle_quotes_and_missing_columns()
    {
        Assert.Equal("b", Encoding.UTF8.GetString(FileSourceOperator.CsvColumn("a,b,c"u8, 1)));
        Assert.Equal("c", Encoding.UTF8.GetString(FileSourceOperator.CsvColumn("a,b,c"u8, 2)));
        Assert.Equal("x,y", Encoding.UTF8.GetString(FileSourceOperator.CsvColumn("\"x,y\",z"u8, 0)));
        Assert.Equal("z", Encoding.UTF8.GetString(FileSourceOperator.CsvColumn("\"x,y\",z"u8, 1)));
        Assert.Equal("", Encoding.UTF8.GetString(FileSourceOperator.CsvColumn("a"u8, 3)));
        Assert.Equal("", Encoding.UTF8.GetString(FileSourceOperator.CsvColumn("a,,b"u8, 1)));
    }
}
