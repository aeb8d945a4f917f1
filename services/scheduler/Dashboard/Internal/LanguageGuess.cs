using Concord.Contracts.Types.V1;

namespace Concord.Scheduler.Dashboard.Internal;

/// <summary>
/// The language an operator is written in, guessed from its spec alone (the scheduler never sees
/// the operator's code): a built-in says so; otherwise a word of the executable's path or of its
/// args names the interpreter or the file type (python3, counter.py, node/run.sh, app.dll...).
/// A compiled binary (Go, a .NET apphost) says nothing: "" (unknown).
/// </summary>
internal static class LanguageGuess
{
    private static readonly (string Word, string Language)[] Words =
    [
        ("python", "Python"), ("python3", "Python"), ("py", "Python"),
        ("ruby", "Ruby"), ("rb", "Ruby"),
        ("java", "Java"), ("jar", "Java"),
        ("node", "Node"), ("nodejs", "Node"), ("js", "Node"), ("mjs", "Node"),
        ("dotnet", "C#"), ("dll", "C#"),
        ("go", "Go"),
    ];

    private static readonly char[] Separators = ['/', '\\', '-', '_', '.', ' ', '='];

    public static string Of(OperatorSpec spec)
    {
        if (spec.Builtin is { Kind.Length: > 0 } builtin)
        {
            return $"built-in: {builtin.Kind}";
        }
        // The executable first: `python3 script.rb` is Python whatever the args say.
        foreach (var text in spec.Args.Prepend(spec.Executable))
        {
            foreach (var word in text.Split(Separators, StringSplitOptions.RemoveEmptyEntries))
            {
                foreach (var (known, language) in Words)
                {
                    if (word.Equals(known, StringComparison.OrdinalIgnoreCase))
                    {
                        return language;
                    }
                }
            }
        }
        return "";
    }
}
