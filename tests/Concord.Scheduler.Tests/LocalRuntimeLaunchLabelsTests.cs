using Concord.Contracts.Types.V1;
using Concord.Scheduler.Runtime;
using Concord.Scheduler.Runtime.Containment;
using Microsoft.Extensions.Logging.Abstractions;

namespace Concord.Scheduler.Tests;

/// <summary>
/// What the local runtime adds to every executor launch besides the CONCORD_ variables: labels on
/// the command line so `ps` tells clusters and instances apart, and the repository's sdk/python
/// on PYTHONPATH so a plain .py operator imports the SDK.
/// </summary>
public sealed class LocalRuntimeLaunchLabelsTests : IDisposable
{
    private readonly TempDirectory _home = new();

    public void Dispose() => _home.Dispose();

    private LocalProcessRuntime Runtime(string script, string? pythonPath) => new(
        new LocalProcessRuntimeOptions { Home = _home.Path, ExecutorCommand = new LaunchCommand("/bin/sh", ["-c", script]), OperatorPythonPath = pythonPath, Containment = InstanceContainment.None },
        NullLogger<LocalProcessRuntime>.Instance,
        TimeProvider.System);

    private static InstanceLaunch Launch() =>
        new("counter", 1, "inc-1", new OperatorSpec { Name = "counter", Executable = "/bin/true", Instances = 2 }, "http://127.0.0.1:7400");

    [Fact]
    public async Task The_executor_command_line_names_the_operator_the_instance_and_the_home()
    {
        // sh -c SCRIPT ARG0 ARGS...: the runtime's additions arrive as $0 and $@.
        var runtime = Runtime("printf '%s\\n' \"$0\" \"$@\" > args.txt", pythonPath: null);

        var handle = await runtime.LaunchAsync(Launch(), default);
        await handle.Exited.WaitAsync(TestTimeouts.Step);

        Assert.Equal(["--operator", "counter", "--instance", "1", "--home", _home.Path],
            File.ReadAllLines(Path.Combine(runtime.InstanceDirectory("counter", 1), "args.txt")));
    }

    [Fact]
    public async Task The_python_sdk_comes_first_on_PYTHONPATH()
    {
        var runtime = Runtime("printf '%s' \"$PYTHONPATH\" > pythonpath.txt", pythonPath: "/repo/sdk/python");

        var handle = await runtime.LaunchAsync(Launch(), default);
        await handle.Exited.WaitAsync(TestTimeouts.Step);

        var pythonPath = File.ReadAllText(Path.Combine(runtime.InstanceDirectory("counter", 1), "pythonpath.txt"));
        Assert.Equal("/repo/sdk/python", pythonPath.Split(':')[0]);
    }

    [Fact]
    public void The_python_sdk_is_found_from_a_build_inside_the_repository_and_not_elsewhere()
    {
        Assert.Equal(Path.Combine(RepoPaths.Root, "sdk", "python"), LocalProcessRuntimeOptions.FindPythonSdk(AppContext.BaseDirectory));
        Assert.Null(LocalProcessRuntimeOptions.FindPythonSdk(_home.Path));
    }
}
