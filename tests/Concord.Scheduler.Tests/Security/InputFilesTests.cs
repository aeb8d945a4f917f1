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
    public async Task A_fifo_and_a_device_are_refused_without_hanging()
    {
        var fifo = _deployDir.Combine("pipe");
        MakeFifo(fifo);

        Assert.Equal($"files[0]: '{fifo}' is a FIFO (named pipe); list regular files only", await ValidateAsync(Runtime(), Spec(fifo)));
        Assert.Equal("files[0]: '/dev/zero' is a device; list regular files only", await ValidateAsync(Runtime(filesRoots: ["/dev"]), Spec("/dev/zero")));
    }

    [Fact]
    public async Task A_listed_directory_is_copied_with_its_nested_files_under_its_own_name_never_through_a_link_in_the_instance_directory()
    {
        _deployDir.Write(Path.Combine("data", "model", "config.json"), "{}");
        _deployDir.Write(Path.Combine("data", "model", "layers", "deep", "w.bin"), "weights");
        Directory.CreateDirectory(_deployDir.Combine("data", "model", "empty"));
        var model = _deployDir.Combine("data", "model");
        using var elsewhere = new TempDirectory();
        var runtime = Runtime();
        var directory = runtime.InstanceDirectory("op", 0);
        Directory.CreateDirectory(Path.Combine(directory, "model"));
        // Left by an earlier incarnation: a link where the copy puts a directory.
        Directory.CreateSymbolicLink(Path.Combine(directory, "model", "layers"), elsewhere.Path);

        Assert.Null(await ValidateAsync(runtime, Spec(model)));
        var handle = await runtime.LaunchAsync(new InstanceLaunch("op", 0, "inc-1", Spec(model), "http://127.0.0.1:7400"), default).WaitAsync(TestTimeout);
        await handle.Exited.WaitAsync(TestTimeout);

        Assert.Empty(Directory.EnumerateFileSystemEntries(elsewhere.Path));
        Assert.Equal("{}", File.ReadAllText(Path.Combine(directory, "model", "config.json")));
        Assert.Null(new DirectoryInfo(Path.Combine(directory, "model", "layers")).LinkTarget);
        Assert.Equal("weights", File.ReadAllText(Path.Combine(directory, "model", "layers", "deep", "w.bin")));
        Assert.True(Directory.Exists(Path.Combine(directory, "model", "empty")), "empty directories are recreated too");
        Assert.Empty(Directory.GetFiles(directory, ".concord-copy-*", SearchOption.AllDirectories));
    }

    [Fact]
    public async Task A_directory_outside_the_deploy_directory_or_reached_through_a_link_leading_out_is_refused()
    {
        using var outside = new TempDirectory();
        outside.Write("secret.txt", "s");
        var link = _deployDir.Combine("innocent");
        Directory.CreateSymbolicLink(link, outside.Path);

        Assert.StartsWith($"files[0]: '{outside.Path}' is outside the deploy file's directory ('{_deployDir.Path}')", await ValidateAsync(Runtime(), Spec(outside.Path)));
        Assert.StartsWith($"files[0]: '{link}' (really '{outside.Path}') is outside the deploy file's directory", await ValidateAsync(Runtime(), Spec(link)));
    }

    [Fact]
    public async Task A_symbolic_link_inside_a_listed_directory_is_refused_even_one_that_stays_inside()
    {
        var data = _deployDir.Combine("data");
        var inside = _deployDir.Write(Path.Combine("data", "words.txt"), "w");
        var leadsOut = Path.Combine(data, "passwd");
        File.CreateSymbolicLink(leadsOut, "/etc/passwd");
        var alias = _deployDir.Combine("other", "alias.txt");
        Directory.CreateDirectory(_deployDir.Combine("other"));
        File.CreateSymbolicLink(alias, inside);

        Assert.Equal(
            $"files[0]: '{leadsOut}' is a symbolic link, and links inside a directory are not followed; " +
            "list the link's target in \"files\" instead, or replace the link with the file",
            await ValidateAsync(Runtime(), Spec(data)));
        Assert.StartsWith($"files[0]: '{alias}' is a symbolic link, and links inside a directory are not followed", await ValidateAsync(Runtime(), Spec(_deployDir.Combine("other"))));
    }

    [Fact]
    public async Task A_fifo_inside_a_listed_directory_is_refused_without_hanging_at_deploy_and_at_launch()
    {
        var data = _deployDir.Combine("data");
        var fifo = Path.Combine(data, "nested", "pipe");
        _deployDir.Write(Path.Combine("data", "nested", "words.txt"), "w");
        var runtime = Runtime();
        Assert.Null(await ValidateAsync(runtime, Spec(data)));

        MakeFifo(fifo);
        var expected = $"files[0]: '{fifo}' is a FIFO (named pipe); only regular files and directories are copied, so remove it from the directory";
        Assert.Equal(expected, await ValidateAsync(runtime, Spec(data)));
        var error = await Assert.ThrowsAnyAsync<IOException>(() =>
            runtime.LaunchAsync(new InstanceLaunch("op", 0, "inc-1", Spec(data), "http://127.0.0.1:7400"), default).WaitAsync(TestTimeout));

        Assert.Equal(expected, error.Message);
        Assert.False(File.Exists(Path.Combine(runtime.InstanceDirectory("op", 0), LocalProcessRuntime.PidFileName)), "nothing was started");
    }

    [Fact]
    public async Task The_file_count_is_counted_across_listed_directories_and_files()
    {
        var half = SchedulerLimits.CopiedFilesMax / 2;
        foreach (var name in new[] { "a", "b" })
        {
            Directory.CreateDirectory(_deployDir.Combine(name, "sub"));
            for (var i = 0; i < half; i++)
            {
                File.WriteAllText(_deployDir.Combine(name, "sub", $"f{i}"), "");
            }
        }
        var extra = _deployDir.Write("extra.txt", "");

        Assert.Null(await ValidateAsync(Runtime(), Spec(_deployDir.Combine("a"), _deployDir.Combine("b"))));
        Assert.StartsWith(
            $"files: the entries hold more than {SchedulerLimits.CopiedFilesMax} files up to files[2] (SchedulerLimits.CopiedFilesMax)",
            await ValidateAsync(Runtime(), Spec(_deployDir.Combine("a"), _deployDir.Combine("b"), extra)));
    }

    [Fact]
    public async Task The_directory_count_bounds_a_tree_of_empty_directories()
    {
        var tree = _deployDir.Combine("tree");
        for (var i = 0; i < SchedulerLimits.CopiedDirectoriesMax; i++)
        {
            Directory.CreateDirectory(Path.Combine(tree, $"d{i:D5}"));
        }

        // The listed directory itself counts: the last of its subdirectories is one too many.
        Assert.StartsWith(
            $"files[0]: '{Path.Combine(tree, $"d{SchedulerLimits.CopiedDirectoriesMax - 1:D5}")}' is one directory too many: " +
            $"the entries hold more than {SchedulerLimits.CopiedDirectoriesMax} directories",
            await ValidateAsync(Runtime(), Spec(tree)));
        Directory.Delete(Path.Combine(tree, $"d{SchedulerLimits.CopiedDirectoriesMax - 1:D5}"));
        Assert.Null(await ValidateAsync(Runtime(), Spec(tree)));
    }

    [Fact]
    public async Task The_byte_caps_hold_for_files_inside_directories_and_across_them()
    {
        // Sparse files: the size is what counts, nothing is written.
        string Sparse(string relative, long bytes)
        {
            var path = _deployDir.Combine(relative);
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            using var file = File.Create(path);
            file.SetLength(bytes);
            return path;
        }
        var big = Sparse(Path.Combine("big", "nested", "big.bin"), SchedulerLimits.FileBytesMax + 1);
        var parts = (int)(SchedulerLimits.FilesBytesMax / SchedulerLimits.FileBytesMax) + 1;
        for (var i = 0; i < parts; i++)
        {
            Sparse(Path.Combine(i % 2 == 0 ? "even" : "odd", $"part{i}.bin"), SchedulerLimits.FileBytesMax);
        }

        Assert.Equal(
            $"files[0]: '{big}' has {SchedulerLimits.FileBytesMax + 1} bytes, more than {SchedulerLimits.FileBytesMax} (SchedulerLimits.FileBytesMax); " +
            "put large data where the operator can read it instead of in \"files\"",
            await ValidateAsync(Runtime(), Spec(_deployDir.Combine("big"))));
        Assert.StartsWith(
            $"files: {SchedulerLimits.FileBytesMax * parts} bytes up to files[1] is more than {SchedulerLimits.FilesBytesMax} bytes in all",
            await ValidateAsync(Runtime(), Spec(_deployDir.Combine("even"), _deployDir.Combine("odd"))));
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

        var port = _deployDir.Write("operator.port", "1");
        Assert.StartsWith($"files[0]: '{spec}' has the name of a file Concord keeps in the instance's directory", await ValidateAsync(Runtime(), Spec(spec)));
        Assert.StartsWith($"files[0]: '{port}' has the name of a file Concord keeps in the instance's directory", await ValidateAsync(Runtime(), Spec(port)));
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
