using System.Text;

namespace Concord.Scheduler.Runtime.Mesos.Internal;

/// <summary>
/// Reads Mesos' RecordIO framing ("&lt;decimal length&gt;\n&lt;length bytes&gt;", repeated) from
/// the SUBSCRIBE response. Lengths are bounded (<see cref="MesosLimits.RecordBytesMax"/>,
/// <see cref="MesosLimits.RecordLengthDigitsMax"/>) so a broken stream fails instead of allocating.
/// </summary>
internal sealed class RecordIoReader(Stream stream)
{
    private readonly byte[] _one = new byte[1];

    /// <summary>The next record; null at a clean end of stream (between records).</summary>
    /// <exception cref="InvalidDataException">The framing is broken or the stream ended inside a record.</exception>
    public async Task<byte[]?> ReadAsync(CancellationToken cancellationToken)
    {
        long length = 0;
        var digits = 0;
        while (true)
        {
            var read = await stream.ReadAsync(_one.AsMemory(0, 1), cancellationToken).ConfigureAwait(false);
            if (read == 0)
            {
                if (digits == 0)
                {
                    return null;
                }
                throw new InvalidDataException("the master's event stream ended inside a RecordIO length");
            }
            var b = _one[0];
            if (b == (byte)'\n')
            {
                if (digits == 0)
                {
                    throw new InvalidDataException("the master's event stream has an empty RecordIO length");
                }
                break;
            }
            if (b < (byte)'0' || b > (byte)'9' || ++digits > MesosLimits.RecordLengthDigitsMax)
            {
                throw new InvalidDataException($"the master's event stream is not RecordIO (byte 0x{b:x2} in a length); is {nameof(MesosRuntimeOptions.Masters)} a Mesos master's address?");
            }
            length = (length * 10) + (b - '0');
        }
        if (length > MesosLimits.RecordBytesMax)
        {
            throw new InvalidDataException($"the master sent a {length}-byte record, over MesosLimits.RecordBytesMax ({MesosLimits.RecordBytesMax})");
        }
        var record = new byte[length];
        var offset = 0;
        while (offset < record.Length)
        {
            var read = await stream.ReadAsync(record.AsMemory(offset), cancellationToken).ConfigureAwait(false);
            if (read == 0)
            {
                throw new InvalidDataException($"the master's event stream ended {record.Length - offset} bytes into a {record.Length}-byte record");
            }
            offset += read;
        }
        return record;
    }

    /// <summary>One record in RecordIO framing (the test double of the master writes with it).</summary>
    public static byte[] Frame(string json)
    {
        var body = Encoding.UTF8.GetBytes(json);
        var prefix = Encoding.ASCII.GetBytes(body.Length.ToString(System.Globalization.CultureInfo.InvariantCulture) + "\n");
        return [.. prefix, .. body];
    }
}
