using Concord.Contracts.Types.V1;

namespace Concord.Contracts.Tests;

/// <summary>
/// What the executor would refuse when a built-in starts is refused by the shared validator at
/// deploy, named with the deploy file's fields (<c>outputs</c>, <c>builtin.options.rate</c>).
/// </summary>
public class BuiltinSpecValidationTests
{
    private static OperatorSpec Builtin(string kind, string[]? inputs = null, string[]? outputs = null, params (string Key, string Value)[] options)
    {
        var spec = new OperatorSpec { Name = "b", Instances = 1, Builtin = new BuiltinOperator { Kind = kind } };
        foreach (var (key, value) in options)
        {
            spec.Builtin.Options[key] = value;
        }
        spec.ExpectedInputs.AddRange((inputs ?? []).Select(i => new InputStream { Name = i }));
        spec.ExpectedOutputs.AddRange(outputs ?? []);
        return spec;
    }

    [Fact]
    public void Complete_generator_and_csv_sink_have_no_problems()
    {
        Assert.Empty(OperatorSpecValidator.Validate(Builtin("generator", outputs: ["words"], options: [("dictionary", "/w.txt"), ("rate", "2.5"), ("count", "10")])));
        Assert.Empty(OperatorSpecValidator.Validate(Builtin("generator", options: [("dictionary", "/w.txt"), ("stream", "lines")])));
        Assert.Empty(OperatorSpecValidator.Validate(Builtin("csv-sink", inputs: ["counts"], options: [("path", "out.csv")])));
    }

    [Fact]
    public void A_generator_lists_every_problem_with_the_deploy_file_names()
    {
        var spec = Builtin("generator", inputs: ["x"], outputs: ["counts"], options: [("rate", "Infinity"), ("count", "-3"), ("stream", "bad stream")]);

        var problems = OperatorSpecValidator.Validate(spec);

        Assert.Equal(["builtin.options.dictionary", "builtin.options.count", "builtin.options.stream", "builtin.options.rate", "inputs"],
            problems.Select(p => p.Field));
        Assert.All(problems, p => Assert.DoesNotContain("expected_", p.Message));
    }

    [Fact]
    public void A_generator_seed_is_a_whole_number()
    {
        Assert.Empty(OperatorSpecValidator.Validate(Builtin("generator", options: [("dictionary", "/w.txt"), ("seed", "-42")])));
        var problem = Assert.Single(OperatorSpecValidator.Validate(Builtin("generator", options: [("dictionary", "/w.txt"), ("seed", "1.5")])));
        Assert.Equal("builtin.options.seed", problem.Field);
        Assert.Contains("whole number", problem.Message);
    }

    [Fact]
    public void A_generator_whose_outputs_are_not_its_stream_says_which_stream_it_produces()
    {
        var problem = Assert.Single(OperatorSpecValidator.Validate(Builtin("generator", outputs: ["counts"], options: [("dictionary", "/w.txt")])));

        Assert.Equal("outputs", problem.Field);
        Assert.Contains("produces only stream 'words'", problem.Message);
        Assert.Contains("\"outputs\": [\"words\"]", problem.Message);
    }

    [Fact]
    public void Sinks_need_inputs_and_produce_nothing()
    {
        var problems = OperatorSpecValidator.Validate(Builtin("kafka-sink", outputs: ["x"], options: [("topic", "t")]));

        Assert.Equal(["inputs", "outputs"], problems.Select(p => p.Field));
        Assert.Contains("none are listed", problems[0].Message);
        Assert.Contains("is a sink", problems[1].Message);
    }

    [Fact]
    public void A_kafka_source_defaults_its_stream_to_the_topic_only_when_that_is_a_stream_name()
    {
        Assert.Empty(OperatorSpecValidator.Validate(Builtin("kafka-source", outputs: ["events"], options: [("topic", "events")])));
        var longTopic = new string('t', ProtocolLimits.StreamNameCharsMax + 1);

        var problem = Assert.Single(OperatorSpecValidator.Validate(Builtin("kafka-source", options: [("topic", longTopic)])));

        Assert.Equal("builtin.options.stream", problem.Field);
    }

    [Fact]
    public void A_kafka_source_takes_a_rate_as_the_other_sources_do_and_refuses_one_that_is_not_a_number_of_records_per_second()
    {
        Assert.Empty(OperatorSpecValidator.Validate(Builtin("kafka-source", outputs: ["events"], options: [("topic", "events"), ("rate", "4000")])));

        var problem = Assert.Single(OperatorSpecValidator.Validate(Builtin("kafka-source", outputs: ["events"], options: [("topic", "events"), ("rate", "-1")])));

        Assert.Equal("builtin.options.rate", problem.Field);
        Assert.Contains("records per second ≥ 0", problem.Message);
    }

    [Fact]
    public void A_complete_file_source_has_no_problems_and_produces_lines_by_default()
    {
        Assert.Empty(OperatorSpecValidator.Validate(Builtin("file-source", outputs: ["lines"], options: [("path", "/data/in.txt")])));
        Assert.Empty(OperatorSpecValidator.Validate(Builtin("file-source", outputs: ["rows"],
            options: [("path", "/data"), ("stream", "rows"), ("format", "csv"), ("key_column", "2"), ("rate", "100"), ("stats", "/s.json")])));
        Assert.Equal("lines", OperatorSpecValidator.BuiltinOutputStream(new BuiltinOperator { Kind = "file-source" }));
    }

    [Fact]
    public void A_file_source_lists_every_problem_with_the_deploy_file_names()
    {
        var spec = Builtin("file-source", inputs: ["x"], outputs: ["counts"], options: [("rate", "-1"), ("format", "xml"), ("key_column", "one"), ("stream", "bad stream")]);
        var fields = OperatorSpecValidator.Validate(spec).Select(p => p.Field).ToList();
        Assert.Contains("builtin.options.path", fields);
        Assert.Contains("builtin.options.rate", fields);
        Assert.Contains("builtin.options.format", fields);
        Assert.Equal(2, fields.Count(f => f == "builtin.options.key_column")); // not a number, and no csv format
        Assert.Contains("builtin.options.stream", fields);
        Assert.Contains("inputs", fields);
    }

    [Fact]
    public void A_file_source_whose_outputs_are_not_its_stream_says_which_stream_it_produces()
    {
        var problem = Assert.Single(OperatorSpecValidator.Validate(Builtin("file-source", outputs: ["counts"], options: [("path", "/in.txt")])));
        Assert.Equal("outputs", problem.Field);
        Assert.Contains("'lines'", problem.Message);
        var unknown = Assert.Single(OperatorSpecValidator.Validate(Builtin("file-source", options: [("path", "/in.txt"), ("dictionary", "/w.txt")])));
        Assert.Equal("builtin.options.dictionary", unknown.Field);
    }
}
