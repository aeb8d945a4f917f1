using Concord.Scheduler.Store;

namespace Concord.Scheduler.Runtime.Mesos;

/// <summary>
/// Where the Mesos framework id survives a scheduler restart: a scheduler that subscribes
/// again with it (within <see cref="MesosLimits.FailoverTimeoutSeconds"/>) is the same
/// framework to the master, which keeps its tasks; without it the master sees a new framework.
/// </summary>
public interface IFrameworkIdStore
{
    /// <summary>The stored id; null when none was stored yet.</summary>
    Task<string?> ReadAsync(CancellationToken cancellationToken);

    /// <summary>Stores <paramref name="frameworkId"/>; null forgets it (the master removed the framework).</summary>
    Task WriteAsync(string? frameworkId, CancellationToken cancellationToken);
}

/// <summary>The framework id in one file of the scheduler's home, written atomically.</summary>
public sealed class FileFrameworkIdStore(string path) : IFrameworkIdStore
{
    public async Task<string?> ReadAsync(CancellationToken cancellationToken)
    {
        try
        {
            var text = (await File.ReadAllTextAsync(path, cancellationToken).ConfigureAwait(false)).Trim();
            return text.Length > 0 ? text : null;
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            return null;
        }
    }

    public async Task WriteAsync(string? frameworkId, CancellationToken cancellationToken)
    {
        if (frameworkId is null)
        {
            File.Delete(path);
            return;
        }
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        await AtomicFile.WriteAllTextAsync(path, frameworkId + "\n", cancellationToken).ConfigureAwait(false);
    }
}
