namespace Concord.Conformance.Tests.Harness;

/// <summary>Paths of the built repository (the test kit's <see cref="RepoPaths"/>); binaries are taken from the configuration this suite was built in.</summary>
public static class Repo
{
    public static string Root => RepoPaths.Root;

    /// <summary>"release" or "debug": the artifacts folder this test assembly runs from.</summary>
    public static string Configuration => RepoPaths.Configuration;

    public static string ExecutorDll => Require(Path.Combine(Root, "artifacts", "bin", "Concord.Executor", Configuration, "Concord.Executor.dll"),
        "build the executor (dotnet build Concord.sln -c Release, or scripts/setup.sh)");

    public static string Require(string path, string fix) => RepoPaths.Require(path, fix);
}
