using Concord.Contracts;
using Concord.Contracts.Types.V1;
using Concord.Scheduler.Reconcile;

namespace Concord.Scheduler.Tests;

public sealed class RoutingTableBuilderTests
{
    private static RoutingOperator Reader(string name, string stream, Grouping grouping, int instances, Func<int, bool>? running = null) =>
        new(name,
            [new InputStream { Name = stream, Grouping = grouping }],
            [],
            Enumerable.Range(0, instances)
                .Select(i => (running ?? (_ => true))(i) ? new RoutingInstance(i, $"127.0.0.1:{7000 + i}", $"inc-{name}-{i}") : new RoutingInstance(i, "", $"inc-{name}-{i}"))
                .ToList());

    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    [InlineData(7)]
    [InlineData(64)]
    [InlineData(128)]
    public void Group_by_ranges_cover_every_key_group_exactly_once(int instances)
    {
        var table = RoutingTableBuilder.Build([Reader("counter", "words", Grouping.GroupBy, instances)], 1);

        var owners = new int[ProtocolLimits.KeyGroupCount];
        var reader = Assert.Single(Assert.Single(table.Streams).Readers);
        Assert.Equal(instances, reader.Instances.Count);
        foreach (var instance in reader.Instances)
        {
            for (var group = instance.KeyGroupStart; group < instance.KeyGroupEnd; group++)
            {
                owners[group]++;
            }
        }
        Assert.All(owners, count => Assert.Equal(1, count));
        Assert.Equal(ProtocolLimits.KeyGroupCount, table.KeyGroupCount);
    }

    [Fact]
    public void A_second_reader_of_a_stream_appears_beside_the_first()
    {
        var before = RoutingTableBuilder.Build([Reader("counter", "words", Grouping.GroupBy, 2)], 1);
        var after = RoutingTableBuilder.Build([Reader("counter", "words", Grouping.GroupBy, 2), Reader("archive", "words", Grouping.Shuffle, 1)], 2);

        Assert.Equal(["counter"], Assert.Single(before.Streams).Readers.Select(r => r.OperatorName));
        var route = Assert.Single(after.Streams);
        Assert.Equal(["archive", "counter"], route.Readers.Select(r => r.OperatorName));
        Assert.Equal(Grouping.Shuffle, route.Readers[0].Grouping);
        Assert.False(RoutingTableBuilder.SameRoutes(before, after));
    }

    [Fact]
    public void An_instance_that_is_not_running_has_an_empty_address_and_incarnation()
    {
        var table = RoutingTableBuilder.Build([Reader("counter", "words", Grouping.Broadcast, 3, running: i => i != 1)], 1);

        var instances = Assert.Single(Assert.Single(table.Streams).Readers).Instances;
        Assert.Equal(["127.0.0.1:7000", "", "127.0.0.1:7002"], instances.Select(i => i.DataAddress));
        Assert.Equal("", instances[1].Incarnation);
        Assert.Equal("inc-counter-2", instances[2].Incarnation);
    }

    [Fact]
    public void Unspecified_grouping_is_routed_as_shuffle_and_streams_without_readers_are_absent()
    {
        var producer = new RoutingOperator("source", [], ["words", "unread"], [new RoutingInstance(0, "127.0.0.1:7000", "x")]);
        var table = RoutingTableBuilder.Build([producer, Reader("counter", "words", Grouping.Unspecified, 1)], 1);

        var route = Assert.Single(table.Streams);
        Assert.Equal("words", route.Stream);
        Assert.Equal(Grouping.Shuffle, Assert.Single(route.Readers).Grouping);
    }

    [Fact]
    public void Edges_join_every_producer_of_a_stream_to_every_reader()
    {
        var operators = new[]
        {
            new RoutingOperator("gen-a", [], ["words"], []),
            new RoutingOperator("gen-b", [], ["words"], []),
            Reader("counter", "words", Grouping.GroupBy, 1),
            Reader("archive", "words", Grouping.Shuffle, 1),
        };

        var edges = RoutingTableBuilder.Edges(operators);

        Assert.Equal(
            ["words gen-a→archive", "words gen-a→counter", "words gen-b→archive", "words gen-b→counter"],
            edges.Select(e => $"{e.Stream} {e.FromOperator}→{e.ToOperator}"));
        Assert.Equal(Grouping.GroupBy, edges.Single(e => e.FromOperator == "gen-a" && e.ToOperator == "counter").Grouping);
    }
}
