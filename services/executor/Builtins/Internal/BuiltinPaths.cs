using Concord.Contracts.Types.V1;

namespace Concord.Executor.Builtins.Internal;

/// <summary>
/// Where a built-in's path options (generator.dictionary, generator.stats, file-source.path and .stats, csv-sink.path,
/// csv-sink.stats) may point: inside the instance's working directory, or inside a data
/// directory — the scheduler's --data-root directories (passed as CONCORD_DATA_ROOTS), or, when
/// it has none, the deploy file's directory (source_directory). Links are resolved before the
/// check, so a link inside an allowed directory that leads out of it is refused.
/// </summary>
internal static class BuiltinPaths
{
    /// <summary>Set by the scheduler: its --data-root directories joined with ':'; empty or unset: none.</summary>
    public const string DataRootsVariable = "CONCORD_DATA_ROOTS";

    /// <summary>Links followed while resolving one path before giving up: 40, as Linux (ELOOP).</summary>
    private const int LinksFollowedMax = 40;

    /// <summary>
    /// The absolute path of option <paramref name="option"/> (relative to the deploy file's
    /// directory, else the work directory), once checked to be inside an allowed directory.
    /// </summary>
    /// <exception cref="OperatorFailedException">It points elsewhere; the message names the option and the fix.</exception>
    public static string Resolve(OperatorSpec spec, string option, string path, string workDir, string? dataRoots)
    {
        var baseDirectory = string.IsNullOrEmpty(spec.SourceDirectory) ? workDir : spec.SourceDirectory;
        var full = Path.GetFullPath(Path.IsPathRooted(path) ? path : Path.Combine(baseDirectory, path));
        var configured = (dataRoots ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries);
        string[] dataDirectories = configured.Length > 0 ? configured
            : Path.IsPathFullyQualified(spec.SourceDirectory) ? [spec.SourceDirectory] : [];
        var real = RealPath(full);
        var allowed = dataDirectories.Prepend(workDir).Select(RealPath).OfType<string>();
        if (real is not null && allowed.Any(root => IsUnder(real, root)))
        {
            return full;
        }
        var where = configured.Length > 0
            ? $"the scheduler's --data-root ({string.Join(", ", configured)})"
            : dataDirectories.Length > 0 ? $"the deploy file's directory ('{spec.SourceDirectory}')" : "no data directory (the spec has no source_directory)";
        var really = real is not null && real != full ? $" (really '{real}')" : "";
        throw new OperatorFailedException(
            $"built-in '{spec.Builtin.Kind}' option '{option}': '{full}'{really} is outside the instance's directory ('{workDir}') and {where}; " +
            "use a path inside them, or ask the cluster operator to start the scheduler with --data-root covering it");
    }

    private static bool IsUnder(string path, string root)
    {
        var prefix = root.EndsWith('/') ? root : root + "/";
        return path == root || path.StartsWith(prefix, StringComparison.Ordinal);
    }

    /// <summary>
    /// <paramref name="path"/> (absolute) with every link resolved, like realpath(3), except
    /// that a missing tail (a file about to be created) is kept as written. Null on a link loop.
    /// </summary>
    internal static string? RealPath(string path)
    {
        var pending = new Stack<string>(Path.GetFullPath(path).Split('/', StringSplitOptions.RemoveEmptyEntries).Reverse());
        var current = "/";
        var links = 0;
        var missing = false;
        while (pending.TryPop(out var part))
        {
            if (part == ".")
            {
                continue;
            }
            if (part == "..")
            {
                current = Path.GetDirectoryName(current) ?? "/";
                continue;
            }
            var next = Path.Join(current, part);
            var target = missing ? null : LinkTarget(next);
            if (target is null)
            {
                missing |= !File.Exists(next) && !Directory.Exists(next);
                current = next;
                continue;
            }
            if (++links > LinksFollowedMax)
            {
                return null;
            }
            if (Path.IsPathRooted(target))
            {
                current = "/";
            }
            foreach (var step in target.Split('/', StringSplitOptions.RemoveEmptyEntries).Reverse())
            {
                pending.Push(step);
            }
        }
        return current;
    }

    private static string? LinkTarget(string path)
    {
        try
        {
            return new FileInfo(path).LinkTarget;
        }
        catch (IOException)
        {
            return null;
        }
        catch (UnauthorizedAccessException)
        {
            return null;
        }
    }
}
