namespace Concord.Scheduler.Tests;

/// <summary>A short-named temp directory (/tmp/cc-XXXXXX: unix socket paths stay short), deleted on dispose.</summary>
public sealed class TempDirectory : IDisposable
{
    public TempDirectory() => Path = Directory.CreateTempSubdirectory("cc-").FullName;

    public string Path { get; }

    public string Combine(params string[] parts) => System.IO.Path.Combine([Path, .. parts]);

    public void Dispose()
    {
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
            // A process that outlived its test may still write here; the OS cleans /tmp.
        }
    }
}
