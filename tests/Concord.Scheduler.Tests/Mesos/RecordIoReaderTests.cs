using System.Text;
using Concord.Scheduler.Runtime.Mesos;
using Concord.Scheduler.Runtime.Mesos.Internal;

namespace Concord.Scheduler.Tests.Mesos;

/// <summary>Mesos' RecordIO framing: records across reads, a clean end, and broken streams refused before allocating.</summary>
public sealed class RecordIoReaderTests
{
    private static RecordIoReader Reader(string text) => new(new MemoryStream(Encoding.UTF8.GetBytes(text)));

    [Fact]
    public async Task Records_are_read_in_order_until_a_clean_end()
    {
        var bytes = RecordIoReader.Frame("""{"type":"HEARTBEAT"}""").Concat(RecordIoReader.Frame("é")).ToArray();
        var reader = new RecordIoReader(new MemoryStream(bytes));

        Assert.Equal("""{"type":"HEARTBEAT"}""", Encoding.UTF8.GetString((await reader.ReadAsync(CancellationToken.None))!));
        Assert.Equal("é", Encoding.UTF8.GetString((await reader.ReadAsync(CancellationToken.None))!));
        Assert.Null(await reader.ReadAsync(CancellationToken.None));
    }

    [Theory]
    [InlineData("5\nab", "ended 3 bytes into a 5-byte record")]
    [InlineData("12", "ended inside a RecordIO length")]
    [InlineData("\n", "empty RecordIO length")]
    [InlineData("<html>", "not RecordIO")]
    [InlineData("12345678901\n", "not RecordIO")]
    public async Task A_broken_stream_is_refused_saying_how(string text, string problem)
    {
        var e = await Assert.ThrowsAsync<InvalidDataException>(() => Reader(text).ReadAsync(CancellationToken.None));
        Assert.Contains(problem, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_length_over_the_bound_is_refused_without_allocating_it()
    {
        var e = await Assert.ThrowsAsync<InvalidDataException>(() => Reader($"{MesosLimits.RecordBytesMax + 1}\n").ReadAsync(CancellationToken.None));
        Assert.Contains("RecordBytesMax", e.Message, StringComparison.Ordinal);
    }
}
