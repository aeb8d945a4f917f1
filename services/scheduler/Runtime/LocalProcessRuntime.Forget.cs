using System.Globalization;
using Concord.Scheduler.Runtime.Internal;
using Microsoft.Extensions.Logging;

namespace Concord.Scheduler.Runtime;

/// <summary>
/// Removing the directories of instances the topology no longer wants, so that killed
/// operators and scaled-away indexes do not pile up under the home. One failed log per
/// operator survives in <c>&lt;home&gt;/instances/&lt;operator&gt;/last-failed/</c>.
/// </summary>
public sealed partial class LocalProcessRuntime
{
    /// <summary>
    /// Directory (under the operator's) keeping the log of its last failed, forgotten instance.
    /// Never a number, so it never collides with an instance directory.
    /// </summary>
    public const string LastFailedDirectoryName = "last-failed";

    /// <summary>File in <see cref="LastFailedDirectoryName"/> holding the index the kept log belongs to.</summary>
    public const string LastFailedIndexFileName = "index";

    /// <summary>Where the last failed log of <paramref name="operatorName"/> is kept.</summary>
    public string LastFailedDirectory(string operatorName) => Path.Combine(InstancesDirectory, operatorName, LastFailedDirectoryName);

    public Task ForgetInstanceAsync(string operatorName, int index, int release, bool keepLog, CancellationToken cancellationToken)
    {
        var directory = InstanceDirectory(operatorName, index, release);
        if (!Directory.Exists(directory))
        {
            return Task.CompletedTask;
        }
        try
        {
            if (keepLog && File.Exists(Path.Combine(directory, LogFileName)))
            {
                KeepLastFailedLog(operatorName, index, directory);
            }
            Directory.Delete(directory, recursive: true);
            LogForgotten(operatorName, index, directory, keepLog);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // A directory left behind costs disk, not correctness: the next forget or a manual clean-up removes it.
            LogForgetFailed(directory, e.Message);
        }
        return Task.CompletedTask;
    }

    public Task ForgetOperatorAsync(string operatorName, CancellationToken cancellationToken)
    {
        var directory = Path.Combine(InstancesDirectory, operatorName);
        if (!Directory.Exists(directory))
        {
            return Task.CompletedTask;
        }
        try
        {
            foreach (var entry in Directory.EnumerateFileSystemEntries(directory).ToList())
            {
                if (Path.GetFileName(entry) == LastFailedDirectoryName)
                {
                    continue;
                }
                if (File.Exists(Path.Combine(entry, PidFileName)))
                {
                    continue; // Still has a process (or a leftover the next start reaps): not ours to delete.
                }
                if (Directory.Exists(entry))
                {
                    Directory.Delete(entry, recursive: true);
                }
                else
                {
                    File.Delete(entry);
                }
            }
            if (!Directory.EnumerateFileSystemEntries(directory).Any())
            {
                Directory.Delete(directory);
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            LogForgetFailed(directory, e.Message);
        }
        return Task.CompletedTask;
    }

    /// <summary>Moves the instance's executor.log and its rolled copies over the operator's previous last failed log.</summary>
    private void KeepLastFailedLog(string operatorName, int index, string instanceDirectory)
    {
        var kept = LastFailedDirectory(operatorName);
        if (Directory.Exists(kept))
        {
            Directory.Delete(kept, recursive: true); // Bounded: one failed log per operator, the newest.
        }
        Directory.CreateDirectory(kept);
        var log = Path.Combine(instanceDirectory, LogFileName);
        foreach (var file in new[] { log }.Concat(Enumerable.Range(1, options.ExecutorLogFilesKept).Select(i => ExecutorLogRotation.Rolled(log, i))))
        {
            if (File.Exists(file))
            {
                File.Move(file, Path.Combine(kept, Path.GetFileName(file)));
            }
        }
        File.WriteAllText(Path.Combine(kept, LastFailedIndexFileName), index.ToString(CultureInfo.InvariantCulture));
    }

    [LoggerMessage(EventId = 206, Level = LogLevel.Information, Message = "Removed {Operator}/{Index} working directory {Directory} (log kept as the last failed one: {KeptLog})")]
    private partial void LogForgotten(string @operator, int index, string directory, bool keptLog);

    [LoggerMessage(EventId = 207, Level = LogLevel.Warning, Message = "Could not remove {Directory} ({Error}); it stays until removed by hand")]
    private partial void LogForgetFailed(string directory, string error);
}
