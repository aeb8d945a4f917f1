namespace Concord.Conformance.Tests.Harness;

/// <summary>Paths of the built repository; binaries are taken from the configuration this suite was built in.</summary>
public static class Repo
{
    public static string Root { get; } = FindRoot();

    /// <summary>"release" or "debug": the artifacts folder this test assembly runs from.</summary>
    public static string Configuration { get; } = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd('/')).Name;

    public static string ExecutorDll => Require(Path.Combine(Root, "artifacts", "bin", "Concord.Executor", Configuration, "Concord.Executor.dll"),
        "build the executor (dotnet build Concord.sln -c Release, or scripts/setup.sh)");

    public static string Require(string path, string fix) => File.Exists(path)
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
        throw new InvalidOperationException("Concord.sln not found above " + AppContext.BaseDirectory);
    }
}
