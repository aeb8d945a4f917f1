using Concord.Contracts.Types.V1;

namespace Concord.Cli.Tests;

public sealed class DeployFileTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private OperatorSpec ParseJson(string json, string fileName = "op.json") => DeployFile.Parse(_dir.Write(fileName, json));

    private DeployFileException Fails(string json, string fileName = "op.json") =>
        Assert.Throws<DeployFileException>(() => ParseJson(json, fileName));

    [Fact]
    public void Every_field_is_read_and_relative_paths_are_resolved_against_the_deploy_file()
    {
        _dir.Write("deploy/bin/counter", "#!/bin/sh\n");
        _dir.Write("deploy/data/words.txt", "a b c\n");
        _dir.Write("shared/model.bin", "x");
        var spec = ParseJson("""
            {
              // comments and a trailing comma are tolerated
              "name": "counter",
              "executable": "bin/counter",
              "args": ["--verbose", "x"],
              "instances": 3,
              "cpus": 0.5,
              "mem": 256,
              "environment": {"LOG_LEVEL": "debug"},
              "files": ["data/words.txt", "../shared/model.bin"],
              "inputs": ["words", {"stream": "lines", "grouping": "group_by"}, {"stream": "config", "grouping": "broadcast"}],
              "outputs": ["counts"],
            }
            """, "deploy/counter.json");

        var deployDir = Path.Combine(_dir.Path, "deploy");
        Assert.Equal("counter", spec.Name);
        Assert.Equal(Path.Combine(deployDir, "bin", "counter"), spec.Executable);
        Assert.Equal(["--verbose", "x"], spec.Args);
        Assert.Equal(3, spec.Instances);
        Assert.Equal(0.5, spec.Cpus);
        Assert.Equal(256, spec.MemMb);
        Assert.Equal("debug", spec.Environment["LOG_LEVEL"]);
        Assert.Equal([Path.Combine(deployDir, "data", "words.txt"), Path.Combine(_dir.Path, "shared", "model.bin")], spec.Files);
        Assert.Collection(spec.ExpectedInputs,
            i => Assert.Equal(("words", Grouping.Shuffle), (i.Name, i.Grouping)),
            i => Assert.Equal(("lines", Grouping.GroupBy), (i.Name, i.Grouping)),
            i => Assert.Equal(("config", Grouping.Broadcast), (i.Name, i.Grouping)));
        Assert.Equal(["counts"], spec.ExpectedOutputs);
        Assert.Null(spec.Builtin);
        Assert.Equal(deployDir, spec.SourceDirectory);
    }

    [Fact]
    public void Minimal_file_gets_the_documented_defaults_and_a_bare_executable_is_left_for_PATH()
    {
        var spec = ParseJson("""{"name": "echo", "executable": "python3"}""");

        Assert.Equal("python3", spec.Executable);
        Assert.Equal(1, spec.Instances);
        Assert.Equal(1.0, spec.Cpus);
        Assert.Equal(512, spec.MemMb);
        Assert.Empty(spec.Args);
        Assert.Empty(spec.Environment);
        Assert.Empty(spec.Files);
        Assert.Empty(spec.ExpectedInputs);
        Assert.Empty(spec.ExpectedOutputs);
        Assert.Equal(_dir.Path, spec.SourceDirectory);
    }

    [Fact]
    public void Builtin_operator_options_accept_numbers_as_written()
    {
        _dir.Write("words.txt", "a\n");
        var spec = ParseJson("""
            {"name": "gen", "builtin": {"kind": "generator", "options": {"stream": "words", "rate": 2.5, "count": 1000, "dictionary": "words.txt"}}, "outputs": ["words"]}
            """);

        Assert.Equal("generator", spec.Builtin.Kind);
        Assert.Equal("words", spec.Builtin.Options["stream"]);
        Assert.Equal("1000", spec.Builtin.Options["count"]);
        Assert.Equal("2.5", spec.Builtin.Options["rate"]);
        Assert.Equal("", spec.Executable);
    }

    [Fact]
    public void Unknown_field_is_rejected_with_the_closest_name_and_the_valid_ones()
    {
        var error = Fails("""{"name": "counter", "executable": "python3", "instance": 2}""");

        var problem = Assert.Single(error.Problems);
        Assert.Equal("instance", problem.Field);
        Assert.Contains("did you mean \"instances\"?", problem.Message);
        Assert.Contains("name, executable, args, instances", problem.Message);
    }

    [Fact]
    public void Unknown_field_inside_an_input_is_rejected_with_a_suggestion()
    {
        var error = Fails("""{"name": "c", "executable": "x", "inputs": [{"stream": "words", "groupng": "group_by"}]}""");

        var problem = Assert.Single(error.Problems);
        Assert.Equal("inputs[0].groupng", problem.Field);
        Assert.Contains("did you mean \"grouping\"?", problem.Message);
    }

    [Theory]
    [InlineData("""{"name": "c", "executable": "x", "instances": "2"}""", "instances", "expected a whole number")]
    [InlineData("""{"name": "c", "executable": "x", "instances": 1.5}""", "instances", "not a whole number")]
    [InlineData("""{"name": "c", "executable": "x", "args": "--verbose"}""", "args", "expected an array of strings")]
    [InlineData("""{"name": "c", "executable": "x", "args": [1]}""", "args[0]", "expected a string")]
    [InlineData("""{"name": "c", "executable": "x", "cpus": "1"}""", "cpus", "expected a number")]
    [InlineData("""{"name": "c", "executable": "x", "environment": {"PORT": 8080}}""", "environment.PORT", "quote it: \"PORT\": \"8080\"")]
    [InlineData("""{"name": 7, "executable": "x"}""", "name", "expected a string, got a number")]
    [InlineData("""{"name": "c", "executable": "x", "inputs": "words"}""", "inputs", "expected an array")]
    [InlineData("""{"name": "c", "builtin": {"kind": "csv-sink", "options": {"path": "out.csv", "stats": true}}, "inputs": ["counts"]}""", "builtin.options.stats", "expected a string or a number")]
    public void Wrong_type_names_the_field_and_the_expected_type(string json, string field, string message)
    {
        var error = Fails(json);

        var problem = Assert.Single(error.Problems);
        Assert.Equal(field, problem.Field);
        Assert.Contains(message, problem.Message);
    }

    [Fact]
    public void Zero_instances_is_out_of_range_and_names_the_range()
    {
        var error = Fails("""{"name": "c", "executable": "x", "instances": 0}""");

        var problem = Assert.Single(error.Problems);
        Assert.Equal("instances", problem.Field);
        Assert.Contains("use 1..128", problem.Message);
    }

    [Theory]
    [InlineData("cpus", "0", "greater than 0")]
    [InlineData("mem", "0", "greater than 0")]
    [InlineData("mem", "-5", "greater than 0")]
    public void Cpus_and_mem_must_be_positive(string field, string value, string message)
    {
        var error = Fails($$"""{"name": "c", "executable": "x", "{{field}}": {{value}}}""");

        var problem = Assert.Single(error.Problems);
        Assert.Equal(field, problem.Field);
        Assert.Contains(message, problem.Message);
    }

    [Fact]
    public void Unknown_grouping_lists_the_valid_groupings_and_suggests_one()
    {
        var error = Fails("""{"name": "c", "executable": "x", "inputs": [{"stream": "words", "grouping": "groupby"}]}""");

        var problem = Assert.Single(error.Problems);
        Assert.Equal("inputs[0].grouping", problem.Field);
        Assert.Contains("did you mean \"group_by\"?", problem.Message);
        Assert.Contains("shuffle, group_by, broadcast", problem.Message);
    }

    [Fact]
    public void Input_object_without_stream_is_rejected()
    {
        var error = Fails("""{"name": "c", "executable": "x", "inputs": [{"grouping": "shuffle"}]}""");

        Assert.Equal("inputs[0].stream", Assert.Single(error.Problems).Field);
    }

    [Fact]
    public void Missing_name_is_required()
    {
        var error = Fails("""{"executable": "python3"}""");

        var problem = Assert.Single(error.Problems);
        Assert.Equal("name", problem.Field);
        Assert.Contains("is required", problem.Message);
    }

    [Fact]
    public void Missing_executable_without_builtin_is_required()
    {
        var error = Fails("""{"name": "c"}""");

        var problem = Assert.Single(error.Problems);
        Assert.Equal("executable", problem.Field);
        Assert.Contains("is required", problem.Message);
    }

    [Fact]
    public void Executable_and_builtin_together_are_rejected_with_the_fix()
    {
        _dir.Write("words.txt", "a\n");
        var error = Fails("""{"name": "gen", "executable": "python3", "builtin": {"kind": "generator", "options": {"dictionary": "words.txt"}}}""");

        var problem = Assert.Single(error.Problems);
        Assert.Equal("executable", problem.Field);
        Assert.Contains("remove \"executable\" or \"builtin\"", problem.Message);
    }

    [Fact]
    public void Builtin_without_kind_lists_the_kinds()
    {
        var error = Fails("""{"name": "gen", "builtin": {"options": {}}}""");

        var problem = Assert.Single(error.Problems);
        Assert.Equal("builtin.kind", problem.Field);
        Assert.Contains("generator", problem.Message);
        Assert.Contains("csv-sink", problem.Message);
    }

    [Fact]
    public void Missing_file_names_the_resolved_path()
    {
        var error = Fails("""{"name": "c", "executable": "python3", "files": ["data/missing.txt"]}""");

        var problem = Assert.Single(error.Problems);
        Assert.Equal("files[0]", problem.Field);
        Assert.Contains(Path.Combine(_dir.Path, "data", "missing.txt"), problem.Message);
        Assert.Contains("does not exist", problem.Message);
    }

    [Fact]
    public void Missing_executable_path_names_the_resolved_path()
    {
        var error = Fails("""{"name": "c", "executable": "./bin/nothing"}""");

        var problem = Assert.Single(error.Problems);
        Assert.Equal("executable", problem.Field);
        Assert.Contains(Path.Combine(_dir.Path, "bin", "nothing"), problem.Message);
    }

    [Fact]
    public void Invalid_json_reports_the_line_and_column()
    {
        var error = Fails("{\n  \"name\": \"c\"\n  \"executable\": \"x\"\n}");

        var problem = Assert.Single(error.Problems);
        Assert.Equal("json", problem.Field);
        Assert.Contains("line 3, column 3", problem.Message);
    }

    [Fact]
    public void Top_level_array_is_rejected_with_an_example()
    {
        var error = Fails("""[{"name": "c"}]""");

        Assert.Contains("must be a JSON object", Assert.Single(error.Problems).Message);
    }

    [Fact]
    public void Missing_deploy_file_names_the_path()
    {
        var path = Path.Combine(_dir.Path, "nope.json");

        var error = Assert.Throws<DeployFileException>(() => DeployFile.Parse(path));

        Assert.Contains(path, error.Message);
        Assert.Contains("does not exist", error.Message);
    }

    [Fact]
    public void Several_problems_are_reported_together_each_once()
    {
        var error = Fails("""{"nme": "c", "executable": "x", "instances": "two", "outputs": ["bad stream!"]}""");

        Assert.Equal(["nme", "instances", "name", "outputs[0]"], error.Problems.Select(p => p.Field));
        Assert.Contains("4 problems", error.Message);
    }

    [Fact]
    public void Duplicate_field_is_rejected()
    {
        var error = Fails("""{"name": "c", "name": "d", "executable": "x"}""");

        var problem = Assert.Single(error.Problems);
        Assert.Equal("name", problem.Field);
        Assert.Contains("appears twice", problem.Message);
    }

    [Fact]
    public void The_word_count_example_deploy_files_parse()
    {
        // The examples name binaries that exist only after a build: copy them next to fakes.
        var examples = Path.Combine(RepoPaths.Root, "examples", "wordcount");
        foreach (var file in new[] { "source.json", "counter.json", "sink.json" })
        {
            _dir.Write(Path.Combine("examples", "wordcount", file), File.ReadAllText(Path.Combine(examples, file)));
        }
        _dir.Write("examples/wordcount/words.txt", "a\n");
        _dir.Write("artifacts/bin/WordCount/release/WordCount", "");

        var source = DeployFile.Parse(Path.Combine(_dir.Path, "examples", "wordcount", "source.json"));
        var counter = DeployFile.Parse(Path.Combine(_dir.Path, "examples", "wordcount", "counter.json"));

        Assert.Equal(["words"], source.ExpectedOutputs);
        Assert.Equal(Grouping.GroupBy, Assert.Single(counter.ExpectedInputs).Grouping);
        Assert.Equal(Path.Combine(_dir.Path, "artifacts", "bin", "WordCount", "release", "WordCount"), counter.Executable);
    }

    [Theory]
    [InlineData("instance", "instances")]
    [InlineData("Inputs", "inputs")]
    [InlineData("enviroment", "environment")]
    [InlineData("exec", null)]
    [InlineData("zzzzzz", null)]
    public void Closest_name_suggests_only_near_misses(string unknown, string? expected)
    {
        Assert.Equal(expected, DeployFile.ClosestName(unknown, DeployFile.Fields));
    }
}
