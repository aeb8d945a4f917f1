using System.Text;
using Concord.Contracts.Operator.V1;
using Concord.Contracts.Types.V1;
using Concord.Executor.Builtins;
using Concord.Executor.Checkpoints;
using Microsoft.Extensions.Time.Testing;
using static Concord.Executor.Tests.TestSupport;

namespace Concord.Executor.Tests;

/// <summary>
/// The built-ins' <see cref="ICheckpointedOperator"/> side, called directly between batches as
/// the executor does: sources replay identical records after a restore, the transactional
/// csv-sink never shows uncommitted records and a restore commits or deletes exactly what it must.
/// </summary>
public sealed class BuiltinCheckpointTests : IDisposable
{
    private readonly TempDirectory _dir = new();
    private readonly FakeTimeProvider _time = new(DateTimeOffset.FromUnixTimeMilliseconds(1_700_000_000_000));

    public void Dispose() => _dir.Dispose();

    /// <summary>Drives a built-in: starts it, fires its timer and sends record batches, returning each answer's produced records.</summary>
    private sealed class Driver : IAsyncDisposable
    {
        private readonly BuiltinSession _session;
        private IAsyncEnumerator<Records.RawAnswer>? _answers;
        private ulong _seq;
        private string? _timer;

        public Driver(BuiltinSession session) => _session = session;

        public async Task StartAsync()
        {
            await _session.StartAsync(new Init(), CancellationToken.None).WaitAsync(Bound);
            _answers = _session.ReadAnswersAsync(CancellationToken.None).GetAsyncEnumerator();
            Assert.True(await _answers.MoveNextAsync().AsTask().WaitAsync(Bound));
            _timer = _answers.Current.TimersSet.FirstOrDefault()?.Key;
        }

        /// <summary>Fires the source's timer once; the records of the answer.</summary>
        public async Task<List<string>> FireAsync()
        {
            var batch = new ProcessBatch { Seq = ++_seq, TimersFired = { new TimerFired { Key = _timer ?? "none" } } };
            await _session.SendAsync(batch, CancellationToken.None).AsTask().WaitAsync(Bound);
            Assert.True(await _answers!.MoveNextAsync().AsTask().WaitAsync(Bound));
            return [.. _answers.Current.Produced.Select(p => $"{p.Record.Key.ToStringUtf8()},{p.Record.Value.ToStringUtf8()}")];
        }

        public async Task SendAsync(params string[] keys)
        {
            var batch = new ProcessBatch { Seq = ++_seq };
            batch.Records.AddRange(keys.Select(k => Record(k, "v")));
            await _session.SendAsync(batch, CancellationToken.None).AsTask().WaitAsync(Bound);
            Assert.True(await _answers!.MoveNextAsync().AsTask().WaitAsync(Bound));
        }

        public async ValueTask DisposeAsync()
        {
            if (_answers is not null)
            {
                await _answers.DisposeAsync();
            }
            await _session.DisposeAsync();
        }
    }

    private OperatorSpec Generator(int instances, params (string Key, string Value)[] options)
    {
        var words = Path.Combine(_dir.Path, "words.txt");
        File.WriteAllLines(words, Enumerable.Range(0, 50).Select(i => $"w{i}"));
        var spec = new OperatorSpec
        {
            Name = "gen",
            Instances = instances,
            Delivery = DeliveryGuarantee.DeliveryExactlyOnce,
            Builtin = new BuiltinOperator { Kind = "generator", Options = { ["dictionary"] = words } },
        };
        foreach (var (key, value) in options)
        {
            spec.Builtin.Options[key] = value;
        }
        return spec;
    }

    /// <summary>What lane <paramref name="lane"/> produces at positions [from, to): the reference a test compares with.</summary>
    private static IEnumerable<string> Reference(ulong seed, int lane, long from, long to) =>
        Enumerable.Range((int)from, (int)(to - from)).Select(p => $"w{GeneratorOperator.WordIndex(seed, lane, p, 50)}").Select(w => $"{w},{w}");

    [Fact]
    public async Task Generator_replays_identical_records_after_a_restore()
    {
        var generator = new GeneratorOperator(Generator(1, ("seed", "7")), _dir.Path, _time, recordsPerAnswerMax: 10);
        await using var first = new Driver(generator);
        await first.StartAsync();
        var before = await first.FireAsync();
        var snapshot = ((ICheckpointedOperator)generator).SnapshotOperator(1);
        var after = (await first.FireAsync()).Concat(await first.FireAsync()).ToList();

        Assert.Equal(Reference(7, 0, 0, 10), before);
        Assert.Equal(Reference(7, 0, 10, 30), after);
        Assert.True(after.Distinct().Count() > 1, "the words vary with the position");

        var restoredGenerator = new GeneratorOperator(Generator(1, ("seed", "7")), _dir.Path, _time, recordsPerAnswerMax: 10);
        ((ICheckpointedOperator)restoredGenerator).RestoreOperator(1, new Dictionary<int, byte[]> { [0] = snapshot });
        await using var restored = new Driver(restoredGenerator);
        await restored.StartAsync();
        var replayed = (await restored.FireAsync()).Concat(await restored.FireAsync()).ToList();
        Assert.Equal(after, replayed);
    }

    [Fact]
    public async Task Generator_rescaled_from_two_instances_to_one_finishes_both_lanes_so_the_reference_stays_computable()
    {
        const int Count = 25;
        var snapshots = new Dictionary<int, byte[]>();
        var produced = new List<string>();
        for (var index = 0; index < 2; index++)
        {
            var generator = new GeneratorOperator(Generator(2, ("count", $"{Count}")), _dir.Path, _time, recordsPerAnswerMax: 10, instanceIndex: index);
            await using var driver = new Driver(generator);
            await driver.StartAsync();
            produced.AddRange(await driver.FireAsync());
            snapshots[index] = generator.SnapshotOperator(3);
        }

        var single = new GeneratorOperator(Generator(1, ("count", $"{Count}")), _dir.Path, _time, recordsPerAnswerMax: 100);
        single.RestoreOperator(3, snapshots);
        Assert.Equal(new Dictionary<int, long> { [0] = 10, [1] = 10 }, single.Lanes);
        await using (var driver = new Driver(single))
        {
            await driver.StartAsync();
            produced.AddRange(await driver.FireAsync());
        }
        Assert.Equal(2 * Count, single.Produced);

        var reference = Reference(0, 0, 0, Count).Concat(Reference(0, 1, 0, Count)).Order().ToList();
        Assert.Equal(reference, produced.Order().ToList());
    }

    [Fact]
    public async Task File_source_continues_after_the_last_line_of_its_snapshot()
    {
        var directory = Path.Combine(_dir.Path, "in");
        Directory.CreateDirectory(directory);
        File.WriteAllText(Path.Combine(directory, "a.txt"), "a1\n\na2\r\na3\n");
        File.WriteAllText(Path.Combine(directory, "b.txt"), "b1\nb2");
        var spec = new OperatorSpec { Name = "files", Builtin = new BuiltinOperator { Kind = "file-source", Options = { ["path"] = directory } } };

        var source = new FileSourceOperator(spec, _dir.Path, _time, recordsPerAnswerMax: 2);
        await using var first = new Driver(source);
        await first.StartAsync();
        Assert.Equal(["a1,a1", "a2,a2"], await first.FireAsync());
        var snapshot = source.SnapshotOperator(1);
        Assert.Equal((Path.Combine(directory, "a.txt"), 8L), source.Position); // "a1\n" "\n" "a2\r\n": the offset past "a2"
        var rest = (await first.FireAsync()).Concat(await first.FireAsync()).ToList();
        Assert.Equal(["a3,a3", "b1,b1", "b2,b2"], rest);

        var restoredSource = new FileSourceOperator(spec, _dir.Path, _time, recordsPerAnswerMax: 2);
        restoredSource.RestoreOperator(1, new Dictionary<int, byte[]> { [0] = snapshot });
        await using var restored = new Driver(restoredSource);
        await restored.StartAsync();
        Assert.Equal(rest, (await restored.FireAsync()).Concat(await restored.FireAsync()).ToList());
        Assert.Equal(5, restoredSource.Produced);
    }

    private OperatorSpec CsvSink(int instances = 1) => new()
    {
        Name = "sink",
        Instances = instances,
        Delivery = DeliveryGuarantee.DeliveryExactlyOnce,
        ExpectedInputs = { new InputStream { Name = "counts" } },
        Builtin = new BuiltinOperator { Kind = "csv-sink", Options = { ["path"] = "out" } },
    };

    /// <summary>The committed output: the part files' lines, by file name (instance, then checkpoint).</summary>
    private string Committed() => string.Concat(Directory.GetFiles(Path.Combine(_dir.Path, "out"), CsvSinkOperator.PartPrefix + "*")
        .Order(StringComparer.Ordinal).Select(File.ReadAllText));

    private string[] Names() => [.. Directory.GetFiles(Path.Combine(_dir.Path, "out")).Select(Path.GetFileName).Order(StringComparer.Ordinal)!];

    [Fact]
    public async Task Csv_sink_shows_records_only_once_their_checkpoint_completed()
    {
        var sink = new CsvSinkOperator(CsvSink(), _dir.Path, 0, _time);
        await using var driver = new Driver(sink);
        await driver.StartAsync();
        await driver.SendAsync("a", "b");
        Assert.Equal("", Committed());
        sink.SnapshotOperator(1);
        await driver.SendAsync("c");
        sink.SnapshotOperator(2);
        await driver.SendAsync("d");
        Assert.Equal("", Committed()); // pre-committed is not committed

        sink.CheckpointCompleted(1);
        Assert.Equal("a,v\nb,v\n", Committed());
        sink.CheckpointAborted(2); // its pending file joins the next completed checkpoint
        sink.SnapshotOperator(3);
        sink.CheckpointCompleted(3);
        Assert.Equal("a,v\nb,v\nc,v\nd,v\n", Committed());
        Assert.Equal([CsvSinkOperator.PartName(0, 1), CsvSinkOperator.PartName(0, 2), CsvSinkOperator.PartName(0, 3)], Names());
        sink.CheckpointCompleted(3); // idempotent
        Assert.Equal(3, Names().Length);
    }

    [Fact]
    public async Task Csv_sink_crash_after_a_snapshot_restore_commits_what_the_checkpoint_holds_and_deletes_the_rest()
    {
        var sink = new CsvSinkOperator(CsvSink(), _dir.Path, 0, _time);
        byte[] snapshot2;
        await using (var driver = new Driver(sink))
        {
            await driver.StartAsync();
            await driver.SendAsync("a");
            sink.SnapshotOperator(1);
            sink.CheckpointCompleted(1);
            await driver.SendAsync("b");
            snapshot2 = sink.SnapshotOperator(2);
            await driver.SendAsync("c");
            sink.SnapshotOperator(3);
            await driver.SendAsync("d"); // in progress at the crash
            // Crash: neither 2 nor 3 is confirmed to the sink.
        }
        Assert.Equal("a,v\n", Committed());
        Assert.Equal(4, Names().Length); // part 1, pending 2 and 3, in-progress

        // Checkpoint 2 completed (the coordinator recorded it) but the sink never heard: the restore commits it.
        var restored = new CsvSinkOperator(CsvSink(), _dir.Path, 0, _time);
        restored.RestoreOperator(2, new Dictionary<int, byte[]> { [0] = snapshot2 });
        Assert.Equal("a,v\nb,v\n", Committed());
        Assert.Equal([CsvSinkOperator.PartName(0, 1), CsvSinkOperator.PartName(0, 2)], Names());

        // Restoring the same checkpoint again (a second failure) changes nothing.
        new CsvSinkOperator(CsvSink(), _dir.Path, 0, _time).RestoreOperator(2, new Dictionary<int, byte[]> { [0] = snapshot2 });
        Assert.Equal([CsvSinkOperator.PartName(0, 1), CsvSinkOperator.PartName(0, 2)], Names());
    }

    [Fact]
    public async Task Csv_sink_scaled_down_commits_and_cleans_the_removed_instances_files()
    {
        var snapshots = new Dictionary<int, byte[]>();
        for (var index = 0; index < 2; index++)
        {
            var sink = new CsvSinkOperator(CsvSink(instances: 2), _dir.Path, index, _time);
            await using var driver = new Driver(sink);
            await driver.StartAsync();
            await driver.SendAsync($"k{index}");
            snapshots[index] = sink.SnapshotOperator(5);
            await driver.SendAsync($"late{index}");
        }
        Assert.Equal("", Committed());

        var single = new CsvSinkOperator(CsvSink(instances: 1), _dir.Path, 0, _time);
        single.RestoreOperator(5, snapshots);
        Assert.Equal("k0,v\nk1,v\n", Committed());
        Assert.Equal([CsvSinkOperator.PartName(0, 5), CsvSinkOperator.PartName(1, 5)], Names());
    }

    [Fact]
    public async Task Csv_sink_at_most_once_keeps_appending_to_its_file()
    {
        var spec = CsvSink();
        spec.Delivery = DeliveryGuarantee.DeliveryAtMostOnce;
        spec.Builtin.Options["path"] = "out.csv";
        var sink = new CsvSinkOperator(spec, _dir.Path, 0, _time);
        await using var driver = new Driver(sink);
        await driver.StartAsync();
        await driver.SendAsync("a");
        sink.SnapshotOperator(1);
        sink.RestoreOperator(1, new Dictionary<int, byte[]>());
        using var stream = new FileStream(Path.Combine(_dir.Path, "out.csv"), FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        Assert.Equal("a,v\n", Encoding.UTF8.GetString(new BinaryReader(stream).ReadBytes(100)));
    }

    [Fact]
    public async Task Csv_sink_at_least_once_cuts_off_the_torn_line_a_killed_incarnation_left_before_appending()
    {
        var spec = CsvSink();
        spec.Delivery = DeliveryGuarantee.DeliveryAtLeastOnce;
        spec.Builtin.Options["path"] = "out.csv";
        var path = Path.Combine(_dir.Path, "out.csv");
        // Killed while its buffer was being written: "b,v" was cut after "b,"; its record comes again in the replay.
        File.WriteAllText(path, "a,v\nb,");
        var sink = new CsvSinkOperator(spec, _dir.Path, 0, _time);
        await using (var driver = new Driver(sink))
        {
            await driver.StartAsync();
            await driver.SendAsync("b", "c");
        }
        Assert.Equal("a,v\nb,v\nc,v\n", File.ReadAllText(path));

        // A torn first line goes entirely; a file of whole lines is kept as it is.
        File.WriteAllText(path, "x");
        await new CsvSinkOperator(spec, _dir.Path, 0, _time).DisposeAsync();
        Assert.Equal("", File.ReadAllText(path));
        File.WriteAllText(path, "a,v\n");
        await new CsvSinkOperator(spec, _dir.Path, 0, _time).DisposeAsync();
        Assert.Equal("a,v\n", File.ReadAllText(path));
    }
}
