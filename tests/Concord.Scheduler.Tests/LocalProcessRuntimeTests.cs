using Concord.Contracts.Types.V1;
using Concord.Scheduler.Runtime;
using Concord.Scheduler.Runtime.Containment;
using Google.Protobuf;
using Microsoft.Extensions.Logging.Abstractions;

namespace Concord.Scheduler.Tests;

/// <summary>The local runtime with real processes: a shell script stands in for the executor.</summary>
public sealed class LocalProcessRuntimeTests : IDisposable
{
    private static readonly TimeSpan TestTimeout = TestTimeouts.Step;
    private readonly TempDirectory _home = new();

    public void Dispose() => _home.Dispose();

    private LocalProcessRuntime Runtime(string script) => new(
        new LocalProcessRuntimeOptions { Home = _home.Path, ExecutorCommand = new LaunchCommand("/bin/sh", ["-c", script]), Containment = InstanceContainment.None },
        NullLogger<LocalProcessRuntime>.Instance,
        TimeProvider.System);

    /// <summary>
    /// Waits for the script's "ready" file: a signal sent while the shell is still starting
    /// would hit the shell, not the program the test means. No event exists for this, so poll.
    /// </summary>
    private Task WaitUntilReadyAsync(string directory) =>
        Eventually.UntilAsync(() => File.Exists(Path.Combine(directory, "ready")), TestTimeout, () => "the script to become ready");

    private static InstanceLaunch Launch(string incarnation = "inc-1") =>
        new("counter", 1, incarnation, new OperatorSpec { Name = "counter", Executable = "/bin/true", Instances = 2 }, "http://127.0.0.1:7400");

    [Fact]
    public void Executors_beyond_loopback_without_tls_are_refused_when_the_runtime_is_made()
    {
        var error = Assert.Throws<Concord.Hosting.TlsConfigurationException>(() => new LocalProcessRuntime(
            new LocalProcessRuntimeOptions
            {
                Home = _home.Path,
                ExecutorCommand = new LaunchCommand("/bin/true", []),
                Containment = InstanceContainment.None,
                ExecutorListenAddress = System.Net.IPAddress.Parse("10.203.7.1"),
            },
            NullLogger<LocalProcessRuntime>.Instance,
            TimeProvider.System));

        Assert.Contains("would listen on 10.203.7.1 without TLS", error.Message);
    }

    [Fact]
    public async Task Launch_passes_the_environment_writes_spec_log_and_pid_and_detects_the_exit_code()
    {
        var runtime = Runtime("env | grep ^CONCORD_ | sort > env.txt; echo hello from the executor; exit 3");

        var handle = await runtime.LaunchAsync(Launch(), default);
        var exit = await handle.Exited.WaitAsync(TestTimeout);

        var dir = _home.Combine("instances", "counter", "1");
        Assert.Equal(runtime.InstanceDirectory("counter", 1), dir);
        Assert.True(handle.Pid > 0);
        Assert.Equal(new InstanceExit(3, "exited with code 3"), exit);
        Assert.Equal(
            [
                "CONCORD_ADVERTISED_HOST=127.0.0.1",
                "CONCORD_INCARNATION=inc-1",
                "CONCORD_INSTANCE_INDEX=1",
                "CONCORD_LISTEN_ADDRESS=127.0.0.1",
                "CONCORD_OPERATOR_NAME=counter",
                "CONCORD_SCHEDULER_ADDRESS=http://127.0.0.1:7400",
                $"CONCORD_SPEC_FILE={Path.Combine(dir, "spec.json")}",
                $"CONCORD_WORK_DIR={dir}",
            ],
            File.ReadAllLines(Path.Combine(dir, "env.txt")));
        var spec = JsonParser.Default.Parse<OperatorSpec>(File.ReadAllText(Path.Combine(dir, "spec.json")));
        Assert.Equal(Launch().Spec, spec);
        var log = File.ReadAllText(Path.Combine(dir, "executor.log"));
        Assert.Contains("scheduler launches counter/1 incarnation inc-1", log);
        Assert.Contains("hello from the executor", log);
        Assert.False(File.Exists(Path.Combine(dir, "executor.pid")), "the pid file goes when the process exits");
    }

    [Fact]
    public async Task An_executor_writing_far_more_than_the_log_cap_leaves_at_most_the_cap_times_the_kept_files_on_disk()
    {
        const int capBytes = 64 * 1024;
        const int filesKept = 2;
        const int chunkBytes = 8 * 1024;
        // 2,048 lines of ~1 KiB = 2 MiB, 32 times the cap, written in chunks of 8 lines (~8 KiB).
        // After a chunk that takes its stdout (executor.log) past the cap, the writer waits until
        // the roller has truncated it (10 s at most), so a file exceeds the cap by at most one
        // chunk however late the 20 ms check runs on a loaded machine: the bound tested is the
        // roll's, not the timer's punctuality.
        var runtime = new LocalProcessRuntime(
            new LocalProcessRuntimeOptions
            {
                Home = _home.Path,
                ExecutorCommand = new LaunchCommand("/bin/sh", ["-c",
                    "pad=$(printf '%01000d' 0); i=1; while [ $i -le 2048 ]; do printf 'line %06d %s\\n' $i \"$pad\"; " +
                    "if [ $((i % 8)) -eq 0 ]; then n=0; " +
                    $"while [ $(stat -L -c %s /proc/$$/fd/1) -gt {capBytes} ] && [ $n -lt 1000 ]; do sleep 0.01; n=$((n+1)); done; fi; " +
                    "i=$((i+1)); done; echo the last line"]),
                Containment = InstanceContainment.None,
                ExecutorLogBytesMax = capBytes,
                ExecutorLogFilesKept = filesKept,
                ExecutorLogCheckMs = 20,
            },
            NullLogger<LocalProcessRuntime>.Instance,
            TimeProvider.System);

        var handle = await runtime.LaunchAsync(Launch(), default);
        Assert.Equal(0, (await handle.Exited.WaitAsync(TestTimeout)).ExitCode);

        var dir = runtime.InstanceDirectory("counter", 1);
        var logs = Directory.GetFiles(dir, "executor.log*").Order(StringComparer.Ordinal).ToList();
        Assert.Equal([Path.Combine(dir, "executor.log"), Path.Combine(dir, "executor.log.1"), Path.Combine(dir, "executor.log.2")], logs);
        Assert.All(logs, log => Assert.True(new FileInfo(log).Length <= capBytes + (2 * chunkBytes), $"{log} has {new FileInfo(log).Length} bytes"));
        // Without the roll all 2 MiB would be on disk.
        Assert.True(logs.Sum(log => new FileInfo(log).Length) <= (capBytes + (2 * chunkBytes)) * (filesKept + 1));
        // The newest lines are where `concord logs` reads them: the end of executor.log, or of executor.log.1 just after a roll.
        var current = File.ReadAllLines(Path.Combine(dir, "executor.log"));
        var lastLine = current.Length > 0 ? current[^1] : File.ReadAllLines(Path.Combine(dir, "executor.log.1"))[^1];
        Assert.Equal("the last line", lastLine);
        Assert.DoesNotContain(File.ReadAllLines(Path.Combine(dir, "executor.log.2")), l => l.StartsWith("line 000001 ", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Running_instance_has_a_pid_file_and_stop_ends_it_with_SIGTERM()
    {
        var runtime = Runtime("exec sleep 30");
        var handle = await runtime.LaunchAsync(Launch(), default);
        var pidFile = Path.Combine(runtime.InstanceDirectory("counter", 1), LocalProcessRuntime.PidFileName);

        Assert.Equal($"{handle.Pid}\ninc-1\n", File.ReadAllText(pidFile));
        Assert.False(handle.Exited.IsCompleted);
        await runtime.StopAsync(handle, TimeSpan.FromSeconds(10), default).WaitAsync(TestTimeout);

        var exit = await handle.Exited.WaitAsync(TestTimeout);
        Assert.Equal("killed by signal 15", exit.Description);
        Assert.False(File.Exists(pidFile));
    }

    [Fact]
    public async Task Stop_kills_a_process_that_ignores_SIGTERM_after_the_timeout()
    {
        // An ignored signal stays ignored across exec, so sleep ignores SIGTERM.
        var runtime = Runtime("trap '' TERM; touch ready; exec sleep 30");
        var handle = await runtime.LaunchAsync(Launch(), default);
        await WaitUntilReadyAsync(runtime.InstanceDirectory("counter", 1));

        await runtime.StopAsync(handle, TimeSpan.FromMilliseconds(300), default).WaitAsync(TestTimeout);

        Assert.Equal("killed by signal 9", (await handle.Exited.WaitAsync(TestTimeout)).Description);
    }

    [Fact]
    public async Task A_restarted_scheduler_stops_the_leftover_executor_of_the_previous_run()
    {
        var previousRun = Runtime("touch ready; exec sleep 30");
        var leftover = await previousRun.LaunchAsync(Launch("old"), default);
        await WaitUntilReadyAsync(previousRun.InstanceDirectory("counter", 1));

        var nextRun = Runtime("exec sleep 30");
        await nextRun.ReapLeftoversAsync(default).WaitAsync(TestTimeout);

        Assert.Equal("killed by signal 15", (await leftover.Exited.WaitAsync(TestTimeout)).Description);
        Assert.False(File.Exists(Path.Combine(nextRun.InstanceDirectory("counter", 1), LocalProcessRuntime.PidFileName)));
    }

    [Fact]
    public async Task A_pid_file_naming_an_unrelated_process_does_not_get_it_killed()
    {
        var runtime = Runtime("exec sleep 30");
        var dir = runtime.InstanceDirectory("counter", 1);
        Directory.CreateDirectory(dir);
        // Our own pid with another incarnation: a reused pid must not be taken for a leftover.
        await File.WriteAllTextAsync(Path.Combine(dir, LocalProcessRuntime.PidFileName), $"{Environment.ProcessId}\nsomeone-else\n");

        await runtime.ReapLeftoversAsync(default).WaitAsync(TestTimeout);

        Assert.False(File.Exists(Path.Combine(dir, LocalProcessRuntime.PidFileName)));
    }

    [Fact]
    public void Validate_names_a_missing_executable_and_the_fix()
    {
        var runtime = Runtime("true");

        Assert.Equal(
            "executable '/x/y' does not exist; build it or fix \"executable\" in the deploy file",
            runtime.Validate(new OperatorSpec { Name = "a", Executable = "/x/y", Instances = 1 }));
        Assert.Contains("was not found on the scheduler's PATH", runtime.Validate(new OperatorSpec { Name = "a", Executable = "no-such-program-cc", Instances = 1 }));
        Assert.Contains("is a relative path", runtime.Validate(new OperatorSpec { Name = "a", Executable = "bin/op", Instances = 1 }));
        Assert.Null(runtime.Validate(new OperatorSpec { Name = "a", Executable = "sh", Instances = 1 }));
        Assert.Null(runtime.Validate(new OperatorSpec { Name = "a", Executable = "/bin/sh", Instances = 1 }));
        Assert.Null(runtime.Validate(new OperatorSpec { Name = "a", Builtin = new BuiltinOperator { Kind = "generator" }, Instances = 1 }));
    }

    [Fact]
    public void Validate_rejects_a_file_without_execute_permission_and_a_missing_file_to_copy()
    {
        var runtime = Runtime("true");
        var plain = _home.Combine("plain.txt");
        File.WriteAllText(plain, "not a program");

        Assert.Contains($"run `chmod +x {plain}`", runtime.Validate(new OperatorSpec { Name = "a", Executable = plain, Instances = 1 }));
        Assert.Equal(
            "files[0]: '/no/such/file' does not exist; create it or remove it from \"files\" in the deploy file",
            runtime.Validate(new OperatorSpec { Name = "a", Executable = "/bin/sh", Instances = 1, Files = { "/no/such/file" } }));
    }

    [Fact]
    public async Task Files_entries_that_are_directories_are_copied_recursively_next_to_plain_files()
    {
        var model = _home.Combine("src", "model");
        Directory.CreateDirectory(Path.Combine(model, "layers", "deep"));
        Directory.CreateDirectory(Path.Combine(model, "empty"));
        File.WriteAllText(Path.Combine(model, "config.json"), "{}");
        File.WriteAllText(Path.Combine(model, "layers", "deep", "w.bin"), "weights");
        var words = _home.Combine("src", "words.txt");
        File.WriteAllText(words, "a\nb\n");
        // The files lie in the deploy file's directory, as the runtime's confinement requires.
        var spec = new OperatorSpec { Name = "counter", Executable = "/bin/true", Instances = 2, SourceDirectory = _home.Combine("src"), Files = { model + "/", words } };
        var runtime = Runtime("exit 0");

        Assert.Null(runtime.Validate(spec));
        var handle = await runtime.LaunchAsync(new InstanceLaunch("counter", 1, "inc-1", spec, "http://127.0.0.1:7400"), default);
        await handle.Exited.WaitAsync(TestTimeout);

        var dir = runtime.InstanceDirectory("counter", 1);
        Assert.Equal("{}", File.ReadAllText(Path.Combine(dir, "model", "config.json")));
        Assert.Equal("weights", File.ReadAllText(Path.Combine(dir, "model", "layers", "deep", "w.bin")));
        Assert.True(Directory.Exists(Path.Combine(dir, "model", "empty")), "empty directories are copied too");
        Assert.Equal("a\nb\n", File.ReadAllText(Path.Combine(dir, "words.txt")));
    }

    [Fact]
    public void Validate_rejects_a_directory_with_too_many_files_or_a_link_to_a_directory_inside()
    {
        var runtime = Runtime("true");
        var big = _home.Combine("big");
        Directory.CreateDirectory(Path.Combine(big, "sub"));
        for (var i = 0; i < SchedulerLimits.CopiedFilesMax; i++)
        {
            File.WriteAllText(Path.Combine(big, "sub", $"f{i}"), "");
        }
        var exactlyMax = new OperatorSpec { Name = "a", Executable = "/bin/sh", Instances = 1, SourceDirectory = _home.Path, Files = { big } };
        Assert.Null(runtime.Validate(exactlyMax));

        var extra = _home.Combine("extra.txt");
        File.WriteAllText(extra, "");
        var oneMore = new OperatorSpec { Name = "a", Executable = "/bin/sh", Instances = 1, SourceDirectory = _home.Path, Files = { big, extra } };
        Assert.StartsWith($"files: the entries hold more than {SchedulerLimits.CopiedFilesMax} files", runtime.Validate(oneMore));

        var linked = _home.Combine("linked");
        Directory.CreateDirectory(linked);
        Directory.CreateSymbolicLink(Path.Combine(linked, "loop"), linked);
        Assert.StartsWith(
            $"files[0]: '{Path.Combine(linked, "loop")}' is a symbolic link to a directory",
            runtime.Validate(new OperatorSpec { Name = "a", Executable = "/bin/sh", Instances = 1, SourceDirectory = _home.Path, Files = { linked } }));
    }
}
