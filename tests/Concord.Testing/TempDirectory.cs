namespace Concord.Testing;

/// <summary>
/// A short, unique temp directory (/tmp/cc-XXXXXX) removed at dispose. Short so unix socket
/// paths under it stay below the 107-byte limit.
/// </summary>
public sealed class TempDirectory : IDisposable
{
    public TempDirectory(string prefix = "cc-") => Path = Directory.CreateTempSubdirectory(prefix).FullName;

    public string Path { get; }

    public string Combine(params string[] parts) => System.IO.Path.Combine([Path, .. parts]);

    /// <summary>Writes <paramref name="content"/> to a file under the directory (parents created); returns its full path.</summary>
    public string Write(string relativePath, string content)
    {
        var full = System.IO.Path.Combine(Path, relativePath);
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(full)!);
        File.WriteAllText(full, content);
        return full;
    }

    public void Dispose()
    {
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
            // A process that outlived its test may still write here; the OS cleans /tmp, and a
            // leftover directory must not fail a test.
        }
    }
}
