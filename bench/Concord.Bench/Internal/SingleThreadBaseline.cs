using System.Buffers.Text;
using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text;

namespace Concord.Bench.Internal;

/// <summary>
/// The same word count in one thread of one process: pick a random word from the dictionary,
/// count it, write "word,count" to a CSV file — no processes, no sockets, no serialization.
/// What the framework is compared against.
/// </summary>
internal static class SingleThreadBaseline
{
    public static BaselineResult Run(IReadOnlyList<string> words, TimeSpan duration, string outputPath)
    {
        var utf8 = words.Select(w => Encoding.UTF8.GetBytes(w)).ToArray();
        var counts = new Dictionary<string, long>(StringComparer.Ordinal);
        var random = new Random(11);
        Span<byte> digits = stackalloc byte[20];
        using var output = new FileStream(outputPath, FileMode.Create, FileAccess.Write, FileShare.Read, 64 * 1024);
        // Warm-up (JIT, dictionary filled), then the measured window.
        Loop(TimeSpan.FromSeconds(1), words, utf8, counts, random, digits, output);
        return Loop(duration, words, utf8, counts, random, digits, output);
    }

    private static BaselineResult Loop(TimeSpan duration, IReadOnlyList<string> words, byte[][] utf8, Dictionary<string, long> counts,
        Random random, Span<byte> digits, FileStream output)
    {
        var cpu = Process.GetCurrentProcess().TotalProcessorTime;
        var watch = Stopwatch.StartNew();
        long records = 0;
        while (watch.Elapsed < duration)
        {
            for (var i = 0; i < 1024; i++)
            {
                var index = random.Next(words.Count);
                ref var count = ref CollectionsMarshal.GetValueRefOrAddDefault(counts, words[index], out _);
                count++;
                Utf8Formatter.TryFormat(count, digits, out var length);
                output.Write(utf8[index]);
                output.WriteByte((byte)',');
                output.Write(digits[..length]);
                output.WriteByte((byte)'\n');
            }
            records += 1024;
        }
        var cpuUsed = Process.GetCurrentProcess().TotalProcessorTime - cpu;
        return new BaselineResult(records / watch.Elapsed.TotalSeconds, cpuUsed.TotalMicroseconds / records);
    }
}

/// <summary>A baseline's throughput and the CPU time it spent per record (all threads of this process).</summary>
internal readonly record struct BaselineResult(double RecordsPerSecond, double CpuMicrosPerRecord)
{
    public static readonly BaselineResult None = new(double.NaN, double.NaN);
}
