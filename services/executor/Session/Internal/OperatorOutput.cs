using System.Globalization;
using System.Text;

namespace Concord.Executor.Session.Internal;

/// <summary>
/// The operator's stdout/stderr as log lines, read in chunks of
/// <see cref="ExecutorLimits.OperatorOutputChunkChars"/>: a line keeps at most
/// <see cref="ExecutorLimits.OperatorLogLineCharsMax"/> characters and the rest is counted and
/// cut (a marker says how much), so a line without a newline is never held whole
/// (Process.BeginOutputReadLine held a 400 MB line in memory).
/// </summary>
internal static class OperatorOutput
{
    /// <summary>Reads <paramref name="reader"/> to its end, calling <paramref name="onLine"/> for every line (cut if too long).</summary>
    public static async Task PumpAsync(TextReader reader, Action<string> onLine)
    {
        var chunk = new char[ExecutorLimits.OperatorOutputChunkChars];
        var line = new StringBuilder();
        long cut = 0;
        int read;
        while ((read = await reader.ReadAsync(chunk.AsMemory()).ConfigureAwait(false)) > 0)
        {
            var rest = chunk.AsSpan(0, read);
            while (true)
            {
                var newline = rest.IndexOf('\n');
                var part = newline < 0 ? rest : rest[..newline];
                var room = ExecutorLimits.OperatorLogLineCharsMax - line.Length;
                if (part.Length <= room)
                {
                    line.Append(part);
                }
                else
                {
                    line.Append(part[..room]);
                    cut += part.Length - room;
                }
                if (newline < 0)
                {
                    break;
                }
                onLine(Finish(line, cut));
                line.Clear();
                cut = 0;
                rest = rest[(newline + 1)..];
            }
        }
        if (line.Length > 0 || cut > 0)
        {
            onLine(Finish(line, cut));
        }
    }

    /// <summary>A message from the operator (a Log message) cut to <see cref="ExecutorLimits.OperatorLogLineCharsMax"/> characters, with the marker.</summary>
    public static string Cap(string message) =>
        message.Length <= ExecutorLimits.OperatorLogLineCharsMax
            ? message
            : string.Concat(message.AsSpan(0, ExecutorLimits.OperatorLogLineCharsMax), Marker(message.Length - ExecutorLimits.OperatorLogLineCharsMax));

    private static string Finish(StringBuilder line, long cut)
    {
        if (line.Length > 0 && line[^1] == '\r')
        {
            line.Length--;
        }
        return cut == 0 ? line.ToString() : line.Append(Marker(cut)).ToString();
    }

    private static string Marker(long cut) =>
        string.Create(CultureInfo.InvariantCulture, $"… [{cut} more characters cut: ExecutorLimits.OperatorLogLineCharsMax]");
}
