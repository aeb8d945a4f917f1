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

/// <summary>
/// The framework id in one ZooKeeper node beside the cluster's state (<c>&lt;root&gt;/mesos/framework-id</c>),
/// so a standby scheduler that becomes leader fails over to the same framework. Only the leader
/// runs the runtime, and the id changes only when the master forgets the framework, so an
/// unconditional write is enough (no epoch fencing, unlike the topology).
/// </summary>
public sealed class ZooKeeperFrameworkIdStore(Concord.ZooKeeper.ZooKeeperClient client, string path) : IFrameworkIdStore
{
    /// <summary>The node under a cluster's ZooKeeper root.</summary>
    public static string PathUnder(string root) => root + "/mesos/framework-id";

    public async Task<string?> ReadAsync(CancellationToken cancellationToken)
    {
        var node = await client.GetAsync(path, cancellationToken).ConfigureAwait(false);
        var text = node is null ? "" : System.Text.Encoding.UTF8.GetString(node.Data).Trim();
        return text.Length > 0 ? text : null;
    }

    public async Task WriteAsync(string? frameworkId, CancellationToken cancellationToken)
    {
        var data = System.Text.Encoding.UTF8.GetBytes(frameworkId ?? "");
        var parent = path[..path.LastIndexOf('/')];
        await client.EnsurePathAsync(parent, cancellationToken).ConfigureAwait(false);
        try
        {
            // -1: any version (see the class comment).
            await client.SetAsync(path, data, -1, cancellationToken).ConfigureAwait(false);
        }
        catch (Concord.ZooKeeper.ZooKeeperException e) when (e.Code == Concord.ZooKeeper.ZooKeeperError.NoNode)
        {
            await client.CreateAsync(path, data, Concord.ZooKeeper.CreateMode.Persistent, cancellationToken).ConfigureAwait(false);
        }
    }
}
