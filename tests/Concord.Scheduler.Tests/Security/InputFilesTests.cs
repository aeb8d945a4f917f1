using System.Diagnostics;
using Concord.Contracts.Types.V1;
using Concord.Scheduler.Runtime;
using Concord.Scheduler.Runtime.Containment;
using Microsoft.Extensions.Logging.Abstractions;

namespace Concord.Scheduler.Tests.Security;

/// <summary>
/// What a deploy's "files" and "executable" may make the local runtime read, copy and run: an
/// attacker on the same machine asked it for /etc/shadow, through a link, a FIFO and /dev/zero.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class InputFilesTests : IDisposable
{
    private static readonly TimeSpan TestTimeout = TestTimeouts.Step;
    private readonly TempDirectory _home = new();
    private readonly TempDirectory _deployDir = new();

    public void Dispose()
    {
        _home.Dispose();
        _deployDir.Dispose();
    }

    private LocalProcessRuntime Runtime(IReadOnlyList<string>? filesRoots = null, IReadOnlyList<string>? executablesRoots = null) => new(
        new LocalProcessRuntimeOptions
        {
            Home = _home.Path,
            ExecutorCommand = new LaunchCommand("/bin/sh", ["-c", "exit 0"]),
            Containment = InstanceContainment.None,
            FilesRoots = filesRoots ?? [],
            ExecutablesRoots = executablesRoots ?? [],
        },
        NullLogger<LocalProcessRuntime>.Instance,
        TimeProvider.System);

    private OperatorSpec Spec(params string[] files)
    {
        var spec = new OperatorSpec { Name = "op", Executable = "/bin/sh", Instances = 1, SourceDirectory = _deployDir.Path };
        spec.Files.Add(files);
        return spec;
    }

    /// <summary>Runs Validate beside the test, bounded: a check that opened a FIFO would block here for ever.</summary>
    private static async Task<string?> ValidateAsync(LocalProcessRuntime runtime, OperatorSpec spec) =>
        await Task.Run(() => runtime.Validate(spec)).WaitAsync(TestTimeout);

    private static void MakeFifo(string path)
    {
        using var mkfifo = Process.Start("mkfifo", [path]);
        mkfifo.WaitForExit(TestTimeouts.Process);
        Assert.Equal(0, mkfifo.ExitCode);
    }

    [Fact]
    public async Task A_file_outside_the_deploy_files_directory_is_refused()
    {
        var problem = await ValidateAsync(Runtime(), Spec("/etc/passwd"));

        Assert.Equal(
            $"files[0]: '/etc/passwd' is outside the deploy file's directory ('{_deployDir.Path}'); put it there, " +
            "or ask the cluster operator to start the scheduler with --files-root covering it",
            problem);
    }

    [Fact]
    public async Task A_link_in_the_deploy_directory_that_leads_out_of_it_is_refused_with_its_real_path()
    {
        var link = _deployDir.Combine("innocent.txt");
        File.CreateSymbolicLink(link, "/etc/passwd");

        var problem = await ValidateAsync(Runtime(), Spec(link));

        Assert.StartsWith($"files[0]: '{link}' (really '/etc/passwd') is outside the deploy file's directory", problem);
    }

    [Fact]
    public async Task A_link_that_stays_inside_the_deploy_directory_is_accepted()
    {
        var target = _deployDir.Write("data.txt", "words");
        var link = _deployDir.Combine("alias.txt");
        File.CreateSymbolicLink(link, target);

        Assert.Null(await ValidateAsync(Runtime(), Spec(link)));
    }

    [Fact]
    public async Task A_fifo_a_device_and_a_directory_are_refused_without_hanging()
    {
        var fifo = _deployDir.Combine("pipe");
        MakeFifo(fifo);
        var directory = _deployDir.Combine("folder");
        Directory.CreateDirectory(directory);

        Assert.Equal($"files[0]: '{fifo}' is a FIFO (named pipe); list regular files only", await ValidateAsync(Runtime(), Spec(fifo)));
        Assert.Equal("files[0]: '/dev/zero' is a device; list regular files only", await ValidateAsync(Runtime(filesRoots: ["/dev"]), Spec("/dev/zero")));
        Assert.Equal($"files[0]: '{directory}' is a directory; list the files in it one by one", await ValidateAsync(Runtime(), Spec(directory)));
    }

    [Fact]
    public async Task A_file_over_the_per_file_cap_and_files_over_the_per_deploy_cap_are_refused()
    {
        // Sparse files: the size is what counts, nothing is written.
        var big = _deployDir.Combine("big.bin");
        using (var file = File.Create(big))
        {
            file.SetLength(SchedulerLimits.FileBytesMax + 1);
        }
        var parts = Enumerable.Range(0, (int)(SchedulerLimits.FilesBytesMax / SchedulerLimits.FileBytesMax) + 1).Select(i =>
        {
            var part = _deployDir.Combine($"part{i}.bin");
            using var file = File.Create(part);
            file.SetLength(SchedulerLimits.FileBytesMax);
            return part;
        }).ToArray();

        Assert.Equal(
            $"files[0]: '{big}' has {SchedulerLimits.FileBytesMax + 1} bytes, more than {SchedulerLimits.FileBytesMax} (SchedulerLimits.FileBytesMax); " +
            "put large data where the operator can read it instead of in \"files\"",
            await ValidateAsync(Runtime(), Spec(big)));
        Assert.StartsWith(
            $"files: {SchedulerLimits.FileBytesMax * parts.Length} bytes up to files[{parts.Length - 1}] is more than {SchedulerLimits.FilesBytesMax} bytes in all",
            await ValidateAsync(Runtime(), Spec(parts)));
    }

    [Fact]
    public async Task With_files_roots_only_those_directories_count_not_the_deploy_directory_the_client_claims()
    {
        using var allowed = new TempDirectory();
        var inside = allowed.Write("model.bin", "m");
        var claimed = _deployDir.Write("words.txt", "w");
        var runtime = Runtime(filesRoots: [allowed.Path]);

        Assert.Null(await ValidateAsync(runtime, Spec(inside)));
        Assert.Equal(
            $"files[0]: '{claimed}' is outside the scheduler's --files-root ({allowed.Path}); put it there, " +
            "or ask the cluster operator to start the scheduler with --files-root covering it",
            await ValidateAsync(runtime, Spec(claimed)));
    }

    [Fact]
    public async Task Files_named_like_the_runtimes_own_files_or_like_each_other_are_refused()
    {
        var spec = _deployDir.Write("spec.json", "{}");
        Directory.CreateDirectory(_deployDir.Combine("a"));
        Directory.CreateDirectory(_deployDir.Combine("b"));
        var first = _deployDir.Write(Path.Combine("a", "words.txt"), "1");
        var second = _deployDir.Write(Path.Combine("b", "words.txt"), "2");

        Assert.StartsWith($"files[0]: '{spec}' has the name of a file Concord keeps in the instance's directory", await ValidateAsync(Runtime(), Spec(spec)));
        Assert.StartsWith($"files[1]: '{second}' has the same name as files[0] ('words.txt')", await ValidateAsync(Runtime(), Spec(first, second)));
    }

    [Fact]
    public async Task A_launch_copies_through_a_new_file_and_never_writes_through_a_link_left_in_the_instance_directory()
    {
        var source = _deployDir.Write("words.txt", "alpha\nbeta\n");
        using var elsewhere = new TempDirectory();
        var victim = elsewhere.Write("victim.txt", "untouched");
        var runtime = Runtime();
        var directory = runtime.InstanceDirectory("op", 0);
        Directory.CreateDirectory(directory);
        File.CreateSymbolicLink(Path.Combine(directory, "words.txt"), victim);

        var handle = await runtime.LaunchAsync(new InstanceLaunch("op", 0, "inc-1", Spec(source), "http://127.0.0.1:7400"), default).WaitAsync(TestTimeout);
        await handle.Exited.WaitAsync(TestTimeout);

        Assert.Equal("untouched", File.ReadAllText(victim));
        var copy = new FileInfo(Path.Combine(directory, "words.txt"));
        Assert.Null(copy.LinkTarget);
        Assert.Equal("alpha\nbeta\n", File.ReadAllText(copy.FullName));
        Assert.Empty(Directory.GetFiles(directory, ".concord-copy-*"));
    }

    [Fact]
    public async Task A_file_swapped_for_a_fifo_after_the_deploy_fails_the_launch_at_once()
    {
        var file = _deployDir.Write("words.txt", "alpha");
        var runtime = Runtime();
        Assert.Null(await ValidateAsync(runtime, Spec(file)));
        File.Delete(file);
        MakeFifo(file);

        var error = await Assert.ThrowsAnyAsync<IOException>(() =>
            runtime.LaunchAsync(new InstanceLaunch("op", 0, "inc-1", Spec(file), "http://127.0.0.1:7400"), default).WaitAsync(TestTimeout));

        Assert.Equal($"files[0]: '{file}' is a FIFO (named pipe); list regular files only", error.Message);
        Assert.False(File.Exists(Path.Combine(runtime.InstanceDirectory("op", 0), LocalProcessRuntime.PidFileName)), "nothing was started");
    }

    [Fact]
    public async Task A_launch_cancelled_while_copying_starts_nothing()
    {
        var file = _deployDir.Write("words.txt", "alpha");
        var runtime = Runtime();
        using var cancelled = new CancellationTokenSource();
        await cancelled.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() =>
            runtime.LaunchAsync(new InstanceLaunch("op", 0, "inc-1", Spec(file), "http://127.0.0.1:7400"), cancelled.Token).WaitAsync(TestTimeout));

        Assert.False(File.Exists(Path.Combine(runtime.InstanceDirectory("op", 0), LocalProcessRuntime.PidFileName)), "nothing was started");
    }

    [Fact]
    public async Task With_executables_roots_a_program_elsewhere_is_refused_and_one_inside_is_accepted()
    {
        using var bin = new TempDirectory();
        var program = bin.Write("op", "#!/bin/sh\nexit 0\n");
        File.SetUnixFileMode(program, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        var runtime = Runtime(executablesRoots: [bin.Path]);

        Assert.Null(await ValidateAsync(runtime, new OperatorSpec { Name = "op", Executable = program, Instances = 1 }));
        Assert.StartsWith(
            $"executable '/bin/sh'",
            await ValidateAsync(runtime, new OperatorSpec { Name = "op", Executable = "/bin/sh", Instances = 1 }));
        Assert.Contains($"is not in a directory this scheduler may run programs from ({bin.Path})", await ValidateAsync(runtime, new OperatorSpec { Name = "op", Executable = "sh", Instances = 1 }));
        Assert.Null(await ValidateAsync(Runtime(), new OperatorSpec { Name = "op", Executable = "/bin/sh", Instances = 1 }));
    }
}
