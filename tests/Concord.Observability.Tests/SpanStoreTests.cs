using Concord.Contracts.Scheduler.V1;
using Concord.Executor.Tracing;

namespace Concord.Observability.Tests;

public sealed class SpanStoreTests
{
    [Fact]
    public void The_span_store_keeps_only_the_most_recent_spans()
    {
        var store = new SpanStore(capacity: 3);
        for (var i = 0; i < 5; i++)
        {
            store.Add(new Span { TraceId = "t", SpanId = i.ToString(), Kind = "operator" });
        }

        Assert.Equal(["2", "3", "4"], store.Snapshot().Select(s => s.SpanId));
        Assert.Equal(5, store.Written);
    }
}
