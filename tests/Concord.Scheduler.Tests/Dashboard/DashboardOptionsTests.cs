namespace Concord.Scheduler.Tests.Dashboard;

/// <summary>--dashboard-dir and its default.</summary>
public sealed class DashboardOptionsTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void The_dashboard_directory_defaults_to_ui_beside_the_binary_and_dashboard_dir_sets_it_as_a_full_path()
    {
        var defaults = SchedulerCommandLine.Parse(["--home", _dir.Path, "--executor", "/bin/true"])!;
        var given = SchedulerCommandLine.Parse(["--home", _dir.Path, "--executor", "/bin/true", "--dashboard-dir", "ui/dist"])!;

        Assert.Equal(Path.Combine(AppContext.BaseDirectory, "ui"), defaults.DashboardDirectory);
        Assert.Equal(Path.GetFullPath("ui/dist"), given.DashboardDirectory);
        Assert.Contains("--dashboard-dir", SchedulerCommandLine.Usage);
    }
}
