using System.Text.Json;
using System.Text.Json.Serialization;
using Concord.Scheduler.Runtime.Internal;
using Concord.Scheduler.Store;

namespace Concord.Scheduler;

/// <summary>Contents of <c>&lt;home&gt;/scheduler.json</c>, which clients read to find the scheduler.</summary>
/// <param name="Address">gRPC address, e.g. "http://127.0.0.1:7400".</param>
/// <param name="Pid">Process id of the scheduler.</param>
/// <param name="StartedUnixMs">When it started serving, ms since the Unix epoch.</param>
public sealed record SchedulerInfo(
    [property: JsonPropertyName("address")] string Address,
    [property: JsonPropertyName("pid")] int Pid,
    [property: JsonPropertyName("startedUnixMs")] long StartedUnixMs)
{
    /// <summary>"host:port" of the HTTP/1.1 endpoint serving /metrics and /prometheus/targets; null when unknown.</summary>
    [JsonPropertyName("metricsAddress")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? MetricsAddress { get; init; }

    /// <summary>The port the gRPC endpoint is bound to, which differs from <see cref="Address"/>'s when --advertise gives another; null in files of older runs.</summary>
    [JsonPropertyName("listenPort")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public int? ListenPort { get; init; }
}

/// <summary>The home directory does not belong to this process.</summary>
public sealed class HomeInUseException(string message) : Exception(message);

/// <summary>
/// Ownership of a scheduler home. One scheduler per home: two would launch every instance
/// twice. Ownership is an exclusive lock on <c>scheduler.lock</c> (released by the kernel when
/// the process dies, however it dies), so a crashed scheduler never blocks the next one.
/// </summary>
public sealed class SchedulerHome : IDisposable
{
    public const string InfoFileName = "scheduler.json";
    public const string LockFileName = "scheduler.lock";
    public const string TopologyFileName = "topology.json";

    /// <summary>The checkpoint root when --checkpoint-dir is not given (docs/guarantees.md).</summary>
    public const string CheckpointsDirectoryName = "checkpoints";

    private readonly FileStream _lock;

    private SchedulerHome(string directory, FileStream lockFile)
    {
        Directory = directory;
        _lock = lockFile;
    }

    public string Directory { get; }

    public string InfoFile => Path.Combine(Directory, InfoFileName);

    public string TopologyFile => Path.Combine(Directory, TopologyFileName);

    /// <summary>Default home: $CONCORD_HOME, else ~/.concord.</summary>
    public static string DefaultDirectory() =>
        Environment.GetEnvironmentVariable("CONCORD_HOME") is { Length: > 0 } home
            ? home
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".concord");

    /// <summary>Takes the home for this process, creating it if needed.</summary>
    /// <exception cref="HomeInUseException">A live scheduler owns it.</exception>
    public static SchedulerHome Acquire(string directory)
    {
        var full = Path.GetFullPath(directory);
        System.IO.Directory.CreateDirectory(full);
        // Owner only, set explicitly (an existing home too, whatever the umask made it): it holds
        // the operator token, the cluster key and every spec (docs/security.md).
        Security.SchedulerSecrets.RestrictDirectory(full);
        var info = ReadInfo(full);
        FileStream lockFile;
        try
        {
            // FileShare.None is an exclusive flock(2) on Linux.
            lockFile = new FileStream(Path.Combine(full, LockFileName), FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
        }
        catch (IOException)
        {
            throw new HomeInUseException(Describe(full, info));
        }
        // Belt and braces for file systems without flock: a live scheduler named in
        // scheduler.json (checked by its command line, since pids get reused) also owns it.
        if (info is not null && info.Pid != Environment.ProcessId && Posix.IsAlive(info.Pid) && IsScheduler(info.Pid))
        {
            lockFile.Dispose();
            throw new HomeInUseException(Describe(full, info));
        }
        return new SchedulerHome(full, lockFile);
    }

    /// <summary>Reads scheduler.json of <paramref name="directory"/>; null when absent or unreadable.</summary>
    public static SchedulerInfo? ReadInfo(string directory)
    {
        try
        {
            return JsonSerializer.Deserialize<SchedulerInfo>(File.ReadAllText(Path.Combine(directory, InfoFileName)));
        }
        catch (Exception e) when (e is IOException or JsonException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>Writes scheduler.json atomically: a client never reads half of it.</summary>
    public Task WriteInfoAsync(SchedulerInfo info, CancellationToken cancellationToken) =>
        AtomicFile.WriteAllTextAsync(InfoFile, JsonSerializer.Serialize(info), cancellationToken);

    /// <summary>Deletes scheduler.json if it is this process's.</summary>
    public void DeleteInfo()
    {
        if (ReadInfo(Directory)?.Pid == Environment.ProcessId)
        {
            File.Delete(InfoFile);
        }
    }

    public void Dispose() => _lock.Dispose();

    private static bool IsScheduler(int pid)
    {
        try
        {
            return File.ReadAllText($"/proc/{pid}/cmdline").Contains("Concord.Scheduler", StringComparison.Ordinal);
        }
        catch (IOException)
        {
            return false;
        }
    }

    private static string Describe(string home, SchedulerInfo? info) =>
        info is null
            ? $"another scheduler is using home '{home}' (it holds {LockFileName}); stop it first (`concord down`), or pass a different --home"
            : $"a scheduler (pid {info.Pid}, {info.Address}) already owns home '{home}'; stop it first (`concord down` or kill {info.Pid}), or pass a different --home";
}
