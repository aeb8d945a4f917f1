using Concord.Contracts;
using Concord.Contracts.Operator.V1;
using Concord.Contracts.Types.V1;
using Concord.Executor.DataPlane;
using Concord.Executor.Records;
using Concord.Executor.Routing;
using Google.Protobuf;
using Microsoft.Extensions.Logging.Abstractions;
using static Concord.Executor.Tests.TestSupport;

namespace Concord.Executor.Tests;

public sealed class RouterTests : IAsyncDisposable
{
    private readonly DataPlaneClients _clients = new();
    private readonly List<OutboundChannel> _created = [];
    private readonly Metrics.ExecutorMetrics _metrics = TestTelemetry.Metrics();
    private readonly Router _router;

    public RouterTests()
    {
        _router = new Router(new StreamTable(["words", "unread"]), (stream, reader, index) =>
        {
            var channel = new OutboundChannel(stream, reader, index, "source/0", _clients, NullLogger.Instance, TimeProvider.System, _metrics, TestTelemetry.Tracing(_metrics));
            _created.Add(channel);
            return channel;
        }, NullLogger.Instance, TimeProvider.System, _metrics);
    }

    public async ValueTask DisposeAsync()
    {
        await _router.DisposeAsync();
        _clients.Dispose();
    }

    private static BatchDone Produced(string stream, params ConcordRecord[] records)
    {
        var done = new BatchDone { Seq = 1 };
        foreach (var r in records)
        {
            done.Produced.Add(new ProducedRecord { Stream = stream, Record = r });
        }
        return done;
    }

    [Fact]
    public async Task Group_by_records_wait_in_the_queue_of_the_instance_owning_their_key()
    {
        var table = RoutingTests.Table("words", Grouping.GroupBy, 2);
        foreach (var i in table.Streams[0].Readers[0].Instances)
        {
            i.DataAddress = ""; // not running: records wait
        }
        await _router.ApplyAsync(table).WaitAsync(Bound);
        var keys = Enumerable.Range(0, 200).Select(i => $"w{i}").ToArray();
        await _router.RouteAsync(Produced("words", keys.Select(k => Record(k)).ToArray()), CancellationToken.None).AsTask().WaitAsync(Bound);

        var expected0 = keys.Count(k => KeyGroups.Of(System.Text.Encoding.UTF8.GetBytes(k)) < KeyGroups.RangeOf(0, 2).End);
        Assert.Equal(2, _created.Count);
        Assert.Equal(expected0, _created.Single(c => c.InstanceIndex == 0).QueuedRows);
        Assert.Equal(200 - expected0, _created.Single(c => c.InstanceIndex == 1).QueuedRows);
    }

    [Fact]
    public async Task Records_on_a_stream_nobody_reads_are_dropped_and_counted()
    {
        await _router.ApplyAsync(RoutingTests.Table("words", Grouping.Shuffle, 1)).WaitAsync(Bound);
        await _router.RouteAsync(Produced("unread", Record("a"), Record("b")), CancellationToken.None).AsTask().WaitAsync(Bound);
        Assert.Equal(2, _router.DroppedNoReaderTotal);
    }

    [Fact]
    public async Task Record_to_a_stream_outside_the_metadata_outputs_is_a_protocol_error()
    {
        await _router.ApplyAsync(RoutingTests.Table("words", Grouping.Shuffle, 1)).WaitAsync(Bound);
        var e = await Assert.ThrowsAsync<OperatorProtocolException>(() => _router.RouteAsync(Produced("secret", Record("a")), CancellationToken.None).AsTask().WaitAsync(Bound));
        Assert.Contains("'secret'", e.Message);
        Assert.Contains("metadata outputs", e.Message);
    }

    [Fact]
    public async Task A_new_table_keeps_channels_that_stay_and_closes_removed_ones()
    {
        await _router.ApplyAsync(RoutingTests.Table("words", Grouping.Shuffle, 3)).WaitAsync(Bound);
        Assert.Equal(3, _created.Count);
        var table = RoutingTests.Table("words", Grouping.Shuffle, 2);
        table.Version = 2;
        table.Streams[0].Readers[0].Instances[0].Incarnation = "inc-restarted";
        await _router.ApplyAsync(table).WaitAsync(Bound);
        Assert.Equal(3, _created.Count); // no new channel: instances 0 and 1 reused
        Assert.Equal("inc-restarted", _created[0].Target.Incarnation);
        Assert.Equal(2, _router.Version);
    }

    [Fact]
    public async Task Inconsistent_table_is_refused_and_the_previous_one_stays()
    {
        await _router.ApplyAsync(RoutingTests.Table("words", Grouping.GroupBy, 2)).WaitAsync(Bound);
        var bad = RoutingTests.Table("words", Grouping.GroupBy, 2);
        bad.Version = 7;
        bad.Streams[0].Readers[0].Instances[0].KeyGroupEnd = 10;
        await Assert.ThrowsAsync<RoutingTableException>(() => _router.ApplyAsync(bad).WaitAsync(Bound));
        Assert.Equal(1, _router.Version);
    }
}
