namespace Concord.Bench;

/// <summary>
/// Puts a run's results into a markdown file between two markers, keeping everything else
/// (the hand-written analysis) as it is; the previous run moves into the history list.
/// </summary>
public static class ResultsFile
{
    public const string Begin = "<!-- bench:latest:begin -->";
    public const string End = "<!-- bench:latest:end -->";

    /// <summary>Markers of the guarantees scenario's block (bench/run-guarantees.sh).</summary>
    public const string GuaranteesBegin = "<!-- bench:guarantees:begin -->";
    public const string GuaranteesEnd = "<!-- bench:guarantees:end -->";

    public static void Write(string path, string markdown, string begin = Begin, string end = End)
    {
        var block = $"{begin}\n{markdown.TrimEnd()}\n{end}";
        if (!File.Exists(path))
        {
            Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
            File.WriteAllText(path, $"# Benchmark results\n\n{block}\n");
            return;
        }
        var text = File.ReadAllText(path);
        var from = text.IndexOf(begin, StringComparison.Ordinal);
        var to = text.IndexOf(end, StringComparison.Ordinal);
        text = from >= 0 && to > from
            ? string.Concat(text.AsSpan(0, from), block, text.AsSpan(to + end.Length))
            : text.TrimEnd() + "\n\n" + block + "\n";
        File.WriteAllText(path, text);
    }
}
