using System.Diagnostics;
using Concord.Cli.Internal;
using Concord.Cli.Internal.Commands;

namespace Concord.Cli.Tests;

public sealed class SchedulerProcessTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private static Func<string, string?> Env(params (string Name, string Value)[] variables) =>
        name => variables.FirstOrDefault(v => v.Name == name).Value;

    [Fact]
    public void Scheduler_dll_is_found_in_the_artifacts_layout_next_to_the_cli()
    {
        var scheduler = _dir.Write("bin/Concord.Scheduler/release/Concord.Scheduler.dll", "");
        Directory.CreateDirectory(Path.Combine(_dir.Path, "bin", "concord", "release"));

        var found = SchedulerProcessCommands.FindSchedulerDll(Env(), Path.Combine(_dir.Path, "bin", "concord", "release") + "/");

        Assert.Equal(scheduler, found);
    }

    [Fact]
    public void Scheduler_dll_variable_wins_over_the_artifacts_layout()
    {
        _dir.Write("bin/Concord.Scheduler/release/Concord.Scheduler.dll", "");
        var configured = _dir.Write("elsewhere/Concord.Scheduler.dll", "");

        var found = SchedulerProcessCommands.FindSchedulerDll(Env(("CONCORD_SCHEDULER_DLL", configured)), Path.Combine(_dir.Path, "bin", "concord", "release"));

        Assert.Equal(configured, found);
    }

    [Fact]
    public void Missing_scheduler_dll_says_how_to_build_it()
    {
        var error = Assert.Throws<CliException>(() =>
            SchedulerProcessCommands.FindSchedulerDll(Env(), Path.Combine(_dir.Path, "bin", "concord", "release")));

        Assert.Contains(Path.Combine(_dir.Path, "bin", "Concord.Scheduler", "release", "Concord.Scheduler.dll"), error.Message);
        Assert.Contains("dotnet build services/scheduler", error.Message);
        Assert.Contains("CONCORD_SCHEDULER_DLL", error.Message);
    }

    [Fact]
    public async Task Up_detach_prints_the_log_tail_when_the_scheduler_exits_during_start_up()
    {
        // Not an assembly: `dotnet` refuses it at once and exits non-zero, like a scheduler
        // that fails to start.
        var broken = _dir.Write("Concord.Scheduler.dll", "not an assembly");
        var home = Path.Combine(_dir.Path, "home");
        var output = new StringWriter();
        var error = new StringWriter();

        var code = await ConcordCli.RunAsync(
                ["up", "--detach", "--home", home, "--port", "0"], output, error,
                Env(("CONCORD_SCHEDULER_DLL", broken)), interactive: false, TimeProvider.System)
            .WaitAsync(TimeSpan.FromSeconds(60));

        Assert.Equal(1, code);
        Assert.Contains("  | ", error.ToString());
        Assert.Contains("during start-up; its log is above and in " + Path.Combine(home, "scheduler.log"), error.ToString());
        Assert.False(File.Exists(Path.Combine(home, "scheduler.json")));
    }

    [Theory]
    [InlineData(new[] { "--tls-cert", "missing.crt", "--tls-key", "missing.key", "--tls-ca", "ca.crt" }, "cannot read the TLS certificate")]
    [InlineData(new[] { "--tls-cert", "missing.crt" }, "--tls-key")]
    public async Task Up_with_unusable_tls_files_says_so_before_starting_a_scheduler(string[] tls, string message)
    {
        // Would be started if the files passed: a scheduler must not start with TLS files that cannot work.
        var broken = _dir.Write("Concord.Scheduler.dll", "not an assembly");
        var home = Path.Combine(_dir.Path, "home");
        var output = new StringWriter();
        var error = new StringWriter();

        var code = await ConcordCli.RunAsync(
                ["up", "--detach", "--home", home, "--listen", "127.0.0.1:0", .. tls.Select(t => t.Contains('.') ? Path.Combine(_dir.Path, t) : t)], output, error,
                Env(("CONCORD_SCHEDULER_DLL", broken)), interactive: false, TimeProvider.System)
            .WaitAsync(TimeSpan.FromSeconds(60));

        Assert.Equal(1, code);
        Assert.Contains(message, error.ToString());
        Assert.False(File.Exists(Path.Combine(home, "scheduler.log")), "no scheduler was started");
    }

    [Fact]
    public void Dead_pid_is_not_alive_and_own_pid_is()
    {
        Assert.True(ProcessControl.IsAlive(Environment.ProcessId));
        Assert.False(ProcessControl.IsAlive(2147483000));
    }

    [Fact]
    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    public async Task Launcher_script_is_executable_valid_bash()
    {
        var script = Path.Combine(RepoPaths.Root, "concord");

        Assert.True(File.GetUnixFileMode(script).HasFlag(UnixFileMode.UserExecute), "./concord must be executable (chmod +x concord)");
        using var bash = Process.Start(new ProcessStartInfo("bash", ["-n", script]) { RedirectStandardError = true })!;
        var errors = await bash.StandardError.ReadToEndAsync().WaitAsync(TimeSpan.FromSeconds(30));
        await bash.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal("", errors);
        Assert.Equal(0, bash.ExitCode);
    }
}
