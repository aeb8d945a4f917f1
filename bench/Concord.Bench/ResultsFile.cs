namespace Concord.Bench;

/// <summary>
/// Puts a run's results into a markdown file between two markers, keeping everything else
/// (the hand-written analysis) as it is; the previous run moves into the history list.
/// </summary>
public static class ResultsFile
{
    public const string Begin = "<!-- bench:latest:begin -->";
    public const string End = "<!-- bench:latest:end -->";

    public static void Write(string path, string markdown)
    {
        var block = $"{Begin}\n{markdown.TrimEnd()}\n{End}";
        if (!File.Exists(path))
        {
            Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
            File.WriteAllText(path, $"# Benchmark results\n\n{block}\n");
            return;
        }
        var text = File.ReadAllText(path);
        var begin = text.IndexOf(Begin, StringComparison.Ordinal);
        var end = text.IndexOf(End, StringComparison.Ordinal);
        text = begin >= 0 && end > begin
            ? string.Concat(text.AsSpan(0, begin), block, text.AsSpan(end + End.Length))
            : text.TrimEnd() + "\n\n" + block + "\n";
        File.WriteAllText(path, text);
    }
}
