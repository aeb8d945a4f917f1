using System.Buffers.Text;
using System.Runtime.InteropServices;
using Concord.Contracts.Types.V1;
using Concord.Sdk;
using Google.Protobuf;

namespace Concord.Examples.WordCount;

/// <summary>
/// Counts words: reads <c>words</c> grouped by key, so each word is counted on one instance,
/// and emits the updated count for every record to <c>counts</c> (key = word, value = count as
/// UTF-8 decimal), as the original Concord benchmark does.
/// </summary>
public sealed class WordCounter : Computation
{
    public const string InputStream = "words";
    public const string OutputStream = "counts";

    private readonly Dictionary<string, long> _counts = new(StringComparer.Ordinal);

    /// <summary>Counts so far on this instance.</summary>
    public IReadOnlyDictionary<string, long> Counts => _counts;

    public override OperatorMetadata Metadata() =>
        new MetadataBuilder(Environment.GetEnvironmentVariable("CONCORD_OPERATOR_NAME") ?? "counter")
            .Input(InputStream, Grouping.GroupBy)
            .Output(OutputStream);

    public override void ProcessRecord(IComputationContext context, Record record)
    {
        ref var count = ref CollectionsMarshal.GetValueRefOrAddDefault(_counts, record.Key.ToStringUtf8(), out _);
        count++;
        Span<byte> digits = stackalloc byte[20]; // long.MaxValue has 19 digits
        Utf8Formatter.TryFormat(count, digits, out var length);
        // The key is forwarded as received: no copy.
        context.ProduceRecord(OutputStream, record.Key, ByteString.CopyFrom(digits[..length]));
    }
}
