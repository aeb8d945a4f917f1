using System.Text;

namespace Concord.Executor.Builtins.Internal;

/// <summary>
/// A fixed-size log-linear histogram of latencies in microseconds: exact below 64 µs, then 32
/// buckets per power of two (≤ 3.2 % relative error) up to 2^<see cref="TopExponent"/> µs
/// (~19 h); larger values land in the last bucket. Recording is an array increment, so the
/// sink can record every record without allocating. Not thread-safe: the sink's thread owns it.
/// </summary>
internal sealed class LatencyHistogram
{
    private const int LinearBuckets = 64;
    private const int SubBucketBits = 5; // 32 sub-buckets per power of two
    private const int FirstExponent = 6; // 2^6 = 64 = LinearBuckets
    private const int TopExponent = 36;

    /// <summary>Buckets: 64 exact + 32 per power of two from 2^6 to 2^36: 1,024 longs (8 KiB).</summary>
    public const int BucketCount = LinearBuckets + (TopExponent - FirstExponent) * (1 << SubBucketBits);

    private readonly long[] _counts = new long[BucketCount];

    public long Count { get; private set; }

    public long MaxMicros { get; private set; }

    public void Record(long micros)
    {
        if (micros < 0)
        {
            micros = 0; // clocks of two processes on one machine; a negative value is rounding
        }
        _counts[IndexOf(micros)]++;
        Count++;
        if (micros > MaxMicros)
        {
            MaxMicros = micros;
        }
    }

    /// <summary>Adds <paramref name="n"/> records of the same latency (a batch shares one arrival time).</summary>
    public void Record(long micros, long n)
    {
        if (n <= 0)
        {
            return;
        }
        micros = Math.Max(0, micros);
        _counts[IndexOf(micros)] += n;
        Count += n;
        MaxMicros = Math.Max(MaxMicros, micros);
    }

    public static int IndexOf(long micros)
    {
        if (micros < LinearBuckets)
        {
            return (int)micros;
        }
        var exponent = 63 - (int)long.LeadingZeroCount(micros);
        if (exponent >= TopExponent)
        {
            return BucketCount - 1;
        }
        var sub = (int)(micros >> (exponent - SubBucketBits)) & ((1 << SubBucketBits) - 1);
        return LinearBuckets + (exponent - FirstExponent) * (1 << SubBucketBits) + sub;
    }

    /// <summary>Smallest value that falls into bucket <paramref name="index"/>.</summary>
    public static long LowerBoundOf(int index)
    {
        if (index < LinearBuckets)
        {
            return index;
        }
        var exponent = FirstExponent + (index - LinearBuckets) / (1 << SubBucketBits);
        var sub = (index - LinearBuckets) % (1 << SubBucketBits);
        return (1L << exponent) + ((long)sub << (exponent - SubBucketBits));
    }

    /// <summary>
    /// The histogram as one JSON object: {"count":N,"max_us":M,"buckets":[[lower_bound_us,count],…]}
    /// with only the non-empty buckets, so two snapshots can be subtracted by a reader.
    /// </summary>
    public void WriteJson(StringBuilder into)
    {
        into.Append("{\"count\":").Append(Count).Append(",\"max_us\":").Append(MaxMicros).Append(",\"buckets\":[");
        var first = true;
        for (var i = 0; i < _counts.Length; i++)
        {
            if (_counts[i] == 0)
            {
                continue;
            }
            if (!first)
            {
                into.Append(',');
            }
            first = false;
            into.Append('[').Append(LowerBoundOf(i)).Append(',').Append(_counts[i]).Append(']');
        }
        into.Append("]}");
    }
}
