namespace Concord.EndToEnd.Tests.Harness;

/// <summary>The built binaries the tests run against (paths from the test kit's <see cref="RepoPaths"/>).</summary>
public static class Repo
{
    public static string Root => RepoPaths.Root;

    public static string Artifact(string project, string file) => RepoPaths.Artifact(project, file);

    public static string SchedulerDll => RepoPaths.Require(Artifact("Concord.Scheduler", "Concord.Scheduler.dll"));

    public static string ExecutorDll => RepoPaths.Require(Artifact("Concord.Executor", "Concord.Executor.dll"));

    public static string CliDll => RepoPaths.Require(Artifact("concord", "concord.dll"));

    public static string WordCountExe => RepoPaths.Require(Artifact("WordCount", "WordCount"));

    public static string TestOperatorExe => RepoPaths.Require(Artifact("Concord.TestOperator", "Concord.TestOperator"));

    public static string Dictionary => RepoPaths.Require(Path.Combine(Root, "examples", "wordcount", "words.txt"));
}
