using System.Text;
using Concord.Contracts.Operator.V1;
using Concord.Executor.Records;

namespace Concord.Executor.Timers.Internal;

/// <summary>A timer's name within its state key: one pending timer per (key, domain).</summary>
internal readonly record struct TimerName(string Key, TimeDomain Domain);

/// <summary>
/// The value stored under <c>concord.timers</c> for one state key: its pending timers, each as
/// domain (1 byte), time (varint of the ms as unsigned), key length (varint) and UTF-8 key.
/// Part of the checkpoint format, so a change needs a new namespace.
/// </summary>
internal static class TimerCodec
{
    public static byte[] Encode(Dictionary<TimerName, long> timers)
    {
        var size = 0;
        foreach (var (name, time) in timers)
        {
            var keyBytes = Encoding.UTF8.GetByteCount(name.Key);
            size += 1 + RecordWire.VarintSize((ulong)time) + RecordWire.VarintSize((uint)keyBytes) + keyBytes;
        }
        var buffer = new byte[size];
        var n = 0;
        foreach (var (name, time) in timers)
        {
            buffer[n++] = (byte)name.Domain;
            n += RecordWire.WriteVarint(buffer.AsSpan(n), (ulong)time);
            var keyBytes = Encoding.UTF8.GetByteCount(name.Key);
            n += RecordWire.WriteVarint(buffer.AsSpan(n), (uint)keyBytes);
            n += Encoding.UTF8.GetBytes(name.Key, buffer.AsSpan(n));
        }
        return buffer;
    }

    /// <exception cref="InvalidDataException">The bytes are not in this format.</exception>
    public static Dictionary<TimerName, long> Decode(ReadOnlySpan<byte> value)
    {
        var timers = new Dictionary<TimerName, long>();
        var n = 0;
        while (n < value.Length)
        {
            var domain = (TimeDomain)value[n++];
            if (domain is not (TimeDomain.Processing or TimeDomain.Event))
            {
                throw new InvalidDataException($"a stored timer has time domain {(int)domain}; the checkpoint's concord.timers entries are damaged or from another version");
            }
            var time = (long)ReadVarint(value, ref n);
            var keyLength = ReadVarint(value, ref n);
            if (keyLength > (ulong)(value.Length - n))
            {
                throw new InvalidDataException("a stored timer's key runs past its entry; the checkpoint's concord.timers entries are damaged");
            }
            timers[new TimerName(Encoding.UTF8.GetString(value.Slice(n, (int)keyLength)), domain)] = time;
            n += (int)keyLength;
        }
        return timers;
    }

    private static ulong ReadVarint(ReadOnlySpan<byte> value, ref int n)
    {
        ulong result = 0;
        for (var shift = 0; shift < 64; shift += 7)
        {
            if (n >= value.Length)
            {
                throw new InvalidDataException("a stored timer entry ends inside a number; the checkpoint's concord.timers entries are damaged");
            }
            var b = value[n++];
            result |= (ulong)(b & 0x7F) << shift;
            if (b < 0x80)
            {
                return result;
            }
        }
        throw new InvalidDataException("a stored timer entry has a number longer than 10 bytes; the checkpoint's concord.timers entries are damaged");
    }
}
