using Concord.Contracts.Scheduler.V1;
using Concord.Executor.Metrics;

namespace Concord.Executor.Tracing;

/// <summary>
/// The executor's recent spans: a ring of at most <see cref="ObservabilityLimits.SpanStoreSpansMax"/>
/// spans, oldest overwritten. The scheduler reads it through the metrics endpoint's /traces.
/// </summary>
public sealed class SpanStore(int capacity = ObservabilityLimits.SpanStoreSpansMax)
{
    private readonly Span?[] _ring = new Span?[capacity];
    private long _written;

    /// <summary>Spans added since start (the store holds the last <c>capacity</c> of them).</summary>
    public long Written => Interlocked.Read(ref _written);

    public void Add(Span span)
    {
        lock (_ring)
        {
            _ring[_written % _ring.Length] = span;
            _written++;
        }
    }

    /// <summary>The stored spans, oldest first; only those of <paramref name="traceIdHex"/> when given.</summary>
    public List<Span> Snapshot(string? traceIdHex = null)
    {
        var spans = new List<Span>();
        lock (_ring)
        {
            var count = (int)Math.Min(_written, _ring.Length);
            for (var i = 0; i < count; i++)
            {
                var span = _ring[(_written - count + i) % _ring.Length]!;
                if (traceIdHex is null || string.Equals(span.TraceId, traceIdHex, StringComparison.OrdinalIgnoreCase))
                {
                    spans.Add(span);
                }
            }
        }
        return spans;
    }
}
