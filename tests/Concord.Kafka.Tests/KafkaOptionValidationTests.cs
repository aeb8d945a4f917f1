using Concord.Contracts;
using Concord.Contracts.Types.V1;

namespace Concord.Kafka.Tests;

/// <summary>The shared validator (CLI, SDKs, scheduler) on Kafka connector options: no cluster needed.</summary>
public class KafkaOptionValidationTests
{
    private static OperatorSpec Spec(string kind, params (string Key, string Value)[] options)
    {
        var spec = new OperatorSpec { Name = "k", Instances = 1, Builtin = new BuiltinOperator { Kind = kind } };
        if (kind == "kafka-sink")
        {
            spec.ExpectedInputs.Add(new InputStream { Name = "words" }); // A sink writes its inputs: it needs one.
        }
        foreach (var (key, value) in options)
        {
            spec.Builtin.Options[key] = value;
        }
        return spec;
    }

    [Fact]
    public void Complete_source_and_sink_options_are_valid_including_librdkafka_pass_through()
    {
        Assert.Empty(OperatorSpecValidator.Validate(Spec("kafka-source", ("topic", "words"), ("bootstrap", "dev"), ("group", "g"),
            ("start", "latest"), ("stream", "w"), ("oversize", "skip"), ("kafka.fetch.max.bytes", "1048576"))));
        Assert.Empty(OperatorSpecValidator.Validate(Spec("kafka-sink", ("topic", "out"), ("bootstrap", "b:9092"), ("acks", "1"),
            ("linger_ms", "20"), ("compression", "zstd"), ("kafka.batch.size", "100000"))));
    }

    [Theory]
    [InlineData("kafka-source", "start", "middle", "earliest, latest")]
    [InlineData("kafka-source", "oversize", "truncate", "fail, skip")]
    [InlineData("kafka-sink", "acks", "2", "all, -1, 0, 1")]
    [InlineData("kafka-sink", "compression", "brotli", "none, gzip, snappy, lz4, zstd")]
    [InlineData("kafka-sink", "linger_ms", "soon", "milliseconds")]
    [InlineData("kafka-source", "topic", "bad topic", "valid Kafka topic name")]
    [InlineData("kafka-source", "partitions", "4", "is not an option of 'kafka-source'")]
    public void Bad_option_value_is_a_problem_naming_the_option_and_the_accepted_values(string kind, string option, string value, string hint)
    {
        var spec = Spec(kind, ("topic", "words"), (option, value));

        var problem = Assert.Single(OperatorSpecValidator.Validate(spec));

        Assert.Equal($"builtin.options.{option}", problem.Field);
        Assert.Contains(hint, problem.Message);
    }

    [Fact]
    public void Missing_topic_is_a_problem_with_an_example()
    {
        var problem = Assert.Single(OperatorSpecValidator.Validate(Spec("kafka-sink", ("acks", "all"))));

        Assert.Equal("builtin.options.topic", problem.Field);
        Assert.Contains("\"topic\": \"words\"", problem.Message);
    }
}
