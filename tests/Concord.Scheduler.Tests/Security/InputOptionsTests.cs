namespace Concord.Scheduler.Tests.Security;

/// <summary>The scheduler options a cluster operator confines inputs with: --files-root, --executables-root, --data-root.</summary>
public sealed class InputOptionsTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private string FakeExecutor()
    {
        var path = _dir.Combine("Concord.Executor.dll");
        File.WriteAllText(path, "");
        return path;
    }

    [Fact]
    public void Each_root_option_may_be_repeated_and_is_made_absolute()
    {
        Directory.CreateDirectory(_dir.Combine("a"));
        Directory.CreateDirectory(_dir.Combine("b"));

        var options = SchedulerCommandLine.Parse([
            "--home", _dir.Path, "--executor", FakeExecutor(),
            "--files-root", _dir.Combine("a"), "--files-root=" + _dir.Combine("b"),
            "--executables-root", "/usr/bin",
            "--data-root", _dir.Combine("b", "..", "a"),
        ])!;

        Assert.Equal([_dir.Combine("a"), _dir.Combine("b")], options.FilesRoots);
        Assert.Equal(["/usr/bin"], options.ExecutablesRoots);
        Assert.Equal([_dir.Combine("a")], options.DataRoots);
    }

    [Fact]
    public void By_default_no_roots_are_configured()
    {
        var options = SchedulerCommandLine.Parse(["--home", _dir.Path, "--executor", FakeExecutor()])!;

        Assert.Empty(options.FilesRoots);
        Assert.Empty(options.ExecutablesRoots);
        Assert.Empty(options.DataRoots);
    }

    [Theory]
    [InlineData("--files-root")]
    [InlineData("--executables-root")]
    [InlineData("--data-root")]
    public void A_root_that_is_not_a_directory_is_a_usage_error(string option)
    {
        var error = Assert.Throws<UsageException>(() => SchedulerCommandLine.Parse(["--home", _dir.Path, option, _dir.Combine("missing")]));

        Assert.Equal($"{option} '{_dir.Combine("missing")}' is not a directory; create it or fix the path", error.Message);
    }

    [Fact]
    public void Help_lists_the_root_options()
    {
        Assert.All(new[] { "--files-root", "--executables-root", "--data-root" }, option => Assert.Contains(option, SchedulerCommandLine.Usage));
    }
}
