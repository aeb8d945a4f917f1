using Concord.Contracts;
using Concord.Contracts.Types.V1;
using Concord.Executor.Builtins;

namespace Concord.Executor.Tests;

/// <summary>
/// The one reader of a built-in's options (the Kafka built-ins' too, with their "kafka.*"
/// pass-through): unknown names and bad values fail with the option named and the fix listed.
/// </summary>
public sealed class BuiltinOptionsTests
{
    private static BuiltinOptions Options(string kind, (string Prefix, string Library)? passThrough, params (string Key, string Value)[] options)
    {
        var builtin = new BuiltinOperator { Kind = kind };
        foreach (var (key, value) in options)
        {
            builtin.Options[key] = value;
        }
        return new BuiltinOptions(builtin, passThrough);
    }

    private static readonly (string, string) Kafka = (OperatorSpecValidator.KafkaPassThroughPrefix, "librdkafka");

    [Fact]
    public void An_unknown_option_is_refused_with_the_built_ins_options_listed()
    {
        var e = Assert.Throws<OperatorFailedException>(() => Options("generator", null, ("dictionary", "words.txt"), ("ratee", "5")));
        Assert.Contains("built-in 'generator' has no option 'ratee'", e.Message);
        Assert.Contains("rate", e.Message.Split("its options are:")[1]);
        Assert.DoesNotContain("property", e.Message);
    }

    [Fact]
    public void The_pass_through_prefix_is_accepted_unread_and_named_when_an_option_is_unknown()
    {
        var options = Options("kafka-source", Kafka, ("topic", "t"), ("kafka.fetch.wait.max.ms", "5"));
        Assert.Equal("t", options.String("topic"));

        var e = Assert.Throws<OperatorFailedException>(() => Options("kafka-source", Kafka, ("topic", "t"), ("kafkafetch", "5")));
        Assert.Contains("has no option 'kafkafetch'", e.Message);
        Assert.Contains("or \"kafka.<librdkafka property>\"", e.Message);
        // Without the pass-through, the prefix is no exception.
        Assert.Throws<OperatorFailedException>(() => Options("kafka-source", null, ("topic", "t"), ("kafka.fetch.wait.max.ms", "5")));
    }

    [Theory]
    [InlineData("0", 0)]
    [InlineData("1000", 1000)]
    public void Int_reads_a_whole_number_in_its_range(string text, int expected) =>
        Assert.Equal(expected, Options("kafka-sink", Kafka, ("linger_ms", text)).Int("linger_ms", 5, 0, 1000));

    [Theory]
    [InlineData("-1")]
    [InlineData("1001")]
    [InlineData("1.5")]
    [InlineData("ten")]
    public void Int_refuses_what_is_not_a_whole_number_in_its_range_and_names_the_range(string text)
    {
        var e = Assert.Throws<OperatorFailedException>(() => Options("kafka-sink", Kafka, ("linger_ms", text)).Int("linger_ms", 5, 0, 1000));
        Assert.Equal($"built-in 'kafka-sink' option 'linger_ms'='{text}' is not a whole number in 0..1000", e.Message);
    }

    [Fact]
    public void OneOf_takes_the_default_when_unset_and_refuses_a_value_outside_the_set_listing_the_set()
    {
        Assert.Equal("earliest", Options("kafka-source", Kafka).OneOf("start", "earliest", "earliest", "latest"));
        Assert.Equal("latest", Options("kafka-source", Kafka, ("start", "latest")).OneOf("start", "earliest", "earliest", "latest"));
        var e = Assert.Throws<OperatorFailedException>(() => Options("kafka-source", Kafka, ("start", "middle")).OneOf("start", "earliest", "earliest", "latest"));
        Assert.Equal("built-in 'kafka-source' option 'start'='middle' is not accepted; use one of: earliest, latest", e.Message);
    }
}
