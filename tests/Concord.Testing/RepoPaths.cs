namespace Concord.Testing;

/// <summary>Paths of the built repository the tests run against (the root holds Concord.sln; builds go to artifacts/).</summary>
public static class RepoPaths
{
    public static string Root { get; } = FindRoot();

    /// <summary>"release" or "debug": the artifacts folder this test assembly runs from.</summary>
    public static string Configuration { get; } = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd('/')).Name;

    /// <summary>artifacts/bin/&lt;project&gt;/release/&lt;file&gt;: where the Release build puts a project's output.</summary>
    public static string Artifact(string project, string file) =>
        Path.Combine(Root, "artifacts", "bin", project, "release", file);

    /// <summary>The path, or a FileNotFoundException that says how to build it.</summary>
    public static string Require(string path, string fix = "build the solution in Release first (scripts/setup.sh)") => File.Exists(path)
        ? path
        : throw new FileNotFoundException($"{path} is missing: {fix}");

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Concord.sln")))
            {
                return dir.FullName;
            }
        }
        throw new InvalidOperationException("Concord.sln not found above " + AppContext.BaseDirectory + "; run the tests from the repository's artifacts/");
    }
}
