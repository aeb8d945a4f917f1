extern alias scheduler;
using Concord.Contracts.Scheduler.V1;
using scheduler::Concord.Scheduler.Observability;

namespace Concord.Observability.Tests;

public sealed class ObservabilityQueriesTests
{
    [Fact]
    public void The_scheduler_derives_the_network_hop_between_a_send_and_the_next_queue_span()
    {
        var send = new Span { TraceId = "t", SpanId = "00000000000000aa", Kind = "send", OperatorName = "source", StartUnixUs = 1_000, DurationUs = 100 };
        var queue = new Span { TraceId = "t", SpanId = "00000000000000bb", ParentSpanId = send.SpanId, Kind = "queue", OperatorName = "counter", InstanceIndex = 1, Stream = "words", StartUnixUs = 1_350, DurationUs = 10 };

        var network = Assert.Single(ObservabilityQueries.WithNetworkHops([send, queue]), s => s.Kind == "network");

        Assert.Equal((1_100L, 250L, "counter", 1, send.SpanId), (network.StartUnixUs, network.DurationUs, network.OperatorName, network.InstanceIndex, network.ParentSpanId));
    }
}
