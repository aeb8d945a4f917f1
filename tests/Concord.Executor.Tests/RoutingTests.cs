using System.Text;
using Concord.Contracts;
using Concord.Contracts.Scheduler.V1;
using Concord.Contracts.Types.V1;
using Concord.Executor.Routing;

namespace Concord.Executor.Tests;

public class RoutingTests
{
    internal static RoutingTable Table(string stream, Grouping grouping, int instances, string reader = "counter")
    {
        var r = new Reader { OperatorName = reader, Grouping = grouping };
        for (var i = 0; i < instances; i++)
        {
            var (start, end) = KeyGroups.RangeOf(i, instances);
            r.Instances.Add(new ReaderInstance
            {
                Index = i,
                DataAddress = $"127.0.0.1:{7000 + i}",
                Incarnation = $"inc-{i}",
                KeyGroupStart = start,
                KeyGroupEnd = end,
            });
        }
        return new RoutingTable { Version = 1, KeyGroupCount = ProtocolLimits.KeyGroupCount, Streams = { new StreamRoute { Stream = stream, Readers = { r } } } };
    }

    private static RoutingTableView<ReaderInstance> Compile(RoutingTable table) =>
        RoutingTableView<ReaderInstance>.Compile(table, (_, _, instance) => instance);

    [Fact]
    public void Group_by_sends_each_key_to_exactly_one_instance_the_one_owning_its_key_group()
    {
        var view = Compile(Table("words", Grouping.GroupBy, 3));
        var targets = new List<ReaderInstance>();
        for (var k = 0; k < 5_000; k++)
        {
            var key = Encoding.UTF8.GetBytes($"word-{k}");
            targets.Clear();
            Assert.True(view.Select("words", key, targets));
            var target = Assert.Single(targets);
            var group = KeyGroups.Of(key);
            Assert.InRange(group, target.KeyGroupStart, target.KeyGroupEnd - 1);
            // Same key again: same instance.
            targets.Clear();
            view.Select("words", key, targets);
            Assert.Equal(target.Index, Assert.Single(targets).Index);
        }
    }

    [Fact]
    public void Shuffle_spreads_records_round_robin_over_every_instance()
    {
        var view = Compile(Table("words", Grouping.Shuffle, 4));
        var counts = new int[4];
        var targets = new List<ReaderInstance>();
        for (var i = 0; i < 4_000; i++)
        {
            targets.Clear();
            view.Select("words", "same-key"u8, targets);
            counts[Assert.Single(targets).Index]++;
        }
        Assert.All(counts, c => Assert.Equal(1_000, c));
    }

    [Fact]
    public void Broadcast_reaches_every_instance()
    {
        var view = Compile(Table("words", Grouping.Broadcast, 5));
        var targets = new List<ReaderInstance>();
        view.Select("words", "k"u8, targets);
        Assert.Equal([0, 1, 2, 3, 4], targets.Select(t => t.Index));
    }

    [Fact]
    public void Stream_without_readers_selects_nothing()
    {
        var view = Compile(Table("words", Grouping.Shuffle, 1));
        var targets = new List<ReaderInstance>();
        Assert.False(view.Select("counts", "k"u8, targets));
        Assert.Empty(targets);
    }

    [Fact]
    public void Group_by_table_with_an_unowned_key_group_is_refused_with_the_group_named()
    {
        var table = Table("words", Grouping.GroupBy, 2);
        table.Streams[0].Readers[0].Instances[1].KeyGroupStart = 70; // groups 64..69 now unowned
        var e = Assert.Throws<RoutingTableException>(() => Compile(table));
        Assert.Contains("key group 64 has no instance", e.Message);
    }

    [Fact]
    public void Every_reader_of_a_stream_gets_the_record()
    {
        var table = Table("words", Grouping.GroupBy, 2);
        table.Streams[0].Readers.Add(Table("words", Grouping.Shuffle, 1, reader: "audit").Streams[0].Readers[0]);
        var view = RoutingTableView<string>.Compile(table, (_, reader, instance) => $"{reader}/{instance.Index}");
        var targets = new List<string>();
        view.Select("words", "hello"u8, targets);
        Assert.Equal(2, targets.Count);
        Assert.Contains("audit/0", targets);
        Assert.Single(targets, t => t.StartsWith("counter/", StringComparison.Ordinal));
    }
}
