namespace Concord.Scheduler.Runtime.Containment.Internal;

/// <summary>
/// The few file operations containment does on a cgroup filesystem. Behind an interface so the
/// path logic can be tested against a temporary directory laid out like cgroupfs (where rmdir
/// of a group with its control files in it must be emulated).
/// </summary>
internal interface ICgroupFs
{
    bool DirectoryExists(string path);

    /// <summary>mkdir: the kernel fills a new group with its control files.</summary>
    void CreateDirectory(string path);

    /// <summary>rmdir: succeeds on an empty group although its control files are listed.</summary>
    void RemoveDirectory(string path);

    /// <summary>The file's text; null when it does not exist.</summary>
    string? ReadText(string path);

    /// <summary>One write of <paramref name="text"/>; throws IOException or UnauthorizedAccessException.</summary>
    void WriteText(string path, string text);

    IEnumerable<string> ListDirectories(string path);
}

/// <summary>The real thing: /sys/fs/cgroup.</summary>
internal sealed class SystemCgroupFs : ICgroupFs
{
    public static readonly SystemCgroupFs Instance = new();

    public bool DirectoryExists(string path) => Directory.Exists(path);

    public void CreateDirectory(string path) => Directory.CreateDirectory(path);

    public void RemoveDirectory(string path) => Directory.Delete(path, recursive: false);

    public string? ReadText(string path)
    {
        try
        {
            return File.ReadAllText(path);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            return null;
        }
    }

    public void WriteText(string path, string text) => File.WriteAllText(path, text);

    public IEnumerable<string> ListDirectories(string path) =>
        Directory.Exists(path) ? Directory.EnumerateDirectories(path) : [];
}
