namespace Concord.EndToEnd.Tests.Harness;

/// <summary>Paths of the built repository the tests run against.</summary>
public static class Repo
{
    public static string Root { get; } = FindRoot();

    public static string Artifact(string project, string file) =>
        Path.Combine(Root, "artifacts", "bin", project, "release", file);

    public static string SchedulerDll => Require(Artifact("Concord.Scheduler", "Concord.Scheduler.dll"));

    public static string ExecutorDll => Require(Artifact("Concord.Executor", "Concord.Executor.dll"));

    public static string CliDll => Require(Artifact("concord", "concord.dll"));

    public static string WordCountExe => Require(Artifact("WordCount", "WordCount"));

    public static string TestOperatorExe => Require(Artifact("Concord.TestOperator", "Concord.TestOperator"));

    public static string Dictionary => Require(Path.Combine(Root, "examples", "wordcount", "words.txt"));

    private static string Require(string path) => File.Exists(path)
        ? path
        : throw new FileNotFoundException($"{path} is missing: build the solution in Release first (scripts/setup.sh)");

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
