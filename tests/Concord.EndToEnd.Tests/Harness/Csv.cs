namespace Concord.EndToEnd.Tests.Harness;

/// <summary>Reads the `word,count` files sinks write.</summary>
public static class Csv
{
    public static int Lines(string path) => File.Exists(path) ? ReadLines(path).Count : 0;

    /// <summary>Complete lines only: a sink may be mid-write of the last one.</summary>
    public static List<string> ReadLines(string path)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        using var reader = new StreamReader(stream);
        var text = reader.ReadToEnd();
        var end = text.LastIndexOf('\n');
        return end < 0 ? [] : text[..end].Split('\n').ToList();
    }

    /// <summary>The largest count seen per word: the final count, whatever order lines arrived in.</summary>
    public static Dictionary<string, long> FinalCounts(string path)
    {
        var counts = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var line in ReadLines(path))
        {
            var comma = line.LastIndexOf(',');
            var word = line[..comma];
            var count = long.Parse(line[(comma + 1)..]);
            counts[word] = Math.Max(counts.GetValueOrDefault(word), count);
        }
        return counts;
    }

    public static Dictionary<string, long> CountWords(string path) =>
        ReadLines(path).GroupBy(w => w, StringComparer.Ordinal).ToDictionary(g => g.Key, g => (long)g.Count(), StringComparer.Ordinal);
}
