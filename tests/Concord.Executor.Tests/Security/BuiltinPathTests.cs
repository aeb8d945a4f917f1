using Concord.Contracts.Types.V1;
using Concord.Executor.Builtins;
using Concord.Executor.Builtins.Internal;
using Microsoft.Extensions.Time.Testing;

namespace Concord.Executor.Tests.Security;

/// <summary>
/// Built-in operators read and write the paths their options name with the executor's rights:
/// generator.dictionary and csv-sink.path once reached any file. They are confined to the
/// instance's directory and the data directories.
/// </summary>
public sealed class BuiltinPathTests : IDisposable
{
    private readonly TempDirectory _work = new();
    private readonly TempDirectory _deployDir = new();
    private readonly TempDirectory _elsewhere = new();
    private readonly FakeTimeProvider _time = new(DateTimeOffset.FromUnixTimeMilliseconds(1_700_000_000_000));

    public void Dispose()
    {
        _work.Dispose();
        _deployDir.Dispose();
        _elsewhere.Dispose();
    }

    private OperatorSpec Generator(string dictionary, string? sourceDirectory = null) => new()
    {
        Name = "gen",
        SourceDirectory = sourceDirectory ?? _deployDir.Path,
        Builtin = new BuiltinOperator { Kind = "generator", Options = { ["dictionary"] = dictionary } },
    };

    private OperatorSpec CsvSink(string path) => new()
    {
        Name = "sink",
        SourceDirectory = _deployDir.Path,
        ExpectedInputs = { new InputStream { Name = "counts" } },
        Builtin = new BuiltinOperator { Kind = "csv-sink", Options = { ["path"] = path } },
    };

    [Fact]
    public void A_dictionary_outside_the_instance_and_deploy_directories_is_refused_naming_the_option_and_the_fix()
    {
        var e = Assert.Throws<OperatorFailedException>(() => new GeneratorOperator(Generator("/etc/passwd"), _work.Path, _time));

        Assert.Equal(
            $"built-in 'generator' option 'dictionary': '/etc/passwd' is outside the instance's directory ('{_work.Path}') and the deploy file's directory ('{_deployDir.Path}'); " +
            "use a path inside them, or ask the cluster operator to start the scheduler with --data-root covering it",
            e.Message);
    }

    [Fact]
    public void Relative_paths_inside_the_deploy_directory_work_and_dot_dot_out_of_it_does_not()
    {
        _deployDir.Write("words.txt", "one\ntwo\n");
        _elsewhere.Write("words.txt", "secret\n");

        _ = new GeneratorOperator(Generator("words.txt"), _work.Path, _time);
        var escape = Path.GetRelativePath(_deployDir.Path, _elsewhere.Combine("words.txt"));
        var e = Assert.Throws<OperatorFailedException>(() => new GeneratorOperator(Generator(escape), _work.Path, _time));

        Assert.Contains($"'{_elsewhere.Combine("words.txt")}' is outside", e.Message);
    }

    [Fact]
    public void A_sink_path_through_a_link_that_leads_out_is_refused_and_nothing_is_written_there()
    {
        Directory.CreateDirectory(_work.Combine("out"));
        File.CreateSymbolicLink(_work.Combine("out", "3"), _elsewhere.Path);

        var e = Assert.Throws<OperatorFailedException>(() => new CsvSinkOperator(CsvSink(_work.Combine("out", "{instance}", "counts.csv")), _work.Path, 3, _time));

        Assert.Contains($"(really '{_elsewhere.Combine("counts.csv")}') is outside", e.Message);
        Assert.Empty(Directory.GetFileSystemEntries(_elsewhere.Path));
    }

    [Fact]
    public void A_sink_writes_inside_the_instance_directory()
    {
        var sink = new CsvSinkOperator(CsvSink(_work.Combine("counts-{instance}.csv")), _work.Path, 2, _time);

        Assert.Equal(_work.Combine("counts-2.csv"), sink.Path);
    }

    [Fact]
    public void With_data_roots_from_the_scheduler_only_they_count_not_the_deploy_directory_the_client_claims()
    {
        var inData = _elsewhere.Write("words.txt", "one\n");
        var inDeployDir = _deployDir.Write("words.txt", "one\n");
        var roots = string.Join(Path.PathSeparator, _elsewhere.Path, "/no/such/root");

        Assert.Equal(inData, BuiltinPaths.Resolve(Generator(inData), "dictionary", inData, _work.Path, roots));
        var e = Assert.Throws<OperatorFailedException>(() => BuiltinPaths.Resolve(Generator(inDeployDir), "dictionary", inDeployDir, _work.Path, roots));
        Assert.Contains($"is outside the instance's directory ('{_work.Path}') and the scheduler's --data-root ({_elsewhere.Path}, /no/such/root)", e.Message);
    }

    [Fact]
    public void Without_a_deploy_directory_only_the_instance_directory_is_allowed()
    {
        var inside = _work.Write("words.txt", "one\n");
        var outside = _elsewhere.Write("words.txt", "one\n");

        _ = new GeneratorOperator(Generator(inside, sourceDirectory: ""), _work.Path, _time);
        var e = Assert.Throws<OperatorFailedException>(() => new GeneratorOperator(Generator(outside, sourceDirectory: ""), _work.Path, _time));

        Assert.Contains("and no data directory (the spec has no source_directory)", e.Message);
    }

    [Fact]
    public void A_link_loop_is_refused_not_followed_for_ever()
    {
        File.CreateSymbolicLink(_work.Combine("a"), _work.Combine("b"));
        File.CreateSymbolicLink(_work.Combine("b"), _work.Combine("a"));

        Assert.Null(BuiltinPaths.RealPath(_work.Combine("a")));
        Assert.Throws<OperatorFailedException>(() => BuiltinPaths.Resolve(Generator("a"), "dictionary", _work.Combine("a"), _work.Path, null));
    }

    [Fact]
    public async Task A_dictionary_that_never_ends_fails_the_generator_after_a_bounded_read()
    {
        // /dev/zero: no line ends, no end of file; a deploy directory of /dev lets the path through.
        var spec = Generator("/dev/zero", sourceDirectory: "/dev");

        var e = await Assert.ThrowsAsync<OperatorFailedException>(() =>
            Task.Run(() => new GeneratorOperator(spec, _work.Path, _time)).WaitAsync(TestTimeouts.Process));

        Assert.Contains($"has more than {ExecutorLimits.GeneratorDictionaryBytesMax} bytes (ExecutorLimits.GeneratorDictionaryBytesMax), or is not a regular file", e.Message);
    }
}
